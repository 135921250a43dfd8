//! The admin handlers every record with grants shares (runtime keys and
//! runtime teams: models, limits, a budget, metadata, disabled): read one,
//! list a page of them, patch one. What differs between the two is in
//! their [`Granted`] implementations; creation, rotation and deletion are
//! each record's own (`keys.rs`, `teams.rs`).

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{ApiError, HostError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{self, KeyRecord, NewKey, NewTeam, TeamRecord};

use super::{
    after_of, audit, changes, lost_race, not_found, page, page_params, store_error, Actor,
    SWAP_TRIES,
};
use crate::gateway::Gateway;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::respond::json_ok;

/// A record the admin API manages.
pub(crate) trait Granted: Sized {
    /// What a 404 calls it (`API key`, `team`).
    const WHAT: &'static str;
    /// The prefix of its audit actions (`key.update`).
    const AUDIT: &'static str;
    /// Reads it by id.
    async fn load<H: Host>(host: &H, id: &str) -> Result<Option<Self>, HostError>;
    /// Reads it by id with its stored bytes, for [`Granted::swap`].
    async fn load_versioned<H: Host>(
        host: &H,
        id: &str,
    ) -> Result<Option<keys::Versioned<Self>>, HostError>;
    /// Writes it if its record still holds `expected`; `Ok(false)` when
    /// another update came first.
    async fn swap<H: Host>(host: &H, rec: &Self, expected: &[u8]) -> Result<bool, HostError>;
    /// Every id, oldest first.
    async fn index<H: Host>(host: &H) -> Result<Vec<String>, HostError>;
    /// What the admin API shows of it (never a secret).
    fn view(&self) -> Value;
    /// Whether a list filtered to `team` shows it.
    fn listed(&self, team: Option<&str>) -> bool;
    /// Applies a `PATCH`'s fields, checked as a new record's would be.
    fn patch(
        &mut self,
        patch: &Map<String, Value>,
        config: &Config,
        now: u64,
    ) -> Result<(), ApiError>;
    /// Checks what a patch cannot check alone (a key's team), after it.
    async fn check<H: Host>(&self, gateway: &Gateway, host: &H) -> Result<(), ApiError>;
    /// Drops this instance's cached lookups of it.
    fn forget(&self, gateway: &Gateway);
}

impl Gateway {
    /// A record by id, or 404.
    pub(super) async fn record<R: Granted, H: Host>(
        &self,
        host: &H,
        id: &str,
    ) -> Result<R, ApiError> {
        R::load(host, id)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| not_found(R::WHAT, id))
    }

    /// A page of records (`limit`, `after`; `team` for keys).
    pub(super) async fn list<R: Granted, H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let (limit, after, team) = page_params(&req.query)?;
        let ids = R::index(host).await.map_err(|e| store_error(&e))?;
        let mut data = Vec::new();
        let mut has_more = false;
        for id in after_of(&ids, after.as_deref()) {
            let Some(rec) = R::load(host, id).await.map_err(|e| store_error(&e))? else {
                continue;
            };
            if !rec.listed(team.as_deref()) {
                continue;
            }
            if data.len() == limit {
                has_more = true;
                break;
            }
            data.push(rec.view());
        }
        Ok(page(data, has_more))
    }

    /// `PATCH`: the fields given, checked, written, and audited with what
    /// changed. The write is a compare-and-set: when another update came
    /// between the read and the write, the fields are applied again to
    /// what it wrote, up to [`SWAP_TRIES`] times, then 409
    /// `concurrent_update`. No change is ever lost.
    pub(super) async fn patch<R: Granted, H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let v = crate::gateway::doors::json_body(&self.config, req)?;
        let Value::Object(patch) = v else {
            return Err(RequestError::InvalidValue {
                param: ".".into(),
                message: "must be an object of the fields to change".into(),
            }
            .into());
        };
        for _ in 0..SWAP_TRIES {
            let read = R::load_versioned(host, id)
                .await
                .map_err(|e| store_error(&e))?
                .ok_or_else(|| not_found(R::WHAT, id))?;
            let mut rec = read.value;
            let before = rec.view();
            rec.patch(&patch, &self.config, unix_secs(host))?;
            rec.check(self, host).await?;
            if !R::swap(host, &rec, &read.raw)
                .await
                .map_err(|e| store_error(&e))?
            {
                continue;
            }
            rec.forget(self);
            let after = rec.view();
            let action = format!("{}.update", R::AUDIT);
            audit(host, principal, &action, id, changes(&before, &after));
            return Ok(json_ok(after));
        }
        Err(lost_race(R::WHAT, id))
    }
}

impl Granted for KeyRecord {
    const WHAT: &'static str = "API key";
    const AUDIT: &'static str = "key";
    async fn load<H: Host>(host: &H, id: &str) -> Result<Option<Self>, HostError> {
        keys::get(host, id).await
    }
    async fn load_versioned<H: Host>(
        host: &H,
        id: &str,
    ) -> Result<Option<keys::Versioned<Self>>, HostError> {
        keys::get_versioned(host, id).await
    }
    async fn swap<H: Host>(host: &H, rec: &Self, expected: &[u8]) -> Result<bool, HostError> {
        keys::swap(host, rec, expected).await
    }
    async fn index<H: Host>(host: &H) -> Result<Vec<String>, HostError> {
        keys::index(host).await
    }
    fn view(&self) -> Value {
        KeyRecord::view(self)
    }
    fn listed(&self, team: Option<&str>) -> bool {
        team.is_none_or(|t| self.team.as_deref() == Some(t))
    }
    fn patch(
        &mut self,
        patch: &Map<String, Value>,
        config: &Config,
        now: u64,
    ) -> Result<(), ApiError> {
        patch_key(self, patch, config, now)
    }
    async fn check<H: Host>(&self, gateway: &Gateway, host: &H) -> Result<(), ApiError> {
        gateway
            .check_team(host, self.team.as_deref(), self.models.as_deref())
            .await
    }
    fn forget(&self, gateway: &Gateway) {
        gateway.forget(self);
    }
}

impl Granted for TeamRecord {
    const WHAT: &'static str = "team";
    const AUDIT: &'static str = "team";
    async fn load<H: Host>(host: &H, name: &str) -> Result<Option<Self>, HostError> {
        keys::team(host, name).await
    }
    async fn load_versioned<H: Host>(
        host: &H,
        name: &str,
    ) -> Result<Option<keys::Versioned<Self>>, HostError> {
        keys::team_versioned(host, name).await
    }
    async fn swap<H: Host>(host: &H, team: &Self, expected: &[u8]) -> Result<bool, HostError> {
        keys::swap_team(host, team, Some(expected)).await
    }
    async fn index<H: Host>(host: &H) -> Result<Vec<String>, HostError> {
        keys::team_index(host).await
    }
    fn view(&self) -> Value {
        TeamRecord::view(self)
    }
    fn listed(&self, _team: Option<&str>) -> bool {
        true
    }
    fn patch(
        &mut self,
        patch: &Map<String, Value>,
        config: &Config,
        _now: u64,
    ) -> Result<(), ApiError> {
        patch_team(self, patch, config)
    }
    async fn check<H: Host>(&self, _gateway: &Gateway, _host: &H) -> Result<(), ApiError> {
        Ok(())
    }
    fn forget(&self, gateway: &Gateway) {
        gateway.forget_team(&self.name);
    }
}

/// Applies `PATCH` fields: name, team, models, passthrough, limits,
/// budget, mcp, expires_at, metadata, disabled.
fn patch_key(
    rec: &mut KeyRecord,
    patch: &Map<String, Value>,
    config: &Config,
    now: u64,
) -> Result<(), ApiError> {
    let mut new = NewKey {
        name: rec.name.clone(),
        team: rec.team.clone(),
        models: rec.models.clone(),
        passthrough: rec.passthrough.clone(),
        limits: rec.limits.clone(),
        budget: rec.budget.clone(),
        mcp: rec.mcp.clone(),
        expires_at: rec.expires_at,
        metadata: rec.metadata.clone(),
    };
    let field = |k: &str, e: serde_json::Error| RequestError::InvalidBody {
        path: k.into(),
        message: e.to_string(),
    };
    for (k, v) in patch {
        let v = v.clone();
        match k.as_str() {
            "name" => new.name = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "team" => new.team = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "models" => new.models = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "passthrough" => {
                new.passthrough = serde_json::from_value(v).map_err(|e| field(k, e))?
            }
            "limits" => new.limits = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "budget" => new.budget = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "mcp" => new.mcp = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "expires_at" => new.expires_at = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "metadata" => new.metadata = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "disabled" => rec.disabled = serde_json::from_value(v).map_err(|e| field(k, e))?,
            other => {
                return Err(RequestError::InvalidValue {
                    param: other.into(),
                    message: "is not a field of an API key that can be changed".into(),
                }
                .into())
            }
        }
    }
    new.check(config, now)?;
    rec.name = new.name;
    rec.team = new.team;
    rec.models = new.models;
    rec.passthrough = new.passthrough;
    rec.limits = new.limits;
    rec.budget = new.budget;
    rec.mcp = new.mcp;
    rec.expires_at = new.expires_at;
    rec.metadata = new.metadata;
    Ok(())
}

/// Applies `PATCH` fields: models, limits, budget, mcp, metadata, disabled.
fn patch_team(
    team: &mut TeamRecord,
    patch: &Map<String, Value>,
    config: &Config,
) -> Result<(), ApiError> {
    let mut new = NewTeam {
        name: team.name.clone(),
        models: team.models.clone(),
        limits: team.limits.clone(),
        budget: team.budget.clone(),
        mcp: team.mcp.clone(),
        metadata: team.metadata.clone(),
        disabled: team.disabled,
    };
    let field = |k: &str, e: serde_json::Error| RequestError::InvalidBody {
        path: k.into(),
        message: e.to_string(),
    };
    for (k, v) in patch {
        let v = v.clone();
        match k.as_str() {
            "models" => new.models = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "limits" => new.limits = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "budget" => new.budget = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "mcp" => new.mcp = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "metadata" => new.metadata = serde_json::from_value(v).map_err(|e| field(k, e))?,
            "disabled" => new.disabled = serde_json::from_value(v).map_err(|e| field(k, e))?,
            other => {
                return Err(RequestError::InvalidValue {
                    param: other.into(),
                    message:
                        "is not a field of a team that can be changed (a team's name is its id)"
                            .into(),
                }
                .into())
            }
        }
    }
    new.check(config)?;
    team.models = new.models;
    team.limits = new.limits;
    team.budget = new.budget;
    team.mcp = new.mcp;
    team.metadata = new.metadata;
    team.disabled = new.disabled;
    Ok(())
}
