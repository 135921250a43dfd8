//! Closing parts and items, and whole items added at once: the part of
//! the builder that decides what the final items hold.

use super::*;

impl ResponseBuilder {
    /// Closes the open content part of the item at `index`, if any.
    pub fn close_part(&mut self, index: usize) {
        let Some(Some(Some((kind, pi)))) = self.open.get(index).cloned() else {
            return;
        };
        self.open[index] = Some(None);
        let Some(item) = self.response.output.get(index) else {
            return;
        };
        let item_id = item.id().unwrap_or_default().to_owned();
        let part = match (item, kind) {
            (Item::Message(m), _) => match &m.content {
                MessageContent::Parts(p) => p.get(pi).cloned(),
                MessageContent::Text(_) => None,
            },
            (Item::Reasoning(r), PartKind::Summary) => r.summary.get(pi).cloned(),
            (Item::Reasoning(r), _) => r.content.as_ref().and_then(|c| c.get(pi).cloned()),
            _ => None,
        };
        let Some(part) = part else { return };
        let text = part.text().unwrap_or_default().to_owned();
        let (o, ci) = (index, pi);
        match kind {
            PartKind::Text => {
                let id = item_id.clone();
                self.emit(|s| StreamEvent::OutputTextDone {
                    sequence_number: s,
                    item_id: id,
                    output_index: o,
                    content_index: ci,
                    text,
                    logprobs: Vec::new(),
                });
            }
            PartKind::Refusal => {
                let id = item_id.clone();
                self.emit(|s| StreamEvent::RefusalDone {
                    sequence_number: s,
                    item_id: id,
                    output_index: o,
                    content_index: ci,
                    refusal: text,
                });
            }
            PartKind::Reasoning => {
                let id = item_id.clone();
                self.emit(|s| StreamEvent::ReasoningDone {
                    sequence_number: s,
                    item_id: id,
                    output_index: o,
                    content_index: ci,
                    text,
                });
            }
            PartKind::Summary => {
                let id = item_id.clone();
                self.emit(|s| StreamEvent::ReasoningSummaryTextDone {
                    sequence_number: s,
                    item_id: id,
                    output_index: o,
                    summary_index: ci,
                    text,
                });
                self.emit(|s| StreamEvent::ReasoningSummaryPartDone {
                    sequence_number: s,
                    item_id,
                    output_index: o,
                    summary_index: ci,
                    part,
                });
                return;
            }
        }
        self.emit(|s| StreamEvent::ContentPartDone {
            sequence_number: s,
            item_id,
            output_index: o,
            content_index: ci,
            part,
        });
    }

    /// Finishes the item at `index` as `completed`.
    pub fn end_item(&mut self, index: usize) {
        self.end_item_as(index, None, "completed");
    }

    /// Finishes the item at `index`, replacing it with the provider's final
    /// version (which keeps annotations, signatures and the like). The
    /// builder's id is kept when the final item has none.
    pub fn end_item_with(&mut self, index: usize, final_item: Item) {
        self.end_item_as(index, Some(final_item), "completed");
    }

    /// Finishes the item at `index` as `final_item` with `status` (an
    /// `mcp_call` that `failed`).
    pub fn end_item_with_status(&mut self, index: usize, final_item: Item, status: &str) {
        self.end_item_as(index, Some(final_item), status);
    }

    pub(super) fn end_item_as(&mut self, index: usize, replacement: Option<Item>, status: &str) {
        if !self.is_open(index) {
            return;
        }
        let mut replacement = replacement;
        if let Some(args) = self.custom.remove(&index) {
            // A custom tool's input is the `input` string of its arguments.
            let parsed: Option<Value> = serde_json::from_str(&args).ok();
            let input = match parsed.as_ref().and_then(|v| v.get("input")) {
                Some(Value::String(s)) => s.clone(),
                _ => args,
            };
            if let Some(Item::Other(v)) = self.response.output.get_mut(index) {
                v["input"] = Value::String(input);
            }
            replacement = None;
        }
        if let Some(Item::FunctionCall(f)) = &mut replacement {
            self.arguments_done(index, &f.arguments);
            // Deltas already sent cannot be taken back: when the upstream's
            // final arguments are not what its deltas added up to, the
            // item keeps what the client assembled, and the stream is
            // reported as inconsistent.
            if let Some(Item::FunctionCall(sent)) = self.response.output.get(index) {
                if sent.arguments != f.arguments {
                    self.inconsistent = Some(format!(
                        "the arguments of function call {} do not match the deltas streamed for it",
                        f.call_id
                    ));
                    f.arguments = sent.arguments.clone();
                }
            }
        }
        self.close_part(index);
        self.open[index] = None;
        let Some(slot) = self.response.output.get_mut(index) else {
            return;
        };
        if let Some(mut new) = replacement {
            if new.id().is_none() {
                set_id(&mut new, slot.id().unwrap_or_default().to_owned());
            }
            *slot = new;
        }
        if let (Some(sealer), Item::Reasoning(r)) = (&self.sealer, &mut *slot) {
            if let Some(e) = r.encrypted_content.as_mut() {
                *e = sealer.seal(e);
            }
        }
        set_status(slot, status);
        let item = slot.clone();
        if let Item::FunctionCall(f) = &item {
            let (item_id, arguments) = (f.id.clone().unwrap_or_default(), f.arguments.clone());
            self.emit(|s| StreamEvent::FunctionCallArgumentsDone {
                sequence_number: s,
                item_id,
                output_index: index,
                arguments,
            });
        }
        self.emit(|s| StreamEvent::OutputItemDone {
            sequence_number: s,
            output_index: index,
            item,
        });
    }

    /// Announces an item the builder cannot stream (a provider extension);
    /// finish it with [`end_item_with`](Self::end_item_with).
    pub fn start_opaque(&mut self, raw: Value) -> usize {
        let mut item = Item::Other(raw);
        if item.id().is_none() {
            let id = self.ids.next("item_");
            set_id(&mut item, id);
        }
        self.push_item(item)
    }

    /// Adds a complete item, replaying it as the events a stream of it
    /// would produce. Items without an id or status get them.
    pub fn add_item(&mut self, item: Item) -> usize {
        match &item {
            Item::Message(m) => {
                let idx = self.start_message(m.id.clone(), m.phase.clone());
                for part in m.content.to_parts(Role::Assistant) {
                    match &part {
                        ContentPart::OutputText(t) => {
                            self.open_text_fresh(idx);
                            self.text_delta(idx, &t.text);
                            for a in &t.annotations {
                                self.annotation(idx, a.clone());
                            }
                        }
                        ContentPart::Refusal(r) => {
                            self.close_part(idx);
                            self.open_refusal(idx);
                            self.refusal_delta(idx, &r.refusal);
                        }
                        _ => {}
                    }
                }
                self.close_added(idx, item)
            }
            Item::FunctionCall(f) => {
                let idx = self.start_function_call(f.id.clone(), f.call_id.clone(), f.name.clone());
                self.arguments_delta(idx, &f.arguments);
                self.close_added(idx, item)
            }
            Item::Reasoning(r) => {
                let idx = self.start_reasoning(r.id.clone(), r.encrypted_content.clone());
                for part in &r.summary {
                    self.open_summary(idx);
                    self.summary_delta(idx, part.text().unwrap_or_default());
                }
                self.close_part(idx);
                for part in r.content.iter().flatten() {
                    self.reasoning_delta(idx, part.text().unwrap_or_default());
                }
                self.close_added(idx, item)
            }
            _ => {
                let mut item = item;
                if item.id().is_none() {
                    let id = self.ids.next("item_");
                    set_id(&mut item, id);
                }
                set_status(&mut item, IN_PROGRESS);
                let idx = self.push_item(item);
                self.end_item(idx);
                idx
            }
        }
    }

    /// Ends an item added whole, keeping the id the builder gave it.
    fn close_added(&mut self, idx: usize, mut item: Item) -> usize {
        let id = self.response.output[idx]
            .id()
            .unwrap_or_default()
            .to_owned();
        set_id(&mut item, id);
        self.end_item_with(idx, item);
        idx
    }
}
