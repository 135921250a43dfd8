//! The dashboard's limits: the caller's own key and team, each with its
//! limits, its budget and what is used of them now, and its history
//! (minutes for the last hour, quarter hours for the last day) from the
//! ledger, so it is the same on every replica and edge location.

use serde_json::{json, Value};

use crate::auth::Principal;
use crate::host::Host;
use crate::quota::{Op, OpKind};

use crate::gateway::Gateway;
use crate::pipeline::clock::now_ms;

impl Gateway {
    /// The caller's limits, budgets and use, or `null` when none apply.
    pub(crate) async fn limits_view<H: Host>(&self, host: &H, principal: &Principal) -> Value {
        if !self.rules.any() && principal.allowance.is_none() && principal.team_allowance.is_none()
        {
            return Value::Null;
        }
        let now = now_ms(host);
        let own = principal.allowance.as_deref();
        let team_own = principal.team_allowance.as_deref();
        let team = principal.team.as_deref();
        let scopes = self
            .rules
            .scopes_with(&principal.id, own, team, team_own, "", now);
        if scopes.is_empty() {
            return Value::Null;
        }
        let op = Op {
            op: OpKind::Peek,
            id: String::new(),
            now_ms: now,
            lease_ms: 0,
            scopes,
        };
        let reply = match host.ledger(&op).await {
            Ok(r) => r,
            Err(e) => return json!({"error": e.to_string()}),
        };
        let list: Vec<Value> = op
            .scopes
            .iter()
            .zip(&reply.scopes)
            .map(|(s, st)| {
                let (kind, name) = s.shard.split_once(':').unwrap_or(("", &s.shard));
                let series = |tag: char, span: u64| -> Vec<Value> {
                    let mut v: Vec<(u64, [f64; 3])> = reply
                        .history
                        .get(&s.shard)
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k.starts_with(tag))
                        .filter_map(|(k, x)| Some((k[1..].parse::<u64>().ok()? * span, *x)))
                        .collect();
                    v.sort_by_key(|(t, _)| *t);
                    v.into_iter()
                        .map(|(t, x)| json!([t, x[0], x[1], x[2]]))
                        .collect()
                };
                json!({
                    "scope": s.shard,
                    "kind": kind,
                    "name": name,
                    "limits": {
                        "requests_per_minute": s.rpm,
                        "tokens_per_minute": s.tpm,
                        "concurrent": s.concurrent,
                    },
                    "budget": s.budget.map(|usd| json!({
                        "usd": usd,
                        "period": s.period,
                        "period_end_ms": s.period_end_ms,
                        "spent": st.spent,
                        "reserved": st.reserved,
                    })),
                    "now": {
                        "requests": st.requests,
                        "tokens": st.tokens,
                        "concurrent": st.concurrent,
                    },
                    "minutes": series('m', 60_000),
                    "quarters": series('q', 900_000),
                })
            })
            .collect();
        Value::Array(list)
    }
}
