//! The plan stage: the model's targets in the order to try them, from
//! the routing state (read from the store first where instances live for
//! one request).

use crate::host::Host;
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

/// The candidates for `ask` at `now` (ms), or why there are none.
pub(crate) async fn plan<'c, H: Host>(
    cx: &Cx<'c, H>,
    ask: Ask<'c>,
    now: u64,
) -> Result<Vec<Candidate<'c>>, StageError> {
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
    planned.map_err(|e| StageError::NoTarget(e.into()))
}
