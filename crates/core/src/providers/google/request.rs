//! Open Responses request → Gemini `generateContent` request.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::SLUG;
use crate::error::RequestError;
use crate::providers::common;
use crate::routing::Route;
use crate::types::{
    ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent, Role, TextFormat,
    Tool, ToolChoice, ToolChoiceMode, ToolChoiceObject,
};

/// The protocol named in this module's errors.
const PROTOCOL: &str = "google";

fn unsupported(
    param: impl Into<String>,
    provider: &str,
    what: impl std::fmt::Display,
) -> RequestError {
    common::unsupported(param, provider, PROTOCOL, what)
}

/// The JSON body (the model goes in the URL).
pub fn build(route: &Route<'_>, body: &CreateResponseBody) -> Result<Value, RequestError> {
    let provider = route.provider_name;
    let mut out = Map::new();
    let (system, contents) = contents(body, provider)?;
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut decls = Vec::new();
    let mut search = false;
    for (i, tool) in body.tools.iter().flatten().enumerate() {
        match tool {
            Tool::Function(f) => {
                let mut d = json!({"name": f.name});
                if let Some(desc) = &f.description {
                    d["description"] = json!(desc);
                }
                if let Some(p) = &f.parameters {
                    // Full JSON Schema, unlike `parameters` (an OpenAPI subset
                    // that rejects keywords such as additionalProperties).
                    d["parametersJsonSchema"] = p.clone();
                }
                decls.push(d);
            }
            Tool::Other(v) if crate::providers::tool_map::is_web_search(v) => search = true,
            Tool::Other(v) => return Err(common::unsupported_tool(i, v, provider, PROTOCOL)),
        }
    }
    let mut tools = Vec::new();
    if !decls.is_empty() {
        tools.push(json!({"functionDeclarations": decls}));
    }
    if search {
        tools.push(json!({"google_search": {}}));
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    let mode = |m: ToolChoiceMode| match m {
        ToolChoiceMode::None => "NONE",
        ToolChoiceMode::Auto => "AUTO",
        ToolChoiceMode::Required => "ANY",
    };
    let config = match &body.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => Some(json!({"mode": mode(*m)})),
        Some(ToolChoice::Object(ToolChoiceObject::Function { name })) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [name]}))
        }
        Some(ToolChoice::Object(ToolChoiceObject::AllowedTools { tools, mode: m })) => {
            // allowedFunctionNames only applies in ANY mode: "auto among
            // these" is enforced by offering only these.
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            if let Some(Value::Array(t)) = out.get_mut("tools") {
                if let Some(Value::Array(d)) = t[0].get_mut("functionDeclarations") {
                    let set: std::collections::HashSet<&str> = names.iter().copied().collect();
                    d.retain(|f| f["name"].as_str().is_some_and(|n| set.contains(n)));
                }
            }
            match m.unwrap_or(ToolChoiceMode::Auto) {
                ToolChoiceMode::Required => {
                    Some(json!({"mode": "ANY", "allowedFunctionNames": names}))
                }
                other => Some(json!({"mode": mode(other)})),
            }
        }
    };
    if let Some(c) = config {
        out.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
    }
    let mut gen = Map::new();
    for (k, v) in [("temperature", body.temperature), ("topP", body.top_p)] {
        if let Some(x) = v {
            gen.insert(k.into(), json!(x));
        }
    }
    if let Some(n) = body.max_output_tokens {
        gen.insert("maxOutputTokens".into(), json!(n));
    }
    match body.text.as_ref().and_then(|t| t.format.as_ref()) {
        Some(TextFormat::JsonSchema { schema, .. }) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
            if let Some(s) = schema {
                gen.insert("responseJsonSchema".into(), s.clone());
            }
        }
        Some(TextFormat::JsonObject) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
        }
        _ => {}
    }
    if let Some(r) = &body.reasoning {
        let mut thinking = Map::new();
        if let Some(budget) = r.effort.as_deref().and_then(|e| match e {
            "none" => Some(0),
            "minimal" => Some(512),
            "low" => Some(1024),
            "medium" => Some(8192),
            "high" | "xhigh" => Some(24576),
            _ => None,
        }) {
            thinking.insert("thinkingBudget".into(), json!(budget));
        }
        if r.summary.is_some() {
            thinking.insert("includeThoughts".into(), json!(true));
        }
        if !thinking.is_empty() {
            gen.insert("thinkingConfig".into(), Value::Object(thinking));
        }
    }
    if let Some(stop) = body.extra.get("stop").cloned() {
        gen.insert(
            "stopSequences".into(),
            if stop.is_string() {
                json!([stop])
            } else {
                stop
            },
        );
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    common::copy_allowed_extras(body, route.provider, &mut out);
    Ok(Value::Object(out))
}

fn push(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    common::push_merged(contents, role, "parts", parts);
}

fn contents(
    body: &CreateResponseBody,
    provider: &str,
) -> Result<(Vec<Value>, Vec<Value>), RequestError> {
    let mut system = Vec::new();
    if let Some(i) = &body.instructions {
        system.push(json!({"text": i}));
    }
    let mut contents = Vec::new();
    let items = match &body.input {
        None => return Ok((system, contents)),
        Some(Input::Text(t)) => {
            push(&mut contents, "user", vec![json!({"text": t})]);
            return Ok((system, contents));
        }
        Some(Input::Items(items)) => items,
    };
    let names: HashMap<&str, &str> = items
        .iter()
        .filter_map(|i| match i {
            Item::FunctionCall(f) => Some((f.call_id.as_str(), f.name.as_str())),
            _ => None,
        })
        .collect();
    // A Gemini signature waiting for the part it belongs to.
    let mut signature: Option<String> = None;
    let flush = |contents: &mut Vec<Value>, signature: &mut Option<String>| {
        if let Some(sig) = signature.take() {
            push(
                contents,
                "model",
                vec![json!({"text": "", "thoughtSignature": sig})],
            );
        }
    };
    for (i, item) in items.iter().enumerate() {
        if !matches!(item, Item::FunctionCall(_)) {
            flush(&mut contents, &mut signature);
        }
        match item {
            Item::Message(m) => match m.role {
                Role::System | Role::Developer => {
                    system.extend(
                        m.content
                            .to_parts(m.role)
                            .iter()
                            .filter_map(ContentPart::text)
                            .map(|t| json!({"text": t})),
                    );
                }
                Role::User => push(&mut contents, "user", parts(&m.content, i, provider)?),
                Role::Assistant => {
                    let texts = m
                        .content
                        .to_parts(Role::Assistant)
                        .iter()
                        .filter_map(ContentPart::text)
                        .filter(|t| !t.is_empty())
                        .map(|t| json!({"text": t}))
                        .collect();
                    push(&mut contents, "model", texts);
                }
            },
            Item::FunctionCall(f) => {
                let args = common::parse_arguments(&f.arguments, i, provider)?;
                let mut part = json!({"functionCall": {"name": f.name, "args": args}});
                if let Some(sig) = signature.take() {
                    part["thoughtSignature"] = json!(sig);
                }
                push(&mut contents, "model", vec![part]);
            }
            Item::FunctionCallOutput(o) => {
                let Some(name) = names.get(o.call_id.as_str()) else {
                    return Err(RequestError::InvalidValue {
                        param: format!("input[{i}].call_id"),
                        message: format!(
                            "no function_call with call_id `{}` in the input; provider '{provider}' needs the function's name",
                            o.call_id
                        ),
                    });
                };
                let output = match &o.output {
                    FunctionOutput::Text(t) => t.clone(),
                    FunctionOutput::Parts(p) => p
                        .iter()
                        .filter_map(ContentPart::text)
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                let response = match serde_json::from_str::<Value>(&output) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({"result": output}),
                };
                push(
                    &mut contents,
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                );
            }
            Item::Reasoning(r) => {
                // Only Gemini's own signatures mean anything to Gemini.
                if let Some(sig) = r
                    .encrypted_content
                    .as_deref()
                    .and_then(|e| e.strip_prefix(SLUG))
                {
                    signature = Some(sig.to_owned());
                }
            }
            other @ (Item::ItemReference(_) | Item::Other(_)) => {
                return Err(common::unsupported_item(i, other, provider, PROTOCOL))
            }
        }
    }
    flush(&mut contents, &mut signature);
    Ok((system, contents))
}

/// A MIME type from a URL's extension, for `fileData`.
fn mime_of(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next().unwrap_or_default() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn inline(url: &str) -> Option<Value> {
    let (mime, data) = common::data_url(url)?;
    Some(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

fn parts(content: &MessageContent, i: usize, provider: &str) -> Result<Vec<Value>, RequestError> {
    let mut out = Vec::new();
    for (j, part) in content.to_parts(Role::User).iter().enumerate() {
        out.push(match part {
            ContentPart::InputText(t) | ContentPart::Text(t) => json!({"text": t.text}),
            ContentPart::OutputText(t) => json!({"text": t.text}),
            ContentPart::InputImage(img) => {
                let url = img.image_url.as_deref().unwrap_or_default();
                match inline(url) {
                    Some(p) => p,
                    None => json!({"fileData": {"mimeType": mime_of(url), "fileUri": url}}),
                }
            }
            ContentPart::InputFile(f) => match (f.file_data.as_deref(), f.file_url.as_deref()) {
                (Some(d), _) => inline(d).unwrap_or_else(
                    || json!({"inlineData": {"mimeType": "application/pdf", "data": d}}),
                ),
                (None, Some(u)) => json!({"fileData": {"mimeType": mime_of(u), "fileUri": u}}),
                (None, None) => {
                    return Err(unsupported(
                        format!("input[{i}].content[{j}]"),
                        provider,
                        "`input_file` without `file_data` or `file_url`",
                    ))
                }
            },
            other => {
                return Err(unsupported(
                    format!("input[{i}].content[{j}]"),
                    provider,
                    format_args!("content type `{}`", other.type_name()),
                ))
            }
        });
    }
    Ok(out)
}
