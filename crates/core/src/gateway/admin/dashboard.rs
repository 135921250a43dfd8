//! `GET /v1/dashboard`: what the web dashboard shows, as JSON: the metric
//! series where the host keeps them ([`Host::METRICS`]: one long-lived
//! process), and each configured target's circuit breaker and cooldown on
//! every host. A caller sees only the models its allow-list covers, and
//! only its own usage.

use serde_json::{json, Value};

use crate::auth::Principal;
use crate::host::{Host, HttpResponse};
use crate::routing::Availability;

use crate::gateway::Gateway;
use crate::pipeline::clock::now_ms;
use crate::pipeline::respond::json_ok;
use crate::pipeline::routing_store;

/// Labels that name a model the caller may or may not use.
const MODEL_LABELS: [&str; 2] = ["model", "gen_ai_request_model"];

impl Gateway {
    /// The dashboard's data for `principal`.
    pub(crate) async fn dashboard<H: Host>(&self, host: &H, principal: &Principal) -> HttpResponse {
        routing_store::load(host).await;
        let now = now_ms(host);
        let mut circuits = Vec::new();
        for m in self
            .config
            .models
            .iter()
            .filter(|m| principal.may_use(&m.name))
        {
            for i in 0..m.targets.len() {
                let key = crate::routing::target_key(m, i);
                let (state, until) = host.with_routing(|s| {
                    let t = s.target(&key);
                    let cooling = t.filter(|t| t.cooldown_until > now);
                    match (cooling, s.availability_for(&key, now, &principal.id)) {
                        (Some(t), _) => ("cooling_down", Some(t.cooldown_until)),
                        (None, Availability::Blocked { until, .. }) => ("open", Some(until)),
                        (None, Availability::Probe) => ("half_open", None),
                        (None, Availability::Ready) => ("closed", None),
                    }
                });
                circuits.push(
                    json!({"model": m.name, "target": key, "state": state, "until_ms": until}),
                );
            }
        }
        let metrics = if H::METRICS {
            self.metrics
                .lock()
                .ok()
                .map(|m| visible(m.snapshot(), principal))
        } else {
            None
        };
        let limits = self.limits_view(host, principal).await;
        json_ok(json!({
            "now_ms": now,
            "metrics": metrics,
            "circuits": circuits,
            "limits": limits,
        }))
    }
}

/// The series of a metrics snapshot that `principal` may see: those of
/// models it may use, and of no other principal.
fn visible(mut snapshot: Value, principal: &Principal) -> Value {
    let keep = |series: &Value| {
        let labels = &series["labels"];
        let model_ok = MODEL_LABELS.iter().all(|l| {
            labels[*l]
                .as_str()
                .is_none_or(|m| m.is_empty() || principal.may_use(m))
        });
        let own = labels["principal"]
            .as_str()
            .is_none_or(|p| p == principal.id);
        model_ok && own
    };
    for family in ["counters", "histograms"] {
        if let Some(list) = snapshot[family].as_array_mut() {
            list.retain(keep);
        }
    }
    // Budgets: the caller's own key's and team's only.
    let team = principal.team.as_ref().map(|t| format!("team:{t}"));
    if let Some(list) = snapshot["gauges"].as_array_mut() {
        list.retain(|g| {
            let scope = g["labels"]["scope"].as_str().unwrap_or_default();
            scope == principal.id || team.as_deref() == Some(scope)
        });
    }
    snapshot
}
