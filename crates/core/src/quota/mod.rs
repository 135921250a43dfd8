//! Rate limits and budgets: the counters, as a deterministic ledger.
//!
//! A request is admitted by one atomic **reservation** over every scope
//! that applies to it (its key, its key's limits for the model, its team,
//! its team's limits for the model): one request, its estimated tokens
//! (input estimated from the body, output its `max_output_tokens` or
//! `limits.default_max_output_tokens`), one concurrency lease and its
//! worst-case cost. When the request really ends, the reservation is
//! **settled** with what the upstream really used, exactly once. Since
//! every admitted request holds what it may spend, concurrent requests
//! never overshoot a limit or a budget by more than what they reserved.
//!
//! The counters of one key or one team form a *shard*, a [`Ledger`]; an
//! [`Op`] names its scopes' shards. The host applies an op atomically
//! (`Host::ledger`):
//! - **native memory** and the **Durable Object** apply [`apply`] to the
//!   ledgers they hold (the Worker one object per shard, through
//!   [`apply_sharded`]);
//! - **Redis** (native replicas, Spin) runs [`REDIS_SCRIPT`], the same
//!   algorithm in Lua over Redis hashes, in one `EVAL` over every shard;
//! - a host with only a key-value store reads, applies and writes back
//!   (the default `Host::ledger`): exact within one instance only.
//!
//! Windows are rolling minutes counted in one-second buckets: at most the
//! limit in any 60 consecutive seconds. Budgets count per UTC calendar
//! period ([`period`]).

mod ledger;
pub mod period;
mod rules;

use serde::{Deserialize, Serialize};

pub use ledger::{apply, Ledger, ScopeState};
pub use rules::{describe, Allowance, Rules};

use crate::error::HostError;

/// The Lua script a Redis host runs with `EVAL`: `KEYS` are the shards'
/// keys ([`redis_key`]), `ARGV[1]` the [`Op`] as JSON; it returns the
/// [`Reply`] as JSON.
pub const REDIS_SCRIPT: &str = include_str!("ledger.lua");

/// The Redis key of a shard.
pub fn redis_key(shard: &str) -> String {
    format!("latticelm:limits:{shard}")
}

/// The `KEYS` and `ARGV` of [`REDIS_SCRIPT`] for `op`: each shard's key,
/// then the op as JSON and how long to keep the shards (ms, 0: for ever).
pub fn redis_call(op: &Op) -> (Vec<String>, [String; 2]) {
    let op = &*op.bounded();
    let keys = op.shards().into_iter().map(redis_key).collect();
    let json = serde_json::to_string(op).unwrap_or_default();
    (keys, [json, op.keep_ms().unwrap_or(0).to_string()])
}

/// Parses what [`REDIS_SCRIPT`] answered.
pub fn redis_reply(out: &[u8]) -> Result<Reply, HostError> {
    serde_json::from_slice(out)
        .map_err(|e| HostError::Store(format!("redis: the ledger answered {e}")))
}

/// What an [`Op`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Admit the request if every scope has room, and hold what it may
    /// use; otherwise change nothing.
    Reserve,
    /// Reserve more tokens and cost for a held request (a stream that
    /// outgrew its reservation); refused like a reservation.
    Extend,
    /// Replace a held reservation by what was really used.
    Settle,
    /// Undo a reservation entirely (the request never reached an
    /// upstream, or another shard refused it).
    Cancel,
    /// Change nothing; report the scopes (headers, the dashboard).
    Peek,
}

/// One operation on the ledgers, applied atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// What to do.
    pub op: OpKind,
    /// The reservation's id (unique per request).
    pub id: String,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
    /// How long a reservation is held if it is never settled (its
    /// instance died): then its worst-case cost is charged.
    pub lease_ms: u64,
    /// The scopes.
    pub scopes: Vec<ScopeOp>,
}

/// The most tokens one operation's scope counts: an amount above it (a
/// `max_output_tokens` of 2^64 − 1) counts as this, about a trillion,
/// which refuses it under any real limit. Both ledgers then add exactly:
/// Lua's numbers are doubles, exact up to 2^53.
pub const MAX_TOKENS: u64 = 1 << 40;

/// The most USD one operation's scope counts (and what a cost that is
/// not a finite number, or negative, counts as: the most, or nothing).
pub const MAX_COST: f64 = 1e12;

impl Op {
    /// This op with every amount within [`MAX_TOKENS`] and [`MAX_COST`]
    /// (borrowed when it already is: the usual case).
    pub fn bounded(&self) -> std::borrow::Cow<'_, Op> {
        let ok = |s: &ScopeOp| s.tokens <= MAX_TOKENS && (0.0..=MAX_COST).contains(&s.cost);
        if self.scopes.iter().all(ok) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut op = self.clone();
        for s in &mut op.scopes {
            s.tokens = s.tokens.min(MAX_TOKENS);
            s.cost = if s.cost.is_nan() || s.cost < 0.0 {
                0.0
            } else {
                s.cost.min(MAX_COST)
            };
        }
        std::borrow::Cow::Owned(op)
    }
}

/// One scope of an [`Op`]: its limits, and the amounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeOp {
    /// The shard (a key or a team) holding this scope.
    pub shard: String,
    /// The scope within its shard (`all`, or `m:<model>`).
    pub name: String,
    /// Requests per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u64>,
    /// The budget in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// The budget's current period (`d2026-12-03`, `w2026-11-30`,
    /// `m2026-12`, `total`), and when it ends (ms; 0: never).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub period: String,
    /// When the period ends, in ms since the epoch (0: never).
    #[serde(default)]
    pub period_end_ms: u64,
    /// Tokens: reserved (reserve, extend) or used (settle).
    #[serde(default)]
    pub tokens: u64,
    /// USD: reserved or spent.
    #[serde(default)]
    pub cost: f64,
}

/// What a ledger answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the op was applied (a refused reservation changes
    /// nothing).
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
    /// Each scope after the op, in the op's order.
    #[serde(default, deserialize_with = "list_or_empty_object")]
    pub scopes: Vec<ScopeStatus>,
    /// For a peek: each shard's history (see [`Ledger::h`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub history: std::collections::BTreeMap<String, std::collections::BTreeMap<String, [f64; 3]>>,
}

/// A scope that had no room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Its shard.
    pub shard: String,
    /// Its name in the shard.
    pub name: String,
    /// What had no room.
    pub kind: RefusalKind,
    /// The limit (requests, tokens, or USD).
    pub limit: f64,
    /// What this request asked for.
    pub need: f64,
    /// When it would fit, in ms from now; absent when it never will in
    /// this window or period (larger than the limit) or cannot be known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// A budget's USD spent this period, and held by requests in
    /// flight, when the budget refused (for the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<f64>,
    /// See `spent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<f64>,
}

/// What a refused request had no room in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefusalKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// Requests in flight.
    Concurrent,
    /// Spend in the budget's period.
    Budget,
}

impl RefusalKind {
    /// Its name on the wire and in the record: `requests`, `tokens`,
    /// `concurrent` or `budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Requests => "requests",
            RefusalKind::Tokens => "tokens",
            RefusalKind::Concurrent => "concurrent",
            RefusalKind::Budget => "budget",
        }
    }
}

impl PartialEq<&str> for RefusalKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A scope's state, for headers and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeStatus {
    /// Requests in the rolling minute.
    #[serde(deserialize_with = "count")]
    pub requests: u64,
    /// Tokens in the rolling minute.
    #[serde(deserialize_with = "count")]
    pub tokens: u64,
    /// Requests in flight.
    pub concurrent: u64,
    /// ms until the requests window is empty again.
    pub reset_requests_ms: u64,
    /// ms until the tokens window is empty again.
    pub reset_tokens_ms: u64,
    /// USD settled in the current period.
    pub spent: f64,
    /// USD held by requests in flight.
    pub reserved: f64,
}

/// A count as Lua's JSON encoder writes it: an integer, or a large one
/// in exponent form (`1.2e+15`), saturated into `u64`.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = f64::deserialize(d)?;
    Ok(if n.is_nan() || n <= 0.0 { 0 } else { n as u64 })
}

/// Lua's JSON encoder writes an empty list as `{}`.
fn list_or_empty_object<'de, D>(d: D) -> Result<Vec<ScopeStatus>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<ScopeStatus>),
        Empty(#[allow(dead_code)] serde_json::Map<String, serde_json::Value>),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Empty(_) => Vec::new(),
    })
}

impl Op {
    /// The shards it touches, in first-seen order.
    pub fn shards(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.scopes {
            if !out.contains(&s.shard.as_str()) {
                out.push(&s.shard);
            }
        }
        out
    }

    /// The part of it on one shard.
    pub fn for_shard(&self, shard: &str) -> Op {
        Op {
            scopes: self
                .scopes
                .iter()
                .filter(|s| s.shard == shard)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// How long a shard's ledger must be kept after this op: for ever
    /// when it holds a budget, else until its leases and windows are
    /// past.
    pub fn keep_ms(&self) -> Option<u64> {
        (!self.scopes.iter().any(|s| s.budget.is_some()))
            .then_some(self.lease_ms.saturating_add(ledger::WINDOW_S * 1000))
    }
}

/// Applies `op` one shard at a time, through `each` (a Durable Object per
/// shard): a reservation refused on a later shard is cancelled on the
/// earlier ones, so no shard keeps what the request did not get. Shards
/// are taken in a fixed order, so two requests never hold each other's
/// first shard.
pub async fn apply_sharded<F, Fut>(op: &Op, mut each: F) -> Result<Reply, HostError>
where
    F: FnMut(String, Op) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, HostError>>,
{
    let mut shards: Vec<String> = op.shards().into_iter().map(str::to_owned).collect();
    shards.sort();
    let mut statuses: Vec<Option<ScopeStatus>> = vec![None; op.scopes.len()];
    let mut done: Vec<String> = Vec::new();
    let mut history = std::collections::BTreeMap::new();
    for shard in shards {
        let part = op.for_shard(&shard);
        let reply = match each(shard.clone(), part).await {
            Ok(r) => r,
            Err(e) => {
                undo(op, &done, &mut each).await;
                return Err(e);
            }
        };
        if !reply.ok {
            undo(op, &done, &mut each).await;
            return Ok(Reply {
                ok: false,
                refused: reply.refused,
                ..Default::default()
            });
        }
        history.extend(reply.history);
        let positions = op
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.shard == shard);
        for ((i, _), status) in positions.zip(reply.scopes) {
            statuses[i] = Some(status);
        }
        done.push(shard);
    }
    Ok(Reply {
        ok: true,
        refused: None,
        scopes: statuses
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        history,
    })
}

async fn undo<F, Fut>(op: &Op, done: &[String], each: &mut F)
where
    F: FnMut(String, Op) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, HostError>>,
{
    if !matches!(op.op, OpKind::Reserve | OpKind::Extend) {
        return;
    }
    for shard in done {
        let mut part = op.for_shard(shard);
        part.op = if op.op == OpKind::Reserve {
            OpKind::Cancel
        } else {
            // An extension is taken back by settling at what was held
            // before it: the caller settles later; nothing to undo
            // beyond the extra, which a cancel of the extension cannot
            // tell apart. Holding it a little longer is the safe side.
            continue;
        };
        let _ = each(shard.clone(), part).await;
    }
}

/// The key-value form of a shard, for the default `Host::ledger`.
pub fn kv_key(shard: &str) -> String {
    format!("limits/{shard}")
}

#[cfg(test)]
mod tests;
