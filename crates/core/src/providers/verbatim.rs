//! A request sent in the upstream's own protocol, as the client wrote it.
//!
//! When a request comes in by Chat Completions or Anthropic Messages and
//! the target speaks that same protocol, its body goes upstream as the
//! client wrote it rather than rebuilt from Open Responses: fields the
//! gateway does not model (`cache_control`, `top_k`, `logit_bias`,
//! `service_tier`, beta features…) reach the upstream untouched. Only the
//! model (the target's id), the streaming flags and the gateway's sealed
//! thinking blocks are rewritten. The answer is still read by the
//! provider's translator, so accounting, failover and the client's
//! encoding stay one path.

use serde_json::{json, Value};

use super::seal::{self, Sealer};
use super::Protocol;

/// The client's own request, for targets of its protocol.
#[derive(Debug, Clone)]
pub struct Verbatim {
    /// The protocol the client spoke (`Chat` or `Anthropic`).
    pub protocol: Protocol,
    /// Its body.
    pub body: Value,
    /// Its headers that carry meaning upstream (`anthropic-beta`).
    pub headers: Vec<(String, String)>,
}

impl Verbatim {
    /// The client's headers worth passing to a target of this protocol.
    pub fn passed_headers(
        protocol: Protocol,
        headers: &[(String, String)],
    ) -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(k, _)| {
                protocol == Protocol::Anthropic && k.eq_ignore_ascii_case("anthropic-beta")
            })
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    }

    /// The upstream body for `upstream_model`, streaming or not; thinking
    /// blocks the gateway sealed are opened with `sealer`, and dropped
    /// when they do not verify (another provider's, or tampered). `cap`
    /// is the most output the turn was admitted for: the body's own
    /// limit is lowered to it, or set when it has none (`max_field`:
    /// the Chat upstream's name for it).
    pub fn body(
        &self,
        upstream_model: &str,
        stream: bool,
        sealer: &Sealer,
        cap: Option<u64>,
        max_field: &str,
    ) -> Value {
        let mut v = self.body.clone();
        let Some(o) = v.as_object_mut() else {
            return v;
        };
        o.insert("model".into(), json!(upstream_model));
        o.insert("stream".into(), json!(stream));
        if let Some(cap) = cap {
            cap_output(o, self.protocol, cap, max_field);
        }
        match self.protocol {
            Protocol::Chat if stream => {
                // The gateway counts tokens on every stream; the client's
                // own choice is honoured by its encoder.
                let opts = o.entry("stream_options").or_insert_with(|| json!({}));
                if let Some(opts) = opts.as_object_mut() {
                    opts.insert("include_usage".into(), json!(true));
                }
            }
            Protocol::Chat => {
                o.remove("stream_options");
            }
            Protocol::Anthropic => open_thinking(o, sealer),
            _ => {}
        }
        v
    }
}

/// Lowers the body's output limit to `cap` (sets it when absent). Claude's
/// thinking budget stays below `max_tokens`, or thinking is turned off
/// when no room for its 1,024-token minimum is left.
fn cap_output(o: &mut serde_json::Map<String, Value>, protocol: Protocol, cap: u64, field: &str) {
    let fields: &[&str] = match protocol {
        Protocol::Chat => &["max_completion_tokens", "max_tokens"],
        Protocol::Anthropic => &["max_tokens"],
        _ => &["max_output_tokens"],
    };
    let mut set = false;
    for k in fields {
        if let Some(v) = o.get_mut(*k).filter(|v| !v.is_null()) {
            if v.as_u64().is_none_or(|n| n > cap) {
                *v = json!(cap);
            }
            set = true;
        }
    }
    if !set {
        let k = if protocol == Protocol::Chat {
            field
        } else {
            fields[0]
        };
        o.insert(k.into(), json!(cap));
    }
    if protocol == Protocol::Anthropic {
        let max = o["max_tokens"].as_u64().unwrap_or(cap);
        if let Some(t) = o.get_mut("thinking").and_then(Value::as_object_mut) {
            if t.get("budget_tokens")
                .and_then(Value::as_u64)
                .is_some_and(|b| b >= max)
            {
                if max > 1024 {
                    t.insert("budget_tokens".into(), json!(max - 1));
                } else {
                    o.remove("thinking");
                }
            }
        }
    }
}

/// Thinking blocks whose signature (or redacted data) is the gateway's
/// seal become the exact blocks Claude sent; the rest stay as written
/// (Claude checks its own signatures).
fn open_thinking(o: &mut serde_json::Map<String, Value>, sealer: &Sealer) {
    let Some(messages) = o.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for m in messages {
        let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        blocks.retain_mut(|b| {
            let kind = b["type"].as_str().unwrap_or_default();
            if kind != "thinking" && kind != "redacted_thinking" {
                return true;
            }
            let sig = b["signature"].as_str().or(b["data"].as_str());
            let Some(sig) = sig.filter(|s| seal::is_sealed(s)) else {
                return true;
            };
            let opened = sealer
                .open(sig)
                .and_then(|raw| raw.strip_prefix(super::anthropic::SLUG).map(str::to_owned))
                .and_then(|json| serde_json::from_str::<Value>(&json).ok())
                .filter(Value::is_object);
            match opened {
                Some(block) => {
                    *b = block;
                    true
                }
                None => false,
            }
        });
    }
}
