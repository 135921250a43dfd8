//! `GET /v1/dashboard`: what the web dashboard shows, as JSON: every
//! metric series where the host keeps them ([`Host::METRICS`]: one
//! long-lived process), and each configured target's circuit breaker on
//! every host.

use serde_json::json;

use crate::host::{Host, HttpResponse};

use super::clock::now_ms;
use super::{json_ok, routing_store, Gateway};

impl Gateway {
    /// The dashboard's data. Authenticated like the rest of `/v1`; as
    /// `/metrics` on the main listener, it shows every principal's usage.
    pub(super) async fn dashboard<H: Host>(&self, host: &H) -> HttpResponse {
        routing_store::load(host).await;
        let now = now_ms(host);
        let known = host.with_routing(|s| s.circuits(now));
        let mut circuits = Vec::new();
        for m in &self.config.models {
            for i in 0..m.targets.len() {
                let key = crate::routing::target_key(m, i);
                let state = match known.iter().find(|(k, _)| *k == key) {
                    Some((_, 2)) => "open",
                    Some((_, 1)) => "half_open",
                    _ => "closed",
                };
                circuits.push(json!({"model": m.name, "target": key, "state": state}));
            }
        }
        let metrics = if H::METRICS {
            self.metrics.lock().ok().map(|m| m.snapshot())
        } else {
            None
        };
        json_ok(json!({
            "now_ms": now,
            "metrics": metrics,
            "circuits": circuits,
        }))
    }
}
