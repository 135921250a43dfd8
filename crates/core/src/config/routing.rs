//! `models:` (targets, strategies, fallbacks) and `routing:` (retries,
//! backoff, circuit breaking, deadline): the resilience settings, with
//! their defaults, in one place.

use std::collections::HashMap;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{duration, ConfigError, ProviderConfig};

/// One entry of `models:`: a name clients send, served by one or more
/// targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients send.
    pub name: String,
    /// Single-target form: a key of `providers:`. After loading, the
    /// target is in [`ModelConfig::targets`].
    #[serde(default)]
    pub provider: Option<String>,
    /// Single-target form: the model id the provider knows (defaults to
    /// `name`).
    #[serde(default)]
    pub provider_model_id: Option<String>,
    /// How a target is chosen (default `priority`).
    #[serde(default)]
    pub strategy: Strategy,
    /// The deployments of this model. Never empty once loaded.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Other model names, tried in order once every target has failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Caches this model's completed answers (see `crate::cache`).
    #[serde(default)]
    pub cache: Option<super::ModelCacheConfig>,
    /// Continue a stream cut after output on the next target (default
    /// `routing.continue_after_output`).
    #[serde(default)]
    pub continue_after_output: Option<bool>,
    /// The most output tokens a request may ask of this model: a larger
    /// `max_output_tokens` is lowered to it, and it is what a caller
    /// under a limit or budget is held to when it asks for none.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
}

impl ModelConfig {
    /// The provider of the first target (what `/v1/models` reports).
    pub fn owner(&self) -> &str {
        self.targets.first().map_or("", |t| t.provider.as_str())
    }
}

/// One deployment of a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A key of `providers:`.
    pub provider: String,
    /// The model id the provider knows (defaults to the model's name).
    #[serde(default)]
    pub provider_model_id: Option<String>,
    /// Share of traffic under `weighted` (default 1; 0 = only as failover).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// USD per million input tokens (for `cost`).
    #[serde(default)]
    pub input_cost: Option<f64>,
    /// USD per million output tokens (for `cost`).
    #[serde(default)]
    pub output_cost: Option<f64>,
    /// USD per million cached input tokens (default: `input_cost`).
    #[serde(default)]
    pub cached_input_cost: Option<f64>,
}

/// A target's prices, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cached input tokens.
    pub cached_input: f64,
}

impl Prices {
    /// The cost in USD of a usage (`cached` of the `input` tokens were
    /// read from the provider's cache).
    pub fn cost(&self, input: u64, cached: u64, output: u64) -> f64 {
        let cached = cached.min(input);
        ((input - cached) as f64 * self.input
            + cached as f64 * self.cached_input
            + output as f64 * self.output)
            / 1_000_000.0
    }
}

impl TargetConfig {
    /// Its prices, when both input and output are priced.
    pub fn prices(&self) -> Option<Prices> {
        let (input, output) = (self.input_cost?, self.output_cost?);
        Some(Prices {
            input,
            output,
            cached_input: self.cached_input_cost.unwrap_or(input),
        })
    }
}

fn default_weight() -> u32 {
    1
}

/// How a model's targets are ordered for a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// In the order listed.
    #[default]
    Priority,
    /// At random, in proportion to `weight` (A/B splits).
    Weighted,
    /// Lowest recent time to first byte first, with a small share sent
    /// elsewhere to keep the estimates fresh.
    #[serde(alias = "least_latency", alias = "latency")]
    LeastLatency,
    /// Cheapest first, from the target's prices and the request's size.
    Cost,
}

impl Strategy {
    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Weighted => "weighted",
            Strategy::LeastLatency => "least-latency",
            Strategy::Cost => "cost",
        }
    }
}

/// `routing:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Extra attempts after the first, across targets and fallbacks.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff before a target is tried again (exponential, with
    /// jitter).
    #[serde(default = "default_backoff", deserialize_with = "duration::de")]
    pub backoff: Duration,
    /// Longest backoff; a `retry-after` longer than this is not waited
    /// for: that target is skipped instead.
    #[serde(default = "default_max_backoff", deserialize_with = "duration::de")]
    pub max_backoff: Duration,
    /// The failures that move on to the next attempt.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOn>,
    /// Per-target circuit breaker.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// Longest `retry-after` from an upstream that is honoured: a longer
    /// one cools the target down for this long.
    #[serde(default = "default_max_retry_after", deserialize_with = "duration::de")]
    pub max_retry_after: Duration,
    /// Bound on the whole request: every attempt, backoff and the stream.
    #[serde(default = "default_deadline", deserialize_with = "duration::de")]
    pub deadline: Duration,
    /// `least-latency`: share of requests sent to another target than the
    /// fastest, so its estimate stays fresh (0 to 1).
    #[serde(default = "default_explore")]
    pub explore: f64,
    /// A stream cut after its first output continues the same answer on
    /// the next target (see `gateway::resume`), for models that do not
    /// say otherwise. Off unless set.
    #[serde(default)]
    pub continue_after_output: bool,
}

fn default_retries() -> u32 {
    2
}
fn default_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(2)
}
fn default_retry_on() -> Vec<RetryOn> {
    let mut v: Vec<RetryOn> = [429, 500, 502, 503, 504, 529]
        .into_iter()
        .map(RetryOn::Status)
        .collect();
    v.extend([RetryOn::Connect, RetryOn::Timeout]);
    v
}
fn default_max_retry_after() -> Duration {
    Duration::from_secs(60)
}
fn default_deadline() -> Duration {
    Duration::from_secs(600)
}
fn default_explore() -> f64 {
    0.05
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            retries: default_retries(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            retry_on: default_retry_on(),
            circuit_breaker: BreakerConfig::default(),
            max_retry_after: default_max_retry_after(),
            deadline: default_deadline(),
            explore: default_explore(),
            continue_after_output: false,
        }
    }
}

/// `routing.circuit_breaker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open a target's circuit.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// How long an open circuit stays open before one probe goes through.
    #[serde(default = "default_cooldown", deserialize_with = "duration::de")]
    pub cooldown: Duration,
    /// Distinct principals whose failed requests open the circuit for
    /// everyone; failures from fewer open it only for them, so that one
    /// caller's requests cannot take a target away from the others.
    #[serde(default = "default_min_principals")]
    pub min_principals: u32,
}

fn default_min_principals() -> u32 {
    2
}

fn default_failures() -> u32 {
    5
}
fn default_cooldown() -> Duration {
    Duration::from_secs(30)
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: default_failures(),
            cooldown: default_cooldown(),
            min_principals: default_min_principals(),
        }
    }
}

/// One entry of `routing.retry_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// An upstream HTTP status (or the status an error event stands for).
    Status(u16),
    /// The connection failed, or dropped before any output.
    Connect,
    /// No response headers (or no first event) in time.
    Timeout,
}

impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        let status = |n: u64| match u16::try_from(n) {
            Ok(s) if (100..=599).contains(&s) => Ok(RetryOn::Status(s)),
            _ => Err(D::Error::custom(format!("`{n}` is not an HTTP status"))),
        };
        match Raw::deserialize(d)? {
            Raw::Num(n) => status(n),
            Raw::Text(t) => match t.trim() {
                "connect" => Ok(RetryOn::Connect),
                "timeout" => Ok(RetryOn::Timeout),
                s => match s.parse::<u64>() {
                    Ok(n) => status(n),
                    Err(_) => Err(D::Error::custom(format!(
                        "`{s}` is neither an HTTP status nor `connect` or `timeout`"
                    ))),
                },
            },
        }
    }
}

/// Checks `models:` and `routing:` against the providers, and moves the
/// single-target form into `targets`.
pub(crate) fn validate(
    models: &mut [ModelConfig],
    providers: &IndexMap<String, ProviderConfig>,
    routing: &RoutingConfig,
) -> Result<(), ConfigError> {
    let mut seen = HashMap::new();
    for (i, m) in models.iter_mut().enumerate() {
        let key = format!("models[{i}]");
        if m.name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "must not be empty",
            ));
        }
        if seen.insert(m.name.clone(), i).is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("model `{}` is listed twice", m.name),
            ));
        }
        let single_form = m.provider.is_some();
        match (m.provider.take(), m.targets.is_empty()) {
            (Some(provider), true) => m.targets.push(TargetConfig {
                provider,
                provider_model_id: m.provider_model_id.take(),
                weight: 1,
                input_cost: None,
                output_cost: None,
                cached_input_cost: None,
            }),
            (None, false) if m.provider_model_id.is_none() => {}
            (None, true) => {
                return Err(ConfigError::invalid(
                    key,
                    "needs a `provider` (one target) or a list of `targets`",
                ))
            }
            _ => {
                return Err(ConfigError::invalid(
                    key,
                    "has both `provider`/`provider_model_id` and `targets`: put every deployment under `targets`",
                ))
            }
        }
        for (j, t) in m.targets.iter().enumerate() {
            let tkey = format!("{key}.targets[{j}]");
            if !providers.contains_key(&t.provider) {
                let shown = if single_form {
                    format!("{key}.provider")
                } else {
                    format!("{tkey}.provider")
                };
                return Err(ConfigError::invalid(
                    shown,
                    format!("provider `{}` is not defined under `providers`", t.provider),
                ));
            }
            for (name, cost) in [
                ("input_cost", t.input_cost),
                ("output_cost", t.output_cost),
                ("cached_input_cost", t.cached_input_cost),
            ] {
                if cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
                    return Err(ConfigError::invalid(
                        format!("{tkey}.{name}"),
                        "must be a price of zero or more (USD per million tokens)",
                    ));
                }
            }
            if m.strategy == Strategy::Cost && (t.input_cost.is_none() || t.output_cost.is_none()) {
                return Err(ConfigError::invalid(
                    tkey,
                    "strategy `cost` needs `input_cost` and `output_cost` on every target (USD per million tokens)",
                ));
            }
        }
        if m.strategy == Strategy::Weighted && m.targets.iter().all(|t| t.weight == 0) {
            return Err(ConfigError::invalid(
                format!("{key}.targets"),
                "strategy `weighted` needs at least one target with a weight above zero",
            ));
        }
    }
    for (i, m) in models.iter().enumerate() {
        for (j, f) in m.fallbacks.iter().enumerate() {
            if !seen.contains_key(f) {
                return Err(ConfigError::invalid(
                    format!("models[{i}].fallbacks[{j}]"),
                    format!("model `{f}` is not defined under `models`"),
                ));
            }
        }
    }
    if let Some(cycle) = fallback_cycle(models, &seen) {
        return Err(ConfigError::invalid(
            "models",
            format!("fallbacks form a cycle: {}", cycle.join(" → ")),
        ));
    }
    if routing.circuit_breaker.failures == 0 {
        return Err(ConfigError::invalid(
            "routing.circuit_breaker.failures",
            "must be at least 1",
        ));
    }
    if !(0.0..=1.0).contains(&routing.explore) {
        return Err(ConfigError::invalid(
            "routing.explore",
            "must be a share between 0 and 1",
        ));
    }
    if routing.deadline.is_zero() {
        return Err(ConfigError::invalid(
            "routing.deadline",
            "must be longer than zero",
        ));
    }
    if routing.max_backoff < routing.backoff {
        return Err(ConfigError::invalid(
            "routing.max_backoff",
            "must not be shorter than `backoff`",
        ));
    }
    Ok(())
}

/// A fallback chain that comes back to where it started, as model names.
fn fallback_cycle(models: &[ModelConfig], index: &HashMap<String, usize>) -> Option<Vec<String>> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; models.len()];
    fn visit(
        i: usize,
        models: &[ModelConfig],
        index: &HashMap<String, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        mark[i] = 1;
        path.push(i);
        for f in &models[i].fallbacks {
            let Some(&j) = index.get(f) else { continue };
            if mark[j] == 1 {
                let start = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut names: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| models[p].name.clone())
                    .collect();
                names.push(models[j].name.clone());
                return Some(names);
            }
            if mark[j] == 0 {
                if let Some(c) = visit(j, models, index, mark, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    (0..models.len()).find_map(|i| {
        if mark[i] == 0 {
            visit(i, models, index, &mut mark, &mut Vec::new())
        } else {
            None
        }
    })
}
