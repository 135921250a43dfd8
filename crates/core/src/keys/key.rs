//! A runtime key's record, what creates one, and what callers see of it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::Principal;
use crate::config::{BudgetConfig, Config, LimitSet};
use crate::error::RequestError;
use crate::quota::Allowance;

/// A runtime key, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// `key_<hex>`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Its team (a name of `teams:`).
    #[serde(default)]
    pub team: Option<String>,
    /// Who created it (the admin principal).
    pub owner: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; past it, the key is refused.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// The models it may use (unset: all, or its team's).
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Passthrough fields and hosted tools it may send.
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// Its rate limits.
    #[serde(default)]
    pub limits: Option<LimitSet>,
    /// Its budget.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The MCP servers (labels) it may use; `None`: every configured one.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
    /// Anything the admin wants to keep with it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Refused while set.
    #[serde(default)]
    pub disabled: bool,
    /// The secret's keyed hash.
    pub hash: String,
    /// After a rotation: the old secret's hash, and until when (unix
    /// seconds) it still works.
    #[serde(default)]
    pub previous: Option<(String, u64)>,
}

/// `POST /v1/admin/keys`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A name for people (1–64 printable characters).
    pub name: String,
    /// A name of `teams:`.
    #[serde(default)]
    pub team: Option<String>,
    /// Models of `models:` it may use.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Passthrough fields and hosted tools.
    #[serde(default)]
    pub passthrough: Vec<String>,
    /// Rate limits, as in the config.
    #[serde(default)]
    pub limits: Option<LimitSet>,
    /// A budget, as in the config.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The MCP servers (labels) it may use; `None`: every configured one.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// At most 16 string values.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

pub(super) fn invalid(param: &str, message: impl Into<String>) -> RequestError {
    RequestError::InvalidValue {
        param: param.into(),
        message: message.into(),
    }
}

/// A name: 1 to 64 characters, none of them a control character.
pub(crate) fn check_name(param: &str, name: &str) -> Result<(), RequestError> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(
            param,
            "must be 1 to 64 characters, with no control characters",
        ));
    }
    Ok(())
}

/// Every model named is one of `models:`.
pub(super) fn check_models(models: Option<&[String]>, config: &Config) -> Result<(), RequestError> {
    for m in models.unwrap_or_default() {
        if !config.models.iter().any(|x| &x.name == m) {
            return Err(invalid(
                "models",
                format!("`{m}` is not a configured model"),
            ));
        }
    }
    Ok(())
}

/// Every MCP server named is one of `mcp.servers`.
pub(super) fn check_mcp(labels: Option<&[String]>, config: &Config) -> Result<(), RequestError> {
    for l in labels.unwrap_or_default() {
        if config.mcp.server(l).is_none() {
            return Err(invalid(
                "mcp",
                format!("`{l}` is not a configured MCP server"),
            ));
        }
    }
    Ok(())
}

/// At most 16 string values, keys up to 64 bytes, values up to 512.
pub(super) fn check_metadata(metadata: &Map<String, Value>) -> Result<(), RequestError> {
    if metadata.len() > 16
        || metadata
            .iter()
            .any(|(k, v)| k.len() > 64 || v.as_str().is_none_or(|s| s.len() > 512))
    {
        return Err(invalid(
            "metadata",
            "holds at most 16 string values (keys up to 64 bytes, values up to 512)",
        ));
    }
    Ok(())
}

impl NewKey {
    /// Checks it against the configuration (models, the shapes of limits
    /// and budgets) at `now` (unix seconds). Its team, which may be a
    /// runtime one, is checked by the caller.
    pub fn check(&self, config: &Config, now: u64) -> Result<(), RequestError> {
        check_name("name", &self.name)?;
        if let Some(t) = &self.team {
            check_name("team", t)?;
        }
        check_models(self.models.as_deref(), config)?;
        check_mcp(self.mcp.as_deref(), config)?;
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(invalid("expires_at", "is in the past"));
        }
        check_metadata(&self.metadata)?;
        crate::config::check_limits(self.limits.as_ref(), self.budget.as_ref(), config)
            .map_err(|e| invalid("limits", e.to_string()))
    }
}

impl KeyRecord {
    /// What the admin API shows: everything but the hashes.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "object": "api_key",
            "name": self.name,
            "team": self.team,
            "owner": self.owner,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "models": self.models,
            "passthrough": self.passthrough,
            "mcp": self.mcp,
            "limits": self.limits.as_ref().map(limits_json),
            "budget": self.budget.as_ref().map(|b| json!({"usd": b.usd, "period": period_name(b)})),
            "metadata": self.metadata,
            "disabled": self.disabled,
            "rotating_until": self.previous.as_ref().map(|(_, until)| until),
        })
    }

    /// The principal it authenticates, at `now` (unix seconds), or why
    /// not.
    pub fn principal(&self, hash: &str, now: u64) -> Result<Principal, &'static str> {
        if self.disabled {
            return Err("this API key is disabled");
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err("this API key has expired");
        }
        if hash != self.hash
            && !self
                .previous
                .as_ref()
                .is_some_and(|(h, until)| h == hash && *until > now)
        {
            return Err("this API key was rotated");
        }
        let allowance = (self.limits.is_some() || self.budget.is_some()).then(|| {
            Arc::new(Allowance {
                limits: self.limits.clone(),
                budget: self.budget.clone(),
            })
        });
        Ok(Principal {
            id: format!("key:{}", self.id),
            models: self.models.clone(),
            passthrough: self.passthrough.clone(),
            team: self.team.clone(),
            admin: false,
            allowance,
            team_allowance: None,
            team_generation: 0,
            mcp: self.mcp.clone(),
        })
    }
}

pub(super) fn period_name(b: &BudgetConfig) -> &'static str {
    match b.period {
        crate::config::Period::Daily => "daily",
        crate::config::Period::Weekly => "weekly",
        crate::config::Period::Monthly => "monthly",
        crate::config::Period::Total => "total",
    }
}

pub(super) fn limits_json(l: &LimitSet) -> Value {
    let one = |r: Option<u64>, t: Option<u64>, c: Option<u64>| json!({"requests_per_minute": r, "tokens_per_minute": t, "concurrent": c});
    let mut v = one(l.requests_per_minute, l.tokens_per_minute, l.concurrent);
    let models: Map<String, Value> = l
        .models
        .iter()
        .map(|(m, x)| {
            (
                m.clone(),
                one(x.requests_per_minute, x.tokens_per_minute, x.concurrent),
            )
        })
        .collect();
    v["models"] = Value::Object(models);
    v
}
