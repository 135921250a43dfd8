//! The admin API for runtime keys (`/v1/admin/keys`), and the lookup of
//! a runtime key when a request presents one.
//!
//! Only an admin principal (`auth.admin_keys`, `auth.admin_claim`) may
//! call it: an ordinary key gets 403 `admin_required`. Every change writes
//! one audit line (who, what, which record, the fields before and after;
//! never a secret). A runtime key's record is read through a per-process
//! cache of [`KEY_CACHE_MS`], so a disabled, deleted or rotated key stops
//! working everywhere once that entry lapses.

mod dashboard;
mod limits_view;
mod teams;
mod usage;

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::auth::Principal;
use crate::error::{ApiError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{self, KeyRecord, NewKey, TeamRecord};
use crate::observe::Recorder;

use crate::gateway::Gateway;
use crate::pipeline::clock::{now_ms, unix_secs};
use crate::pipeline::respond::json_ok;

/// How long a looked-up runtime key is trusted before it is read again.
pub const KEY_CACHE_MS: u64 = 2_000;
/// The largest page of `GET /v1/admin/keys`.
const MAX_PAGE: usize = 100;

/// Cached lookups, each with when it was read: secret hash → key record,
/// team name → runtime team.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    keys: HashMap<String, (Option<KeyRecord>, u64)>,
    teams: HashMap<String, (Option<TeamRecord>, u64)>,
}

/// A cached value still fresh at `now`.
fn fresh<T: Clone>(map: &HashMap<String, (T, u64)>, key: &str, now: u64) -> Option<T> {
    map.get(key)
        .filter(|(_, at)| now.saturating_sub(*at) < KEY_CACHE_MS)
        .map(|(v, _)| v.clone())
}

/// Remembers a value read at `now` (a bounded map: cleared when full).
fn remember<T>(map: &mut HashMap<String, (T, u64)>, key: &str, value: T, now: u64) {
    if map.len() >= 10_000 {
        map.clear();
    }
    map.insert(key.to_owned(), (value, now));
}

pub(crate) fn store_error(e: &crate::HostError) -> ApiError {
    let mut err = ApiError::new(
        503,
        "server_error",
        Some("store_unavailable"),
        None,
        "the key store cannot be reached; try again shortly",
    );
    err.detail = Some(e.to_string());
    err
}

pub(crate) fn not_found(what: &'static str, id: &str) -> ApiError {
    RequestError::NotFound {
        what,
        id: id.to_owned(),
        param: None,
        code: "not_found",
    }
    .into()
}

impl Gateway {
    /// The principal of a runtime key (`llm_…`), or why there is none.
    pub(crate) async fn runtime_key<H: Host>(
        &self,
        host: &H,
        secret: &str,
    ) -> Result<Principal, ApiError> {
        let hash = keys::hash(secret, self.config.server.seal_key.as_deref());
        let now = now_ms(host);
        let cached = self
            .key_cache
            .lock()
            .ok()
            .and_then(|c| fresh(&c.keys, &hash, now));
        let record = match cached {
            Some(r) => r,
            None => {
                let r = keys::find(host, &hash).await.map_err(|e| store_error(&e))?;
                if let Ok(mut c) = self.key_cache.lock() {
                    remember(&mut c.keys, &hash, r.clone(), now);
                }
                r
            }
        };
        let bad = |why: &str| {
            let mut e: ApiError = crate::auth::AuthError::BadKey.into();
            e.payload.message = why.to_owned();
            e
        };
        let record = record.ok_or_else(|| bad("invalid API key"))?;
        let mut principal = record.principal(&hash, unix_secs(host)).map_err(bad)?;
        let Some(name) = record.team.as_deref() else {
            return Ok(principal);
        };
        if self.rules.has_team(name) {
            return Ok(principal);
        }
        match self.runtime_team(host, name, now).await? {
            None => Err(bad("this API key's team no longer exists")),
            Some(t) if t.disabled => Err(bad("this API key's team is disabled")),
            Some(t) => {
                principal.models = t.narrow(principal.models.take());
                principal.team_allowance = t.allowance();
                Ok(principal)
            }
        }
    }

    /// A runtime team, read through the same cache as keys.
    async fn runtime_team<H: Host>(
        &self,
        host: &H,
        name: &str,
        now: u64,
    ) -> Result<Option<TeamRecord>, ApiError> {
        let cached = self
            .key_cache
            .lock()
            .ok()
            .and_then(|c| fresh(&c.teams, name, now));
        if let Some(t) = cached {
            return Ok(t);
        }
        let t = keys::team(host, name).await.map_err(|e| store_error(&e))?;
        if let Ok(mut c) = self.key_cache.lock() {
            remember(&mut c.teams, name, t.clone(), now);
        }
        Ok(t)
    }

    /// Drops a runtime team's cached lookup on this instance.
    pub(crate) fn forget_team(&self, name: &str) {
        if let Ok(mut c) = self.key_cache.lock() {
            c.teams.remove(name);
        }
    }

    /// Checks a key's team (a config team, or a runtime one that exists)
    /// and that its models are within the team's.
    async fn check_team<H: Host>(
        &self,
        host: &H,
        team: Option<&str>,
        models: Option<&[String]>,
    ) -> Result<(), ApiError> {
        let Some(name) = team else { return Ok(()) };
        if self.rules.has_team(name) {
            return Ok(());
        }
        let invalid = |message: String| -> ApiError {
            RequestError::InvalidValue {
                param: "team".into(),
                message,
            }
            .into()
        };
        let t = keys::team(host, name)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| invalid(format!("`{name}` is not a team")))?;
        if let (Some(own), Some(allowed)) = (models, &t.models) {
            if let Some(m) = own.iter().find(|m| !allowed.contains(m)) {
                return Err(RequestError::InvalidValue {
                    param: "models".into(),
                    message: format!("`{m}` is not among the models of team `{name}`"),
                }
                .into());
            }
        }
        Ok(())
    }

    /// `/v1/admin/keys…`.
    pub(crate) async fn admin<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rest: &str,
        rec: &Recorder,
    ) -> Result<HttpResponse, ApiError> {
        if !principal.admin {
            return Err(ApiError::new(
                403,
                "permission_error",
                Some("admin_required"),
                None,
                "the admin API needs an admin credential (auth.admin_keys or auth.admin_claim)",
            ));
        }
        let principal = &Actor { principal, rec };
        let method = req.method.as_str();
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match (method, parts.as_slice()) {
            ("POST", ["keys"]) => self.create_key(host, req, principal).await,
            ("GET", ["keys"]) => self.list_keys(host, req).await,
            ("GET", ["keys", id]) => Ok(json_ok(self.key(host, id).await?.view())),
            ("PATCH", ["keys", id]) => self.patch_key(host, req, principal, id).await,
            ("DELETE", ["keys", id]) => {
                let rec = self.key(host, id).await?;
                keys::delete(host, &rec)
                    .await
                    .map_err(|e| store_error(&e))?;
                self.forget(&rec);
                audit(host, principal, "key.delete", id, json!({}));
                Ok(json_ok(
                    json!({"id": id, "object": "api_key", "deleted": true}),
                ))
            }
            ("POST", ["keys", id, "rotate"]) => self.rotate_key(host, req, principal, id).await,
            ("POST", ["teams"]) => self.create_team(host, req, principal).await,
            ("GET", ["teams"]) => self.list_teams(host, req).await,
            ("GET", ["teams", name]) => Ok(json_ok(self.team(host, name).await?.view())),
            ("PATCH", ["teams", name]) => self.patch_team(host, req, principal, name).await,
            ("DELETE", ["teams", name]) => self.delete_team(host, principal, name).await,
            ("GET", ["usage"]) => self.usage(host, req).await,
            (_, ["keys" | "teams"] | ["keys" | "teams", _] | ["keys", _, "rotate"] | ["usage"]) => {
                Err(RequestError::MethodNotAllowed {
                    method: req.method.clone(),
                    path: req.path.clone(),
                }
                .into())
            }
            _ => Err(RequestError::NoRoute {
                method: req.method.clone(),
                path: req.path.clone(),
            }
            .into()),
        }
    }

    async fn key<H: Host>(&self, host: &H, id: &str) -> Result<KeyRecord, ApiError> {
        keys::get(host, id)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| not_found("API key", id))
    }

    /// Drops a record's cached lookups on this instance (others see the
    /// change within [`KEY_CACHE_MS`]).
    fn forget(&self, rec: &KeyRecord) {
        if let Ok(mut c) = self.key_cache.lock() {
            c.keys.remove(&rec.hash);
            if let Some((old, _)) = &rec.previous {
                c.keys.remove(old);
            }
        }
    }

    async fn create_key<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
    ) -> Result<HttpResponse, ApiError> {
        let v = crate::gateway::doors::json_body(&self.config, req)?;
        let new: NewKey = serde_json::from_value(v).map_err(|e| RequestError::InvalidBody {
            path: ".".into(),
            message: e.to_string(),
        })?;
        let now = unix_secs(host);
        new.check(&self.config, now)?;
        self.check_team(host, new.team.as_deref(), new.models.as_deref())
            .await?;
        let mut random = [0u8; 32];
        host.random(&mut random);
        let (secret, id) = keys::new_secret(&random);
        let rec = KeyRecord {
            id: id.clone(),
            name: new.name,
            team: new.team,
            owner: principal.id.clone(),
            created_at: now,
            expires_at: new.expires_at,
            models: new.models,
            passthrough: new.passthrough,
            limits: new.limits,
            budget: new.budget,
            metadata: new.metadata,
            disabled: false,
            hash: keys::hash(&secret, self.config.server.seal_key.as_deref()),
            previous: None,
        };
        keys::put(host, &rec).await.map_err(|e| store_error(&e))?;
        keys::add_to_index(host, &rec)
            .await
            .map_err(|e| store_error(&e))?;
        let mut view = rec.view();
        audit(
            host,
            principal,
            "key.create",
            &id,
            json!({"after": view.clone()}),
        );
        view["key"] = json!(secret);
        let mut resp = json_ok(view);
        resp.status = 201;
        Ok(resp)
    }

    async fn list_keys<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let (limit, after, team) = page_params(&req.query)?;
        let ids = keys::index(host).await.map_err(|e| store_error(&e))?;
        let mut data = Vec::new();
        let mut has_more = false;
        for id in after_of(&ids, after.as_deref()) {
            let Some(rec) = keys::get(host, id).await.map_err(|e| store_error(&e))? else {
                continue;
            };
            if team.as_ref().is_some_and(|t| rec.team.as_ref() != Some(t)) {
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

    async fn patch_key<H: Host>(
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
        let mut rec = self.key(host, id).await?;
        let before = rec.view();
        apply_patch(&mut rec, &patch, &self.config, unix_secs(host))?;
        self.check_team(host, rec.team.as_deref(), rec.models.as_deref())
            .await?;
        keys::put(host, &rec).await.map_err(|e| store_error(&e))?;
        self.forget(&rec);
        let after = rec.view();
        audit(host, principal, "key.update", id, changes(&before, &after));
        Ok(json_ok(after))
    }

    async fn rotate_key<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Actor<'_>,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let grace = if req.body.is_empty() {
            0
        } else {
            let v = crate::gateway::doors::json_body(&self.config, req)?;
            match &v["grace_seconds"] {
                Value::Null => 0,
                g => g.as_u64().filter(|s| *s <= 30 * 86_400).ok_or_else(|| {
                    RequestError::InvalidValue {
                        param: "grace_seconds".into(),
                        message: "must be 0 to 2592000 (30 days)".into(),
                    }
                })?,
            }
        };
        let mut rec = self.key(host, id).await?;
        if let Some((old, _)) = rec.previous.take() {
            let _ = keys::forget_hash(host, &old).await;
        }
        self.forget(&rec);
        let mut random = [0u8; 32];
        host.random(&mut random);
        let (secret, _) = keys::new_secret(&random);
        let old = std::mem::replace(
            &mut rec.hash,
            keys::hash(&secret, self.config.server.seal_key.as_deref()),
        );
        if grace > 0 {
            rec.previous = Some((old, unix_secs(host) + grace));
        } else {
            keys::forget_hash(host, &old)
                .await
                .map_err(|e| store_error(&e))?;
        }
        keys::put(host, &rec).await.map_err(|e| store_error(&e))?;
        audit(
            host,
            principal,
            "key.rotate",
            id,
            json!({"grace_seconds": grace}),
        );
        let mut view = rec.view();
        view["key"] = json!(secret);
        Ok(json_ok(view))
    }
}

/// `limit` (1 to [`MAX_PAGE`], 20 by default), `after` and `team` of a
/// list's query.
pub(crate) fn page_params(
    query: &str,
) -> Result<(usize, Option<String>, Option<String>), ApiError> {
    let mut limit = 20usize;
    let (mut after, mut team) = (None, None);
    for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
        match k {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| RequestError::InvalidValue {
                        param: "limit".into(),
                        message: format!("must be 1 to {MAX_PAGE}"),
                    })?
            }
            "team" => team = Some(v.to_owned()),
            "after" => after = Some(v.to_owned()),
            _ => {}
        }
    }
    Ok((limit, after, team))
}

/// The ids of an index after `after` (all when it is unset or unknown).
pub(crate) fn after_of<'a>(ids: &'a [String], after: Option<&str>) -> &'a [String] {
    let start = after
        .and_then(|a| ids.iter().position(|x| x == a))
        .map_or(0, |i| i + 1);
    &ids[start.min(ids.len())..]
}

/// A page of a list: `{object, data, has_more, last_id}`.
pub(crate) fn page(data: Vec<Value>, has_more: bool) -> HttpResponse {
    let last = data.last().map(|v| v["id"].clone());
    json_ok(json!({"object": "list", "data": data, "has_more": has_more, "last_id": last}))
}

/// Applies `PATCH` fields: name, team, models, passthrough, limits,
/// budget, expires_at, metadata, disabled.
fn apply_patch(
    rec: &mut KeyRecord,
    patch: &Map<String, Value>,
    config: &crate::config::Config,
    now: u64,
) -> Result<(), ApiError> {
    let mut new = NewKey {
        name: rec.name.clone(),
        team: rec.team.clone(),
        models: rec.models.clone(),
        passthrough: rec.passthrough.clone(),
        limits: rec.limits.clone(),
        budget: rec.budget.clone(),
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
    rec.expires_at = new.expires_at;
    rec.metadata = new.metadata;
    Ok(())
}

/// The fields that changed: `{field: {before, after}}`.
pub(crate) fn changes(before: &Value, after: &Value) -> Value {
    let mut out = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                out.insert(k.clone(), json!({"before": b.get(k), "after": v}));
            }
        }
    }
    Value::Object(out)
}

/// An admin principal, and the record of its request (where its audit
/// action goes, for the request's span).
pub(crate) struct Actor<'a> {
    principal: &'a Principal,
    rec: &'a Recorder,
}

impl std::ops::Deref for Actor<'_> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        self.principal
    }
}

/// One audit line: who did what to which record, the fields before and
/// after (never a secret); with OTLP, the request's span carries it too
/// (admin requests are always sampled).
pub(crate) fn audit<H: Host>(
    host: &H,
    actor: &Actor<'_>,
    action: &str,
    record: &str,
    detail: Value,
) {
    let changed: Vec<String> = match &detail {
        Value::Object(m) if !m.contains_key("after") => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    actor.rec.with(|r| {
        r.audit = Some(crate::observe::AuditRecord {
            action: action.to_owned(),
            record: record.to_owned(),
            changed,
        })
    });
    let line = json!({
        "level": "info",
        "msg": "admin",
        "actor": actor.id,
        "action": action,
        "record": record,
        "changes": detail,
    });
    host.log(&line.to_string());
}
