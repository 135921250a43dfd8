//! The issuer's signing keys: in memory first (per process or isolate),
//! then in the host's store (Spin instances live for one request), then
//! fetched through the host, with discovery from
//! `{issuer}/.well-known/openid-configuration` unless `jwks_url` is set.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::{AuthConfig, AuthError};
use crate::host::{Host, UpstreamRequest};

/// A forced refetch (unknown `kid`) happens at most this often.
const REFETCH_INTERVAL: u64 = 30;
/// How long past its TTL a JWKS is still served while the issuer cannot
/// be reached (stale-if-error).
const STALE_IF_ERROR: u64 = 24 * 3600;

/// The keys, and one fetch at a time: requests that find the cache stale
/// while a fetch is under way wait for it instead of fetching too.
#[derive(Debug, Default)]
pub(super) struct JwksCache {
    state: Mutex<Option<Cached>>,
    fetching: futures::lock::Mutex<()>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Cached {
    keys: Vec<Value>,
    fetched_at: u64,
}

impl Cached {
    /// The keys, when they may be used without a fetch: fresh (and no
    /// refetch forced), or fetched too recently to fetch again.
    fn usable(&self, now: u64, ttl: u64, force: bool) -> Option<Vec<Value>> {
        let age = now.saturating_sub(self.fetched_at);
        let fresh = age < ttl;
        let may_refetch = age >= REFETCH_INTERVAL;
        ((fresh && !force) || (force && !may_refetch)).then(|| self.keys.clone())
    }
}

fn store_key(config: &AuthConfig) -> String {
    format!(
        "latticelm:jwks:{}",
        config
            .jwks_url
            .as_deref()
            .or(config.issuer.as_deref())
            .unwrap_or_default()
    )
}

impl JwksCache {
    /// The keys; `force` refetches unless the last fetch was too recent.
    pub(super) async fn keys<H: Host>(
        &self,
        host: &H,
        config: &AuthConfig,
        now: u64,
        force: bool,
    ) -> Result<Vec<Value>, AuthError> {
        let ttl = config.jwks_ttl.as_secs();
        let cached = self.state.lock().ok().and_then(|s| s.clone());
        if let Some(keys) = cached.as_ref().and_then(|c| c.usable(now, ttl, force)) {
            return Ok(keys);
        }
        // One fetch at a time; whoever waited finds the fresh keys.
        let _fetching = self.fetching.lock().await;
        let cached = self.state.lock().ok().and_then(|s| s.clone());
        if let Some(keys) = cached.as_ref().and_then(|c| c.usable(now, ttl, force)) {
            return Ok(keys);
        }
        let key = store_key(config);
        if !force && cached.is_none() {
            if let Ok(Some(bytes)) = host.kv_get(&key).await {
                if let Ok(c) = serde_json::from_slice::<Cached>(&bytes) {
                    if now.saturating_sub(c.fetched_at) < ttl {
                        self.set(c.clone());
                        return Ok(c.keys);
                    }
                }
            }
        }
        let keys = match fetch(host, config).await {
            Ok(keys) => keys,
            // The issuer is down: the last good keys, for a bounded time.
            Err(e) => {
                return match cached {
                    Some(c) if now.saturating_sub(c.fetched_at) < ttl + STALE_IF_ERROR => {
                        Ok(c.keys)
                    }
                    _ => Err(e),
                }
            }
        };
        let c = Cached {
            keys,
            fetched_at: now,
        };
        self.set(c.clone());
        if let Ok(bytes) = serde_json::to_vec(&c) {
            // A cache; losing it costs one fetch.
            let _ = host
                .kv_put(&key, bytes, Duration::from_secs(ttl.max(1)))
                .await;
        }
        Ok(c.keys)
    }

    fn set(&self, c: Cached) {
        if let Ok(mut s) = self.state.lock() {
            *s = Some(c);
        }
    }
}

async fn get_json<H: Host>(host: &H, url: &str) -> Result<Value, AuthError> {
    let req = UpstreamRequest {
        method: "GET",
        url: url.to_owned(),
        headers: vec![("accept".into(), "application/json".into())],
        body: bytes::Bytes::new(),
        stream: false,
        provider: "oidc".into(),
        timeout: Duration::from_secs(10),
    };
    let unavailable = |m: String| AuthError::Unavailable(format!("{url}: {m}"));
    let resp = host
        .send(req)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !(200..300).contains(&resp.status) {
        return Err(unavailable(format!("HTTP {}", resp.status)));
    }
    let mut body = resp.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut body).await {
        bytes.extend_from_slice(&chunk.map_err(|e| unavailable(e.to_string()))?);
        if bytes.len() > 1 << 20 {
            return Err(unavailable("document over 1 MiB".into()));
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| unavailable(format!("not JSON: {e}")))
}

async fn fetch<H: Host>(host: &H, config: &AuthConfig) -> Result<Vec<Value>, AuthError> {
    let url = match (&config.jwks_url, &config.issuer) {
        (Some(u), _) => u.clone(),
        (None, Some(iss)) => {
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                iss.trim_end_matches('/')
            );
            let doc = get_json(host, &discovery).await?;
            let uri = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| AuthError::Unavailable(format!("{discovery}: no `jwks_uri`")))?;
            // Keys fetched over plain HTTP could be swapped on the way.
            if !uri.starts_with("https://") && !crate::config::is_loopback_http(uri) {
                return Err(AuthError::Unavailable(format!(
                    "{discovery}: `jwks_uri` {uri} is not an https:// URL"
                )));
            }
            uri.to_owned()
        }
        (None, None) => return Ok(Vec::new()),
    };
    let jwks = get_json(host, &url).await?;
    Ok(jwks
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}
