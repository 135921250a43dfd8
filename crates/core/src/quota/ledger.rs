//! The ledger: one shard's scopes, and [`apply`], the one algorithm every
//! counter store runs. `ledger.lua` is the same algorithm for Redis, over
//! hashes and sorted sets rather than this JSON form; `tests/limits_ledger.rs`
//! checks that both answer every operation alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Op, OpKind, Refusal, RefusalKind, Reply, ScopeOp, ScopeStatus};

/// The rolling window, in seconds.
pub(crate) const WINDOW_S: u64 = 60;

/// One shard (a key or a team): its scopes by name, and its history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Scopes by name.
    #[serde(default)]
    pub s: BTreeMap<String, ScopeState>,
    /// Use over time, for the dashboard: `m<minute>` for the last hour
    /// and `q<quarter hour>` for the last day, each `[requests, tokens,
    /// USD]` (requests when admitted, tokens and USD when settled).
    #[serde(default)]
    pub h: BTreeMap<String, [f64; 3]>,
}

/// Minutes of minute history, and quarter hours of quarter history.
const HISTORY: [(char, u64, u64); 2] = [('m', 60_000, 60), ('q', 900_000, 96)];

impl Ledger {
    /// Adds to the history buckets of `now_ms`, and forgets old ones.
    fn record(&mut self, now_ms: u64, add: [f64; 3]) {
        for (tag, span, keep) in HISTORY {
            let at = now_ms / span;
            self.h.retain(|k, _| {
                !k.starts_with(tag) || k[1..].parse::<u64>().is_ok_and(|b| b + keep > at)
            });
            let b = self.h.entry(format!("{tag}{at}")).or_insert([0.0; 3]);
            for (x, a) in b.iter_mut().zip(add) {
                *x += a;
            }
        }
    }
}

/// The counters of one scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeState {
    /// One-second buckets of the rolling minute, by second since the
    /// epoch: `[requests, tokens]`.
    #[serde(default)]
    pub b: BTreeMap<String, [u64; 2]>,
    /// Reservations held, by id: `[expires_ms, tokens, cost, second]`.
    #[serde(default)]
    pub l: BTreeMap<String, Lease>,
    /// The budget period `spent` counts.
    #[serde(default)]
    pub p: String,
    /// USD settled in that period.
    #[serde(default)]
    pub spent: f64,
}

/// A reservation held: when it lapses (ms), its tokens, its cost, and the
/// second its tokens were counted in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lease(pub u64, pub u64, pub f64, pub u64);

impl ScopeState {
    /// Drops what left the window, charges reservations that lapsed
    /// (their instance never settled them) at their worst case, and
    /// starts a new budget period.
    fn prune(&mut self, now_ms: u64, period: &str) {
        let now_s = now_ms / 1000;
        self.b
            .retain(|k, _| k.parse::<u64>().is_ok_and(|s| s + WINDOW_S > now_s));
        let lapsed: Vec<String> = self
            .l
            .iter()
            .filter(|(_, l)| l.0 <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for id in lapsed {
            if let Some(l) = self.l.remove(&id) {
                self.spent += l.2;
            }
        }
        if !period.is_empty() && self.p != period {
            self.p = period.to_owned();
            self.spent = 0.0;
        }
    }

    fn used(&self) -> (u64, u64) {
        self.b.values().fold((0u64, 0u64), |(r, t), v| {
            (r.saturating_add(v[0]), t.saturating_add(v[1]))
        })
    }

    fn reserved(&self) -> f64 {
        self.l.values().map(|l| l.2).sum()
    }

    /// Buckets oldest first.
    fn buckets(&self) -> Vec<(u64, [u64; 2])> {
        let mut v: Vec<(u64, [u64; 2])> = self
            .b
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, *v)))
            .collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }

    /// ms until `need` more fits under `limit` in column `idx`.
    fn wait(&self, idx: usize, used: u64, need: u64, limit: u64, now_ms: u64) -> u64 {
        let mut left = used;
        for (sec, v) in self.buckets() {
            left = left.saturating_sub(v[idx]);
            if left.saturating_add(need) <= limit {
                return ((sec + WINDOW_S) * 1000).saturating_sub(now_ms).max(1);
            }
        }
        1000
    }

    /// ms until the window is empty again: its newest second leaves it.
    fn reset(&self, now_ms: u64) -> u64 {
        self.b
            .keys()
            .filter_map(|k| k.parse::<u64>().ok())
            .max()
            .map_or(0, |s| ((s + WINDOW_S) * 1000).saturating_sub(now_ms))
    }

    fn status(&self, now_ms: u64) -> ScopeStatus {
        let (requests, tokens) = self.used();
        ScopeStatus {
            requests,
            tokens,
            concurrent: self.l.len() as u64,
            reset_requests_ms: self.reset(now_ms),
            reset_tokens_ms: self.reset(now_ms),
            spent: self.spent,
            reserved: self.reserved(),
        }
    }

    /// Why `s` does not fit, if it does not.
    fn check(&self, s: &ScopeOp, op: &Op) -> Option<Refusal> {
        let (used_r, used_t) = self.used();
        let now = op.now_ms;
        let money = |kind: RefusalKind| {
            (kind == RefusalKind::Budget).then(|| (self.spent, self.reserved()))
        };
        let refuse = |kind: RefusalKind, limit: f64, need: f64, retry: Option<u64>| Refusal {
            shard: s.shard.clone(),
            name: s.name.clone(),
            kind,
            limit,
            need,
            retry_after_ms: retry,
            spent: money(kind).map(|m| m.0),
            held: money(kind).map(|m| m.1),
        };
        let reserve = op.op == OpKind::Reserve;
        if reserve {
            if let Some(rpm) = s.rpm {
                if used_r.saturating_add(1) > rpm {
                    let wait = self.wait(0, used_r, 1, rpm, now);
                    return Some(refuse(RefusalKind::Requests, rpm as f64, 1.0, Some(wait)));
                }
            }
        }
        if let Some(tpm) = s.tpm {
            if s.tokens > tpm {
                return Some(refuse(
                    RefusalKind::Tokens,
                    tpm as f64,
                    s.tokens as f64,
                    None,
                ));
            }
            if used_t.saturating_add(s.tokens) > tpm {
                let wait = self.wait(1, used_t, s.tokens, tpm, now);
                return Some(refuse(
                    RefusalKind::Tokens,
                    tpm as f64,
                    s.tokens as f64,
                    Some(wait),
                ));
            }
        }
        if reserve {
            if let Some(c) = s.concurrent {
                if self.l.len() as u64 + 1 > c {
                    return Some(refuse(RefusalKind::Concurrent, c as f64, 1.0, Some(1000)));
                }
            }
        }
        if let Some(budget) = s.budget {
            if s.cost > budget {
                return Some(refuse(RefusalKind::Budget, budget, s.cost, None));
            }
            if self.spent + self.reserved() + s.cost > budget {
                // Requests in flight may settle for less than they hold;
                // what is spent is spent until the period ends.
                let retry = if self.spent + s.cost <= budget {
                    Some(1000)
                } else if s.period_end_ms > 0 {
                    Some(s.period_end_ms.saturating_sub(now).max(1))
                } else {
                    None
                };
                return Some(refuse(RefusalKind::Budget, budget, s.cost, retry));
            }
        }
        None
    }

    fn reserve(&mut self, s: &ScopeOp, op: &Op) {
        let sec = op.now_ms / 1000;
        let bucket = self.b.entry(sec.to_string()).or_insert([0, 0]);
        bucket[0] = bucket[0].saturating_add(1);
        bucket[1] = bucket[1].saturating_add(s.tokens);
        let lease = Lease(op.now_ms.saturating_add(op.lease_ms), s.tokens, s.cost, sec);
        self.l.insert(op.id.clone(), lease);
    }

    fn extend(&mut self, s: &ScopeOp, op: &Op) {
        let Some(lease) = self.l.get_mut(&op.id) else {
            return;
        };
        lease.0 = op.now_ms.saturating_add(op.lease_ms);
        lease.1 = lease.1.saturating_add(s.tokens);
        lease.2 += s.cost;
        if let Some(b) = self.b.get_mut(&lease.3.to_string()) {
            b[1] = b[1].saturating_add(s.tokens);
        }
    }

    fn settle(&mut self, s: &ScopeOp, op: &Op) {
        let Some(lease) = self.l.remove(&op.id) else {
            // Lapsed, and charged at its worst case already.
            return;
        };
        if let Some(b) = self.b.get_mut(&lease.3.to_string()) {
            b[1] = b[1].saturating_sub(lease.1).saturating_add(s.tokens);
        }
        self.spent += s.cost;
    }

    fn cancel(&mut self, op: &Op) {
        let Some(lease) = self.l.remove(&op.id) else {
            return;
        };
        if let Some(b) = self.b.get_mut(&lease.3.to_string()) {
            b[0] = b[0].saturating_sub(1);
            b[1] = b[1].saturating_sub(lease.1);
        }
    }
}

/// Applies `op` to the ledgers of its shards (missing ones start empty),
/// atomically: a refused reservation or extension changes no count (a
/// lapsed lease it pruned is charged all the same). Amounts count within
/// [`super::MAX_TOKENS`] and [`super::MAX_COST`].
pub fn apply(ledgers: &mut BTreeMap<String, Ledger>, op: &Op) -> Reply {
    let op = &*op.bounded();
    for s in &op.scopes {
        scope(ledgers, s).prune(op.now_ms, &s.period);
    }
    if matches!(op.op, OpKind::Reserve | OpKind::Extend) {
        for s in &op.scopes {
            if let Some(refused) = scope(ledgers, s).check(s, op) {
                return Reply {
                    ok: false,
                    refused: Some(refused),
                    ..Default::default()
                };
            }
        }
    }
    // The shard's history, once per shard, before the leases change.
    let mut history = BTreeMap::new();
    for shard in op.shards() {
        // Every scope of an op carries the same amounts.
        let Some(first) = op.scopes.iter().find(|s| s.shard == shard) else {
            continue;
        };
        let l = ledgers.entry(shard.to_owned()).or_default();
        let held =
            l.s.get(&first.name)
                .is_some_and(|st| st.l.contains_key(&op.id));
        let add = match op.op {
            OpKind::Reserve => Some([1.0, 0.0, 0.0]),
            OpKind::Cancel if held => Some([-1.0, 0.0, 0.0]),
            OpKind::Settle if held => Some([0.0, first.tokens as f64, first.cost]),
            OpKind::Peek => Some([0.0; 3]),
            _ => None,
        };
        if let Some(a) = add {
            l.record(op.now_ms, a);
        }
        if op.op == OpKind::Peek {
            history.insert(shard.to_owned(), l.h.clone());
        }
    }
    let mut scopes = Vec::with_capacity(op.scopes.len());
    for s in &op.scopes {
        let st = scope(ledgers, s);
        match op.op {
            OpKind::Reserve => st.reserve(s, op),
            OpKind::Extend => st.extend(s, op),
            OpKind::Settle => st.settle(s, op),
            OpKind::Cancel => st.cancel(op),
            OpKind::Peek => {}
        }
        scopes.push(st.status(op.now_ms));
    }
    Reply {
        ok: true,
        refused: None,
        scopes,
        history,
    }
}

fn scope<'a>(ledgers: &'a mut BTreeMap<String, Ledger>, s: &ScopeOp) -> &'a mut ScopeState {
    ledgers
        .entry(s.shard.clone())
        .or_default()
        .s
        .entry(s.name.clone())
        .or_default()
}
