//! The response and its events as a Messages `message` and the Messages
//! event sequence.

use serde_json::{json, Value};

/// How a response ended, as Messages says it.
fn stop_reason(resp: &Value) -> &'static str {
    match crate::ingress::ending(resp) {
        crate::ingress::Ending::MaxTokens => "max_tokens",
        crate::ingress::Ending::ContentFilter => "refusal",
        crate::ingress::Ending::ToolCalls => "tool_use",
        crate::ingress::Ending::Stop => "end_turn",
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
            Some("reasoning") => content.push(thinking_block(item)),
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

/// A reasoning item's text: its reasoning text, else its summary.
fn reasoning_text(item: &Value) -> String {
    let parts = |k: &str| -> String {
        item[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect()
    };
    let text = parts("content");
    if text.is_empty() {
        parts("summary")
    } else {
        text
    }
}

/// A reasoning item as a `thinking` block. The signature is the item's
/// `encrypted_content`: for Claude, the gateway's seal over the original
/// block (redacted thinking included), which `decode` turns back into
/// the reasoning item, and the upstream's request into the exact block.
fn thinking_block(item: &Value) -> Value {
    json!({"type": "thinking", "thinking": reasoning_text(item),
        "signature": item["encrypted_content"].as_str().unwrap_or_default()})
}

/// An error envelope in Messages' shape.
pub fn error(status: u16, message: &str) -> Value {
    let kind = match status {
        413 => "request_too_large",
        400 | 405 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// What an open content block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Tool,
    Thinking,
}

/// Open Responses events → Messages events, for one stream.
#[derive(Debug, Default)]
pub struct EventEncoder {
    /// The open content block's index, and what it holds.
    open: Option<(u64, Block)>,
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

    fn open(&mut self, block: Value, kind: Block, out: &mut Vec<(String, Value)>) -> u64 {
        self.close(out);
        let i = self.next;
        self.next += 1;
        out.push((
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": i, "content_block": block}),
        ));
        self.open = Some((i, kind));
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
                    Some((i, Block::Text)) => i,
                    _ => self.open(json!({"type": "text", "text": ""}), Block::Text, &mut out),
                };
                out.push((
                    "content_block_delta".into(),
                    json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "text_delta", "text": e["delta"]}}),
                ));
            }
            "response.output_item.added" if e["item"]["type"] == "function_call" => {
                let item = &e["item"];
                self.open(json!({"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": {}}), Block::Tool, &mut out);
            }
            "response.output_item.added" if e["item"]["type"] == "reasoning" => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                self.open(block, Block::Thinking, &mut out);
            }
            "response.reasoning.delta" | "response.reasoning_summary_text.delta" => {
                if let Some((i, Block::Thinking)) = self.open {
                    out.push((
                        "content_block_delta".into(),
                        json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "thinking_delta", "thinking": e["delta"]}}),
                    ));
                }
            }
            "response.output_item.done" if e["item"]["type"] == "reasoning" => {
                if let Some((i, Block::Thinking)) = self.open {
                    let sig = e["item"]["encrypted_content"].as_str().unwrap_or_default();
                    if !sig.is_empty() {
                        out.push((
                            "content_block_delta".into(),
                            json!({"type": "content_block_delta", "index": i,
                            "delta": {"type": "signature_delta", "signature": sig}}),
                        ));
                    }
                    self.close(&mut out);
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some((i, Block::Tool)) = self.open {
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
