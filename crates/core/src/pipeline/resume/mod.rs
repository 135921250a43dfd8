//! The continuation stage: a stream cut after its first output goes on
//! on the next target of the plan (`continue_after_output`), and the
//! client sees one answer.
//!
//! The next target gets the original input, the complete items so far,
//! and the cut message's text as the final assistant turn
//! ([`crate::pipeline::resume::request`]). Its stream is translated into a scratch
//! builder, and [`Splice`] carries what it says onto the open message of
//! the client's builder: the same item, part and indexes, the sequence
//! going on. A continuation that starts by repeating the partial text's
//! tail has the overlap dropped (within [`OVERLAP_WINDOW`]). It does not
//! happen when the cut fell inside anything but a message's text, when
//! reasoning would have to cross providers, or when no target or no time
//! is left: then the stream ends as before, with `response.failed`.

pub(crate) mod request;

use std::sync::Arc;

use crate::builder::{Outcome, ResponseBuilder};
use crate::config::Config;
use crate::host::Host;
use crate::observe::{ContinuationRecord, Recorder};
use crate::providers::Protocol;
use crate::routing::{self, PlanInput};
use crate::types::{
    CreateResponseBody, Item, ResponseResource, ResponseStatus, StreamEvent, Usage,
};

use crate::pipeline::attempt::live::Live;
use crate::pipeline::attempt::{self, ServedBody, Target};
use crate::pipeline::clock::now_ms;
use request::Mode;

/// How many characters of a continuation's start are compared with the
/// partial text's end.
pub const OVERLAP_WINDOW: usize = 256;

/// What a continuation needs from the request, kept by its stream.
pub(crate) struct Resume {
    /// The validated, expanded request.
    pub body: CreateResponseBody,
    /// The response every attempt starts from.
    pub skeleton: ResponseResource,
    /// The caller, and the passthrough its key allows.
    pub principal: String,
    pub passthrough: Vec<String>,
    /// Seeds ids and jitter.
    pub seed: u64,
    /// The admitted plan's targets (their routing keys): a continuation
    /// goes to none the admission left out (an unpriced one, under a
    /// budget).
    pub targets: Vec<String>,
}

/// A continuation under way.
pub(crate) struct Continuation {
    /// Its upstream stream, translated into a scratch builder.
    pub live: Live,
    /// Who serves it.
    pub target: Target,
    /// Carries it onto the client's builder.
    pub splice: Splice,
}

impl Resume {
    /// The continuation context of a streamed request to a model that
    /// continues after output (`continue_after_output`), else `None`.
    pub fn for_request(
        config: &Config,
        body: &CreateResponseBody,
        skeleton: &ResponseResource,
        principal: &crate::auth::Principal,
        seed: u64,
        targets: &[crate::routing::Candidate<'_>],
    ) -> Option<Resume> {
        let model = body.model.as_deref().unwrap_or_default();
        let on = config
            .models
            .iter()
            .find(|m| m.name == model)
            .and_then(|m| m.continue_after_output)
            .unwrap_or(config.routing.continue_after_output);
        on.then(|| Resume {
            body: body.clone(),
            skeleton: skeleton.clone(),
            principal: principal.id.clone(),
            passthrough: principal.passthrough.clone(),
            seed,
            targets: targets.iter().map(|c| c.key.clone()).collect(),
        })
    }

    /// Starts a continuation of `main` (cut while `failed` served it), or
    /// `None` where it is not safe or no target takes it.
    pub async fn start<H: Host>(
        &self,
        config: &Arc<Config>,
        host: &H,
        main: &ResponseBuilder,
        failed: &Target,
        deadline: u64,
        rec: &Recorder,
    ) -> Option<Continuation> {
        let (index, done, partial) = cut_in_text(main.response())?;
        // A message already whole: nothing was cut off in it.
        if !main.is_open(index) {
            return None;
        }
        let now = now_ms(host);
        if now >= deadline {
            return None;
        }
        let model = self.body.model.as_deref().unwrap_or_default();
        let input = PlanInput {
            model,
            pinned: self.body.provider.as_deref(),
            principal: &self.principal,
            now,
            input_tokens: 0,
            output_tokens: 0,
            seed: self.seed,
            explore: 0.0,
        };
        let candidates = host
            .with_routing(|s| routing::plan(config, s, input))
            .ok()?;
        let failed_protocol = config.providers.get(&failed.provider).map(Protocol::of);
        let sealed = done
            .iter()
            .any(|i| matches!(i, Item::Reasoning(r) if r.encrypted_content.is_some()));
        let admitted = |c: &&routing::Candidate<'_>| self.targets.contains(&c.key);
        for c in candidates
            .iter()
            .filter(|c| c.key != failed.key)
            .filter(admitted)
        {
            if now_ms(host) >= deadline {
                return None;
            }
            // Reasoning sealed for the first provider cannot go elsewhere.
            if sealed && Some(Protocol::of(c.route.provider)) != failed_protocol {
                continue;
            }
            // A model that refuses a prefill (newer Claude models may) is
            // asked again, best effort.
            let first = Mode::of(c.route.provider);
            for mode in [first, Mode::BestEffort] {
                let cut = Cut {
                    done: &done,
                    partial: &partial,
                    deadline,
                };
                match self.try_one(config, host, c, mode, cut, rec).await {
                    Ok(live) => {
                        let target = attempt::target_of(c);
                        rec.with(|r| {
                            r.continuation = Some(ContinuationRecord {
                                provider: target.provider.clone(),
                                model: target.model.clone(),
                                carried_chars: partial.chars().count(),
                                mode: mode.name(),
                            })
                        });
                        let splice = Splice::new(index, &partial, main.response().usage);
                        return Some(Continuation {
                            live,
                            target,
                            splice,
                        });
                    }
                    Err(status) if mode != Mode::BestEffort && status == Some(400) => continue,
                    Err(_) => break,
                }
            }
        }
        None
    }
}

/// Where a continuation picks up: the complete items, the cut text, and
/// the request's deadline.
#[derive(Clone, Copy)]
struct Cut<'a> {
    done: &'a [Item],
    partial: &'a str,
    deadline: u64,
}

impl Resume {
    /// One continuation attempt on `c` in `mode`: its stream, or the
    /// upstream's status when it refused.
    async fn try_one<H: Host>(
        &self,
        config: &Config,
        host: &H,
        c: &routing::Candidate<'_>,
        mode: Mode,
        cut: Cut<'_>,
        rec: &Recorder,
    ) -> Result<Live, Option<u16>> {
        let body = request::body(&self.body, cut.done, cut.partial, mode);
        let job = attempt::Job {
            body: &body,
            stream: true,
            skeleton: &self.skeleton,
            id_seed: self.seed ^ 0x636f_6e74,
            seed: self.seed,
            deadline: cut.deadline,
            caller_passthrough: &self.passthrough,
            principal: &self.principal,
            rec,
            verbatim: None,
            compact: false,
            resume: Some(mode),
        };
        let (result, _) = attempt::recorded(config, host, &job, c).await;
        let status = match &result {
            Ok(_) => Some(200),
            Err(e) => e.failure.map(|f| f.status()),
        };
        match result {
            Ok((ServedBody::Stream(live), _)) => Ok(*live),
            _ => Err(status),
        }
    }
}

/// Where the cut fell: the open message at the end of the output (its
/// index), the complete items before it, and its text. `None` when the
/// last item is not a message with text (a function call's arguments, a
/// reasoning item).
fn cut_in_text(r: &ResponseResource) -> Option<(usize, Vec<Item>, String)> {
    let index = r.output.len().checked_sub(1)?;
    let Item::Message(m) = &r.output[index] else {
        return None;
    };
    let text: String = m
        .content
        .to_parts(crate::types::Role::Assistant)
        .iter()
        .filter_map(|p| match p {
            crate::types::ContentPart::OutputText(t) => Some(t.text.as_str()),
            _ => None,
        })
        .collect();
    if text.is_empty() {
        return None;
    }
    Some((index, r.output[..index].to_vec(), text))
}

/// Carries a continuation's events onto the client's builder.
pub(crate) struct Splice {
    /// The open message on the client's builder.
    index: usize,
    /// The partial text's tail, for the overlap.
    tail: String,
    /// The continuation's first text, held until the overlap is known.
    held: String,
    /// The overlap is settled; text now goes straight through.
    decided: bool,
    /// The scratch builder's message that continues ours.
    source: Option<usize>,
    /// What the first attempt used.
    usage_before: Option<Usage>,
}

impl Splice {
    fn new(index: usize, partial: &str, usage_before: Option<Usage>) -> Self {
        let start = partial
            .char_indices()
            .rev()
            .nth(OVERLAP_WINDOW - 1)
            .map_or(0, |(i, _)| i);
        Splice {
            index,
            tail: partial[start..].to_owned(),
            held: String::new(),
            decided: false,
            source: None,
            usage_before,
        }
    }

    /// Moves what the continuation's builder produced onto `main`; once
    /// it has finished, settles `main` with its outcome and the usage of
    /// both attempts.
    pub fn feed(
        &mut self,
        scratch: &mut ResponseBuilder,
        main: &mut ResponseBuilder,
        now_secs: u64,
    ) {
        let events: Vec<StreamEvent> = scratch.drain().collect();
        for e in events {
            match e {
                StreamEvent::OutputItemAdded {
                    output_index,
                    item: Item::Message(_),
                    ..
                } if self.source.is_none() => {
                    self.source = Some(output_index);
                }
                StreamEvent::OutputTextDelta {
                    output_index,
                    delta,
                    ..
                } if Some(output_index) == self.source => {
                    self.text(&delta, main);
                }
                StreamEvent::OutputItemDone {
                    output_index, item, ..
                } if Some(output_index) != self.source && !matches!(item, Item::Reasoning(_)) => {
                    self.flush(main);
                    main.close_part(self.index);
                    main.add_item(without_id(item));
                }
                _ => {}
            }
        }
        if !scratch.is_finished() {
            return;
        }
        self.flush(main);
        let r = scratch.response();
        let usage = match (self.usage_before, r.usage) {
            (Some(a), Some(b)) => Some(a.plus(&b)),
            (a, b) => b.or(a),
        };
        if let Some(u) = usage {
            main.usage(u);
        }
        let outcome = match r.status {
            ResponseStatus::Completed => Outcome::Completed,
            ResponseStatus::Incomplete => Outcome::Incomplete(
                r.incomplete_details
                    .as_ref()
                    .map_or_else(|| "max_output_tokens".into(), |d| d.reason.clone()),
            ),
            _ => Outcome::Failed(scratch.failure().cloned().unwrap_or_else(|| {
                crate::types::ErrorPayload {
                    kind: "server_error".into(),
                    code: Some("upstream_stream_failed".into()),
                    message: "the continuation failed".into(),
                    param: None,
                }
            })),
        };
        main.settle(outcome, now_secs);
    }

    fn text(&mut self, delta: &str, main: &mut ResponseBuilder) {
        if self.decided {
            main.text_delta(self.index, delta);
            return;
        }
        self.held.push_str(delta);
        if self.held.chars().count() >= OVERLAP_WINDOW {
            self.flush(main);
        }
    }

    /// Drops the overlap from the held text and sends the rest.
    fn flush(&mut self, main: &mut ResponseBuilder) {
        if self.decided {
            return;
        }
        self.decided = true;
        let held = std::mem::take(&mut self.held);
        let skip = overlap(&self.tail, &held);
        main.text_delta(self.index, &held[skip..]);
    }
}

/// The bytes at the start of `next` that repeat the end of `tail`: the
/// longest such overlap of 8 characters or more, or one made only of
/// whitespace (a prefill's trimmed end).
pub(crate) fn overlap(tail: &str, next: &str) -> usize {
    let mut best = 0;
    for (end, _) in next.char_indices().skip(1).chain([(next.len(), ' ')]) {
        let head = &next[..end];
        if tail.ends_with(head) {
            let long = head.chars().count() >= 8;
            let blank = head.chars().all(char::is_whitespace);
            if long || blank {
                best = end;
            }
        }
    }
    best
}

fn without_id(mut item: Item) -> Item {
    match &mut item {
        Item::Message(m) => m.id = None,
        Item::FunctionCall(f) => f.id = None,
        _ => {}
    }
    item
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn the_overlap_is_long_or_blank() {
        assert_eq!(overlap("Hello ", " world"), 1, "a trimmed space");
        assert_eq!(overlap("the quick brown fox", "brown fox jumps"), 9);
        assert_eq!(
            overlap("said the", "the end"),
            0,
            "a short word is not a repeat"
        );
        assert_eq!(overlap("abc", "xyz"), 0);
        assert_eq!(overlap("naïve café ", "café au lait"), 0);
        assert_eq!(overlap("one two three four", "three four five"), 10);
    }
}
