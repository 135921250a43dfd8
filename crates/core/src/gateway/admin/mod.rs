//! The admin API (`/v1/admin/…`): runtime keys and teams (the handlers
//! they share in `records.rs`, each one's own in `keys.rs` and
//! `teams.rs`), usage, and the dashboard; and the lookup of a runtime key
//! when a request presents one (`lookup.rs`).
//!
//! Only an admin principal (`auth.admin_keys`, `auth.admin_claim`) may
//! call it: an ordinary key gets 403 `admin_required`. Every change writes
//! one audit line (who, what, which record, the fields before and after;
//! never a secret).

mod dashboard;
mod key_cache;
mod keys;
mod limits_view;
mod lookup;
mod records;
mod teams;
mod usage;

pub(crate) use key_cache::KeyCache;

/// The largest page of a list (`GET /v1/admin/keys`, `/teams`).
const MAX_PAGE: usize = 100;

use serde_json::{json, Map, Value};

use crate::auth::Principal;
use crate::error::{ApiError, GatewayError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::keys::{KeyRecord, TeamRecord};
use crate::observe::Recorder;

use crate::gateway::Gateway;
use crate::pipeline::respond::json_ok;

pub(crate) fn store_error(e: &crate::HostError) -> ApiError {
    GatewayError::KeyStore(e.clone()).into()
}

/// How many times an update reads and swaps again when another update
/// came between its read and its write ([`crate::Host::record_swap`]).
pub(crate) const SWAP_TRIES: usize = 5;

/// 409 `concurrent_update`: a record changed under every one of an
/// update's [`SWAP_TRIES`]; nothing was written.
pub(crate) fn lost_race(what: &'static str, id: &str) -> ApiError {
    conflict(
        "concurrent_update",
        format!(
            "the {what} `{id}` was changed by other requests while this one applied; nothing was written, try again"
        ),
    )
}

/// 409 with `code`.
pub(crate) fn conflict(code: &'static str, message: String) -> ApiError {
    GatewayError::Conflict { code, message }.into()
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
            return Err(GatewayError::AdminRequired.into());
        }
        let principal = &Actor { principal, rec };
        let method = req.method.as_str();
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match (method, parts.as_slice()) {
            ("POST", ["keys"]) => self.create_key(host, req, principal).await,
            ("GET", ["keys"]) => self.list::<KeyRecord, H>(host, req).await,
            ("GET", ["keys", id]) => {
                Ok(json_ok(self.record::<KeyRecord, H>(host, id).await?.view()))
            }
            ("PATCH", ["keys", id]) => self.patch::<KeyRecord, H>(host, req, principal, id).await,
            ("DELETE", ["keys", id]) => self.delete_key(host, principal, id).await,
            ("POST", ["keys", id, "rotate"]) => self.rotate_key(host, req, principal, id).await,
            ("POST", ["teams"]) => self.create_team(host, req, principal).await,
            ("GET", ["teams"]) => self.list::<TeamRecord, H>(host, req).await,
            ("GET", ["teams", name]) => Ok(json_ok(
                self.record::<TeamRecord, H>(host, name).await?.view(),
            )),
            ("PATCH", ["teams", name]) => {
                self.patch::<TeamRecord, H>(host, req, principal, name)
                    .await
            }
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

/// A new record's fields, from a `POST` body.
pub(crate) fn new_record<T: serde::de::DeserializeOwned>(
    config: &crate::config::Config,
    req: &HttpRequest,
) -> Result<T, ApiError> {
    let v = crate::gateway::doors::json_body(config, req)?;
    serde_json::from_value(v).map_err(|e| {
        RequestError::InvalidBody {
            path: ".".into(),
            message: e.to_string(),
        }
        .into()
    })
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
