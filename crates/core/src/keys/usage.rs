//! Usage per key and per team, by model and hour, for
//! `GET /v1/admin/usage`.
//!
//! Each finished request that named a model adds to two hashes, one for
//! its principal and one for its team: `usage/<who>/<day>` (day number
//! since 1970-01-01, UTC), with fields `<hour>|<model>|<r|i|o|c>`
//! (requests, input and output tokens, cost in millionths of a dollar).
//! The host's [`Host::counters_add`] makes the additions atomic and
//! shared between instances.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::HostError;
use crate::host::Host;

/// [`Host::counters_add`] for Redis: `KEYS[1]` the hash; a field that
/// reaches 0 is removed.
/// `ARGV[1]` is the hash's time to live in ms after this addition (`0`:
/// it never expires), then field, amount, field, amount….
pub const REDIS_ADD: &str = "local ttl = tonumber(ARGV[1]) or 0 for i = 2, #ARGV, 2 do if redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) == 0 then redis.call('HDEL', KEYS[1], ARGV[i]) end end if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end return 'ok'";

/// The longest range one query may cover.
pub const MAX_RANGE_SECS: u64 = 31 * 86_400;

/// What one request adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageAdd {
    /// The principal (`key:<id>`, `oidc:…`).
    pub principal: String,
    /// Its team, if any.
    pub team: Option<String>,
    /// The model name the request asked for.
    pub model: String,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in USD (0 for unpriced models).
    pub cost_usd: f64,
    /// When it finished, in ms since the epoch.
    pub at_ms: u64,
}

fn hash_key(who: &str, day: u64) -> String {
    format!("usage/{who}/{day}")
}

/// Adds one request to its principal's and its team's usage, kept for
/// `retention` after its day.
pub async fn record<H: Host>(
    host: &H,
    add: &UsageAdd,
    retention: std::time::Duration,
) -> Result<(), HostError> {
    let secs = add.at_ms / 1000;
    let (day, hour) = (secs / 86_400, (secs % 86_400) / 3600);
    // `|` separates the parts; a model name never holds one (config
    // names are checked), but keep the field well-formed regardless.
    let model = add.model.replace('|', "_");
    let micros = (add.cost_usd.max(0.0) * 1e6).round() as i64;
    let f = |k: &str| format!("{hour}|{model}|{k}");
    let adds = [
        (f("r"), 1),
        (f("i"), add.input_tokens as i64),
        (f("o"), add.output_tokens as i64),
        (f("c"), micros),
    ];
    // The day's hash lasts `retention` past the day's end.
    let day_end_ms = (day + 1) * 86_400_000;
    let keep = std::time::Duration::from_millis(day_end_ms.saturating_sub(add.at_ms)) + retention;
    host.counters_add(&hash_key(&add.principal, day), &adds, Some(keep))
        .await?;
    if let Some(t) = &add.team {
        host.counters_add(&hash_key(&format!("team:{t}"), day), &adds, Some(keep))
            .await?;
    }
    Ok(())
}

#[derive(Default, Clone, Copy)]
struct Sums {
    requests: i64,
    input: i64,
    output: i64,
    micros: i64,
}

impl Sums {
    fn add(&mut self, kind: &str, n: i64) {
        match kind {
            "r" => self.requests += n,
            "i" => self.input += n,
            "o" => self.output += n,
            "c" => self.micros += n,
            _ => {}
        }
    }
    fn json(&self) -> Value {
        json!({
            "requests": self.requests,
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cost_usd": self.micros as f64 / 1e6,
        })
    }
}

/// The usage of `who` (`key:<id>` or `team:<name>`) from `from` to `to`
/// (unix seconds, whole hours: `from` rounded down, `to` up): totals,
/// per model, and per hour (hours with any use).
pub async fn query<H: Host>(host: &H, who: &str, from: u64, to: u64) -> Result<Value, HostError> {
    let (from_h, to_h) = (from / 3600, to.div_ceil(3600));
    let mut total = Sums::default();
    let mut by_model: BTreeMap<String, Sums> = BTreeMap::new();
    let mut hourly: BTreeMap<u64, Sums> = BTreeMap::new();
    for day in (from_h / 24)..=(to_h.saturating_sub(1) / 24) {
        for (field, n) in host.counters_get(&hash_key(who, day)).await? {
            let mut parts = field.splitn(3, '|');
            let (Some(h), Some(model), Some(kind)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(h) = h.parse::<u64>() else { continue };
            let abs = day * 24 + h;
            if abs < from_h || abs >= to_h {
                continue;
            }
            total.add(kind, n);
            by_model.entry(model.to_owned()).or_default().add(kind, n);
            hourly.entry(abs).or_default().add(kind, n);
        }
    }
    let mut out = total.json();
    let models: Map<String, Value> = by_model
        .iter()
        .map(|(m, s)| (m.clone(), s.json()))
        .collect();
    out["by_model"] = Value::Object(models);
    out["hourly"] = hourly
        .iter()
        .map(|(h, s)| {
            let mut v = s.json();
            v["start"] = json!(h * 3600);
            v
        })
        .collect();
    out["from"] = json!(from_h * 3600);
    out["to"] = json!(to_h * 3600);
    Ok(out)
}
