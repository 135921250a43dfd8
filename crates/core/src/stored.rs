//! Loading and saving stored responses through the host's store, with the
//! rules every host gets for free: expiry checked on read, ownership
//! enforced as "not found", and a failed write never reported as success.
//!
//! A stored response keeps its own turn only (the new input items and the
//! output) and the ids of the responses before it, so storage grows
//! linearly with a conversation. Expanding a chain of `n` responses costs
//! `n` store reads, made concurrently (one round trip on every host:
//! memory or Redis natively, Durable Objects or KV on the Worker, Spin
//! KV), capped by `conversations.max_depth`. Reading a chain also renews
//! the responses in it that are past half their TTL, so that an active
//! conversation does not lose its beginning.

use std::time::Duration;

use futures::future::join_all;

use crate::builder::ResponseBuilder;
use crate::config::ConversationsConfig;
use crate::conversation::{self, StoredResponse};
use crate::error::{ApiError, GatewayError, HostError, RequestError};
use crate::host::Host;
use crate::types::{ErrorPayload, Item};

/// The error for a store that cannot be reached.
pub(crate) fn unavailable(e: &HostError) -> ApiError {
    GatewayError::ConversationStore(e.clone()).into()
}

/// Reads a stored response visible to `principal`. Missing, expired,
/// unreadable and foreign responses are all `None`: another principal's
/// ids must not be distinguishable from unknown ones.
pub(crate) async fn load<H: Host>(
    host: &H,
    id: &str,
    principal: &str,
    now: u64,
) -> Result<Option<StoredResponse>, ApiError> {
    let key = conversation::key(principal, id);
    let mut bytes = host.kv_get(&key).await.map_err(|e| unavailable(&e))?;
    let mut found_key = key;
    if bytes.is_none() {
        // Written before keys carried their owner.
        found_key = conversation::legacy_key(id);
        bytes = host.kv_get(&found_key).await.map_err(|e| unavailable(&e))?;
    }
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let Ok(stored) = serde_json::from_slice::<StoredResponse>(&bytes) else {
        return Ok(None);
    };
    if stored.expires_at <= now {
        // Best effort: stores without their own TTL (Spin KV) clean up here.
        let _ = host.kv_delete(&found_key).await;
        return Ok(None);
    }
    if stored.owner != principal {
        return Ok(None);
    }
    Ok(Some(stored))
}

/// A response and every response before it, oldest first; `None` when the
/// response itself is not visible. A chain whose older part has expired
/// or was deleted cannot be continued: that is an error naming it.
pub(crate) async fn load_chain<H: Host>(
    host: &H,
    id: &str,
    principal: &str,
    now: u64,
    config: &ConversationsConfig,
) -> Result<Option<Vec<StoredResponse>>, ApiError> {
    let Some(last) = load(host, id, principal, now).await? else {
        return Ok(None);
    };
    let reads = last.ancestors.iter().map(|a| load(host, a, principal, now));
    let mut chain = Vec::with_capacity(last.ancestors.len() + 1);
    for (aid, found) in last.ancestors.iter().zip(join_all(reads).await) {
        let Some(r) = found? else {
            return Err(RequestError::NotFound {
                what: "earlier response of this conversation",
                id: aid.clone(),
                param: Some("previous_response_id"),
                code: "previous_response_not_found",
            }
            .into());
        };
        chain.push(r);
    }
    chain.push(last);
    renew(host, &chain, now, config).await;
    Ok(Some(chain))
}

/// Rewrites the responses of a chain that are past half their TTL with a
/// fresh one. Best effort: a failure only shortens their life.
async fn renew<H: Host>(
    host: &H,
    chain: &[StoredResponse],
    now: u64,
    config: &ConversationsConfig,
) {
    let ttl = config.ttl.as_secs().max(1);
    let stale = chain
        .iter()
        .filter(|r| r.expires_at.saturating_sub(now) < ttl / 2)
        .filter_map(|r| {
            let mut r = r.clone();
            r.expires_at = now + ttl;
            let bytes = serde_json::to_vec(&r).ok()?;
            Some((conversation::key(&r.owner, &r.response.id), bytes))
        });
    let writes =
        stale.map(|(k, v)| async move { host.kv_put(&k, v, Duration::from_secs(ttl)).await });
    join_all(writes).await;
}

/// How to save a response once it is settled (only built when the request
/// has `store: true`, the default).
pub(crate) struct Saver {
    /// This turn's new input items.
    pub input: Vec<Item>,
    /// The response this one continues.
    pub parent: Option<String>,
    /// Every response before this one, oldest first.
    pub ancestors: Vec<String>,
    pub provider: String,
    pub owner: String,
    pub ttl: Duration,
    /// Largest record, in bytes.
    pub max_bytes: usize,
}

impl Saver {
    /// Refuses, before any upstream call, a turn whose own input is already
    /// too large to store.
    pub(crate) fn check_input(&self) -> Result<(), ApiError> {
        let size = serde_json::to_vec(&self.input).map_or(0, |b| b.len());
        if size > self.max_bytes {
            return Err(too_large(size, self.max_bytes));
        }
        Ok(())
    }

    /// Writes the settled response. On failure the response becomes
    /// `failed` (`store_unavailable`), so that the terminal event a client
    /// sees never claims a response that cannot be continued; the error is
    /// also returned, for the non-streaming path to answer 503.
    pub(crate) async fn save<H: Host>(
        &self,
        host: &H,
        b: &mut ResponseBuilder,
        now: u64,
    ) -> Result<(), ApiError> {
        let record = StoredResponse {
            response: b.response().clone(),
            input: self.input.clone(),
            parent: self.parent.clone(),
            ancestors: self.ancestors.clone(),
            provider: self.provider.clone(),
            owner: self.owner.clone(),
            expires_at: now + self.ttl.as_secs().max(1),
        };
        let key = conversation::key(&self.owner, &record.response.id);
        let result = match serde_json::to_vec(&record) {
            Ok(bytes) if bytes.len() > self.max_bytes => {
                Err(too_large(bytes.len(), self.max_bytes))
            }
            Ok(bytes) => host
                .kv_put(&key, bytes, self.ttl)
                .await
                .map_err(|e| unavailable(&e)),
            Err(e) => Err(ApiError::internal(format!(
                "cannot encode the response for storage: {e}"
            ))),
        };
        result.map_err(|mut e| {
            e.payload.message = format!(
                "{} (response {} was generated but not stored)",
                e.payload.message, record.response.id
            );
            b.fail_settled(ErrorPayload {
                kind: e.payload.kind.clone(),
                code: e.payload.code.clone(),
                message: e.payload.message.clone(),
                param: None,
            });
            e
        })
    }
}

fn too_large(size: usize, max: usize) -> ApiError {
    GatewayError::StoredTooLarge { size, max }.into()
}
