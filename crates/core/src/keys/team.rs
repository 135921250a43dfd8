//! A runtime team's record: created through `/v1/admin/teams`, beside
//! the config file's `teams:`. Its keys take its allow-list, limits and
//! budget, narrowed by their own; while it is disabled, none of its keys
//! works.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{BudgetConfig, Config, LimitSet};
use crate::error::RequestError;
use crate::quota::Allowance;

use super::key::{check_mcp, check_metadata, check_models, invalid, limits_json, period_name};

/// A runtime team, as stored. Its name is its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamRecord {
    /// 1 to 64 letters, digits, `-`, `_` or `.`; unique among config and
    /// runtime teams; never changes.
    pub name: String,
    /// Who created it (the admin principal).
    pub owner: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The models its keys may use (unset: all).
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Limits shared by every key of the team.
    #[serde(default)]
    pub limits: Option<LimitSet>,
    /// A budget shared by every key of the team.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The MCP servers (labels) its keys may use; `None`: every one.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
    /// Anything the admin wants to keep with it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// While set, every key of the team is refused.
    #[serde(default)]
    pub disabled: bool,
    /// Which team of this name it is: random at creation, so a team
    /// deleted and created again starts from nothing (its spend, its
    /// limits' windows, its cache). 0 for records made before it was kept.
    #[serde(default)]
    pub generation: u64,
}

/// `POST /v1/admin/teams`, and what `PATCH` may change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// The team's name (and id).
    pub name: String,
    /// Models of `models:` its keys may use.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Rate limits, as in the config.
    #[serde(default)]
    pub limits: Option<LimitSet>,
    /// A budget, as in the config.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// MCP servers (labels of `mcp.servers`) its keys may use.
    #[serde(default)]
    pub mcp: Option<Vec<String>>,
    /// At most 16 string values.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Created disabled.
    #[serde(default)]
    pub disabled: bool,
}

impl NewTeam {
    /// Checks it against the configuration: its name (and that no config
    /// team has it), models, the shapes of limits and budget.
    pub fn check(&self, config: &Config) -> Result<(), RequestError> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(
                "name",
                "must be 1 to 64 letters, digits, `-`, `_` or `.`",
            ));
        }
        if config.teams.iter().any(|t| &t.name == n) {
            return Err(invalid(
                "name",
                format!("`{n}` is a team of the config file, which the admin API does not change"),
            ));
        }
        check_models(self.models.as_deref(), config)?;
        check_mcp(self.mcp.as_deref(), config)?;
        check_metadata(&self.metadata)?;
        crate::config::check_limits(self.limits.as_ref(), self.budget.as_ref(), config)
            .map_err(|e| invalid("limits", e.to_string()))
    }
}

impl TeamRecord {
    /// What the admin API shows.
    pub fn view(&self) -> Value {
        json!({
            "id": self.name,
            "object": "team",
            "name": self.name,
            "owner": self.owner,
            "created_at": self.created_at,
            "models": self.models,
            "mcp": self.mcp,
            "limits": self.limits.as_ref().map(limits_json),
            "budget": self.budget.as_ref().map(|b| json!({"usd": b.usd, "period": period_name(b)})),
            "metadata": self.metadata,
            "disabled": self.disabled,
        })
    }

    /// Its limits and budget, for its keys' requests.
    pub fn allowance(&self) -> Option<Arc<Allowance>> {
        (self.limits.is_some() || self.budget.is_some()).then(|| {
            Arc::new(Allowance {
                limits: self.limits.clone(),
                budget: self.budget.clone(),
            })
        })
    }

    /// The models a key of this team may use: the key's own list
    /// narrowed to the team's.
    pub fn narrow(&self, own: Option<Vec<String>>) -> Option<Vec<String>> {
        narrow(own, self.models.as_ref())
    }

    /// The MCP servers a key of this team may use: the key's own list
    /// narrowed to the team's.
    pub fn narrow_mcp(&self, own: Option<Vec<String>>) -> Option<Vec<String>> {
        narrow(own, self.mcp.as_ref())
    }
}

/// A key's list narrowed to its team's (`None`: no list, all).
fn narrow(own: Option<Vec<String>>, team: Option<&Vec<String>>) -> Option<Vec<String>> {
    match (own, team) {
        (own, None) => own,
        (None, Some(team)) => Some(team.clone()),
        (Some(own), Some(team)) => Some(own.into_iter().filter(|m| team.contains(m)).collect()),
    }
}
