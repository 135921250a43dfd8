//! The cache write: a completed answer, stored before its last byte so
//! that the next identical request is a hit.

use std::time::Duration;

use crate::cache::Entry;
use crate::host::Host;
use crate::types::ResponseResource;

use crate::pipeline::attempt::Target;

/// A cacheable request's key, and whether its answer is written.
#[derive(Debug, Clone)]
pub(crate) struct CacheWrite {
    pub(super) key: String,
    pub(super) ttl: Duration,
    pub(super) max_bytes: u64,
}

impl CacheWrite {
    /// Writes a completed `response` served by `target` before the
    /// answer ends (as the conversation store is written), so that the
    /// next identical request is a hit; anything else (incomplete,
    /// failed, too large) is not written. A failed write is logged, never
    /// returned.
    pub async fn write<H: Host>(
        &self,
        host: &H,
        response: &ResponseResource,
        target: &Target,
        cost_usd: Option<f64>,
    ) {
        let entry = Entry {
            response: response.clone(),
            provider: target.provider.clone(),
            model: target.model.clone(),
            listed_by: target.listed_by.clone(),
            cost_usd,
        };
        let Some(bytes) = entry.to_bytes(self.max_bytes) else {
            return;
        };
        if let Err(e) = host.cache_put(&self.key, bytes, self.ttl).await {
            let line = serde_json::json!({"level": "warn", "msg": "cache write failed", "error": e.to_string()});
            host.log(&line.to_string());
        }
    }
}
