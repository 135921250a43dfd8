//! The one sequence that finishes a response, whoever produced it: a
//! whole upstream answer, the end of a stream, a cache hit.
//!
//! store → terminal event → record → cache write → settle
//!
//! The store goes first, so that a failed write turns the response into
//! `failed` before the client's terminal event says otherwise. What the
//! response used travels here as a value, from the response's own usage
//! at the serving target's prices: the record is written, never read back
//! for billing. A stream the client left is settled by [`Finish::abandon`].

use crate::builder::ResponseBuilder;
use crate::cache::Entry;
use crate::config::Config;
use crate::error::ApiError;
use crate::host::Host;
use crate::observe::{CacheRecord, Recorder};
use crate::stored::Saver;
use crate::types::ResponseResource;

use super::admit::{Admission, Used};
use super::attempt::{GaveUp, Target};
use super::cache::write::CacheWrite;
use super::clock::{now_ms, unix_secs};
use super::error::StageError;

/// What finishing a turn's response takes: where it is stored and
/// cached, and the reservation to settle. Built once the turn is
/// admitted.
pub(crate) struct Finish<H: Host + Clone + 'static> {
    /// Writes the response for `previous_response_id` (`store: true`).
    pub saver: Option<Saver>,
    /// Writes a completed answer to the cache (a cacheable miss).
    pub cache: Option<CacheWrite>,
    /// The turn's reservation, settled exactly once.
    pub admission: Admission<H>,
    /// Attempts that reached an upstream and timed out, charged at the
    /// reservation each on top of what the turn used: the provider may
    /// have generated (and billed) their answers.
    pub timed_out: Used,
    /// The parts of a stream cut and continued elsewhere, charged at the
    /// reservation each (their use is not known), on top of what the
    /// continuation used. The hold was extended for each.
    pub cut: Used,
    /// One attempt's reservation, as admitted.
    each: Used,
    /// Earlier turns of a response with hosted tools, charged at their
    /// own targets' prices: what that differs from the response's usage
    /// at the last target's prices (see [`Finish::another_turn`]).
    turns: f64,
}

/// Who produced the response: it prices it, names it in the record and
/// decides what it is charged.
#[derive(Clone, Copy)]
pub(crate) enum ServedBy<'a> {
    /// An upstream, through the attempt loop.
    Upstream(&'a Target),
    /// The cache: charged as a request, not to any budget.
    Cache(&'a Entry),
}

impl<H: Host + Clone + 'static> Finish<H> {
    /// The finish of a turn admitted as `admission`, stored by `saver`.
    pub fn new(saver: Option<Saver>, admission: Admission<H>) -> Self {
        Finish {
            saver,
            cache: None,
            each: admission.reserved(),
            admission,
            timed_out: Used::default(),
            cut: Used::default(),
            turns: 0.0,
        }
    }

    /// Finishes the response in `b`: stores it (when asked), emits its
    /// terminal event, records it, caches it (a completed miss), and
    /// settles the reservation with what it used. `stream_end` marks the
    /// end of a stream: the serving attempt ends now. Returns the cost at
    /// the serving target's prices, and the store's error when it failed
    /// (the response is then `failed`).
    pub async fn response(
        &mut self,
        config: &Config,
        host: &H,
        rec: &Recorder,
        b: &mut ResponseBuilder,
        by: ServedBy<'_>,
        stream_end: bool,
    ) -> (Option<f64>, Result<(), ApiError>) {
        let stored = match self.saver.as_mut() {
            Some(s) => {
                s.provider = match by {
                    ServedBy::Upstream(t) => t.provider.clone(),
                    ServedBy::Cache(e) => e.provider.clone(),
                };
                s.save(host, b, unix_secs(host)).await
            }
            None => Ok(()),
        };
        b.emit_terminal();
        let ended = stream_end.then(|| now_ms(host));
        let response = b.response();
        let (cost, used) = match by {
            ServedBy::Upstream(target) => {
                let cost = record_served(rec, config, target, response, ended);
                if let Some(w) = &self.cache {
                    w.write(host, response, target, cost).await;
                }
                let used = match used(response, cost) {
                    Some(u) => u.plus(self.cut),
                    // No usage: what is held, the cut parts included.
                    None => self.admission.reserved(),
                };
                let used = used.plus(self.timed_out);
                let turns = Used {
                    tokens: 0,
                    cost: self.turns,
                };
                (cost, used.plus(turns))
            }
            ServedBy::Cache(entry) => {
                record_hit(rec, entry, response);
                (None, Used::default())
            }
        };
        self.admission.reached();
        self.admission.settle_later(used);
        (cost, stored)
    }

    /// The client left a stream before its end: what it used is not
    /// known, so it is charged at what it reserved.
    pub fn abandon(&mut self) {
        let reserved = self.admission.reserved();
        self.admission.settle_later(reserved.plus(self.timed_out));
    }

    /// A turn of a response with hosted tools ended, and another one
    /// follows: the hold grows by a turn's reservation. `own` is the
    /// turn's cost at its own target, `at_last` the same usage at the
    /// response's last target (whose prices price the summed usage);
    /// the difference is settled with the response. Refused, the
    /// response must end: the caller's limit or budget has no room.
    pub async fn another_turn(&mut self) -> Result<(), crate::quota::Refusal> {
        self.admission.extend(self.each).await
    }

    /// Settles the earlier turns of a response with hosted tools at their
    /// own prices: `own` is what they cost at their targets, `at_last`
    /// what the same usage costs at the last one.
    pub fn reprice_turns(&mut self, own: f64, at_last: f64) {
        self.turns += own - at_last;
    }

    /// Attempts that timed out after reaching an upstream (`n`), each
    /// charged at the reservation.
    pub fn timed_out(&mut self, n: u32) {
        self.timed_out = self.timed_out.plus(self.each.times(n));
    }

    /// A stream cut after output goes on at another target: the cut part
    /// is charged at the reservation, and the hold grows by one for the
    /// continuation (another attempt). Refused, the stream must end
    /// instead: the caller's limit or budget has no room for it.
    pub async fn continuing(&mut self) -> Result<(), crate::quota::Refusal> {
        let each = self.each;
        self.admission.extend(each).await?;
        self.cut = self.cut.plus(each);
        Ok(())
    }

    /// An upstream's own compaction (`/responses/compact`): settled at
    /// the usage its answer reports, priced at `target`'s prices.
    pub fn compacted(&mut self, config: &Config, body: &[u8], target: &Target) {
        self.admission.reached();
        let prices = config.prices(&target.listed_by, &target.provider, &target.model);
        let used = super::admit::used_in(body, prices, self.admission.reserved());
        self.admission.settle_later(used.plus(self.timed_out));
    }

    /// The attempt loop gave up: settled at the attempts that timed out
    /// after reaching an upstream (nothing else is billed), or cancelled
    /// when no upstream was reached.
    pub fn gave_up(mut self, gave_up: GaveUp) -> StageError {
        if gave_up.attempts > 0 {
            self.admission.reached();
        }
        self.timed_out(gave_up.billed);
        self.admission.settle_later(self.timed_out);
        StageError::GaveUp {
            gave_up: Box::new(gave_up),
            limits: self.limit_headers(),
        }
    }

    /// The admission's `x-ratelimit-*` headers, for the answer (taken
    /// once).
    pub fn limit_headers(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.admission.headers)
    }
}

/// Fills the record in from the finished response: usage, id, how it
/// ended, the cost at the serving target's prices, and, for a stream, the
/// serving attempt's real end (`ended`, ms). Returns the cost.
fn record_served(
    rec: &Recorder,
    config: &Config,
    target: &Target,
    response: &ResponseResource,
    ended: Option<u64>,
) -> Option<f64> {
    let cost = cost_of(config, target, response);
    rec.with(|r| {
        r.response(response);
        r.response_model = Some(target.model.clone());
        r.cost_usd = cost;
        if let (Some(end), Some(a)) = (ended, r.attempts.last_mut()) {
            a.end_ms = end;
            if let Some(e) = &response.error {
                a.error = Some(e.code.clone());
            }
        }
    });
    cost
}

/// A hit in the record: what it would have cost is what it saved.
fn record_hit(rec: &Recorder, entry: &Entry, response: &ResponseResource) {
    rec.with(|r| {
        r.response(response);
        r.response_model = Some(entry.model.clone());
        r.cost_usd = entry.cost_usd.map(|_| 0.0);
        r.cache = Some(CacheRecord {
            hit: true,
            saved_tokens: r
                .usage
                .map_or(0, |u| u.input_tokens.saturating_add(u.output_tokens)),
            saved_usd: entry.cost_usd,
        });
    });
}

/// The response's usage at the serving target's prices, when it lists
/// prices.
fn cost_of(config: &Config, target: &Target, response: &ResponseResource) -> Option<f64> {
    let usage = response.usage?;
    let prices = config.prices(&target.listed_by, &target.provider, &target.model)?;
    Some(prices.cost(
        usage.input_tokens,
        usage.input_tokens_details.cached_tokens,
        usage.output_tokens,
    ))
}

/// What a finished response used: its usage and cost; `None` when the
/// upstream reported no usage (a stream cut short): what it cost is not
/// known.
fn used(response: &ResponseResource, cost: Option<f64>) -> Option<Used> {
    response.usage.map(|u| Used {
        tokens: u.input_tokens.saturating_add(u.output_tokens),
        cost: cost.unwrap_or(0.0),
    })
}
