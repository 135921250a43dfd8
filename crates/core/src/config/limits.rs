//! `limits:` and `teams:`, and the `limits`/`budget` of an API key: rate
//! limits and budgets per key and per team (see `crate::quota`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `limits:`: where the counters live and how admission behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Where the counters live. Native: `memory` (one instance) or
    /// `redis://…` (shared by every replica); unset, `auth.store` when
    /// that is a Redis URL, else `memory` (see [`super::Config::limits_store`]). Spin:
    /// `redis://…`, else its key-value store (per instance, not exact).
    /// Workers: always the `LIMITS` Durable Object.
    #[serde(default)]
    pub store: Option<String>,
    /// Output tokens reserved for a request that sets no
    /// `max_output_tokens` (default 4096). A stream that outgrows its
    /// reservation reserves this much again, or ends.
    #[serde(default = "default_max_output")]
    pub default_max_output_tokens: u64,
    /// What happens when the counter store cannot be reached.
    #[serde(default)]
    pub on_store_error: OnStoreError,
    /// A warning (log line and optional webhook) once a budget's spend
    /// crosses this share of it.
    #[serde(default)]
    pub budget_alert: BudgetAlert,
    /// Limits of every principal that has none of its own (OIDC subjects,
    /// keys without `limits`, `anonymous`).
    #[serde(default)]
    pub per_principal: Option<LimitSet>,
    /// A caller under a budget (its own or its team's) that asks for a
    /// route without prices: `refuse` (default, 403 `model_not_priced`;
    /// unpriced fallbacks are left out of its plan) or `allow` (served,
    /// counted at $0).
    #[serde(default)]
    pub unpriced: Unpriced,
    /// Input tokens an admission counts for each image part, whatever
    /// its size or form (URL, file id, inline data): the largest
    /// per-image figure of the providers (OpenAI's patch-based models,
    /// 1,536 patches × 1.62 ≈ 2,500). Default 2,500.
    #[serde(default = "default_image_tokens")]
    pub image_tokens: u64,
    /// Input tokens an admission counts for each file or audio part
    /// (a PDF's pages, a recording's seconds, unknowable before the
    /// upstream reads them). Default 32,000.
    #[serde(default = "default_file_tokens")]
    pub file_tokens: u64,
    /// How long usage (`GET /v1/admin/usage`) is kept after its day, in
    /// Redis, the Durable Objects and the key-value store. Default 400
    /// days.
    #[serde(
        default = "default_usage_retention",
        deserialize_with = "super::duration::de"
    )]
    pub usage_retention: std::time::Duration,
}

fn default_usage_retention() -> std::time::Duration {
    std::time::Duration::from_secs(400 * 86_400)
}

/// `limits.unpriced`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unpriced {
    /// A budgeted caller can't reach an unpriced route.
    #[default]
    Refuse,
    /// It can, at $0.
    Allow,
}

fn default_image_tokens() -> u64 {
    2_500
}

fn default_file_tokens() -> u64 {
    32_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            store: None,
            default_max_output_tokens: default_max_output(),
            on_store_error: OnStoreError::default(),
            budget_alert: BudgetAlert::default(),
            per_principal: None,
            unpriced: Unpriced::default(),
            image_tokens: default_image_tokens(),
            file_tokens: default_file_tokens(),
            usage_retention: default_usage_retention(),
        }
    }
}

fn default_max_output() -> u64 {
    4096
}

/// `limits.on_store_error`: fail open or closed, separately for rate
/// limits and budgets.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnStoreError {
    /// Rate limits (default `open`: serve, log, count).
    #[serde(default = "open")]
    pub limits: StoreErrorMode,
    /// Budgets (default `closed`: 503).
    #[serde(default = "closed")]
    pub budgets: StoreErrorMode,
}

impl Default for OnStoreError {
    fn default() -> Self {
        OnStoreError {
            limits: StoreErrorMode::Open,
            budgets: StoreErrorMode::Closed,
        }
    }
}

fn open() -> StoreErrorMode {
    StoreErrorMode::Open
}
fn closed() -> StoreErrorMode {
    StoreErrorMode::Closed
}

/// Fail open (serve) or closed (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreErrorMode {
    /// Serve the request, log and count the outage.
    Open,
    /// Refuse it with 503.
    Closed,
}

/// `limits.budget_alert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetAlert {
    /// Share of a budget (0 to 1, default 0.8).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// A URL the alert is also POSTed to, as JSON.
    #[serde(default)]
    pub webhook: Option<String>,
}

impl Default for BudgetAlert {
    fn default() -> Self {
        BudgetAlert {
            threshold: default_threshold(),
            webhook: None,
        }
    }
}

fn default_threshold() -> f64 {
    0.8
}

/// Rate limits, with optional narrower ones per model.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSet {
    /// Requests per rolling minute.
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Input plus output tokens per rolling minute.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once (a stream counts until it ends).
    #[serde(default)]
    pub concurrent: Option<u64>,
    /// Limits per model name, on top of these.
    #[serde(default)]
    pub models: IndexMap<String, ModelLimits>,
}

impl LimitSet {
    /// Whether it limits anything.
    pub fn is_empty(&self) -> bool {
        self.requests_per_minute.is_none()
            && self.tokens_per_minute.is_none()
            && self.concurrent.is_none()
            && self.models.is_empty()
    }
}

/// Rate limits for one model.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelLimits {
    /// Requests per rolling minute.
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Input plus output tokens per rolling minute.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once.
    #[serde(default)]
    pub concurrent: Option<u64>,
}

/// A budget in USD over a period.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// The amount, in USD.
    pub usd: f64,
    /// Over what (UTC calendar periods; `total` never resets).
    #[serde(default)]
    pub period: Period,
}

/// A budget's period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC day.
    Daily,
    /// A week from Monday 00:00 UTC.
    Weekly,
    /// A calendar month, UTC.
    #[default]
    Monthly,
    /// Never resets.
    Total,
}

/// One entry of `teams:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// The team's name (what keys' `team` and the OIDC team claim name).
    pub name: String,
    /// Limits shared by every member.
    #[serde(default)]
    pub limits: Option<LimitSet>,
    /// A budget shared by every member.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The MCP servers (labels of `mcp.servers`) its members may use;
    /// absent: every configured server.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
}

/// Checks `limits:`, `teams:` and the keys' limits and budgets.
pub(crate) fn validate(config: &super::Config) -> Result<(), ConfigError> {
    let l = &config.limits;
    if l.default_max_output_tokens == 0 {
        return Err(ConfigError::invalid(
            "limits.default_max_output_tokens",
            "must be more than zero",
        ));
    }
    let t = l.budget_alert.threshold;
    if !(t > 0.0 && t <= 1.0) {
        return Err(ConfigError::invalid(
            "limits.budget_alert.threshold",
            "must be a share of the budget, above 0 and at most 1 (0.8 for 80 %)",
        ));
    }
    if let Some(url) = &l.budget_alert.webhook {
        if !url.starts_with("https://") && !super::url::is_loopback_http(url) {
            return Err(ConfigError::invalid(
                "limits.budget_alert.webhook",
                format!("`{url}` must be an https:// URL"),
            ));
        }
    }
    if let Some(s) = l.store.as_deref() {
        if s != "memory" && !s.starts_with("redis://") && !s.starts_with("rediss://") {
            return Err(ConfigError::invalid(
                "limits.store",
                "is `memory` or a `redis://` (or `rediss://`) URL",
            ));
        }
    }
    let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    if let Some(set) = &l.per_principal {
        check_set(set, "limits.per_principal", &models)?;
    }
    let mut names = std::collections::HashSet::new();
    for (i, team) in config.teams.iter().enumerate() {
        let key = format!("teams[{i}]");
        if team.name.is_empty() || !names.insert(team.name.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("`{}` is empty or used twice", team.name),
            ));
        }
        if let Some(set) = &team.limits {
            check_set(set, &format!("{key}.limits"), &models)?;
        }
        if let Some(b) = &team.budget {
            check_budget(b, &format!("{key}.budget"))?;
        }
    }
    let keys = config.auth.iter().flat_map(|a| a.api_keys.iter());
    for (i, k) in keys.enumerate() {
        let key = format!("auth.api_keys[{i}]");
        if let Some(team) = &k.team {
            if !names.contains(team.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.team"),
                    format!("`{team}` is not one of `teams:`"),
                ));
            }
        }
        if let Some(set) = &k.limits {
            check_set(set, &format!("{key}.limits"), &models)?;
        }
        if let Some(b) = &k.budget {
            check_budget(b, &format!("{key}.budget"))?;
        }
    }
    Ok(())
}

fn check_set(set: &LimitSet, key: &str, models: &[&str]) -> Result<(), ConfigError> {
    let zero = [
        set.requests_per_minute,
        set.tokens_per_minute,
        set.concurrent,
    ]
    .into_iter()
    .chain(
        set.models
            .values()
            .flat_map(|m| [m.requests_per_minute, m.tokens_per_minute, m.concurrent]),
    )
    .any(|v| v == Some(0));
    if zero {
        return Err(ConfigError::invalid(
            key,
            "a limit of 0 would refuse everything: leave it out for no limit, or take the model out of the allow-list",
        ));
    }
    for name in set.models.keys() {
        if !models.contains(&name.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.models.{name}"),
                "is not a model of `models:`",
            ));
        }
    }
    Ok(())
}

fn check_budget(b: &BudgetConfig, key: &str) -> Result<(), ConfigError> {
    if !(b.usd.is_finite() && b.usd > 0.0) {
        return Err(ConfigError::invalid(
            format!("{key}.usd"),
            "must be an amount above zero, in USD",
        ));
    }
    Ok(())
}

/// Checks a runtime key's limits and budget as the config's are checked.
pub(crate) fn check_limits(
    limits: Option<&LimitSet>,
    budget: Option<&BudgetConfig>,
    config: &super::Config,
) -> Result<(), ConfigError> {
    let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    if let Some(set) = limits {
        check_set(set, "limits", &models)?;
    }
    if let Some(b) = budget {
        check_budget(b, "budget")?;
    }
    Ok(())
}
