//! Routing: which targets serve a model name, in which order, and the
//! per-target state (circuit breakers, cooldowns, latency) that shapes
//! that order. Everything here is deterministic: the clock, randomness
//! and outcomes are inputs.

mod plan;
mod policy;
mod resolve;
mod state;

pub(crate) use plan::target_key;
pub use plan::{plan, Candidate, PlanInput};
pub use policy::{backoff, is_retryable, parse_retry_after, status_of_error, Failure};
pub use resolve::{models_list, owner, resolve, strategy_of, usage_name, Route};
pub use state::{Availability, Caller, RoutingState, TargetOutcome, TargetState};

pub(crate) use state::millis;

#[cfg(test)]
mod tests;
