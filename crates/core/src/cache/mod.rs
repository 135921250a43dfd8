//! The response cache: exact-match, opt-in, isolated per tenant, and
//! correct for streams.
//!
//! A model's `cache: { ttl, scope }`, or a request's
//! `x-latticelm-cache-ttl: <seconds>`, turns it on (`0` turns it off for
//! the request); `Cache-Control: no-cache` skips the lookup and
//! `no-store` the write. The key ([`key::key`]) is a hash of the
//! canonical request and its scope. Only completed answers are written.
//! A hit is replayed through a fresh [`ResponseBuilder`]: a new response
//! id, new item ids and timestamps, the same items and usage, streamed as
//! a valid event stream when the request streams.
//!
//! Entries live where the host keeps them ([`crate::Host::cache_get`]):
//! bounded memory or Redis natively, the data centre's Cache API on the
//! Worker, the key-value store on Spin.

pub mod key;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::builder::{Outcome, ResponseBuilder};
use crate::config::{CacheScope, Config, MAX_CACHE_TTL};
use crate::error::RequestError;
use crate::types::{Item, ResponseResource, ResponseStatus};

/// The request header that sets (or, with `0`, bypasses) caching.
pub const TTL_HEADER: &str = "x-latticelm-cache-ttl";
/// The answer's header: `hit`, `miss` or `bypass`.
pub const STATUS_HEADER: &str = "x-latticelm-cache";

/// What the cache does for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How long a written entry lives.
    pub ttl: Duration,
    /// Who shares entries.
    pub scope: CacheScope,
    /// Look for an entry (not with `Cache-Control: no-cache`).
    pub lookup: bool,
    /// Write the answer (not with `Cache-Control: no-store`).
    pub write: bool,
}

/// The policy for a request to `model`, or `None` when it is not cached.
pub fn policy(
    config: &Config,
    model: &str,
    headers: &[(String, String)],
) -> Result<Option<Policy>, RequestError> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let configured = config
        .models
        .iter()
        .find(|m| m.name == model)
        .and_then(|m| m.cache.as_ref());
    let ttl = match header(TTL_HEADER) {
        Some(v) => {
            let secs: u64 = v.trim().parse().map_err(|_| RequestError::InvalidValue {
                param: TTL_HEADER.into(),
                message: "must be a number of seconds (0 bypasses the cache)".into(),
            })?;
            if secs > MAX_CACHE_TTL.as_secs() {
                return Err(RequestError::InvalidValue {
                    param: TTL_HEADER.into(),
                    message: "must be at most 2592000 (30 days)".into(),
                });
            }
            if secs == 0 {
                return Ok(None);
            }
            Duration::from_secs(secs)
        }
        None => match configured {
            Some(c) => c.ttl,
            None => return Ok(None),
        },
    };
    let directives: Vec<String> = header("cache-control")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let has = |d: &str| directives.iter().any(|x| x == d);
    Ok(Some(Policy {
        ttl,
        scope: configured.map(|c| c.scope).unwrap_or_default(),
        lookup: !has("no-cache"),
        write: !has("no-store"),
    }))
}

/// The scope part of a key: the principal, its team, or everyone.
pub fn scope_id(scope: CacheScope, principal: &str, team: Option<&str>) -> String {
    match (scope, team) {
        (CacheScope::Shared, _) => "shared".into(),
        (CacheScope::Team, Some(t)) => format!("team:{t}"),
        _ => format!("principal:{principal}"),
    }
}

/// A cached answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The completed response, as first served.
    pub response: ResponseResource,
    /// The provider that served it (its sealed reasoning opens only there).
    pub provider: String,
    /// The upstream model id.
    pub model: String,
    /// The configured model whose prices priced it.
    pub listed_by: String,
    /// What it cost then (what a hit saves).
    pub cost_usd: Option<f64>,
}

impl Entry {
    /// Its stored bytes, or `None` when it is larger than `max` or not a
    /// completed response.
    pub fn to_bytes(&self, max: u64) -> Option<Vec<u8>> {
        if self.response.status != ResponseStatus::Completed || self.response.error.is_some() {
            return None;
        }
        let bytes = serde_json::to_vec(self).ok()?;
        (bytes.len() as u64 <= max).then_some(bytes)
    }

    /// An entry read back (`None` when unreadable: a miss).
    pub fn from_bytes(bytes: &[u8]) -> Option<Entry> {
        serde_json::from_slice(bytes).ok()
    }

    /// Replays it as a fresh response on `skeleton` (this request's id,
    /// time and echoed fields): new item ids from `id_seed`, the same
    /// items and usage. With `record`, the builder holds the events of a
    /// stream of it. The response is settled, its terminal event not yet
    /// emitted: the caller stores it first.
    pub fn replay(
        &self,
        skeleton: ResponseResource,
        id_seed: u64,
        record: bool,
        now_secs: u64,
    ) -> ResponseBuilder {
        let mut b = ResponseBuilder::new(skeleton, id_seed, record);
        b.start();
        for item in &self.response.output {
            b.add_item(without_id(item.clone()));
        }
        if let Some(u) = self.response.usage {
            b.usage(u);
        }
        b.settle(Outcome::Completed, now_secs);
        b
    }
}

/// The item without its id, so that the replay gives it a new one.
fn without_id(mut item: Item) -> Item {
    match &mut item {
        Item::Message(m) => m.id = None,
        Item::FunctionCall(f) => f.id = None,
        Item::Reasoning(r) => r.id = None,
        Item::Other(v) => {
            if let Some(m) = v.as_object_mut() {
                m.remove("id");
            }
        }
        _ => {}
    }
    item
}

#[cfg(test)]
mod tests;
