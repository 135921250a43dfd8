//! OpenAI Responses events → the builder.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::response::outcome;
use super::wire::{is_spec_item, item_from_upstream, Final, Head, ItemDone, SLUG};
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{responses_usage, stream_error, translate_error};
use crate::providers::openai_chat::wire::Text;
use crate::sse::SseEvent;
use crate::types::Item;

/// Translates one OpenAI Responses stream. The upstream's item ids are
/// kept (clients send them back, reasoning ids in particular); its
/// sequence numbers and output indexes are replaced by the builder's.
#[derive(Debug)]
pub struct OpenAiResponsesStream {
    provider: String,
    /// Upstream output index → builder output index.
    index: HashMap<u64, usize>,
    outcome: Option<Outcome>,
    error: Option<Value>,
}

impl OpenAiResponsesStream {
    /// A translator for the named provider.
    pub fn new(provider: &str) -> Self {
        OpenAiResponsesStream {
            provider: provider.to_owned(),
            index: HashMap::new(),
            outcome: None,
            error: None,
        }
    }

    /// Whether the terminal event has been seen.
    pub fn is_terminal(&self) -> bool {
        self.outcome.is_some()
    }

    /// Feeds one event.
    pub fn on_event(
        &mut self,
        ev: &SseEvent,
        b: &mut ResponseBuilder,
    ) -> Result<(), TranslateError> {
        if ev.data == "[DONE]" {
            return Ok(());
        }
        if self.fast(ev, b) {
            return Ok(());
        }
        let mut v: Value = match serde_json::from_str(&ev.data) {
            Ok(v) => v,
            // A malformed event whose SSE name says it carries nothing the
            // translation needs is tolerated (such events have been seen
            // truncated); usage is then unknown. Anything else fails.
            Err(_)
                if matches!(
                    ev.event.as_deref(),
                    Some("response.created" | "response.in_progress" | "response.queued")
                ) =>
            {
                return Ok(());
            }
            Err(_) if ev.event.as_deref() == Some("response.completed") => {
                self.outcome = Some(Outcome::Completed);
                return Ok(());
            }
            Err(e) => {
                return Err(translate_error(
                    &self.provider,
                    format!("invalid event JSON: {e}"),
                    ev.data.as_bytes(),
                ));
            }
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or_default();
        let up_index = v.get("output_index").and_then(Value::as_u64);
        let idx = up_index.and_then(|i| self.index.get(&i).copied());
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        match (kind, idx) {
            ("response.created", _) if !self.index.is_empty() => {
                // The response starts over after output (a retrying proxy
                // in front of the upstream): the new one is the answer.
                b.restart();
                self.index.clear();
            }
            ("response.created" | "response.in_progress" | "response.queued", _) => {}
            ("response.output_item.added", _) => {
                let item = v.get("item").cloned().unwrap_or_default();
                let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
                let our = match item.get("type").and_then(Value::as_str) {
                    Some("message") => b.start_message(s("id"), s("phase")),
                    Some("function_call") => b.start_function_call(
                        s("id"),
                        s("call_id").unwrap_or_default(),
                        s("name").unwrap_or_default(),
                    ),
                    Some("reasoning") => b.start_reasoning(s("id"), s("encrypted_content")),
                    _ => {
                        // Not a streamable spec item: it is reported whole at
                        // output_item.done; until then it is only announced.
                        let Item::Other(mut raw) = item_from_upstream(item) else {
                            return Ok(());
                        };
                        raw["status"] = Value::String("in_progress".into());
                        b.start_opaque(raw)
                    }
                };
                if let Some(i) = up_index {
                    self.index.insert(i, our);
                }
            }
            ("response.content_part.added", Some(i)) => {
                match v.pointer("/part/type").and_then(Value::as_str) {
                    Some("refusal") => b.open_refusal(i),
                    Some("output_text") => b.open_text(i),
                    _ => {}
                }
            }
            ("response.output_text.delta", Some(i)) => b.text_delta(i, text("delta")),
            ("response.output_text.annotation.added", Some(i)) => {
                b.annotation(i, v.get("annotation").cloned().unwrap_or_default())
            }
            ("response.refusal.delta", Some(i)) => b.refusal_delta(i, text("delta")),
            ("response.content_part.done" | "response.reasoning_summary_part.done", Some(i)) => {
                b.close_part(i)
            }
            ("response.function_call_arguments.delta", Some(i)) => {
                b.arguments_delta(i, text("delta"))
            }
            ("response.reasoning_summary_part.added", Some(i)) => b.open_summary(i),
            ("response.reasoning_summary_text.delta", Some(i)) => b.summary_delta(i, text("delta")),
            ("response.reasoning_text.delta" | "response.reasoning.delta", Some(i)) => {
                b.reasoning_delta(i, text("delta"))
            }
            ("response.output_item.done", Some(i)) => {
                let item =
                    item_from_upstream(v.get_mut("item").map(Value::take).unwrap_or_default());
                b.end_item_with(i, item);
            }
            ("response.output_text.done", Some(i)) => b.text_done(i, text("text")),
            ("response.function_call_arguments.done", Some(i)) => {
                b.arguments_done(i, text("arguments"))
            }
            (
                "response.output_text.done"
                | "response.refusal.done"
                | "response.function_call_arguments.done"
                | "response.reasoning_summary_text.done"
                | "response.reasoning_text.done"
                | "response.reasoning.done",
                _,
            ) => {} // the builder emits these when it closes the part or item
            ("response.completed" | "response.incomplete" | "response.failed", _) => {
                let resp = v.get("response").cloned().unwrap_or_default();
                let fin = Final::deserialize(&resp).unwrap_or_default();
                self.terminal(fin, b);
            }
            ("error", _) => {
                let err = v.get("error").cloned().unwrap_or_else(|| v.clone());
                self.error = Some(err);
            }
            _ => {
                // An event the spec does not define: pass it on under the
                // provider slug, with its output index mapped to ours.
                let mut ext = v.clone();
                if !kind.contains(':') {
                    ext["type"] = Value::String(format!("{SLUG}{kind}"));
                }
                if let Some(i) = idx {
                    ext["output_index"] = Value::from(i);
                }
                b.extension_event(ext);
            }
        }
        Ok(())
    }

    /// The hot path: deltas and part events of items this stream opened,
    /// the lifecycle events and the terminal one, read from a [`Head`] rather than a
    /// JSON tree. False for anything else (and for malformed JSON), which
    /// [`Self::on_event`] then reads whole.
    fn fast(&mut self, ev: &SseEvent, b: &mut ResponseBuilder) -> bool {
        let Ok(head) = serde_json::from_str::<Head>(&ev.data) else {
            return false;
        };
        let Some(kind) = head.kind.0.as_deref().or(ev.event.as_deref()) else {
            return false;
        };
        match kind {
            "response.created" if !self.index.is_empty() => return false,
            "response.created" | "response.in_progress" | "response.queued" => return true,
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.terminal(head.response.unwrap_or_default(), b);
                return true;
            }
            "response.output_item.added" => return self.open_item(&head, b),
            _ => {}
        }
        let Some(i) = head
            .output_index
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|i| self.index.get(&i).copied())
        else {
            return false;
        };
        if kind == "response.output_item.done" {
            let spec = head.item.as_ref().and_then(|it| it.kind.0.as_deref());
            if !spec.is_some_and(is_spec_item) {
                return false;
            }
            let Ok(done) = serde_json::from_str::<ItemDone>(&ev.data) else {
                return false;
            };
            b.end_item_with(i, done.item);
            return true;
        }
        let delta = head.delta.0.as_deref().unwrap_or_default();
        match kind {
            "response.content_part.added" => {
                match head.part.as_ref().and_then(|p| p.kind.0.as_deref()) {
                    Some("refusal") => b.open_refusal(i),
                    Some("output_text") => b.open_text(i),
                    _ => {}
                }
            }
            "response.content_part.done" | "response.reasoning_summary_part.done" => {
                b.close_part(i)
            }
            "response.output_text.done" => {
                b.text_done(i, head.text.0.as_deref().unwrap_or_default())
            }
            "response.function_call_arguments.done" => {
                b.arguments_done(i, head.arguments.0.as_deref().unwrap_or_default())
            }
            // The builder emits these when it closes the part or item.
            "response.refusal.done"
            | "response.reasoning_summary_text.done"
            | "response.reasoning_text.done"
            | "response.reasoning.done" => {}
            "response.output_text.delta" => b.text_delta(i, delta),
            "response.refusal.delta" => b.refusal_delta(i, delta),
            "response.function_call_arguments.delta" => b.arguments_delta(i, delta),
            "response.reasoning_summary_text.delta" => b.summary_delta(i, delta),
            "response.reasoning_text.delta" | "response.reasoning.delta" => {
                b.reasoning_delta(i, delta)
            }
            _ => return false,
        }
        true
    }

    /// `output_item.added` of a streamable spec item (a message, function
    /// call or reasoning); false for the rest.
    fn open_item(&mut self, head: &Head, b: &mut ResponseBuilder) -> bool {
        let Some(it) = head.item.as_ref() else {
            return false;
        };
        let s = |t: &Text| t.0.as_deref().map(str::to_owned);
        let our = match it.kind.0.as_deref() {
            Some("message") => b.start_message(s(&it.id), s(&it.phase)),
            Some("function_call") => b.start_function_call(
                s(&it.id),
                s(&it.call_id).unwrap_or_default(),
                s(&it.name).unwrap_or_default(),
            ),
            Some("reasoning") => b.start_reasoning(s(&it.id), s(&it.encrypted_content)),
            _ => return false,
        };
        if let Some(up) = head.output_index.as_ref().and_then(Value::as_u64) {
            self.index.insert(up, our);
        }
        true
    }

    /// The terminal event: usage and outcome.
    fn terminal(&mut self, resp: Final, b: &mut ResponseBuilder) {
        if resp.usage.is_object() {
            b.usage(responses_usage(&resp.usage));
        }
        let resp = resp.into_value();
        self.outcome = Some(match (&self.error, outcome(&self.provider, &resp)) {
            (Some(err), Outcome::Failed(_)) => Outcome::Failed(stream_error(&self.provider, err)),
            (_, o) => o,
        });
    }

    /// The upstream body ended.
    pub fn finish(&mut self, _b: &mut ResponseBuilder) -> Outcome {
        if let Some(o) = self.outcome.take() {
            return o;
        }
        if let Some(err) = &self.error {
            return Outcome::Failed(stream_error(&self.provider, err));
        }
        Outcome::Failed(crate::types::ErrorPayload {
            kind: "server_error".into(),
            code: Some("upstream_stream_truncated".into()),
            message: format!(
                "upstream '{}' ended the stream before response.completed",
                self.provider
            ),
            param: None,
        })
    }
}
