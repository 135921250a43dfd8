//! Open Responses request → Chat Completions request.

use serde_json::{json, Map, Value};

use crate::error::RequestError;
use crate::providers::common;
use crate::routing::Route;
use crate::types::{
    ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent, Role, TextFormat,
    Tool, ToolChoice, ToolChoiceMode, ToolChoiceObject,
};

/// The protocol named in this module's errors.
const PROTOCOL: &str = "openai-chat";

fn unsupported(
    param: impl Into<String>,
    provider: &str,
    what: impl std::fmt::Display,
) -> RequestError {
    common::unsupported(param, provider, PROTOCOL, what)
}

/// The JSON body.
pub fn build(
    route: &Route<'_>,
    body: &CreateResponseBody,
    stream: bool,
) -> Result<Value, RequestError> {
    let provider = route.provider_name;
    let mut out = Map::new();
    out.insert(
        "model".into(),
        Value::String(route.upstream_model.to_owned()),
    );
    out.insert("messages".into(), Value::Array(messages(body, provider)?));

    let allowed: Option<std::collections::HashSet<&str>> = match &body.tool_choice {
        Some(ToolChoice::Object(ToolChoiceObject::AllowedTools { tools, .. })) => {
            Some(tools.iter().map(|t| t.name.as_str()).collect())
        }
        _ => None,
    };
    if let Some(tools) = body.tools.as_deref().filter(|t| !t.is_empty()) {
        let mut list = Vec::new();
        for (i, tool) in tools.iter().enumerate() {
            match tool {
                // allowed_tools is enforced by offering only those tools:
                // every Chat server understands that.
                Tool::Function(f)
                    if allowed.as_ref().is_none_or(|a| a.contains(f.name.as_str())) =>
                {
                    let mut func = json!({"name": f.name});
                    if let Some(d) = &f.description {
                        func["description"] = json!(d);
                    }
                    func["parameters"] = f
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                    if let Some(s) = f.strict {
                        func["strict"] = json!(s);
                    }
                    list.push(json!({"type": "function", "function": func}));
                }
                Tool::Function(_) => {}
                Tool::Other(v) => return Err(common::unsupported_tool(i, v, provider, PROTOCOL)),
            }
        }
        out.insert("tools".into(), Value::Array(list));
        if let Some(p) = body.parallel_tool_calls {
            out.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    if let Some(choice) = &body.tool_choice {
        let v = match choice {
            ToolChoice::Mode(m) => json!(mode(*m)),
            ToolChoice::Object(ToolChoiceObject::Function { name }) => {
                json!({"type": "function", "function": {"name": name}})
            }
            ToolChoice::Object(ToolChoiceObject::AllowedTools { mode: m, .. }) => {
                json!(mode(m.unwrap_or(ToolChoiceMode::Auto)))
            }
        };
        out.insert("tool_choice".into(), v);
    }
    if let Some(format) = body.text.as_ref().and_then(|t| t.format.as_ref()) {
        match format {
            TextFormat::Text => {}
            TextFormat::JsonObject => {
                out.insert("response_format".into(), json!({"type": "json_object"}));
            }
            TextFormat::JsonSchema {
                name,
                description,
                schema,
                strict,
            } => {
                let mut js = json!({"name": name, "schema": schema});
                if let Some(d) = description {
                    js["description"] = json!(d);
                }
                if let Some(s) = strict {
                    js["strict"] = json!(s);
                }
                out.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": js}),
                );
            }
        }
    }
    let mut num = |k: &str, v: Option<f64>| {
        if let Some(x) = v {
            out.insert(k.into(), json!(x));
        }
    };
    num("temperature", body.temperature);
    num("top_p", body.top_p);
    num("presence_penalty", body.presence_penalty);
    num("frequency_penalty", body.frequency_penalty);
    if let Some(n) = body.max_output_tokens {
        let field = route
            .provider
            .max_tokens_field
            .as_deref()
            .unwrap_or("max_tokens");
        out.insert(field.into(), json!(n));
    }
    if let Some(effort) = body.reasoning.as_ref().and_then(|r| r.effort.as_deref()) {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    let wants_logprobs = body
        .include
        .iter()
        .flatten()
        .any(|i| i == "message.output_text.logprobs");
    if let Some(n) = body.top_logprobs.filter(|n| *n > 0) {
        out.insert("logprobs".into(), json!(true));
        out.insert("top_logprobs".into(), json!(n));
    } else if wants_logprobs {
        out.insert("logprobs".into(), json!(true));
    }
    for (k, v) in [
        ("safety_identifier", &body.safety_identifier),
        ("prompt_cache_key", &body.prompt_cache_key),
        ("service_tier", &body.service_tier),
    ] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    if let Some(verbosity) = body.text.as_ref().and_then(|t| t.verbosity.as_deref()) {
        out.insert("verbosity".into(), json!(verbosity));
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(stop) = body.extra.get("stop") {
        out.insert("stop".into(), stop.clone());
    }
    common::copy_allowed_extras(body, route.provider, &mut out);
    Ok(Value::Object(out))
}

fn mode(m: ToolChoiceMode) -> &'static str {
    match m {
        ToolChoiceMode::None => "none",
        ToolChoiceMode::Auto => "auto",
        ToolChoiceMode::Required => "required",
    }
}

/// The Chat `messages` array: instructions first, then the input items.
/// Consecutive function calls (and the assistant text before them) merge
/// into one assistant message, as Chat requires.
fn messages(body: &CreateResponseBody, provider: &str) -> Result<Vec<Value>, RequestError> {
    let mut out: Vec<Value> = Vec::new();
    if let Some(instr) = &body.instructions {
        out.push(json!({"role": "system", "content": instr}));
    }
    let items = match &body.input {
        None => return Ok(out),
        Some(Input::Text(t)) => {
            out.push(json!({"role": "user", "content": t}));
            return Ok(out);
        }
        Some(Input::Items(items)) => items,
    };
    // Whether the last message may take more tool calls.
    let mut open_assistant = false;
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Message(m) => {
                open_assistant = false;
                match m.role {
                    Role::Assistant => {
                        let (text, refusal) = assistant_text(&m.content, i, provider)?;
                        let mut msg = json!({"role": "assistant", "content": text});
                        if let Some(r) = refusal {
                            msg["refusal"] = json!(r);
                        }
                        out.push(msg);
                        open_assistant = true;
                    }
                    role => {
                        // `developer` is unknown to most Chat servers; it
                        // means what `system` means there.
                        let role = if role == Role::User { "user" } else { "system" };
                        out.push(json!({"role": role, "content": user_content(&m.content, i, provider)?}));
                    }
                }
            }
            Item::FunctionCall(f) => {
                let call = json!({"id": f.call_id, "type": "function", "function": {"name": f.name, "arguments": f.arguments}});
                match out.last_mut() {
                    Some(last) if open_assistant => {
                        let calls = last.as_object_mut().and_then(|o| {
                            o.entry("tool_calls")
                                .or_insert_with(|| json!([]))
                                .as_array_mut()
                                .map(|a| a.push(call.clone()))
                        });
                        if calls.is_none() {
                            out.push(
                                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                            );
                        }
                    }
                    _ => out
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
                open_assistant = true;
            }
            Item::FunctionCallOutput(o) => {
                open_assistant = false;
                let content = match &o.output {
                    FunctionOutput::Text(t) => json!(t),
                    FunctionOutput::Parts(parts) => {
                        let mut texts = Vec::new();
                        for (j, p) in parts.iter().enumerate() {
                            match p {
                                ContentPart::InputText(t) | ContentPart::Text(t) => {
                                    texts.push(json!({"type": "text", "text": t.text}))
                                }
                                other => {
                                    return Err(unsupported(
                                        format!("input[{i}].output[{j}]"),
                                        provider,
                                        format_args!(
                                            "`{}` in a function_call_output",
                                            other.type_name()
                                        ),
                                    ))
                                }
                            }
                        }
                        Value::Array(texts)
                    }
                };
                out.push(json!({"role": "tool", "tool_call_id": o.call_id, "content": content}));
            }
            // Chat has no way to send reasoning back; the model re-reasons.
            Item::Reasoning(_) => {}
            other @ (Item::ItemReference(_) | Item::Other(_)) => {
                return Err(common::unsupported_item(i, other, provider, PROTOCOL))
            }
        }
    }
    Ok(out)
}

fn assistant_text(
    content: &MessageContent,
    i: usize,
    provider: &str,
) -> Result<(String, Option<String>), RequestError> {
    let mut text = String::new();
    let mut refusal: Option<String> = None;
    for (j, part) in content.to_parts(Role::Assistant).iter().enumerate() {
        match part {
            ContentPart::OutputText(t) => text.push_str(&t.text),
            ContentPart::InputText(t) | ContentPart::Text(t) => text.push_str(&t.text),
            ContentPart::Refusal(r) => refusal.get_or_insert_with(String::new).push_str(&r.refusal),
            other => {
                return Err(unsupported(
                    format!("input[{i}].content[{j}]"),
                    provider,
                    format_args!("`{}` in an assistant message", other.type_name()),
                ))
            }
        }
    }
    Ok((text, refusal))
}

fn user_content(content: &MessageContent, i: usize, provider: &str) -> Result<Value, RequestError> {
    let parts = match content {
        MessageContent::Text(t) => return Ok(json!(t)),
        MessageContent::Parts(p) => p,
    };
    // A lone text part goes as a plain string, which every server reads.
    if let [ContentPart::InputText(t) | ContentPart::Text(t)] = parts.as_slice() {
        return Ok(json!(t.text));
    }
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        out.push(match part {
            ContentPart::InputText(t) | ContentPart::Text(t) => {
                json!({"type": "text", "text": t.text})
            }
            ContentPart::OutputText(t) => json!({"type": "text", "text": t.text}),
            ContentPart::InputImage(img) => {
                let Some(url) = &img.image_url else {
                    return Err(unsupported(
                        format!("input[{i}].content[{j}]"),
                        provider,
                        "an image without `image_url`",
                    ));
                };
                let mut image = json!({"url": url});
                if let Some(d) = &img.detail {
                    image["detail"] = json!(d);
                }
                json!({"type": "image_url", "image_url": image})
            }
            ContentPart::InputFile(f) => {
                let Some(data) = &f.file_data else {
                    return Err(unsupported(
                        format!("input[{i}].content[{j}]"),
                        provider,
                        "`input_file` without `file_data`",
                    ));
                };
                let mut file = json!({"file_data": data});
                if let Some(n) = &f.filename {
                    file["filename"] = json!(n);
                }
                json!({"type": "file", "file": file})
            }
            other => {
                return Err(unsupported(
                    format!("input[{i}].content[{j}]"),
                    provider,
                    format_args!("content type `{}`", other.type_name()),
                ))
            }
        });
    }
    Ok(Value::Array(out))
}
