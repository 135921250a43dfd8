//! How a response ends: usage, the final status, the terminal events;
//! and provider extension events along the way.

use super::*;

impl ResponseBuilder {
    /// Emits a provider-specific event. Its `type` must already carry the
    /// provider slug; `sequence_number` is set here.
    pub fn extension_event(&mut self, mut event: Value) {
        if let Some(obj) = event.as_object_mut() {
            obj.insert("sequence_number".into(), Value::from(self.seq));
            // The type comes from the upstream and becomes the `event:`
            // line: only characters that cannot end or bend that line.
            if let Some(Value::String(t)) = obj.get_mut("type") {
                if !t.bytes().all(crate::sse::safe_event_byte) {
                    *t = t
                        .chars()
                        .map(|c| {
                            if c.is_ascii() && crate::sse::safe_event_byte(c as u8) {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                }
            }
        }
        self.emit(|_| StreamEvent::Extension(event));
    }

    /// Records token usage.
    pub fn usage(&mut self, usage: Usage) {
        self.response.usage = Some(usage);
    }

    /// Ends the response: closes every open item, sets the status, and
    /// emits `response.completed`, `response.incomplete`, or `error` then
    /// `response.failed`. Later calls do nothing.
    pub fn finish(&mut self, outcome: Outcome, now_secs: u64) {
        if self.finished {
            return;
        }
        self.settle(outcome, now_secs);
        self.emit_terminal();
    }

    /// The upstream started its message over (a retrying proxy in front of
    /// it, say); the new attempt is the answer. While nothing has left the
    /// builder (the first-byte hold still holds it), the partial attempt
    /// is forgotten without a trace. Once a client may have seen it, its
    /// items are closed as `incomplete` and left out of the final
    /// response, which then holds only the new attempt (its items keep
    /// the output indexes after the partial ones' in the events).
    pub fn restart(&mut self) {
        if self.finished {
            return;
        }
        self.response.usage = None;
        if !self.drained {
            self.events.retain(|e| {
                matches!(
                    e,
                    StreamEvent::Created { .. } | StreamEvent::InProgress { .. }
                )
            });
            self.seq = self.events.len() as u64;
            self.response.output.clear();
            self.open.clear();
            self.custom.clear();
            return;
        }
        for i in 0..self.open.len() {
            self.end_item_as(i, None, "incomplete");
        }
        self.discarded = self.response.output.len();
    }

    /// Closes every open item and sets the final status, without emitting
    /// the terminal event yet: the gateway stores the response first, so
    /// that no client sees `completed` for a response that was not stored.
    pub fn settle(&mut self, outcome: Outcome, now_secs: u64) {
        if self.finished {
            return;
        }
        let item_status = if outcome == Outcome::Completed {
            "completed"
        } else {
            "incomplete"
        };
        for i in 0..self.open.len() {
            self.end_item_as(i, None, item_status);
        }
        // What the upstream took back is not part of the answer.
        let discarded = std::mem::take(&mut self.discarded);
        self.response
            .output
            .drain(..discarded.min(self.response.output.len()));
        self.open.drain(..discarded.min(self.open.len()));
        self.finished = true;
        match outcome {
            Outcome::Completed => {
                self.response.status = ResponseStatus::Completed;
                self.response.completed_at = Some(now_secs);
            }
            Outcome::Incomplete(reason) => {
                self.response.status = ResponseStatus::Incomplete;
                self.response.incomplete_details = Some(IncompleteDetails { reason });
            }
            Outcome::Failed(error) => self.set_failed(error),
        }
    }

    /// Turns a settled response into a failed one (its store write failed).
    pub fn fail_settled(&mut self, error: ErrorPayload) {
        self.response.completed_at = None;
        self.set_failed(error);
    }

    fn set_failed(&mut self, error: ErrorPayload) {
        self.response.status = ResponseStatus::Failed;
        self.response.error = Some(ResponseError {
            code: error.code.clone().unwrap_or_else(|| error.kind.clone()),
            message: error.message.clone(),
        });
        self.failure = Some(error);
    }

    /// Emits the terminal event(s) for the settled status.
    pub fn emit_terminal(&mut self) {
        match self.response.status {
            ResponseStatus::Completed => self.emit_snapshot(|s, r| StreamEvent::Completed {
                sequence_number: s,
                response: r,
            }),
            ResponseStatus::Incomplete => self.emit_snapshot(|s, r| StreamEvent::Incomplete {
                sequence_number: s,
                response: r,
            }),
            _ => {
                if let Some(error) = self.failure.take() {
                    self.emit(|s| StreamEvent::Error {
                        sequence_number: s,
                        error,
                    });
                }
                self.emit_snapshot(|s, r| StreamEvent::Failed {
                    sequence_number: s,
                    response: r,
                });
            }
        }
    }
}
