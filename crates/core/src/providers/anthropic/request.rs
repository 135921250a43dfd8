//! Open Responses request → Anthropic Messages request.

use serde_json::{json, Map, Value};

use super::json_tool;
use crate::error::RequestError;
use crate::providers::common;
use crate::routing::Route;
use crate::types::{
    ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent, Role, TextFormat,
    Tool, ToolChoice, ToolChoiceMode, ToolChoiceObject,
};

/// The protocol named in this module's errors.
const PROTOCOL: &str = "anthropic";

fn unsupported(
    param: impl Into<String>,
    provider: &str,
    what: impl std::fmt::Display,
) -> RequestError {
    common::unsupported(param, provider, PROTOCOL, what)
}

/// Thinking budget for a reasoning effort.
fn budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(1024),
        "medium" => Some(4096),
        "high" => Some(16384),
        "xhigh" => Some(32768),
        _ => None, // none, minimal
    }
}

/// The `max_tokens` sent for `body` (everything Claude may generate,
/// thinking included), and the thinking budget within it.
pub fn max_tokens(route: &Route<'_>, body: &CreateResponseBody) -> (u64, Option<u64>) {
    let mut max_tokens = body
        .max_output_tokens
        .or(route.provider.default_max_tokens)
        .unwrap_or(4096);
    let thinking = body
        .reasoning
        .as_ref()
        .and_then(|r| r.effort.as_deref())
        .and_then(budget);
    if let Some(b) = thinking {
        // The budget counts against max_tokens; keep room for the answer.
        if max_tokens <= b {
            max_tokens = b.saturating_add(body.max_output_tokens.unwrap_or(4096));
        }
    }
    (max_tokens, thinking)
}

/// The JSON body.
pub fn build(
    route: &Route<'_>,
    body: &CreateResponseBody,
    stream: bool,
) -> Result<Value, RequestError> {
    let provider = route.provider_name;
    let mut out = Map::new();
    out.insert("model".into(), json!(route.upstream_model));
    let (system, messages) = messages(body, provider)?;
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(messages));

    let (max_tokens, thinking) = max_tokens(route, body);
    if let Some(b) = thinking {
        out.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
    }
    out.insert("max_tokens".into(), json!(max_tokens));

    let allowed: Option<std::collections::HashSet<&str>> = match &body.tool_choice {
        Some(ToolChoice::Object(ToolChoiceObject::AllowedTools { tools, .. })) => {
            Some(tools.iter().map(|t| t.name.as_str()).collect())
        }
        _ => None,
    };
    let mut tools = Vec::new();
    for (i, tool) in body.tools.iter().flatten().enumerate() {
        match tool {
            Tool::Function(f) if allowed.as_ref().is_none_or(|a| a.contains(f.name.as_str())) => {
                let mut t = json!({"name": f.name, "input_schema": f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))});
                if let Some(d) = &f.description {
                    t["description"] = json!(d);
                }
                tools.push(t);
            }
            Tool::Function(_) => {}
            Tool::Other(v) if crate::providers::tool_map::is_web_search(v) => {
                tools.push(web_search(v));
            }
            Tool::Other(v) => return Err(common::unsupported_tool(i, v, provider, PROTOCOL)),
        }
    }
    let mut choice: Option<Value> = match &body.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => Some(mode(*m)),
        Some(ToolChoice::Object(ToolChoiceObject::Function { name })) => {
            Some(json!({"type": "tool", "name": name}))
        }
        Some(ToolChoice::Object(ToolChoiceObject::AllowedTools { mode: m, .. })) => {
            Some(mode(m.unwrap_or(ToolChoiceMode::Auto)))
        }
    };
    if let Some(name) = json_tool(body) {
        let schema = match body.text.as_ref().and_then(|t| t.format.as_ref()) {
            Some(TextFormat::JsonSchema {
                schema: Some(s), ..
            }) => s.clone(),
            _ => json!({"type": "object"}),
        };
        let description = match body.text.as_ref().and_then(|t| t.format.as_ref()) {
            Some(TextFormat::JsonSchema {
                description: Some(d),
                ..
            }) => d.clone(),
            _ => "Respond with a JSON object.".to_owned(),
        };
        // Alone, the answer tool is forced. Beside the caller's tools (an
        // agent with tools and an output type) the model must be free to
        // call those first: it must call some tool, and answers by calling
        // this one.
        let alone = tools.is_empty();
        tools.push(json!({"name": name, "description": description, "input_schema": schema}));
        choice = Some(if alone {
            json!({"type": "tool", "name": name})
        } else {
            match choice {
                Some(c) if c["type"] == "tool" => c,
                _ => json!({"type": "any"}),
            }
        });
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if body.parallel_tool_calls == Some(false) {
            let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
            if c["type"] != "none" {
                c["disable_parallel_tool_use"] = json!(true);
            }
        }
    }
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    for (k, v) in [("temperature", body.temperature), ("top_p", body.top_p)] {
        if let Some(x) = v {
            out.insert(k.into(), json!(x));
        }
    }
    if let Some(id) = &body.safety_identifier {
        out.insert("metadata".into(), json!({"user_id": id}));
    }
    if stream {
        out.insert("stream".into(), json!(true));
    }
    // `stop` (a string or a list), as Chat clients send it.
    if let Some(stop) = body.extra.get("stop").cloned() {
        let list = match stop {
            Value::String(s) => json!([s]),
            other => other,
        };
        out.insert("stop_sequences".into(), list);
    }
    common::copy_allowed_extras(body, route.provider, &mut out);
    if body.prompt_cache_key.is_some() {
        cache_breakpoints(&mut out);
    }
    Ok(Value::Object(out))
}

/// `prompt_cache_key` asks for the stable prefix to be cached: Messages
/// caches up to explicit breakpoints, so one goes on the last tool, the
/// last system block and the last block of the conversation (three of the
/// four allowed; each turn's prefix is then read from the cache the turn
/// before wrote). Blocks that refuse one (thinking, empty text) are
/// skipped. The key itself has no Anthropic counterpart.
fn cache_breakpoints(out: &mut Map<String, Value>) {
    let ephemeral = || json!({"type": "ephemeral"});
    if let Some(Value::Array(tools)) = out.get_mut("tools") {
        if let Some(Value::Object(t)) = tools.last_mut() {
            t.entry("cache_control").or_insert_with(ephemeral);
        }
    }
    if let Some(system) = out.get_mut("system") {
        if let Value::String(text) = system {
            *system = json!([{"type": "text", "text": text}]);
        }
        if let Some(Value::Object(b)) = system.as_array_mut().and_then(|s| s.last_mut()) {
            if b.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
            {
                b.entry("cache_control").or_insert_with(ephemeral);
            }
        }
    }
    let last = out
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .and_then(|m| m.last_mut());
    if let Some(message) = last {
        if let Value::String(text) = &message["content"] {
            message["content"] = json!([{"type": "text", "text": text}]);
        }
        let block = message["content"]
            .as_array_mut()
            .and_then(|c| c.last_mut())
            .and_then(Value::as_object_mut);
        if let Some(b) = block {
            let cacheable = match b.get("type").and_then(Value::as_str) {
                Some("thinking" | "redacted_thinking") => false,
                Some("text") => b
                    .get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty()),
                _ => true,
            };
            if cacheable {
                b.entry("cache_control").or_insert_with(ephemeral);
            }
        }
    }
}

fn mode(m: ToolChoiceMode) -> Value {
    match m {
        ToolChoiceMode::None => json!({"type": "none"}),
        ToolChoiceMode::Auto => json!({"type": "auto"}),
        ToolChoiceMode::Required => json!({"type": "any"}),
    }
}

/// Appends blocks to the conversation, merging with the previous message
/// when it has the same role (Messages wants one assistant turn holding
/// all parallel tool_use blocks, and one user turn with their results).
fn push(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    common::push_merged(messages, role, "content", blocks);
}

fn messages(
    body: &CreateResponseBody,
    provider: &str,
) -> Result<(Vec<Value>, Vec<Value>), RequestError> {
    let mut system = Vec::new();
    if let Some(i) = &body.instructions {
        system.push(json!({"type": "text", "text": i}));
    }
    let mut messages = Vec::new();
    let items = match &body.input {
        None => return Ok((system, messages)),
        Some(Input::Text(t)) => {
            push(
                &mut messages,
                "user",
                vec![json!({"type": "text", "text": t})],
            );
            return Ok((system, messages));
        }
        Some(Input::Items(items)) => items,
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Message(m) => match m.role {
                Role::System | Role::Developer => {
                    for p in m.content.to_parts(m.role) {
                        if let Some(t) = p.text() {
                            system.push(json!({"type": "text", "text": t}));
                        }
                    }
                }
                Role::User => push(&mut messages, "user", user_blocks(&m.content, i, provider)?),
                Role::Assistant => {
                    let blocks = m
                        .content
                        .to_parts(Role::Assistant)
                        .iter()
                        .filter_map(ContentPart::text)
                        .filter(|t| !t.is_empty())
                        .map(|t| json!({"type": "text", "text": t}))
                        .collect();
                    push(&mut messages, "assistant", blocks);
                }
            },
            Item::FunctionCall(f) => {
                let input = common::parse_arguments(&f.arguments, i, provider)?;
                push(
                    &mut messages,
                    "assistant",
                    vec![
                        json!({"type": "tool_use", "id": f.call_id, "name": f.name, "input": input}),
                    ],
                );
            }
            Item::FunctionCallOutput(o) => {
                let content = match &o.output {
                    FunctionOutput::Text(t) => json!(t),
                    FunctionOutput::Parts(parts) => Value::Array(user_blocks(
                        &MessageContent::Parts(parts.clone()),
                        i,
                        provider,
                    )?),
                };
                push(
                    &mut messages,
                    "user",
                    vec![
                        json!({"type": "tool_result", "tool_use_id": o.call_id, "content": content}),
                    ],
                );
            }
            Item::Reasoning(r) => {
                // Only Anthropic's own signatures are accepted by Anthropic.
                let Some(sig) = r
                    .encrypted_content
                    .as_deref()
                    .and_then(|e| e.strip_prefix(super::SLUG))
                else {
                    continue;
                };
                // The block as it came: thinking with its signature, or
                // redacted thinking.
                let Ok(block @ Value::Object(_)) = serde_json::from_str::<Value>(sig) else {
                    continue;
                };
                push(&mut messages, "assistant", vec![block]);
            }
            Item::Other(v) if own_block(v).is_some() => {
                if let Some(block) = own_block(v) {
                    push(&mut messages, "assistant", vec![block]);
                }
            }
            other @ (Item::ItemReference(_) | Item::Other(_)) => {
                return Err(common::unsupported_item(i, other, provider, PROTOCOL))
            }
        }
    }
    Ok((system, messages))
}

/// OpenAI's `web_search` tool as Anthropic's web search server tool:
/// the user's location and allowed domains carry over.
fn web_search(tool: &Value) -> Value {
    let mut t = json!({"type": "web_search_20250305", "name": "web_search"});
    if let Some(loc) = tool.get("user_location").and_then(Value::as_object) {
        let mut l = serde_json::Map::new();
        l.insert("type".into(), json!("approximate"));
        for k in ["city", "region", "country", "timezone"] {
            if let Some(v) = loc.get(k).filter(|v| v.is_string()) {
                l.insert(k.into(), v.clone());
            }
        }
        t["user_location"] = Value::Object(l);
    }
    if let Some(d) = tool
        .pointer("/filters/allowed_domains")
        .filter(|d| d.as_array().is_some_and(|a| !a.is_empty()))
    {
        t["allowed_domains"] = d.clone();
    }
    t
}

/// An `anthropic:` extension item (a server tool's call or result) as the
/// content block it came from: the slug, and the `id` and `status` every
/// item carries, taken off again (a `*_use` block's `id` is its own).
fn own_block(item: &Value) -> Option<Value> {
    let kind = item.get("type")?.as_str()?.strip_prefix(super::SLUG)?;
    let mut block = item.as_object()?.clone();
    block.insert("type".into(), json!(kind));
    block.remove("status");
    if !kind.ends_with("_use") {
        block.remove("id");
    }
    Some(Value::Object(block))
}

fn user_blocks(
    content: &MessageContent,
    i: usize,
    provider: &str,
) -> Result<Vec<Value>, RequestError> {
    let mut out = Vec::new();
    for (j, part) in content.to_parts(Role::User).iter().enumerate() {
        out.push(match part {
            ContentPart::InputText(t) | ContentPart::Text(t) => json!({"type": "text", "text": t.text}),
            ContentPart::OutputText(t) => json!({"type": "text", "text": t.text}),
            ContentPart::InputImage(img) => {
                let url = img.image_url.as_deref().unwrap_or_default();
                match common::data_url(url) {
                    Some((media, data)) => json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}),
                    None if url.starts_with("http") => json!({"type": "image", "source": {"type": "url", "url": url}}),
                    None => return Err(unsupported(format!("input[{i}].content[{j}]"), provider, "an image that is neither a base64 data URL nor an http(s) URL")),
                }
            }
            ContentPart::InputFile(f) => {
                let source = match (f.file_data.as_deref(), f.file_url.as_deref()) {
                    (Some(d), _) => match common::data_url(d) {
                        Some((media, data)) => json!({"type": "base64", "media_type": media, "data": data}),
                        None => json!({"type": "base64", "media_type": "application/pdf", "data": d}),
                    },
                    (None, Some(u)) => json!({"type": "url", "url": u}),
                    (None, None) => return Err(unsupported(format!("input[{i}].content[{j}]"), provider, "`input_file` without `file_data` or `file_url`")),
                };
                let mut doc = json!({"type": "document", "source": source});
                if let Some(n) = &f.filename {
                    doc["title"] = json!(n);
                }
                doc
            }
            other => {
                return Err(unsupported(format!("input[{i}].content[{j}]"), provider, format_args!("content type `{}`", other.type_name())))
            }
        });
    }
    Ok(out)
}
