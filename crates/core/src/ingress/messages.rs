//! Anthropic Messages ingress (`POST /v1/messages`): the request becomes
//! an Open Responses body; the response and its events become a Messages
//! `message` and the Messages event sequence.

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
    let Some(max) = c.get("max_tokens").and_then(Value::as_u64) else {
        return Err(RequestError::InvalidValue {
            param: "max_tokens".into(),
            message: "`max_tokens` is required".into(),
        });
    };
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
    let mut input = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let role = msg["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(invalid(
                &format!("messages.{i}.role"),
                "must be `user` or `assistant`",
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
                    let kind = if role == "user" {
                        "input_text"
                    } else {
                        "output_text"
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
                // Earlier thinking is not resent (it would need the
                // gateway's seal to reach Claude again).
                "thinking" | "redacted_thinking" => {}
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
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t["name"], "description": t.get("description"),
                "parameters": t.get("input_schema"), "strict": null})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = c.get("tool_choice") {
        let choice = match tc["type"].as_str() {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "name": tc["name"]}),
            _ => json!("auto"),
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
    if let Some(b) = c
        .get("thinking")
        .filter(|t| t["type"] == "enabled")
        .and_then(|t| t["budget_tokens"].as_u64())
    {
        out.insert("reasoning".into(), json!({"effort": effort(b)}));
    }
    if let Some(u) = c
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .filter(|u| u.is_string())
    {
        out.insert("safety_identifier".into(), u.clone());
    }
    out.insert("store".into(), Value::Bool(false));
    out.insert(
        "stream".into(),
        Value::Bool(c.get("stream") == Some(&Value::Bool(true))),
    );
    Ok(Value::Object(out))
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

fn stop_reason(resp: &Value) -> &'static str {
    let calls = resp["output"]
        .as_array()
        .is_some_and(|o| o.iter().any(|i| i["type"] == "function_call"));
    match resp["incomplete_details"]["reason"].as_str() {
        Some("max_output_tokens") => "max_tokens",
        Some("content_filter") => "refusal",
        _ if calls => "tool_use",
        _ => "end_turn",
    }
}

fn usage(u: &Value) -> Value {
    let cached = u["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    let input = u["input_tokens"].as_u64().unwrap_or(0);
    json!({"input_tokens": input.saturating_sub(cached), "output_tokens": u["output_tokens"],
        "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0})
}

fn message_id(resp: &Value) -> String {
    format!(
        "msg_{}",
        resp["id"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("resp_")
    )
}

/// A finished response as a Messages `message`.
pub fn message(resp: &Value) -> Value {
    let mut content = Vec::new();
    for item in resp["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for p in item["content"].as_array().into_iter().flatten() {
                    match p["type"].as_str() {
                        Some("output_text") => {
                            content.push(json!({"type": "text", "text": p["text"]}))
                        }
                        Some("refusal") => {
                            content.push(json!({"type": "text", "text": p["refusal"]}))
                        }
                        _ => {}
                    }
                }
            }
            Some("function_call") => {
                let input: Value = serde_json::from_str(item["arguments"].as_str().unwrap_or("{}"))
                    .unwrap_or(json!({}));
                content.push(json!({"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": input}));
            }
            _ => {}
        }
    }
    json!({"id": message_id(resp), "type": "message", "role": "assistant", "model": resp["model"],
        "content": content, "stop_reason": stop_reason(resp), "stop_sequence": null,
        "usage": usage(&resp["usage"])})
}

/// An error envelope in Messages' shape.
pub fn error(status: u16, message: &str) -> Value {
    let kind = match status {
        400 | 413 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// Open Responses events → Messages events, for one stream.
#[derive(Debug, Default)]
pub struct EventEncoder {
    /// The open content block's index, and whether it is text.
    open: Option<(u64, bool)>,
    next: u64,
}

impl EventEncoder {
    fn close(&mut self, out: &mut Vec<(String, Value)>) {
        if let Some((i, _)) = self.open.take() {
            out.push((
                "content_block_stop".into(),
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
    }

    fn open(&mut self, block: Value, text: bool, out: &mut Vec<(String, Value)>) -> u64 {
        self.close(out);
        let i = self.next;
        self.next += 1;
        out.push((
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": i, "content_block": block}),
        ));
        self.open = Some((i, text));
        i
    }

    /// The (event name, data) pairs for one Open Responses event.
    pub fn event(&mut self, e: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        match e["type"].as_str().unwrap_or_default() {
            "response.created" => {
                let r = &e["response"];
                out.push(("message_start".into(), json!({"type": "message_start", "message": {
                    "id": message_id(r), "type": "message", "role": "assistant", "model": r["model"],
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}})));
                out.push(("ping".into(), json!({"type": "ping"})));
            }
            "response.output_text.delta" => {
                let i = match self.open {
                    Some((i, true)) => i,
                    _ => self.open(json!({"type": "text", "text": ""}), true, &mut out),
                };
                out.push((
                    "content_block_delta".into(),
                    json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "text_delta", "text": e["delta"]}}),
                ));
            }
            "response.output_item.added" if e["item"]["type"] == "function_call" => {
                let item = &e["item"];
                self.open(json!({"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": {}}), false, &mut out);
            }
            "response.function_call_arguments.delta" => {
                if let Some((i, false)) = self.open {
                    out.push((
                        "content_block_delta".into(),
                        json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": e["delta"]}}),
                    ));
                }
            }
            "response.output_item.done" if e["item"]["type"] == "function_call" => {
                self.close(&mut out)
            }
            "response.completed" | "response.incomplete" => {
                self.close(&mut out);
                let r = &e["response"];
                out.push(("message_delta".into(), json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(r), "stop_sequence": null}, "usage": usage(&r["usage"])})));
                out.push(("message_stop".into(), json!({"type": "message_stop"})));
            }
            "response.failed" => {
                let msg = e["response"]["error"]["message"]
                    .as_str()
                    .unwrap_or("the upstream failed");
                out.push(("error".into(), error(500, msg)));
            }
            _ => {}
        }
        out
    }
}
