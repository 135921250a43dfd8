//! The plan of a request: every target it may be sent to, in the order to
//! try them. The model's targets come first, ordered by its strategy,
//! then each fallback model's, depth first; a target whose circuit is
//! open or that is cooling down is left out.

use crate::config::{Config, ModelConfig, Strategy};
use crate::error::RouteError;

use super::resolve::{owner, resolve, target_route};
use super::state::{Availability, RoutingState};
use super::Route;

/// One target a request may be sent to.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The model name that listed it (the requested one or a fallback).
    pub model: &'a str,
    /// Where it goes.
    pub route: Route<'a>,
    /// Its key in the routing state: `provider/upstream-model`.
    pub key: String,
    /// A target of `models:`. Only these have routing state: a name the
    /// client made up (`provider/anything`) must not grow it.
    pub configured: bool,
}

/// The inputs of a plan besides the configuration and the state.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The requested model name.
    pub model: &'a str,
    /// A provider pinned by the request.
    pub pinned: Option<&'a str>,
    /// The caller's principal (breakers opened only for some principals).
    pub principal: &'a str,
    /// Now, in ms since the epoch.
    pub now: u64,
    /// Estimated input tokens (for `cost`).
    pub input_tokens: u64,
    /// Expected output tokens (for `cost`).
    pub output_tokens: u64,
    /// Randomness (for `weighted` and `least-latency`).
    pub seed: u64,
    /// `routing.explore`.
    pub explore: f64,
}

/// Orders the targets for one request. Fails when the model is unknown,
/// or when every target is unavailable (with the earliest time one will
/// be back).
pub fn plan<'a>(
    config: &'a Config,
    state: &RoutingState,
    input: PlanInput<'a>,
) -> Result<Vec<Candidate<'a>>, RouteError> {
    let configured = input
        .pinned
        .is_none()
        .then(|| config.models.iter().find(|m| m.name == input.model))
        .flatten();
    let Some(model) = configured else {
        let route = resolve(config, input.model, input.pinned)?;
        // Another name for a configured target is that target: its
        // model's prices and limits apply.
        let Some(owner) = owner(config, &route, input.model) else {
            let mut c = candidate(input.model, route);
            c.configured = false;
            return Ok(vec![c]);
        };
        let c = candidate(&owner.name, route);
        return match state.availability_for(&c.key, input.now, input.principal) {
            Availability::Blocked { until, status } => Err(unavailable(input, until, status)),
            _ => Ok(vec![c]),
        };
    };
    let mut rng = SplitMix(input.seed);
    let mut out: Vec<Candidate<'a>> = Vec::new();
    let mut blocked: Option<(u64, u16)> = None;
    for m in chain(config, model) {
        for i in order(m, state, &input, &mut rng) {
            let Some(route) = target_route(config, m, &m.targets[i]) else {
                continue;
            };
            let c = candidate(&m.name, route);
            if out.iter().any(|o| o.key == c.key) {
                continue;
            }
            match state.availability_for(&c.key, input.now, input.principal) {
                Availability::Blocked { until, status } => {
                    if blocked.is_none_or(|(u, _)| until < u) {
                        blocked = Some((until, status));
                    }
                }
                _ => out.push(c),
            }
        }
    }
    match (out.is_empty(), blocked) {
        (true, Some((until, status))) => Err(unavailable(input, until, status)),
        _ => Ok(out),
    }
}

fn candidate<'a>(model: &'a str, route: Route<'a>) -> Candidate<'a> {
    Candidate {
        model,
        key: format!("{}/{}", route.provider_name, route.upstream_model),
        route,
        configured: true,
    }
}

fn unavailable(input: PlanInput<'_>, until: u64, status: u16) -> RouteError {
    RouteError::Unavailable {
        model: input.model.to_owned(),
        retry_after_secs: until.saturating_sub(input.now).div_ceil(1000).max(1),
        status,
    }
}

/// The model, then its fallbacks depth first, each once (cycles are
/// refused at load).
fn chain<'a>(config: &'a Config, model: &'a ModelConfig) -> Vec<&'a ModelConfig> {
    let mut out: Vec<&ModelConfig> = Vec::new();
    let mut stack = vec![model];
    while let Some(m) = stack.pop() {
        if out.iter().any(|o| o.name == m.name) {
            continue;
        }
        out.push(m);
        for f in m.fallbacks.iter().rev() {
            if let Some(fm) = config.models.iter().find(|x| &x.name == f) {
                stack.push(fm);
            }
        }
    }
    out
}

/// The indexes of a model's targets in the order its strategy gives.
fn order(
    m: &ModelConfig,
    state: &RoutingState,
    input: &PlanInput<'_>,
    rng: &mut SplitMix,
) -> Vec<usize> {
    let n = m.targets.len();
    let mut idx: Vec<usize> = (0..n).collect();
    if n < 2 {
        return idx;
    }
    match m.strategy {
        Strategy::Priority => {}
        Strategy::Weighted => {
            // Weighted sampling without replacement; weight 0 goes last.
            let mut rest: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| m.targets[i].weight > 0)
                .collect();
            let mut picked = Vec::with_capacity(n);
            while !rest.is_empty() {
                let total: u64 = rest.iter().map(|&i| u64::from(m.targets[i].weight)).sum();
                let mut r = rng.next() % total.max(1);
                let pos = rest
                    .iter()
                    .position(|&i| {
                        let w = u64::from(m.targets[i].weight);
                        if r < w {
                            return true;
                        }
                        r -= w;
                        false
                    })
                    .unwrap_or(0);
                picked.push(rest.remove(pos));
            }
            picked.extend(idx.iter().copied().filter(|&i| m.targets[i].weight == 0));
            idx = picked;
        }
        Strategy::LeastLatency => {
            // Unmeasured targets first, so that they get measured.
            let ttfb: Vec<f64> = (0..n)
                .map(|i| {
                    state
                        .target(&target_key(m, i))
                        .and_then(|t| t.ttfb_ms)
                        .unwrap_or(0.0)
                })
                .collect();
            idx.sort_by(|&a, &b| ttfb[a].total_cmp(&ttfb[b]));
            if rng.unit() < input.explore {
                let other = 1 + (rng.next() % (n as u64 - 1)) as usize;
                let chosen = idx.remove(other);
                idx.insert(0, chosen);
            }
        }
        Strategy::Cost => {
            let cost = |i: usize| {
                let t = &m.targets[i];
                input.input_tokens as f64 * t.input_cost.unwrap_or(0.0)
                    + input.output_tokens as f64 * t.output_cost.unwrap_or(0.0)
            };
            idx.sort_by(|&a, &b| cost(a).total_cmp(&cost(b)));
        }
    }
    idx
}

pub(crate) fn target_key(m: &ModelConfig, i: usize) -> String {
    let t = &m.targets[i];
    format!(
        "{}/{}",
        t.provider,
        t.provider_model_id.as_deref().unwrap_or(&m.name)
    )
}

/// A small deterministic generator, seeded from the host's randomness.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
