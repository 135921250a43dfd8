//! The routing state of hosts whose instances live for one request
//! ([`Host::ROUTING_IN_STORE`], Spin): read from the store before the
//! plan, written back after the outcomes, with a short TTL. Concurrent
//! instances race: the last write wins, so a breaker may need a few more
//! failures to open than configured. Other hosts keep it in memory and
//! these calls do nothing.

use std::time::Duration;

use crate::host::Host;
use crate::routing::RoutingState;

use crate::pipeline::clock::now_ms;

/// The store key of the routing state.
pub(crate) const KEY: &str = "latticelm:routing-state";
/// How long an untouched routing state is kept.
pub(crate) const TTL: Duration = Duration::from_secs(600);

/// Reads the state from the store into the host's.
pub(crate) async fn load<H: Host>(host: &H) {
    if !H::ROUTING_IN_STORE {
        return;
    }
    let Ok(Some(bytes)) = host.kv_get(KEY).await else {
        return;
    };
    if let Ok(state) = serde_json::from_slice::<RoutingState>(&bytes) {
        host.with_routing(|s| *s = state);
    }
}

/// Writes the host's state back. A failed write is not the request's
/// problem: routing degrades to fresh state.
pub(crate) async fn save<H: Host>(host: &H) {
    if !H::ROUTING_IN_STORE {
        return;
    }
    let now = now_ms(host);
    let bytes = host.with_routing(|s| {
        s.prune(now);
        serde_json::to_vec(s).unwrap_or_default()
    });
    let _ = host.kv_put(KEY, bytes, TTL).await;
}
