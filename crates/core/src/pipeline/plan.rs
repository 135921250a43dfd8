//! The plan stage: the model's targets in the order to try them, from
//! the routing state (read from the store first where instances live for
//! one request).

use crate::host::Host;
use crate::observe::Recorder;
use crate::routing::{self, Candidate, PlanInput};

use super::error::StageError;
use super::routing_store;
use super::Cx;

/// What the plan weighs besides the routing state.
pub(crate) struct Ask<'a> {
    /// The model asked for.
    pub model: &'a str,
    /// A provider the client pinned.
    pub pinned: Option<&'a str>,
    /// The caller (its breakers).
    pub principal: &'a str,
    /// The input and output token estimates (the cost strategy).
    pub tokens: (u64, u64),
    /// Seeds a weighted choice and exploration.
    pub seed: u64,
}

/// A request's plan: where it may go, and under which name it is
/// limited and counted.
pub(crate) struct Planned<'c> {
    /// The targets, in the order to try them.
    pub candidates: Vec<Candidate<'c>>,
    /// The configured model whose per-model limits apply: the one asked
    /// for, or the one that lists the target another name reached
    /// (`provider/model`, a pin, a family name).
    pub model: &'c str,
}

/// The candidates for `ask` at `now` (ms), or why there are none; the
/// record learns the name the request's usage counts under.
pub(crate) async fn plan<'c, H: Host>(
    cx: &Cx<'c, H>,
    ask: Ask<'c>,
    now: u64,
    rec: &Recorder,
) -> Result<Planned<'c>, StageError> {
    routing_store::load(cx.host).await;
    let config = cx.config;
    let planned = cx.host.with_routing(|state| {
        routing::plan(
            config,
            state,
            PlanInput {
                principal: ask.principal,
                model: ask.model,
                pinned: ask.pinned,
                now,
                input_tokens: ask.tokens.0,
                output_tokens: ask.tokens.1,
                seed: ask.seed,
                explore: config.routing.explore,
            },
        )
    });
    let candidates = planned.map_err(|e| StageError::NoTarget(e.into()))?;
    let asked = config.models.iter().find(|m| m.name == ask.model);
    let (model, usage) = match (asked, candidates.first()) {
        (Some(m), _) => (m.name.as_str(), m.name.clone()),
        (None, Some(first)) => (first.model, routing::usage_name(first)),
        (None, None) => (ask.model, "other".to_owned()),
    };
    rec.with(|r| r.route = Some(usage));
    Ok(Planned { candidates, model })
}
