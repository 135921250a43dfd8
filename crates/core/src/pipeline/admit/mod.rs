//! The admit and settle stages: before any upstream call, one atomic
//! reservation over the request's limits and budgets (see
//! [`crate::quota`]); when the request really ends, exactly one
//! settlement with what was used, or a cancellation when no upstream was
//! reached. A reservation left behind (an error path, a dropped future)
//! is settled on drop, at what it held when an upstream was reached.

pub(crate) mod alert;
pub(crate) mod answer;
pub(crate) mod reserve;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Principal;
use crate::config::{Config, ProviderKind, StoreErrorMode, Unpriced};
use crate::error::GatewayError;
use crate::host::Host;
use crate::observe::{LimitsRecord, Recorder};
use crate::quota::{Op, OpKind, Reply, ScopeOp};
use crate::routing::Candidate;

use super::clock::now_ms;
use super::error::StageError;
use super::plan::Planned;
use super::Cx;

/// A request's admission: the `x-ratelimit-*` headers, and the
/// reservation to settle (none when nothing applies, or when the store
/// failed open).
pub(crate) struct Admission<H: Host + Clone + 'static> {
    held: Option<Held<H>>,
    /// `x-ratelimit-*` for the response.
    pub headers: Vec<(String, String)>,
}

struct Held<H: Host + Clone + 'static> {
    host: H,
    config: Arc<Config>,
    op: Op,
    rec: Recorder,
    reached: bool,
    /// Output tokens held (reserved, then extended).
    output: u64,
}

/// What a request used, for its settlement.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Used {
    /// Input plus output tokens.
    pub tokens: u64,
    /// USD at the serving target's prices (0 when unpriced).
    pub cost: f64,
}

impl Used {
    /// Both together.
    pub fn plus(self, other: Used) -> Used {
        Used {
            tokens: self.tokens.saturating_add(other.tokens),
            cost: self.cost + other.cost,
        }
    }

    /// `n` times this.
    pub fn times(self, n: u32) -> Used {
        Used {
            tokens: self.tokens.saturating_mul(u64::from(n)),
            cost: self.cost * f64::from(n),
        }
    }
}

impl<H: Host + Clone + 'static> Admission<H> {
    fn none() -> Self {
        Admission {
            held: None,
            headers: Vec::new(),
        }
    }

    /// An upstream was called: from now on, the reservation is settled,
    /// not cancelled.
    pub fn reached(&mut self) {
        if let Some(h) = self.held.as_mut() {
            h.reached = true;
        }
    }

    /// What is held now: the tokens (input estimate and output) and USD
    /// reserved, extensions included (charged when a stream is cut, its
    /// use unknown).
    pub fn reserved(&self) -> Used {
        self.held
            .as_ref()
            .map_or(Used::default(), |h| reserved_of(&h.op))
    }

    /// Keeps a stream's reservation ahead of its output (`bytes` of
    /// text and arguments so far, about three to a token, counted high):
    /// once it outgrows what it holds, it reserves another
    /// `limits.default_max_output_tokens` at the serving target's
    /// `prices`. Refused, the stream must end: its caller's limit or
    /// budget has no room for more. An unreachable store lets it go on
    /// (it is settled at its end all the same).
    pub async fn keep_up(
        &mut self,
        bytes: u64,
        prices: Option<crate::config::Prices>,
    ) -> Result<(), crate::quota::Refusal> {
        let Some(h) = self.held.as_mut() else {
            return Ok(());
        };
        let out = bytes / 3;
        if out <= h.output {
            return Ok(());
        }
        let chunk = h
            .config
            .limits
            .default_max_output_tokens
            .max(out - h.output);
        let cost = prices.map_or(0.0, |p| p.cost(0, 0, chunk));
        self.extend(Used {
            tokens: chunk,
            cost,
        })
        .await?;
        if let Some(h) = self.held.as_mut() {
            h.output = h.output.saturating_add(chunk);
        }
        Ok(())
    }

    /// Holds `more` besides what is held (a stream that outgrew its
    /// reservation; a continuation, which is another attempt). Refused,
    /// the caller's limit or budget has no room for it. An unreachable
    /// store lets it go on (it is settled all the same).
    pub async fn extend(&mut self, more: Used) -> Result<(), crate::quota::Refusal> {
        let Some(h) = self.held.as_mut() else {
            return Ok(());
        };
        let (chunk, cost) = (more.tokens, more.cost);
        let mut op = h.op.clone();
        op.op = OpKind::Extend;
        op.now_ms = now_ms(&h.host);
        for s in &mut op.scopes {
            s.tokens = chunk;
            s.cost = cost;
        }
        match h.host.ledger(&op).await {
            Ok(r) if !r.ok => Err(r.refused.unwrap_or(crate::quota::Refusal {
                shard: String::new(),
                name: String::new(),
                kind: crate::quota::RefusalKind::Tokens,
                limit: 0.0,
                need: chunk as f64,
                retry_after_ms: None,
                spent: None,
                held: None,
            })),
            _ => {
                for s in &mut h.op.scopes {
                    s.tokens = s.tokens.saturating_add(chunk);
                    s.cost += cost;
                }
                Ok(())
            }
        }
    }

    /// Settles with what was used (the upstream's usage), or cancels
    /// when no upstream was reached: off the request path, so the answer
    /// never waits for the counter store (its slot is held a moment
    /// longer, never shorter).
    pub fn settle_later(&mut self, used: Used) {
        if let Some((host, op, after)) = self.finish(used) {
            let h = host.clone();
            host.defer(Box::pin(async move {
                let reply = until_lapse(&h, &op).await;
                after(reply);
            }));
        }
    }

    /// The settlement op, once; and what to do with its reply.
    #[allow(clippy::type_complexity)]
    fn finish(
        &mut self,
        used: Used,
    ) -> Option<(H, Op, Box<dyn FnOnce(Result<Reply, crate::HostError>)>)> {
        let h = self.held.take()?;
        let mut op = h.op.clone();
        let used = if h.reached { used } else { Used::default() };
        op.op = if h.reached {
            OpKind::Settle
        } else {
            OpKind::Cancel
        };
        for s in &mut op.scopes {
            s.tokens = used.tokens;
            s.cost = used.cost;
        }
        h.rec.with(|r| {
            if let Some(l) = r.limits.as_mut() {
                l.settled_tokens = Some(used.tokens);
                l.settled_usd = Some(used.cost);
            }
        });
        let (host, config, rec) = (h.host.clone(), h.config.clone(), h.rec.clone());
        let scopes = op.scopes.clone();
        let after = Box::new(move |reply: Result<Reply, crate::HostError>| {
            match reply {
            Ok(reply) => settled(&host, &config, &rec, &scopes, &reply, used.cost),
            Err(e) => host.log(&format!(
                r#"{{"level":"warn","msg":"limits: a settlement was not recorded before its lease lapsed; the reservation is charged at its worst case","error":{}}}"#,
                serde_json::Value::String(e.to_string())
            )),
        }
        });
        Some((h.host.clone(), op, after))
    }
}

impl<H: Host + Clone + 'static> Drop for Admission<H> {
    /// A reservation nobody settled: at what it held once an upstream
    /// was reached (its use is unknown), else cancelled.
    fn drop(&mut self) {
        if let Some(h) = &self.held {
            let used = if h.reached {
                reserved_of(&h.op)
            } else {
                Used::default()
            };
            self.settle_later(used);
        }
    }
}

/// Bytes of output in an event (text, refusal, reasoning, arguments),
/// for [`Admission::keep_up`].
pub(crate) fn delta_len(e: &crate::types::StreamEvent) -> u64 {
    use crate::types::StreamEvent as E;
    match e {
        E::OutputTextDelta { delta, .. }
        | E::RefusalDelta { delta, .. }
        | E::ReasoningDelta { delta, .. }
        | E::ReasoningSummaryTextDelta { delta, .. }
        | E::FunctionCallArgumentsDelta { delta, .. } => delta.len() as u64,
        _ => 0,
    }
}

/// The error that ends a stream whose reservation could not grow.
pub(crate) fn outgrown(r: &crate::quota::Refusal) -> crate::types::ErrorPayload {
    let budget = r.kind == crate::quota::RefusalKind::Budget;
    crate::types::ErrorPayload {
        kind: "rate_limit_error".into(),
        code: Some(if budget { "budget_exceeded" } else { "rate_limit_exceeded" }.into()),
        message: format!(
            "the stream outgrew the output tokens it had reserved, and {} has no room for more ({}); it ends here. Set max_output_tokens to reserve what a response may need",
            r.shard,
            if budget { "budget spent" } else { "tokens per minute used" }
        ),
        param: None,
    }
}

/// What an upstream's own answer says it used (`usage`, Responses
/// shape), priced; what was reserved when it says nothing.
pub(crate) fn used_in(body: &[u8], prices: Option<crate::config::Prices>, reserved: Used) -> Used {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let n = |k: &str| v["usage"][k].as_u64();
    let (Some(input), Some(output)) = (n("input_tokens"), n("output_tokens")) else {
        return reserved;
    };
    let cached = v["usage"]["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    Used {
        tokens: input.saturating_add(output),
        cost: prices.map_or(0.0, |p| p.cost(input, cached, output)),
    }
}

/// Cancels a reservation whose answer never came.
struct Undo<H: Host + Clone + 'static>(Option<(H, Op)>);

impl<H: Host + Clone + 'static> Drop for Undo<H> {
    fn drop(&mut self) {
        if let Some((host, mut op)) = self.0.take() {
            op.op = OpKind::Cancel;
            let h = host.clone();
            host.defer(Box::pin(async move {
                let _ = until_lapse(&h, &op).await;
            }));
        }
    }
}

/// The longest wait between two tries of a settlement.
const RETRY_CAP: Duration = Duration::from_secs(5);

/// Applies a settlement or a cancellation, tried again while the counter
/// store is unreachable (a Redis restart, a network blip) until its
/// lease would lapse and be charged at its worst case anyway. Applied
/// twice it counts once (the first removes the lease, the second finds
/// none), so a reply lost on the way back is safe to try again.
async fn until_lapse<H: Host>(host: &H, op: &Op) -> Result<Reply, crate::HostError> {
    let lapse = op.now_ms.saturating_add(op.lease_ms);
    let mut wait = Duration::from_millis(200);
    loop {
        match host.ledger(op).await {
            Ok(reply) => return Ok(reply),
            Err(e) => {
                let next = now_ms(host).saturating_add(wait.as_millis() as u64);
                if next >= lapse {
                    return Err(e);
                }
                host.sleep(wait).await;
                wait = (wait * 2).min(RETRY_CAP);
            }
        }
    }
}

fn reserved_of(op: &Op) -> Used {
    op.scopes.first().map_or(Used::default(), |s| Used {
        tokens: s.tokens,
        cost: s.cost,
    })
}

/// After a settlement: the budgets left, in the record, and the alert
/// when this request crossed a budget's threshold.
fn settled<H: Host + Clone + 'static>(
    host: &H,
    config: &Config,
    rec: &Recorder,
    scopes: &[ScopeOp],
    reply: &Reply,
    cost: f64,
) {
    let threshold = config.limits.budget_alert.threshold;
    let mut left = Vec::new();
    for (s, st) in scopes.iter().zip(&reply.scopes) {
        let Some(budget) = s.budget else { continue };
        left.push((s.shard.clone(), (budget - st.spent).max(0.0)));
        let line = budget * threshold;
        if st.spent >= line && st.spent - cost < line {
            alert::send(host, config, &s.shard, budget, st.spent, &s.period);
        }
    }
    rec.with(|r| {
        if let Some(l) = r.limits.as_mut() {
            l.budgets = left;
        }
    });
}

/// The limits and budgets that apply to `principal` calling `model` (the
/// planned model, see [`Planned::model`]) at `now` (ms): its own, its
/// team's, and the per-model ones of each.
pub(crate) fn scopes<H: Host>(
    cx: &Cx<'_, H>,
    principal: &Principal,
    model: &str,
    now: u64,
) -> Vec<ScopeOp> {
    if !cx.rules.any() && principal.allowance.is_none() && principal.team_allowance.is_none() {
        return Vec::new();
    }
    let team = principal.team_scope();
    let own = principal.allowance.as_deref();
    let team_own = principal.team_allowance.as_deref();
    cx.rules
        .scopes_with(&principal.id, own, team.as_deref(), team_own, model, now)
}

/// The admit stage for the planned model, under `scopes` (see [`scopes`]): reserves
/// the request's tokens (`estimate`: input, output) and its worst-case
/// cost over the plan's candidates, or refuses it (a limit or budget has
/// no room; the counter store is down and the configuration fails
/// closed). Under a budget, a candidate without prices is left out of
/// the plan (`limits.unpriced: refuse`), and a plan left empty is
/// refused: a budget can't count what has no price.
pub(crate) async fn admit<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    planned: &mut Planned<'_>,
    scopes: Vec<ScopeOp>,
    estimate: (u64, u64),
    rec: &Recorder,
) -> Result<Admission<H>, StageError> {
    let model = planned.model;
    if scopes.is_empty() {
        return Ok(Admission::none());
    }
    let budgeted = scopes.iter().any(|s| s.budget.is_some());
    if budgeted && cx.config.limits.unpriced == Unpriced::Refuse {
        // The built-in mock costs nothing: it is priced, at $0.
        let priced = |c: &Candidate<'_>| {
            c.route.provider.kind == ProviderKind::Mock
                || cx
                    .config
                    .prices(c.model, c.route.provider_name, c.route.upstream_model)
                    .is_some()
        };
        planned.candidates.retain(priced);
        if planned.candidates.is_empty() {
            rec.with(|r| {
                r.limits = Some(LimitsRecord {
                    refused: Some("model_not_priced".into()),
                    ..Default::default()
                })
            });
            return Err(GatewayError::NotPriced(model.to_owned()).into());
        }
    }
    let (input, output) = estimate;
    let output = output.max(1);
    let cost = planned
        .candidates
        .iter()
        .filter_map(|c| {
            let p = cx
                .config
                .prices(c.model, c.route.provider_name, c.route.upstream_model)?;
            Some(p.cost(input, 0, output))
        })
        .fold(0.0, f64::max);
    hold(cx, scopes, input.saturating_add(output), cost, output, rec).await
}

/// Reserves `tokens` and `cost` on every scope (`output` of the tokens
/// being output, for [`Admission::keep_up`]), or refuses.
async fn hold<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    mut scopes: Vec<ScopeOp>,
    tokens: u64,
    cost: f64,
    output: u64,
    rec: &Recorder,
) -> Result<Admission<H>, StageError> {
    let host = cx.host;
    let now = now_ms(host);
    for s in &mut scopes {
        s.tokens = tokens;
        s.cost = cost;
    }
    let mut id = [0u8; 12];
    host.random(&mut id);
    let op = Op {
        op: OpKind::Reserve,
        id: crate::observe::trace::hex(&id),
        now_ms: now,
        lease_ms: crate::routing::millis(cx.config.routing.deadline) + 60_000,
        scopes,
    };
    rec.with(|r| {
        r.limits = Some(LimitsRecord {
            reserved_tokens: tokens,
            reserved_usd: cost,
            ..Default::default()
        })
    });
    // Dropped while the reservation is on its way (the client left),
    // or unsure whether it landed (an error): it is taken back.
    let mut undo = Undo(Some((host.clone(), op.clone())));
    let reply = match host.ledger(&op).await {
        Ok(r) => r,
        Err(e) => return store_down(cx, &op, rec, &e).map(|()| Admission::none()),
    };
    undo.0 = None;
    if let Some(refused) = &reply.refused {
        rec.with(|r| {
            if let Some(l) = r.limits.as_mut() {
                l.refused = Some(refused.kind.as_str().to_owned());
            }
        });
        return Err(StageError::Refused(Box::new(refused.clone())));
    }
    Ok(Admission {
        headers: answer::headers(&op.scopes, &reply),
        held: Some(Held {
            host: host.clone(),
            config: cx.config.clone(),
            op,
            rec: rec.clone(),
            reached: false,
            output,
        }),
    })
}

/// The admission of a call that spends no tokens (an MCP `tools/call`
/// through `/mcp`): it counts as a request against the caller's
/// requests per minute and concurrency, and is settled at nothing.
pub(crate) async fn admit_call<H: Host + Clone + 'static>(
    cx: &Cx<'_, H>,
    principal: &Principal,
    rec: &Recorder,
) -> Result<Admission<H>, StageError> {
    let scopes = scopes(cx, principal, "", now_ms(cx.host));
    if scopes.is_empty() {
        return Ok(Admission::none());
    }
    hold(cx, scopes, 0, 0.0, 0, rec).await
}

/// The counter store is down: serve (fail open) or refuse (503).
fn store_down<H: Host>(
    cx: &Cx<'_, H>,
    op: &Op,
    rec: &Recorder,
    e: &crate::HostError,
) -> Result<(), StageError> {
    let host = cx.host;
    rec.with(|r| {
        if let Some(l) = r.limits.as_mut() {
            l.store_error = true;
        }
    });
    let modes = cx.config.limits.on_store_error;
    let budgets = op.scopes.iter().any(|s| s.budget.is_some());
    let limits = op
        .scopes
        .iter()
        .any(|s| s.rpm.is_some() || s.tpm.is_some() || s.concurrent.is_some());
    let closed = (budgets && modes.budgets == StoreErrorMode::Closed)
        || (limits && modes.limits == StoreErrorMode::Closed);
    host.log(&format!(
        r#"{{"level":"warn","msg":"limits: the counter store is unreachable","serving":{},"error":{}}}"#,
        !closed,
        serde_json::Value::String(e.to_string())
    ));
    if !closed {
        return Ok(());
    }
    Err(StageError::LimitsUnavailable(
        GatewayError::LimitsStore(e.clone()).into(),
    ))
}
