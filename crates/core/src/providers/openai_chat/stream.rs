//! Chat Completions chunks → the builder.

use std::collections::BTreeMap;

use serde_json::Value;

use super::outcome_of;
use super::response::annotation;
use super::wire::{Chunk, Text};
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{chat_usage, stream_error, translate_error};
use crate::sse::SseEvent;
use crate::types::ErrorPayload;

/// A non-empty string field.
fn text<'b>(t: Option<&'b Text<'_>>) -> Option<&'b str> {
    t.and_then(|t| t.0.as_deref()).filter(|t| !t.is_empty())
}

/// Translates one Chat Completions stream (choice 0). Reasoning deltas
/// (`reasoning_content` or `reasoning`) open a reasoning item, content a
/// message, and each `tool_calls[].index` a function call; an item ends
/// when the next kind begins.
#[derive(Debug)]
pub struct ChatStream {
    provider: String,
    reasoning: Option<usize>,
    message: Option<usize>,
    /// Chat tool call index → builder output index.
    calls: BTreeMap<u64, usize>,
    finish_reason: Option<String>,
    done: bool,
    error: Option<ErrorPayload>,
    /// The completion's `id`, from its first chunk: a chunk with another
    /// id after output starts the answer over.
    id: Option<String>,
}

impl ChatStream {
    /// Whether any output came from this completion yet.
    fn produced(&self) -> bool {
        self.reasoning.is_some() || self.message.is_some() || !self.calls.is_empty()
    }

    /// A translator for the named provider.
    pub fn new(provider: &str) -> Self {
        ChatStream {
            provider: provider.to_owned(),
            reasoning: None,
            message: None,
            calls: BTreeMap::new(),
            finish_reason: None,
            done: false,
            error: None,
            id: None,
        }
    }

    /// Whether `[DONE]` or an error has been seen.
    pub fn is_terminal(&self) -> bool {
        self.done || self.error.is_some()
    }

    /// Feeds one chunk.
    pub fn on_event(
        &mut self,
        ev: &SseEvent,
        b: &mut ResponseBuilder,
    ) -> Result<(), TranslateError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let v: Chunk<'_> = serde_json::from_str(data).map_err(|e| {
            translate_error(
                &self.provider,
                format!("invalid chunk JSON: {e}"),
                data.as_bytes(),
            )
        })?;
        if let Some(err) = v.error.as_ref().filter(|e| e.is_object()) {
            self.error = Some(stream_error(&self.provider, err));
            return Ok(());
        }
        // An empty id is no id: Azure's content-filter chunk comes first
        // with `"id": ""`, and the completion's own id after it.
        if let Some(id) = v.id.0.as_deref().filter(|id| !id.is_empty()) {
            match &self.id {
                Some(first) if first != id && self.produced() => {
                    // A retrying proxy started the completion over.
                    b.restart();
                    (self.reasoning, self.message) = (None, None);
                    self.calls.clear();
                    self.finish_reason = None;
                    self.id = Some(id.to_owned());
                }
                Some(_) => {}
                None => self.id = Some(id.to_owned()),
            }
        }
        if let Some(u) = v.usage.as_ref().filter(|u| u.is_object()) {
            b.usage(chat_usage(u));
        }
        let Some(choice) = v
            .choices
            .iter()
            .flatten()
            .find(|ch| ch.index.as_ref().and_then(Value::as_u64).unwrap_or(0) == 0)
        else {
            return Ok(());
        };
        let delta = choice.delta.as_ref();
        let r =
            text(delta.map(|d| &d.reasoning_content)).or_else(|| text(delta.map(|d| &d.reasoning)));
        if let Some(r) = r {
            let i = *self
                .reasoning
                .get_or_insert_with(|| b.start_reasoning(None, None));
            b.reasoning_delta(i, r);
        }
        if let Some(t) = text(delta.map(|d| &d.content)) {
            self.end_reasoning(b);
            let i = *self
                .message
                .get_or_insert_with(|| b.start_message(None, None));
            b.text_delta(i, t);
        }
        if let Some(t) = text(delta.map(|d| &d.refusal)) {
            self.end_reasoning(b);
            let i = *self
                .message
                .get_or_insert_with(|| b.start_message(None, None));
            b.refusal_delta(i, t);
        }
        for a in delta
            .and_then(|d| d.annotations.as_ref())
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(i) = self.message {
                b.annotation(i, annotation(a));
            }
        }
        for call in delta
            .and_then(|d| d.tool_calls.as_ref())
            .into_iter()
            .flatten()
        {
            self.end_reasoning(b);
            if let Some(m) = self.message {
                b.end_item(m);
            }
            let index = call
                .index
                .as_ref()
                .and_then(Value::as_u64)
                .unwrap_or(self.calls.len() as u64);
            let f = call.function.as_ref();
            let i = match self.calls.get(&index) {
                Some(i) => *i,
                None => {
                    let call_id = call
                        .id
                        .0
                        .as_deref()
                        .map(str::to_owned)
                        .unwrap_or_else(|| b.new_id("call_"));
                    let name = f
                        .and_then(|f| f.name.0.as_deref())
                        .unwrap_or_default()
                        .to_owned();
                    let i = b.start_function_call(None, call_id, name);
                    self.calls.insert(index, i);
                    i
                }
            };
            if let Some(args) = f.and_then(|f| f.arguments.0.as_deref()) {
                b.arguments_delta(i, args);
            }
        }
        if let Some(fr) = choice.finish_reason.0.as_deref() {
            self.finish_reason = Some(fr.to_owned());
        }
        Ok(())
    }

    fn end_reasoning(&mut self, b: &mut ResponseBuilder) {
        if let Some(i) = self.reasoning {
            b.end_item(i);
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self, _b: &mut ResponseBuilder) -> Outcome {
        if let Some(err) = self.error.take() {
            return Outcome::Failed(err);
        }
        if self.finish_reason.is_none() && !self.done {
            return Outcome::Failed(ErrorPayload {
                kind: "server_error".into(),
                code: Some("upstream_stream_truncated".into()),
                message: format!(
                    "upstream '{}' ended the stream without a finish_reason or [DONE]",
                    self.provider
                ),
                param: None,
            });
        }
        outcome_of(self.finish_reason.as_deref())
    }
}
