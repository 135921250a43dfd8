//! Anthropic Messages events → the builder.

use std::collections::HashMap;

use serde_json::Value;

use super::{outcome_of, refusal_text, usage_of, SLUG};
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{parse_event, stream_error};
use crate::sse::SseEvent;
use crate::types::{ErrorPayload, Item};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// The structured-output tool: its input is the answer's text.
    JsonText,
    Tool,
    /// A `thinking` block: its signature so far.
    Thinking,
    Redacted,
    Opaque,
}

/// Translates one Messages stream. Content blocks are tracked by their
/// `index`, so deltas may interleave; consecutive text blocks share one
/// message item, and any other block ends it.
#[derive(Debug)]
pub struct AnthropicStream {
    provider: String,
    json_tool: Option<String>,
    blocks: HashMap<u64, (Kind, usize)>,
    /// Open `thinking` blocks' signatures, by block index.
    signatures: HashMap<u64, String>,
    /// Open text blocks' citations, by block index.
    citations: HashMap<u64, Vec<Value>>,
    /// Open server tool blocks' streamed input JSON, by block index.
    opaque_input: HashMap<u64, String>,
    /// A content block has started (a later message_start is a restart).
    started: bool,
    message: Option<usize>,
    stop_reason: Option<String>,
    stop_details: Value,
    done: bool,
    error: Option<ErrorPayload>,
}

impl AnthropicStream {
    /// A translator; `json_tool` names the structured-output tool, if any.
    pub fn new(provider: &str, json_tool: Option<String>) -> Self {
        AnthropicStream {
            provider: provider.to_owned(),
            json_tool,
            blocks: HashMap::new(),
            signatures: HashMap::new(),
            citations: HashMap::new(),
            opaque_input: HashMap::new(),
            started: false,
            message: None,
            stop_reason: None,
            stop_details: Value::Null,
            done: false,
            error: None,
        }
    }

    /// Whether `message_stop` or an error has been seen.
    pub fn is_terminal(&self) -> bool {
        self.done || self.error.is_some()
    }

    /// Feeds one event.
    pub fn on_event(
        &mut self,
        ev: &SseEvent,
        b: &mut ResponseBuilder,
    ) -> Result<(), TranslateError> {
        let v = parse_event(&self.provider, ev, "event")?;
        self.on_value(&v, b);
        Ok(())
    }

    /// Feeds one parsed event (the non-streaming parser replays a whole
    /// message through here).
    pub(crate) fn on_value(&mut self, v: &Value, b: &mut ResponseBuilder) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                // A second message_start after content: the message starts
                // over (a retrying proxy in front of Anthropic); the new
                // one is the answer.
                if self.started {
                    b.restart();
                    self.blocks.clear();
                    self.signatures.clear();
                    self.citations.clear();
                    self.opaque_input.clear();
                    self.message = None;
                    self.stop_reason = None;
                }
                if let Some(u) = v.pointer("/message/usage") {
                    b.usage(usage_of(u, None));
                }
            }
            "content_block_start" => {
                self.block_start(index, v.get("content_block").unwrap_or(&Value::Null), b)
            }
            "content_block_delta" => {
                self.block_delta(index, v.get("delta").unwrap_or(&Value::Null), b)
            }
            "content_block_stop" => self.block_stop(index, b),
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_owned());
                }
                if let Some(d) = v.pointer("/delta/stop_details") {
                    self.stop_details = d.clone();
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    let prev = b.response().usage;
                    b.usage(usage_of(u, prev));
                }
            }
            "message_stop" => self.done = true,
            "ping" => {}
            "error" => self.error = Some(stream_error(&self.provider, v.get("error").unwrap_or(v))),
            other => {
                let mut ext = v.clone();
                ext["type"] = Value::String(format!("anthropic:{other}"));
                b.extension_event(ext);
            }
        }
    }

    fn message(&mut self, b: &mut ResponseBuilder) -> usize {
        *self
            .message
            .get_or_insert_with(|| b.start_message(None, None))
    }

    fn end_message(&mut self, b: &mut ResponseBuilder) {
        if let Some(m) = self.message.take() {
            b.end_item(m);
        }
    }

    fn block_start(&mut self, index: u64, block: &Value, b: &mut ResponseBuilder) {
        self.started = true;
        let s = |k: &str| {
            block
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // A non-empty `input` only comes whole (non-streaming replay).
        let input = block
            .get("input")
            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()));
        let entry = match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" => {
                let m = self.message(b);
                b.open_text(m);
                b.text_delta(m, &s("text"));
                // Whole citations come in a non-streaming replay; streamed
                // ones in `citations_delta`.
                let cited = block.get("citations").and_then(Value::as_array);
                self.citations
                    .insert(index, cited.cloned().unwrap_or_default());
                (Kind::Text, m)
            }
            "tool_use" if self.json_tool.as_deref() == Some(s("name").as_str()) => {
                let m = self.message(b);
                b.open_text(m);
                if let Some(i) = input {
                    b.text_delta(m, &i.to_string());
                }
                (Kind::JsonText, m)
            }
            "tool_use" => {
                self.end_message(b);
                let i = b.start_function_call(None, s("id"), s("name"));
                if let Some(input) = input {
                    b.arguments_delta(i, &input.to_string());
                }
                (Kind::Tool, i)
            }
            "thinking" => {
                self.end_message(b);
                // The whole block is sealed into `encrypted_content` when
                // it ends (see `block_stop`).
                self.signatures.insert(index, s("signature"));
                let i = b.start_reasoning(None, None);
                b.reasoning_delta(i, &s("thinking"));
                (Kind::Thinking, i)
            }
            "redacted_thinking" => {
                self.end_message(b);
                let raw = serde_json::json!({"type": "redacted_thinking", "data": s("data")});
                (
                    Kind::Redacted,
                    b.start_reasoning(None, Some(format!("{SLUG}{raw}"))),
                )
            }
            other => {
                // Server tools and their results: kept whole, under the slug.
                self.end_message(b);
                let mut raw = block.clone();
                raw["type"] = Value::String(format!("anthropic:{other}"));
                raw["status"] = Value::String("in_progress".into());
                (Kind::Opaque, b.start_opaque(raw))
            }
        };
        self.blocks.insert(index, entry);
    }

    fn block_delta(&mut self, index: u64, delta: &Value, b: &mut ResponseBuilder) {
        let Some(&(kind, i)) = self.blocks.get(&index) else {
            return;
        };
        let s = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or_default();
        match (
            kind,
            delta
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ) {
            (Kind::Text, "text_delta") => b.text_delta(i, s("text")),
            (Kind::JsonText, "input_json_delta") => b.text_delta(i, s("partial_json")),
            (Kind::Tool, "input_json_delta") => b.arguments_delta(i, s("partial_json")),
            (Kind::Text, "citations_delta") => {
                if let (Some(list), Some(c)) =
                    (self.citations.get_mut(&index), delta.get("citation"))
                {
                    list.push(c.clone());
                }
            }
            (Kind::Opaque, "input_json_delta") => {
                self.opaque_input
                    .entry(index)
                    .or_default()
                    .push_str(s("partial_json"));
            }
            (Kind::Thinking, "thinking_delta") => b.reasoning_delta(i, s("thinking")),
            (Kind::Thinking, "signature_delta") => {
                if let Some(sig) = self.signatures.get_mut(&index) {
                    sig.push_str(s("signature"));
                }
            }
            _ => {} // citations_delta and future deltas: not mapped
        }
    }

    fn block_stop(&mut self, index: u64, b: &mut ResponseBuilder) {
        let Some((kind, i)) = self.blocks.remove(&index) else {
            return;
        };
        match kind {
            Kind::Text => {
                let cited = self.citations.remove(&index).unwrap_or_default();
                annotate(&cited, i, b);
                b.close_part(i);
            }
            Kind::JsonText => b.close_part(i),
            Kind::Tool => {
                // A call without arguments streams none: its input is {}.
                if let Some(Item::FunctionCall(f)) = b.item_mut(i) {
                    if f.arguments.is_empty() {
                        b.arguments_delta(i, "{}");
                    }
                }
                b.end_item(i);
            }
            Kind::Thinking => {
                let signature = self.signatures.remove(&index).unwrap_or_default();
                if let Some(Item::Reasoning(r)) = b.item_mut(i) {
                    let thinking: String = r
                        .content
                        .iter()
                        .flatten()
                        .filter_map(crate::types::ContentPart::text)
                        .collect();
                    let raw = serde_json::json!({"type": "thinking", "thinking": thinking, "signature": signature});
                    r.encrypted_content = Some(format!("{SLUG}{raw}"));
                }
                b.end_item(i);
            }
            Kind::Opaque => {
                let streamed = self.opaque_input.remove(&index).unwrap_or_default();
                if let Ok(input) = serde_json::from_str::<Value>(&streamed) {
                    if let Some(Item::Other(v)) = b.item_mut(i) {
                        v["input"] = input;
                    }
                }
                b.end_item(i);
            }
            Kind::Redacted => b.end_item(i),
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self, b: &mut ResponseBuilder) -> Outcome {
        if let Some(err) = self.error.take() {
            return Outcome::Failed(err);
        }
        if !self.done && self.stop_reason.is_none() {
            return Outcome::Failed(ErrorPayload {
                kind: "server_error".into(),
                code: Some("upstream_stream_truncated".into()),
                message: format!(
                    "upstream '{}' ended the stream before message_stop",
                    self.provider
                ),
                param: None,
            });
        }
        if self.stop_reason.as_deref() == Some("refusal") {
            let m = self.message(b);
            b.refusal_delta(m, &refusal_text(&self.stop_details));
        }
        self.end_message(b);
        outcome_of(self.stop_reason.as_deref())
    }
}

/// A text block's web search citations as `url_citation` annotations
/// spanning the block: each block is one `output_text` part, so the span
/// is the whole part, counted in characters. One per URL.
fn annotate(citations: &[Value], message: usize, b: &mut ResponseBuilder) {
    if citations.is_empty() {
        return;
    }
    let end = match b.response().output.get(message) {
        Some(Item::Message(m)) => match &m.content {
            crate::types::MessageContent::Parts(parts) => match parts.last() {
                Some(crate::types::ContentPart::OutputText(t)) => t.text.chars().count(),
                _ => return,
            },
            _ => return,
        },
        _ => return,
    };
    let mut seen = std::collections::HashSet::new();
    for c in citations {
        let Some(url) = c.get("url").and_then(Value::as_str) else {
            continue;
        };
        if !seen.insert(url.to_owned()) {
            continue;
        }
        let title = c.get("title").and_then(Value::as_str).unwrap_or_default();
        b.annotation(
            message,
            serde_json::json!({"type": "url_citation", "url": url, "title": title, "start_index": 0, "end_index": end}),
        );
    }
}
