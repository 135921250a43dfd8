//! A Messages request as an Open Responses request body, checked under
//! Messages' own field names.

use serde_json::{json, Map, Value};

use crate::error::RequestError;

fn invalid(param: &str, message: impl Into<String>) -> RequestError {
    RequestError::InvalidValue {
        param: param.into(),
        message: message.into(),
    }
}

/// Thinking budget → reasoning effort (the inverse of the Anthropic
/// provider's mapping, rounded down).
fn effort(budget: u64) -> &'static str {
    match budget {
        0..=2047 => "low",
        2048..=8191 => "medium",
        8192..=24575 => "high",
        _ => "xhigh",
    }
}

/// A Messages request as an Open Responses request body.
pub fn decode(m: &Value) -> Result<Value, RequestError> {
    let Some(c) = m.as_object() else {
        return Err(invalid(".", "the body must be a JSON object"));
    };
    let max = match c.get("max_tokens") {
        None | Some(Value::Null) => return Err(invalid("max_tokens", "`max_tokens` is required")),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("max_tokens", "`max_tokens` must be a positive integer"))?,
    };
    check_fields(c, max)?;
    let mut out = Map::new();
    if let Some(model) = c.get("model") {
        out.insert("model".into(), model.clone());
    }
    out.insert("max_output_tokens".into(), json!(max));
    match c.get("system") {
        Some(Value::String(s)) => {
            out.insert("instructions".into(), json!(s));
        }
        Some(Value::Array(blocks)) => {
            let text: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
            out.insert("instructions".into(), json!(text.join("\n")));
        }
        _ => {}
    }
    let messages = c
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "`messages` must be a list"))?;
    if messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    let mut input = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let role = msg["role"].as_str().unwrap_or_default();
        // `system` turns (Claude Code sends them mid-conversation) go in
        // as system messages where they stand.
        if !matches!(role, "user" | "assistant" | "system") {
            return Err(invalid(
                &format!("messages.{i}.role"),
                "must be `user`, `assistant` or `system`",
            ));
        }
        let blocks = match &msg["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => {
                return Err(invalid(
                    &format!("messages.{i}.content"),
                    "must be a string or a list of blocks",
                ))
            }
        };
        let mut parts = Vec::new();
        let flush = |parts: &mut Vec<Value>, input: &mut Vec<Value>| {
            if !parts.is_empty() {
                input.push(
                    json!({"type": "message", "role": role, "content": std::mem::take(parts)}),
                );
            }
        };
        for (j, b) in blocks.iter().enumerate() {
            match b["type"].as_str().unwrap_or_default() {
                "text" => {
                    let kind = if role == "assistant" {
                        "output_text"
                    } else {
                        "input_text"
                    };
                    parts.push(json!({"type": kind, "text": b["text"]}));
                }
                "image" if role == "user" => parts.push(image(&b["source"])),
                "tool_use" => {
                    flush(&mut parts, &mut input);
                    input.push(
                        json!({"type": "function_call", "call_id": b["id"], "name": b["name"],
                        "arguments": b.get("input").cloned().unwrap_or(json!({})).to_string()}),
                    );
                }
                "tool_result" => {
                    flush(&mut parts, &mut input);
                    let output = match &b["content"] {
                        Value::String(s) => json!(s),
                        Value::Array(inner) => Value::Array(
                            inner
                                .iter()
                                .map(|x| match x["type"].as_str() {
                                    Some("image") => image(&x["source"]),
                                    _ => json!({"type": "input_text", "text": x["text"]}),
                                })
                                .collect(),
                        ),
                        _ => json!(""),
                    };
                    let output = if b["is_error"] == true {
                        match output {
                            Value::String(s) => json!(format!("Error: {s}")),
                            other => other,
                        }
                    } else {
                        output
                    };
                    input.push(json!({"type": "function_call_output", "call_id": b["tool_use_id"], "output": output}));
                }
                // Earlier thinking goes back as a reasoning item; its
                // signature is the gateway's seal (see `thinking_block`),
                // opened for the upstream that made it.
                "thinking" | "redacted_thinking" if role == "assistant" => {
                    let sig = b["signature"].as_str().or(b["data"].as_str());
                    if let Some(sig) = sig.filter(|s| !s.is_empty()) {
                        flush(&mut parts, &mut input);
                        input.push(json!({"type": "reasoning", "summary": [],
                            "content": [{"type": "reasoning_text", "text": b["thinking"].as_str().unwrap_or_default()}],
                            "encrypted_content": sig}));
                    }
                }
                other => {
                    return Err(invalid(
                        &format!("messages.{i}.content.{j}.type"),
                        format!("content block `{other}` is not supported here"),
                    ))
                }
            }
        }
        flush(&mut parts, &mut input);
    }
    out.insert("input".into(), Value::Array(input));
    if let Some(tools) = c.get("tools").and_then(Value::as_array) {
        // A tool loaded on demand (`defer_loading`, found by the client's
        // own tool search) is not offered to the model up front.
        let tools = tools
            .iter()
            .enumerate()
            .filter(|(_, t)| t["defer_loading"] != true)
            .map(|(i, t)| tool(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = c.get("tool_choice") {
        let choice = match tc["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") if tc["name"].is_string() => {
                json!({"type": "function", "name": tc["name"]})
            }
            Some("tool") => {
                return Err(invalid("tool_choice.name", "`tool` choice needs a `name`"))
            }
            _ => {
                return Err(invalid(
                    "tool_choice.type",
                    "must be `auto`, `any`, `tool` or `none`",
                ))
            }
        };
        out.insert("tool_choice".into(), choice);
        if tc["disable_parallel_tool_use"] == true {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    if let Some(stop) = c.get("stop_sequences") {
        out.insert("stop".into(), stop.clone());
    }
    for k in ["temperature", "top_p"] {
        if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    // The effort asked for (`output_config.effort`), else the one a
    // thinking budget implies; adaptive thinking alone leaves it to the
    // model.
    let asked = c
        .get("output_config")
        .and_then(|o| o["effort"].as_str())
        .and_then(|e| match e {
            "low" | "medium" | "high" => Some(e),
            "max" => Some("xhigh"),
            _ => None,
        });
    let budget = c
        .get("thinking")
        .filter(|t| t["type"] == "enabled")
        .and_then(|t| t["budget_tokens"].as_u64())
        .map(effort);
    if let Some(e) = asked.or(budget) {
        out.insert("reasoning".into(), json!({ "effort": e }));
    }
    if let Some(schema) = c
        .get("output_config")
        .map(|o| &o["format"])
        .filter(|f| f["type"] == "json_schema")
        .map(|f| &f["schema"])
    {
        out.insert(
            "text".into(),
            json!({"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": true}}),
        );
    }
    // A caller id fit for `safety_identifier` (at most 64 characters).
    if let Some(u) = c
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .filter(|u| u.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 64))
    {
        out.insert("safety_identifier".into(), u.clone());
    }
    crate::ingress::stateless(&mut out, c);
    Ok(Value::Object(out))
}

/// A Messages tool as an Open Responses tool: a custom tool becomes a
/// function; Anthropic's web search server tool becomes `web_search`
/// (sent back to Claude as that same tool; other upstreams follow the
/// gateway's hosted-tool rules).
fn tool(i: usize, t: &Value) -> Result<Value, RequestError> {
    let kind = t["type"].as_str().unwrap_or("custom");
    if kind.starts_with("web_search_") {
        return Ok(json!({"type": "web_search"}));
    }
    if kind != "custom" {
        return Err(invalid(
            &format!("tools.{i}.type"),
            format!("server tool `{kind}` is not supported here"),
        ));
    }
    if !t["name"].is_string() || !t["input_schema"].is_object() {
        return Err(invalid(
            &format!("tools.{i}"),
            "a tool needs a `name` and an `input_schema` object",
        ));
    }
    Ok(
        json!({"type": "function", "name": t["name"], "description": t.get("description"),
        "parameters": t["input_schema"], "strict": null}),
    )
}

/// The fields whose range Messages fixes, checked under their own names.
fn check_fields(c: &Map<String, Value>, max_tokens: u64) -> Result<(), RequestError> {
    if let Some(t) = c.get("thinking").filter(|t| t["type"] == "enabled") {
        let budget = t["budget_tokens"].as_u64().unwrap_or(0);
        if budget < 1024 {
            return Err(invalid(
                "thinking.budget_tokens",
                "`budget_tokens` must be at least 1024",
            ));
        }
        if budget >= max_tokens {
            return Err(invalid(
                "thinking.budget_tokens",
                "`max_tokens` must be greater than `thinking.budget_tokens`",
            ));
        }
    }
    if let Some(stop) = c.get("stop_sequences").filter(|v| !v.is_null()) {
        let strings = stop
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string));
        if !strings {
            return Err(invalid(
                "stop_sequences",
                "`stop_sequences` must be a list of strings",
            ));
        }
    }
    for k in ["temperature", "top_p"] {
        if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
            if !v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) {
                return Err(invalid(k, format!("`{k}` must be a number from 0 to 1")));
            }
        }
    }
    if let Some(v) = c.get("top_k").filter(|v| !v.is_null()) {
        if v.as_u64().is_none() {
            return Err(invalid("top_k", "`top_k` must be a non-negative integer"));
        }
    }
    Ok(())
}

fn image(source: &Value) -> Value {
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        ),
        _ => source["url"].as_str().unwrap_or_default().to_owned(),
    };
    json!({"type": "input_image", "image_url": url, "detail": "auto"})
}
