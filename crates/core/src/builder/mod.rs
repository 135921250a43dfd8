//! [`ResponseBuilder`]: the one owner of the Open Responses event lifecycle.
//!
//! Provider translators call semantic operations (a text delta, a new
//! function call, the end of an item); the builder emits the spec's events
//! in order with `sequence_number`, `output_index`, `content_index` and
//! item ids, closes whatever is still open before the next thing starts,
//! and accumulates the final [`ResponseResource`]. The non-streaming path
//! drives the same builder, so both paths produce the same response.

use serde_json::Value;

use crate::ids::IdGen;
use crate::types::{
    ContentPart, ErrorPayload, FunctionCall, IncompleteDetails, Item, Message, MessageContent,
    OutputText, Reasoning, Refusal, ResponseError, ResponseResource, ResponseStatus, Role,
    StreamEvent, TextPart, Usage,
};

/// How a response ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished normally.
    Completed,
    /// Stopped early; the reason (`max_output_tokens`, `content_filter`).
    Incomplete(String),
    /// Failed; the error is sent as an `error` event, then `response.failed`.
    Failed(ErrorPayload),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    Text,
    Refusal,
    Reasoning,
    Summary,
}

/// Builds one response. See the module docs.
#[derive(Debug)]
pub struct ResponseBuilder {
    response: ResponseResource,
    seq: u64,
    record: bool,
    events: Vec<StreamEvent>,
    /// Per output index: `None` once the item is done; otherwise the open
    /// content part (kind and index), if any.
    open: Vec<Option<Option<(PartKind, usize)>>>,
    ids: IdGen,
    finished: bool,
    /// The error a failed response reports in its `error` event.
    failure: Option<ErrorPayload>,
    /// The upstream contradicted itself (see [`ResponseBuilder::take_inconsistency`]).
    inconsistent: Option<String>,
    /// Flattened tool names to map back (see `providers::tool_map`).
    tool_map: Option<crate::providers::tool_map::ToolMap>,
    /// Open `custom_tool_call` items: their arguments (`{"input": …}`)
    /// so far, by output index.
    custom: std::collections::HashMap<usize, String>,
    /// Seals raw provider state in reasoning items (see `providers::seal`).
    sealer: Option<crate::providers::seal::Sealer>,
    /// Output items of an attempt the upstream started over (left out).
    discarded: usize,
    /// Events have left the builder (the client may have seen them).
    drained: bool,
}

const IN_PROGRESS: &str = "in_progress";

impl ResponseBuilder {
    /// A builder for `skeleton` (status `in_progress`, no output). With
    /// `record` false (non-streaming) no events are kept.
    pub fn new(skeleton: ResponseResource, id_seed: u64, record: bool) -> Self {
        ResponseBuilder {
            response: skeleton,
            seq: 0,
            record,
            events: Vec::new(),
            open: Vec::new(),
            ids: IdGen::new(id_seed),
            finished: false,
            failure: None,
            inconsistent: None,
            tool_map: None,
            custom: Default::default(),
            sealer: None,
            discarded: 0,
            drained: false,
        }
    }

    /// Seals provider state (`encrypted_content`) in reasoning items
    /// before they leave: in `output_item.added` and `.done` and in the
    /// response.
    pub fn seal_with(&mut self, sealer: crate::providers::seal::Sealer) {
        self.sealer = Some(sealer);
    }

    /// Emits `response.created` and `response.in_progress`.
    pub fn start(&mut self) {
        self.emit_snapshot(|s, r| StreamEvent::Created {
            sequence_number: s,
            response: r,
        });
        self.emit_snapshot(|s, r| StreamEvent::InProgress {
            sequence_number: s,
            response: r,
        });
    }

    /// Takes the events emitted so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, StreamEvent> {
        self.drained |= !self.events.is_empty();
        self.events.drain(..)
    }

    /// The response as built so far.
    pub fn response(&self) -> &ResponseResource {
        &self.response
    }

    /// The finished response.
    pub fn into_response(self) -> ResponseResource {
        self.response
    }

    /// Maps the upstream's flattened tool names back to what the client
    /// sent (namespaced tools).
    pub fn map_tools(&mut self, map: crate::providers::tool_map::ToolMap) {
        self.tool_map = Some(map);
    }

    /// Why the upstream's stream contradicted itself (a final item that
    /// its deltas do not add up to), once; the gateway fails such a
    /// response rather than hand on two versions of it.
    pub fn take_inconsistency(&mut self) -> Option<String> {
        self.inconsistent.take()
    }

    /// The error of a settled, failed response.
    pub fn failure(&self) -> Option<&ErrorPayload> {
        self.failure.as_ref()
    }

    /// Whether `finish` has run.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// A fresh id with this prefix.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.ids.next(prefix)
    }

    /// Mutable access to an item, for provider data such as signatures.
    pub fn item_mut(&mut self, index: usize) -> Option<&mut Item> {
        self.response.output.get_mut(index)
    }

    /// Whether the item at `index` is still open.
    pub fn is_open(&self, index: usize) -> bool {
        matches!(self.open.get(index), Some(Some(_)))
    }

    /// Starts an assistant message; returns its output index.
    pub fn start_message(&mut self, id: Option<String>, phase: Option<String>) -> usize {
        let id = id.unwrap_or_else(|| self.ids.next("msg_"));
        self.push_item(Item::Message(Message {
            id: Some(id),
            status: Some(IN_PROGRESS.into()),
            role: Role::Assistant,
            content: MessageContent::Parts(Vec::new()),
            phase,
            extra: Default::default(),
        }))
    }

    /// Starts a function call; returns its output index.
    pub fn start_function_call(
        &mut self,
        id: Option<String>,
        call_id: String,
        name: String,
    ) -> usize {
        if self.tool_map.as_ref().is_some_and(|m| m.is_custom(&name)) {
            // Held until the end: the client gets its freeform input,
            // not the JSON the upstream streams.
            let id = self.ids.next("ctc_");
            let index = self.push_item(Item::Other(serde_json::json!({
                "type": "custom_tool_call", "id": id, "call_id": call_id,
                "name": name, "input": "", "status": IN_PROGRESS,
            })));
            self.custom.insert(index, String::new());
            return index;
        }
        let id = id.unwrap_or_else(|| self.ids.next("fc_"));
        let mut extra = crate::types::Extra::default();
        let mut name = name;
        if let Some((ns, inner)) = self.tool_map.as_ref().and_then(|m| m.namespaced(&name)) {
            extra.insert("namespace".into(), Value::String(ns.clone()));
            name = inner.clone();
        }
        self.push_item(Item::FunctionCall(FunctionCall {
            id: Some(id),
            call_id,
            name,
            arguments: String::new(),
            status: Some(IN_PROGRESS.into()),
            extra,
        }))
    }

    /// Starts a reasoning item; returns its output index.
    pub fn start_reasoning(
        &mut self,
        id: Option<String>,
        encrypted_content: Option<String>,
    ) -> usize {
        let id = id.unwrap_or_else(|| self.ids.next("rs_"));
        let encrypted_content = match (&self.sealer, encrypted_content) {
            (Some(sealer), Some(e)) => Some(sealer.seal(&e)),
            (_, e) => e,
        };
        self.push_item(Item::Reasoning(Reasoning {
            id: Some(id),
            summary: Vec::new(),
            content: None,
            encrypted_content,
            status: Some(IN_PROGRESS.into()),
            extra: Default::default(),
        }))
    }

    /// Opens an empty `output_text` part on a message (deltas open one
    /// themselves; this is for parts that stay empty).
    pub fn open_text(&mut self, index: usize) {
        self.ensure_part(index, PartKind::Text);
    }

    /// Opens an empty `refusal` part on a message.
    pub fn open_refusal(&mut self, index: usize) {
        self.ensure_part(index, PartKind::Refusal);
    }

    /// Opens a new summary part on a reasoning item.
    pub fn open_summary(&mut self, index: usize) {
        self.close_part(index);
        self.ensure_part(index, PartKind::Summary);
    }

    /// Appends text to the message at `index`.
    pub fn text_delta(&mut self, index: usize, delta: &str) {
        self.part_delta(index, PartKind::Text, delta, |s, item_id, o, c, delta| {
            StreamEvent::OutputTextDelta {
                sequence_number: s,
                item_id,
                output_index: o,
                content_index: c,
                delta,
                logprobs: Vec::new(),
            }
        });
    }

    /// Adds an annotation to the open text part of the message at `index`.
    pub fn annotation(&mut self, index: usize, annotation: Value) {
        if !self.ensure_part(index, PartKind::Text) {
            return;
        }
        let Some(Item::Message(m)) = self.response.output.get_mut(index) else {
            return;
        };
        let MessageContent::Parts(parts) = &mut m.content else {
            return;
        };
        let ci = parts.len() - 1;
        let Some(ContentPart::OutputText(t)) = parts.last_mut() else {
            return;
        };
        t.annotations.push(annotation.clone());
        let ai = t.annotations.len() - 1;
        let item_id = m.id.clone().unwrap_or_default();
        self.emit(|s| StreamEvent::AnnotationAdded {
            sequence_number: s,
            item_id,
            output_index: index,
            content_index: ci,
            annotation_index: ai,
            annotation,
        });
    }

    /// Appends refusal text to the message at `index`.
    pub fn refusal_delta(&mut self, index: usize, delta: &str) {
        self.part_delta(
            index,
            PartKind::Refusal,
            delta,
            |s, item_id, o, c, delta| StreamEvent::RefusalDelta {
                sequence_number: s,
                item_id,
                output_index: o,
                content_index: c,
                delta,
            },
        );
    }

    /// Appends raw reasoning text to the reasoning item at `index`.
    pub fn reasoning_delta(&mut self, index: usize, delta: &str) {
        self.part_delta(
            index,
            PartKind::Reasoning,
            delta,
            |s, item_id, o, c, delta| StreamEvent::ReasoningDelta {
                sequence_number: s,
                item_id,
                output_index: o,
                content_index: c,
                delta,
            },
        );
    }

    /// Appends summary text to the reasoning item at `index` (opens a
    /// summary part if none is open).
    pub fn summary_delta(&mut self, index: usize, delta: &str) {
        self.part_delta(
            index,
            PartKind::Summary,
            delta,
            |s, item_id, o, c, delta| StreamEvent::ReasoningSummaryTextDelta {
                sequence_number: s,
                item_id,
                output_index: o,
                summary_index: c,
                delta,
            },
        );
    }

    /// Appends to the open part of `kind` (opening it if needed) and emits
    /// the delta event `make` builds from (sequence, item id, output index,
    /// part index, delta).
    fn part_delta(
        &mut self,
        index: usize,
        kind: PartKind,
        delta: &str,
        make: fn(u64, String, usize, usize, String) -> StreamEvent,
    ) {
        if delta.is_empty() || !self.ensure_part(index, kind) {
            return;
        }
        let (item_id, pi) = self.append(index, delta);
        let delta = delta.to_owned();
        self.emit(|s| make(s, item_id, index, pi, delta));
    }

    /// Appends to the arguments of the function call at `index`.
    pub fn arguments_delta(&mut self, index: usize, delta: &str) {
        if delta.is_empty() || !self.is_open(index) {
            return;
        }
        if let Some(args) = self.custom.get_mut(&index) {
            args.push_str(delta);
            return;
        }
        let Some(Item::FunctionCall(f)) = self.response.output.get_mut(index) else {
            return;
        };
        f.arguments.push_str(delta);
        let item_id = f.id.clone().unwrap_or_default();
        let delta = delta.to_owned();
        self.emit(|s| StreamEvent::FunctionCallArgumentsDelta {
            sequence_number: s,
            item_id,
            output_index: index,
            delta,
        });
    }

    /// The provider's full arguments for the call at `index`: emits as a
    /// delta whatever the deltas so far did not carry (some servers send
    /// arguments only whole), so delta readers never lose them.
    pub fn arguments_done(&mut self, index: usize, full: &str) {
        if let Some(args) = self.custom.get_mut(&index) {
            if !full.is_empty() {
                *args = full.to_owned();
            }
            return;
        }
        let Some(Item::FunctionCall(f)) = self.response.output.get(index) else {
            return;
        };
        if let Some(rest) = full.strip_prefix(f.arguments.as_str()) {
            let rest = rest.to_owned();
            self.arguments_delta(index, &rest);
        }
    }

    /// The provider's full text for the open text part at `index`: emits
    /// the part the deltas did not carry.
    pub fn text_done(&mut self, index: usize, full: &str) {
        let Some(Some(Some((PartKind::Text, pi)))) = self.open.get(index).cloned() else {
            return;
        };
        let Some(Item::Message(m)) = self.response.output.get(index) else {
            return;
        };
        let MessageContent::Parts(parts) = &m.content else {
            return;
        };
        let so_far = parts
            .get(pi)
            .and_then(ContentPart::text)
            .unwrap_or_default();
        if let Some(rest) = full.strip_prefix(so_far) {
            let rest = rest.to_owned();
            self.text_delta(index, &rest);
        }
    }

    /// Emits a lifecycle event carrying a snapshot of the response (cloned
    /// only when events are recorded).
    fn emit_snapshot(&mut self, make: fn(u64, Box<ResponseResource>) -> StreamEvent) {
        if self.record {
            let snap = Box::new(self.response.clone());
            self.emit(|s| make(s, snap));
        } else {
            self.seq += 1;
        }
    }

    fn emit(&mut self, make: impl FnOnce(u64) -> StreamEvent) {
        let seq = self.seq;
        self.seq += 1;
        if self.record {
            self.events.push(make(seq));
        }
    }

    fn push_item(&mut self, mut item: Item) -> usize {
        // An upstream item with no type of its own still needs one, under
        // the extension slug: the spec names every item's kind.
        if let Item::Other(v) = &mut item {
            if let Some(o) = v
                .as_object_mut()
                .filter(|o| !o.get("type").is_some_and(Value::is_string))
            {
                o.insert(
                    "type".into(),
                    Value::String("latticelm:unknown_item".into()),
                );
            }
        }
        let index = self.response.output.len();
        self.response.output.push(item.clone());
        self.open.push(Some(None));
        self.emit(|s| StreamEvent::OutputItemAdded {
            sequence_number: s,
            output_index: index,
            item,
        });
        index
    }

    /// Opens a new text part even if one of the same kind is open.
    fn open_text_fresh(&mut self, index: usize) {
        self.close_part(index);
        self.ensure_part(index, PartKind::Text);
    }

    /// Makes sure a part of `kind` is open on the item; returns false when
    /// the item is closed or cannot hold that kind.
    fn ensure_part(&mut self, index: usize, kind: PartKind) -> bool {
        match self.open.get(index) {
            Some(Some(Some((k, _)))) if *k == kind => return true,
            Some(Some(_)) => {}
            _ => return false,
        }
        self.close_part(index);
        let Some(item) = self.response.output.get_mut(index) else {
            return false;
        };
        let item_id = item.id().unwrap_or_default().to_owned();
        let (pi, part) = match (item, kind) {
            (Item::Message(m), PartKind::Text | PartKind::Refusal) => {
                let part = if kind == PartKind::Text {
                    ContentPart::OutputText(OutputText::default())
                } else {
                    ContentPart::Refusal(Refusal::default())
                };
                let MessageContent::Parts(parts) = &mut m.content else {
                    return false;
                };
                parts.push(part.clone());
                (parts.len() - 1, part)
            }
            (Item::Reasoning(r), PartKind::Reasoning) => {
                let part = ContentPart::ReasoningText(TextPart::default());
                let content = r.content.get_or_insert_with(Vec::new);
                content.push(part.clone());
                (content.len() - 1, part)
            }
            (Item::Reasoning(r), PartKind::Summary) => {
                let part = ContentPart::SummaryText(TextPart::default());
                r.summary.push(part.clone());
                (r.summary.len() - 1, part)
            }
            _ => return false,
        };
        self.open[index] = Some(Some((kind, pi)));
        if kind == PartKind::Summary {
            self.emit(|s| StreamEvent::ReasoningSummaryPartAdded {
                sequence_number: s,
                item_id,
                output_index: index,
                summary_index: pi,
                part,
            });
        } else {
            self.emit(|s| StreamEvent::ContentPartAdded {
                sequence_number: s,
                item_id,
                output_index: index,
                content_index: pi,
                part,
            });
        }
        true
    }

    /// Appends to the open part; returns the item id and part index.
    fn append(&mut self, index: usize, delta: &str) -> (String, usize) {
        let Some(Some(Some((kind, pi)))) = self.open.get(index).cloned() else {
            return (String::new(), 0);
        };
        let Some(item) = self.response.output.get_mut(index) else {
            return (String::new(), 0);
        };
        let id = item.id().unwrap_or_default().to_owned();
        let part = match (item, kind) {
            (Item::Message(m), _) => match &mut m.content {
                MessageContent::Parts(p) => p.get_mut(pi),
                MessageContent::Text(_) => None,
            },
            (Item::Reasoning(r), PartKind::Summary) => r.summary.get_mut(pi),
            (Item::Reasoning(r), _) => r.content.as_mut().and_then(|c| c.get_mut(pi)),
            _ => None,
        };
        match part {
            Some(ContentPart::OutputText(t)) => t.text.push_str(delta),
            Some(ContentPart::Refusal(r)) => r.refusal.push_str(delta),
            Some(ContentPart::ReasoningText(t) | ContentPart::SummaryText(t)) => {
                t.text.push_str(delta)
            }
            _ => {}
        }
        (id, pi)
    }
}

fn set_id(item: &mut Item, id: String) {
    match item {
        Item::Message(m) => m.id = Some(id),
        Item::FunctionCall(f) => f.id = Some(id),
        Item::FunctionCallOutput(f) => f.id = Some(id),
        Item::Reasoning(r) => r.id = Some(id),
        Item::ItemReference(r) => r.id = id,
        Item::Other(v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("id".into(), Value::String(id));
            }
        }
    }
}

fn set_status(item: &mut Item, status: &str) {
    let s = Some(status.to_owned());
    match item {
        Item::Message(m) => m.status = s,
        Item::FunctionCall(f) => f.status = s,
        Item::FunctionCallOutput(f) => f.status = s,
        Item::Reasoning(r) => r.status = s,
        Item::ItemReference(_) => {}
        Item::Other(v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("status".into(), Value::String(status.to_owned()));
            }
        }
    }
}

mod items;
mod lifecycle;

#[cfg(test)]
mod tests;
