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

/// Prompt tokens read from the cache: 8 of the 12 when the request
/// marks a `cache_control` breakpoint (as a warm cache would answer).
pub(crate) fn cached_of(request: &Value) -> u64 {
    if request.to_string().contains("\"cache_control\"") {
        8
    } else {
        0
    }
}

fn usage(output: u64, cached: u64) -> Value {
    json!({"input_tokens": 12 - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached, "output_tokens": output, "service_tier": "standard"})
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

/// What the mock thinks before it answers, when thinking is on.
fn thinking_text(a: &Answer) -> String {
    match a {
        Answer::Text(_) => "The user wants an answer. I will reply briefly.".into(),
        Answer::Call { name, .. } => format!("The user asked for {name}. I will call it."),
    }
}

/// The data of the mock's redacted thinking block.
const REDACTED: &str = "EmwKAhgBEgyMockRedactedThinkingData";

/// The mock's signature over a thinking text: like Anthropic's, it binds
/// the text, so a changed text (or a lost signature) is refused.
pub(crate) fn signature(thinking: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in thinking.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("EqMockSig{h:016x}==")
}

/// The thinking blocks of an answer: a signed one, and a redacted one
/// when the user asks about redaction.
fn thinking_blocks(a: &Answer, redacted: bool) -> Vec<Value> {
    let t = thinking_text(a);
    let mut v = vec![json!({"type": "thinking", "thinking": t, "signature": signature(&t)})];
    if redacted {
        v.push(json!({"type": "redacted_thinking", "data": REDACTED}));
    }
    v
}

/// How the request asks to think: off, on, or on with redaction.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thinking {
    Off,
    On,
    Redacted,
}

/// Whether (and how) the request turns thinking on.
pub(crate) fn thinking_of(body: &Value) -> Thinking {
    if !matches!(
        body["thinking"]["type"].as_str(),
        Some("enabled" | "adaptive")
    ) {
        return Thinking::Off;
    }
    match extract(body).0 {
        Some(u) if u.to_lowercase().contains("redact") => Thinking::Redacted,
        _ => Thinking::On,
    }
}

/// What Anthropic refuses in a request's history: a thinking block whose
/// signature does not match its text, redacted thinking it did not issue,
/// and, with thinking on, a tool loop's last assistant turn that does not
/// start with its thinking.
pub(crate) fn check(body: &Value) -> Option<String> {
    let msgs = body["messages"].as_array()?;
    for (i, m) in msgs.iter().enumerate() {
        for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
            let bad = match b["type"].as_str() {
                Some("thinking") => {
                    b["signature"].as_str()
                        != Some(&signature(b["thinking"].as_str().unwrap_or_default()))
                }
                Some("redacted_thinking") => b["data"] != REDACTED,
                _ => false,
            };
            if bad {
                return Some(format!(
                    "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    if thinking_of(body) == Thinking::Off {
        return None;
    }
    // The last assistant turn, when the turn after it answers its tools.
    let (i, last) = msgs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| m["role"] == "assistant")?;
    let blocks = last["content"].as_array()?;
    let calls = blocks.iter().any(|b| b["type"] == "tool_use");
    let first = blocks
        .first()
        .and_then(|b| b["type"].as_str())
        .unwrap_or_default();
    if calls && !matches!(first, "thinking" | "redacted_thinking") {
        return Some(format!("messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"));
    }
    None
}

/// The non-streaming body.
pub(crate) fn body(a: &Answer, model: &str, output: u64, thinking: Thinking, cached: u64) -> Value {
    let mut content = match thinking {
        Thinking::Off => vec![],
        t => thinking_blocks(a, t == Thinking::Redacted),
    };
    content.push(block(a));
    json!({"model": model, "id": "msg_mock_1", "type": "message", "role": "assistant", "content": content,
        "stop_reason": stop_reason(a), "stop_sequence": null, "usage": usage(output, cached)})
}

/// The streamed body: `event:` lines name each event, as Anthropic does.
pub(crate) fn events(
    a: &Answer,
    model: &str,
    output: u64,
    thinking: Thinking,
    cached: u64,
) -> Vec<String> {
    let ev = |v: Value| {
        format!(
            "event: {}\ndata: {v}\n\n",
            v["type"].as_str().unwrap_or_default()
        )
    };
    let mut start = body(a, model, 1, Thinking::Off, cached);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let mut frames = vec![ev(json!({"type": "message_start", "message": start}))];
    let mut index = 0;
    if thinking != Thinking::Off {
        for b in thinking_blocks(a, thinking == Thinking::Redacted) {
            if b["type"] == "thinking" {
                // Text in deltas, then the signature, as Anthropic streams.
                frames.push(ev(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}})));
                for p in super::pieces(b["thinking"].as_str().unwrap_or_default()) {
                    frames.push(ev(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "thinking_delta", "thinking": p}})));
                }
                frames.push(ev(json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": b["signature"]}})));
            } else {
                frames.push(ev(
                    json!({"type": "content_block_start", "index": index, "content_block": b}),
                ));
            }
            frames.push(ev(json!({"type": "content_block_stop", "index": index})));
            index += 1;
        }
    }
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
        json!({"type": "content_block_start", "index": index, "content_block": first}),
    ));
    frames.push(ev(json!({"type": "ping"})));
    for d in deltas {
        frames.push(ev(
            json!({"type": "content_block_delta", "index": index, "delta": d}),
        ));
    }
    frames.push(ev(json!({"type": "content_block_stop", "index": index})));
    frames.push(ev(json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(a), "stop_sequence": null}, "usage": usage(output, cached)})));
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
