//! The routing state: per target, a circuit breaker, a `retry-after`
//! cooldown and a time-to-first-byte estimate. A plain, deterministic
//! structure: time and outcomes go in, availability comes out. Hosts only
//! decide where it lives (see [`crate::Host::with_routing`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::BreakerConfig;

/// Weight of the newest sample in the time-to-first-byte average.
const EWMA_WEIGHT: f64 = 0.3;

/// The state of every target that has had traffic, by target key
/// (`provider/upstream-model`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingState {
    targets: BTreeMap<String, TargetState>,
}

/// One target's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetState {
    /// Consecutive failures.
    #[serde(default)]
    pub failures: u32,
    /// The circuit has opened and not yet closed again.
    #[serde(default)]
    pub tripped: bool,
    /// While tripped: no traffic until then (ms since the epoch); after
    /// it, one probe at a time.
    #[serde(default)]
    pub open_until: u64,
    /// A half-open probe is in flight until then (a lease, so that a
    /// probe whose request vanished does not block the target forever).
    #[serde(default)]
    pub probe_until: u64,
    /// `retry-after`: no traffic until then.
    #[serde(default)]
    pub cooldown_until: u64,
    /// The status that asked for the cooldown (429, 503).
    #[serde(default)]
    pub cooldown_status: u16,
    /// Moving average of the time to first byte, in ms.
    #[serde(default)]
    pub ttfb_ms: Option<f64>,
    /// The request whose failure was counted last (a hash): its further
    /// failures on this target do not count again.
    #[serde(default)]
    pub last_request: u64,
    /// The distinct principals (hashes) among the consecutive failures,
    /// up to `circuit_breaker.min_principals`.
    #[serde(default)]
    pub principals: Vec<u64>,
    /// While tripped by fewer principals than `min_principals`: the
    /// principals it is open for. Empty: open for everyone.
    #[serde(default)]
    pub scope: Vec<u64>,
}

/// Who an outcome came from: the request and its principal. Empty
/// strings stand for "unknown" (every failure counts; one principal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    /// The request's id.
    pub request: &'a str,
    /// The principal's id.
    pub principal: &'a str,
}

/// FNV-1a: a small, stable hash for the ids kept in the state.
fn id_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether a target may be sent a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Closed circuit, no cooldown.
    Ready,
    /// Half-open: this request would be the probe.
    Probe,
    /// Not before `until` (ms since the epoch).
    Blocked {
        /// When it may be tried again.
        until: u64,
        /// 429 for a rate-limit cooldown, 503 otherwise.
        status: u16,
    },
}

/// What became of one attempt, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetOutcome {
    /// Output arrived; `ttfb` is the time it took.
    Success {
        /// Time to first byte (first event when streaming).
        ttfb: Duration,
    },
    /// The upstream answered, but with a request error (400, 404…): it is
    /// alive, and the request was at fault.
    Answered,
    /// A retryable failure; `retry_after` cools the target down.
    Failure {
        /// The upstream's `retry-after`.
        retry_after: Option<Duration>,
        /// The status (or the status the failure stands for).
        status: u16,
    },
}

impl RoutingState {
    /// A target's state, if it has had traffic.
    pub fn target(&self, key: &str) -> Option<&TargetState> {
        self.targets.get(key)
    }

    /// Each target's circuit at `now`: 0 closed, 1 half-open, 2 open.
    pub fn circuits(&self, now: u64) -> Vec<(String, u8)> {
        self.targets
            .iter()
            .map(|(k, t)| {
                let state = match (t.tripped, t.open_until > now) {
                    (false, _) => 0,
                    (true, false) => 1,
                    (true, true) => 2,
                };
                (k.clone(), state)
            })
            .collect()
    }

    /// Whether `key` may be tried at `now` (ms since the epoch), by a
    /// principal outside any principal-scoped trip.
    pub fn availability(&self, key: &str, now: u64) -> Availability {
        self.availability_for(key, now, "")
    }

    /// Whether `key` may be tried at `now` by `principal`: a breaker
    /// opened by the failures of fewer than `min_principals` principals
    /// is open only for them.
    pub fn availability_for(&self, key: &str, now: u64, principal: &str) -> Availability {
        let Some(t) = self.targets.get(key) else {
            return Availability::Ready;
        };
        if t.cooldown_until > now {
            return Availability::Blocked {
                until: t.cooldown_until,
                status: if t.cooldown_status == 429 { 429 } else { 503 },
            };
        }
        if !t.tripped {
            return Availability::Ready;
        }
        if !t.scope.is_empty() && !t.scope.contains(&id_hash(principal)) {
            return Availability::Ready;
        }
        if t.open_until > now {
            return Availability::Blocked {
                until: t.open_until,
                status: 503,
            };
        }
        if t.probe_until > now {
            return Availability::Blocked {
                until: t.probe_until,
                status: 503,
            };
        }
        Availability::Probe
    }

    /// Claims `key` for one attempt at `now`: false when it is not
    /// available any more. A half-open target gives out one probe lease of
    /// `lease`.
    pub fn acquire(&mut self, key: &str, now: u64, lease: Duration) -> bool {
        self.acquire_for(key, now, lease, "")
    }

    /// [`RoutingState::acquire`] for `principal`.
    pub fn acquire_for(&mut self, key: &str, now: u64, lease: Duration, principal: &str) -> bool {
        match self.availability_for(key, now, principal) {
            Availability::Ready => true,
            Availability::Probe => {
                let t = self.targets.entry(key.to_owned()).or_default();
                t.probe_until = now.saturating_add(millis(lease));
                true
            }
            Availability::Blocked { .. } => false,
        }
    }

    /// Records how an attempt on `key` ended at `now`.
    pub fn record(&mut self, key: &str, outcome: TargetOutcome, now: u64, breaker: &BreakerConfig) {
        self.record_by(key, outcome, now, breaker, Caller::default());
    }

    /// Records how an attempt of `caller` on `key` ended at `now`. A
    /// failure counts once per request; the circuit opens after
    /// `breaker.failures` consecutive failed requests, for everyone when
    /// they came from `breaker.min_principals` principals or more, and
    /// otherwise only for the principals whose requests failed.
    pub fn record_by(
        &mut self,
        key: &str,
        outcome: TargetOutcome,
        now: u64,
        breaker: &BreakerConfig,
        caller: Caller<'_>,
    ) {
        let t = self.targets.entry(key.to_owned()).or_default();
        match outcome {
            TargetOutcome::Success { ttfb } => {
                let sample = ttfb.as_secs_f64() * 1000.0;
                t.ttfb_ms = Some(match t.ttfb_ms {
                    Some(avg) => avg + EWMA_WEIGHT * (sample - avg),
                    None => sample,
                });
                t.close();
            }
            TargetOutcome::Answered => t.close(),
            TargetOutcome::Failure {
                retry_after,
                status,
            } => {
                if let Some(ra) = retry_after {
                    t.cooldown_until = t.cooldown_until.max(now.saturating_add(millis(ra)));
                    t.cooldown_status = status;
                }
                let request = (!caller.request.is_empty()).then(|| id_hash(caller.request));
                if request.is_some_and(|r| r == t.last_request) && t.failures > 0 {
                    return;
                }
                t.last_request = request.unwrap_or(0);
                t.failures = t.failures.saturating_add(1);
                t.probe_until = 0;
                let who = id_hash(caller.principal);
                let wide = breaker.min_principals.max(1) as usize;
                if !t.principals.contains(&who) && t.principals.len() < wide {
                    t.principals.push(who);
                }
                if t.tripped || t.failures >= breaker.failures {
                    let everyone = t.principals.len() >= wide;
                    // Opened for some principals, a failure of another
                    // widens it; opened for everyone, it stays so.
                    t.scope = if everyone || (t.tripped && t.scope.is_empty()) {
                        Vec::new()
                    } else {
                        t.principals.clone()
                    };
                    t.tripped = true;
                    t.open_until = now.saturating_add(millis(breaker.cooldown));
                }
            }
        }
    }

    /// Forgets targets with nothing worth keeping: closed, not cooling
    /// down, and no latency estimate.
    pub fn prune(&mut self, now: u64) {
        self.targets.retain(|_, t| {
            t.tripped || t.failures > 0 || t.cooldown_until > now || t.ttfb_ms.is_some()
        });
    }
}

impl TargetState {
    fn close(&mut self) {
        self.failures = 0;
        self.tripped = false;
        self.open_until = 0;
        self.probe_until = 0;
        self.last_request = 0;
        self.principals.clear();
        self.scope.clear();
    }

    /// Open for only some principals (fewer than `min_principals`).
    pub fn scoped(&self) -> bool {
        self.tripped && !self.scope.is_empty()
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
