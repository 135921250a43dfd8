//! Loading and saving stored responses through the host's store, with the
//! rules every host gets for free: expiry checked on read, ownership
//! enforced as "not found", and a failed write never reported as success.

use std::time::Duration;

use crate::builder::ResponseBuilder;
use crate::conversation::{self, StoredResponse};
use crate::error::{ApiError, HostError};
use crate::host::Host;
use crate::types::{ErrorPayload, Item};

/// The error for a store that cannot be reached.
pub(crate) fn unavailable(e: &HostError) -> ApiError {
    ApiError::new(
        503,
        "server_error",
        Some("store_unavailable"),
        None,
        format!("the conversation store failed: {e}"),
    )
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
    let key = conversation::key(id);
    let Some(bytes) = host.kv_get(&key).await.map_err(|e| unavailable(&e))? else {
        return Ok(None);
    };
    let Ok(stored) = serde_json::from_slice::<StoredResponse>(&bytes) else {
        return Ok(None);
    };
    if stored.expires_at <= now {
        // Best effort: stores without their own TTL (Spin KV) clean up here.
        let _ = host.kv_delete(&key).await;
        return Ok(None);
    }
    if stored.owner != principal {
        return Ok(None);
    }
    Ok(Some(stored))
}

/// How to save a response once it is settled (only built when the request
/// has `store: true`, the default).
pub(crate) struct Saver {
    pub input: Vec<Item>,
    pub provider: String,
    pub owner: String,
    pub ttl: Duration,
}

impl Saver {
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
            provider: self.provider.clone(),
            owner: self.owner.clone(),
            expires_at: now + self.ttl.as_secs().max(1),
        };
        let key = conversation::key(&record.response.id);
        let result = match serde_json::to_vec(&record) {
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
