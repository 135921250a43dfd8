//! Anthropic Messages, in the shape of the recordings.

use serde_json::{json, Value};

use super::Answer;

/// The last user text, a trailing tool result, and the offered tools.
pub(crate) fn extract(body: &Value) -> (Option<String>, Option<String>, Vec<(String, Value)>) {
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    let text_of = |content: &Value| match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let user = msgs
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .find(|t| !t.is_empty());
    let tool = msgs.last().and_then(|m| {
        let blocks = m["content"].as_array()?;
        let result = blocks.iter().rev().find(|b| b["type"] == "tool_result")?;
        Some(text_of(&result["content"]))
    });
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?.to_owned(), t["input_schema"].clone())))
        .collect();
    (user, tool, tools)
}

fn usage(output: u64) -> Value {
    json!({"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output, "service_tier": "standard"})
}

fn block(a: &Answer) -> Value {
    match a {
        Answer::Text(t) => json!({"type": "text", "text": t}),
        Answer::Call { name, arguments } => {
            let input: Value = serde_json::from_str(arguments).unwrap_or_default();
            json!({"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": input})
        }
    }
}

fn stop_reason(a: &Answer) -> &'static str {
    match a {
        Answer::Text(_) => "end_turn",
        Answer::Call { .. } => "tool_use",
    }
}

/// The non-streaming body.
pub(crate) fn body(a: &Answer, model: &str, output: u64) -> Value {
    json!({"model": model, "id": "msg_mock_1", "type": "message", "role": "assistant", "content": [block(a)],
        "stop_reason": stop_reason(a), "stop_sequence": null, "usage": usage(output)})
}

/// The streamed body: `event:` lines name each event, as Anthropic does.
pub(crate) fn events(a: &Answer, model: &str, output: u64) -> Vec<String> {
    let ev = |v: Value| {
        format!(
            "event: {}\ndata: {v}\n\n",
            v["type"].as_str().unwrap_or_default()
        )
    };
    let mut start = body(a, model, 1);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let mut frames = vec![ev(json!({"type": "message_start", "message": start}))];
    let (first, deltas) = match a {
        Answer::Text(t) => (
            json!({"type": "text", "text": ""}),
            super::pieces(t)
                .into_iter()
                .map(|p| json!({"type": "text_delta", "text": p}))
                .collect::<Vec<_>>(),
        ),
        Answer::Call { name, arguments } => (
            json!({"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": {}}),
            std::iter::once(String::new())
                .chain(super::pieces(arguments))
                .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                .collect(),
        ),
    };
    frames.push(ev(
        json!({"type": "content_block_start", "index": 0, "content_block": first}),
    ));
    frames.push(ev(json!({"type": "ping"})));
    for d in deltas {
        frames.push(ev(
            json!({"type": "content_block_delta", "index": 0, "delta": d}),
        ));
    }
    frames.push(ev(json!({"type": "content_block_stop", "index": 0})));
    frames.push(ev(json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(a), "stop_sequence": null}, "usage": usage(output)})));
    frames.push(ev(json!({"type": "message_stop"})));
    frames
}

/// Anthropic's error body.
pub(crate) fn error(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}
