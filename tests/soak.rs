//! The chaos soak, in CI's size: two replicas of the native binary on one
//! real `redis-server` (durable: `appendfsync always`), traffic through
//! every door (Responses, streamed or not, Chat, Messages, WebSocket
//! turns), upstream faults (errors, failovers, timeouts, streams cut and
//! continued), clients that leave mid-stream, and Redis crashed and
//! restarted mid-run; then SIGTERM. Afterwards no lease is left in any
//! ledger, both replicas exited cleanly, and each key's and the team's
//! spend equals the sum of its log lines' settled amounts.
//!
//! `LATTICELM_SOAK_SECS` sets how long the traffic runs (default 45 s;
//! the nightly form is 600).

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// Keys `k0`…`k3` (a roomy budget each) and `tight` (a budget a few
/// requests spend), all in team `soak` (a roomy budget too); priced
/// models with healthy, failing, slow and cut targets; Redis counting.
fn soak_config(mock: &str, redis: &str) -> String {
    let price = "input_cost: 3, output_cost: 15";
    format!(
        r#"
server:
  address: "127.0.0.1:0"
  upstream_timeout: 2s
  shutdown_grace: 20s
providers:
  oa: {{ type: openai, endpoint: "{mock}", api_key: "sk-oa" }}
  chat: {{ type: openai-chat, endpoint: "{mock}/v1", api_key: "sk-chat" }}
  claude: {{ type: anthropic, endpoint: "{mock}", api_key: "sk-ant" }}
  cut: {{ type: anthropic, endpoint: "{mock}/_fault/stop_after=7", api_key: "sk-ant" }}
  failing: {{ type: openai, endpoint: "{mock}/_fault/status=503", api_key: "sk-oa" }}
  slow: {{ type: openai, endpoint: "{mock}/_fault/slow_headers=4000", api_key: "sk-oa" }}
  erroring: {{ type: anthropic, endpoint: "{mock}/_fault/mid_error=5", api_key: "sk-ant" }}
models:
  - {{ name: main, targets: [ {{ provider: oa, provider_model_id: gpt-4o-mini, {price} }} ] }}
  - {{ name: sonnet, targets: [ {{ provider: claude, provider_model_id: claude-haiku-4-5, {price} }} ] }}
  - {{ name: llama, targets: [ {{ provider: chat, provider_model_id: "llama3.2:3b", {price} }} ] }}
  - {{ name: failover, targets: [ {{ provider: failing, provider_model_id: gpt-4o-mini, {price} }}, {{ provider: oa, provider_model_id: gpt-4o-mini, {price} }} ] }}
  - {{ name: timeout, targets: [ {{ provider: slow, provider_model_id: gpt-4o-mini, {price} }}, {{ provider: oa, provider_model_id: gpt-4o-mini, {price} }} ] }}
  - {{ name: cut, targets: [ {{ provider: cut, provider_model_id: claude-haiku-4-5, {price} }}, {{ provider: claude, provider_model_id: claude-haiku-4-5, {price} }} ] }}
  - {{ name: broken, targets: [ {{ provider: erroring, provider_model_id: claude-haiku-4-5, {price} }} ] }}
routing:
  continue_after_output: true
  circuit_breaker: {{ failures: 1000000 }}
teams:
  - {{ name: soak, budget: {{ usd: 100000, period: monthly }} }}
auth:
  api_keys:
    - {{ name: k0, key: sk-k0, team: soak, budget: {{ usd: 10000, period: monthly }} }}
    - {{ name: k1, key: sk-k1, team: soak, budget: {{ usd: 10000, period: monthly }} }}
    - {{ name: k2, key: sk-k2, team: soak, budget: {{ usd: 10000, period: monthly }} }}
    - {{ name: k3, key: sk-k3, team: soak, budget: {{ usd: 10000, period: monthly }} }}
    - {{ name: tight, key: sk-tight, team: soak, budget: {{ usd: 0.5, period: monthly }} }}
limits:
  store: "{redis}"
  default_max_output_tokens: 2000
"#
    )
}

/// A small deterministic generator (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the clients saw, by kind.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    ok: AtomicU64,
    aborted: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
}

/// One request of a random kind, through a random door.
fn one(gw: &Gateway, key: &str, rng: &mut Rng, seen: &Seen) {
    let c = client();
    let post = |path: &str, body: Value| {
        c.post(format!("{}{path}", gw.url))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let model = [
        "main", "sonnet", "llama", "failover", "cut", "broken", "main",
    ][rng.below(7) as usize];
    let model = if rng.below(40) == 0 { "timeout" } else { model };
    let result = match rng.below(10) {
        // Responses, whole.
        0..=2 => post(
            "/v1/responses",
            json!({"model": model, "input": "hi", "max_output_tokens": 200}),
        ),
        // Responses, streamed to the end.
        3 | 4 => post(
            "/v1/responses",
            json!({"model": model, "input": "tell me", "stream": true}),
        ),
        // Streamed, and the client leaves after its first bytes.
        5 => {
            let body = json!({"model": model, "input": "tell me", "stream": true});
            seen.requests.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut r) = post("/v1/responses", body) {
                let mut buf = [0u8; 300];
                let _ = r.read(&mut buf);
                seen.aborted.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        // The Chat Completions door.
        6 => post(
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}],
                   "stream": rng.below(2) == 0}),
        ),
        // The Messages door.
        7 => post(
            "/v1/messages",
            json!({"model": model, "max_tokens": 300, "messages": [{"role": "user", "content": "hi"}],
                   "stream": rng.below(2) == 0}),
        ),
        // WebSocket turns.
        _ => {
            let Ok((mut ws, _)) = ws_connect(gw, key) else {
                seen.unavailable.fetch_add(1, Ordering::Relaxed);
                return;
            };
            for _ in 0..3 {
                seen.requests.fetch_add(1, Ordering::Relaxed);
                match ws_turn_with(&mut ws, model) {
                    Some(v) if v["type"] == "response.completed" => {
                        seen.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {
                        seen.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
            return;
        }
    };
    seen.requests.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes();
            match status {
                200 => seen.ok.fetch_add(1, Ordering::Relaxed),
                429 | 403 => seen.refused.fetch_add(1, Ordering::Relaxed),
                _ => seen.unavailable.fetch_add(1, Ordering::Relaxed),
            };
        }
        Err(_) => {
            seen.unavailable.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A WebSocket to `/v1/responses`, or why not (a 503 while Redis is
/// down is a refused upgrade).
fn ws_connect(
    gw: &Gateway,
    key: &str,
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let url = gw.url.replace("http://", "ws://") + "/v1/responses";
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tungstenite::connect(req)
}

/// Every ledger hash in Redis (`latticelm:limits:…`, not the lease sets).
fn ledgers(url: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for key in redis_cli(url, &["--scan", "--pattern", "latticelm:limits:*"]) {
        let kind = redis_cli(url, &["TYPE", &key]);
        if kind.first().map(String::as_str) != Some("hash") {
            continue;
        }
        let fields = redis_cli(url, &["HGETALL", &key]);
        let map = fields
            .chunks(2)
            .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
            .collect();
        out.insert(key, map);
    }
    out
}

/// The leases still held: entries of every `…:z` set.
fn leases(url: &str) -> Vec<String> {
    redis_cli(url, &["--scan", "--pattern", "latticelm:limits:*:z"])
        .into_iter()
        .filter(|k| {
            redis_cli(url, &["ZCARD", k])
                .first()
                .is_some_and(|n| n != "0")
        })
        .collect()
}

#[test]
fn two_replicas_through_faults_and_a_redis_crash_charge_exactly_what_they_log() {
    let Some(mut redis) = redis_durable() else {
        return;
    };
    let secs: u64 = std::env::var("LATTICELM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = soak_config(&mock, &redis.url);
    let (mut a, out_a) = start_logged(&yaml, mock.clone(), &[]);
    let (mut b, out_b) = start_logged(&yaml, mock, &[]);
    let seen = Seen::default();
    let stop = AtomicBool::new(false);
    let keys = ["sk-k0", "sk-k1", "sk-k2", "sk-k3", "sk-tight"];
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..6u64 {
            let (gws, seen, stop, keys) = ([&a, &b], &seen, &stop, &keys);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((i + 1) * 0x2545_f491));
                while !stop.load(Ordering::Relaxed) {
                    let gw = gws[rng.below(2) as usize];
                    let key = keys[rng.below(keys.len() as u64) as usize];
                    one(gw, key, &mut rng, seen);
                }
            });
        }
        // Redis crashes two fifths in, and is back 2 s later.
        std::thread::sleep(Duration::from_secs(secs * 2 / 5));
        redis.crash_and_restart(Duration::from_secs(2));
        let rest = Duration::from_secs(secs).saturating_sub(start.elapsed());
        std::thread::sleep(rest);
        stop.store(true, Ordering::Relaxed);
    });
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "soak: {} requests in {:.0?}: {} ok, {} left mid-stream, {} refused, {} failed or unavailable",
        n(&seen.requests),
        start.elapsed(),
        n(&seen.ok),
        n(&seen.aborted),
        n(&seen.refused),
        n(&seen.unavailable)
    );
    assert!(n(&seen.ok) > 50, "too little traffic got through");

    // Every settlement lands, retried past the outage, before the
    // replicas stop; then they stop cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !leases(&redis.url).is_empty() {
        assert!(
            Instant::now() < deadline,
            "leases left 30 s after the traffic stopped: {:?}",
            leases(&redis.url)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for gw in [&mut a, &mut b] {
        let status = gw.terminate(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "not a clean exit: {status:?}"
        );
    }

    // Spend per principal in the ledgers, and what the log lines settled.
    let lines: Vec<Value> = out_a.json().into_iter().chain(out_b.json()).collect();
    let mut logged: BTreeMap<String, f64> = BTreeMap::new();
    let mut requests = 0;
    for l in &lines {
        let Some(principal) = l["principal"].as_str() else {
            continue;
        };
        requests += 1;
        let settled = l["limits"]["settled_usd"].as_f64().unwrap_or(0.0);
        *logged.entry(principal.to_owned()).or_default() += settled;
        *logged.entry("team".into()).or_default() += settled;
    }
    assert!(requests > 50, "{requests} log lines");
    let ledgers = ledgers(&redis.url);
    let mut checked = 0;
    for (key, fields) in &ledgers {
        let held: f64 = fields.get("r").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        assert!(held.abs() < 1e-9, "{key} still holds {held}");
        let Some(spent) = fields.get("spent").and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let who =
            if key.contains("team:soak") {
                "team".to_owned()
            } else {
                let Some(name) = keys.iter().map(|k| k.trim_start_matches("sk-")).find(|n| {
                    key.contains(&format!("key:{n}:")) || key.ends_with(&format!("key:{n}"))
                }) else {
                    continue;
                };
                format!("key:{name}")
            };
        let want = logged.get(&who).copied().unwrap_or(0.0);
        assert!(
            (spent - want).abs() <= 1e-6 * want.max(1.0),
            "{key}: the ledger spent {spent}, the log lines settled {want}"
        );
        if who == "key:tight" {
            // Past its budget by at most what the documented rule
            // allows: timed-out attempts charged at their reservation
            // (`routing.retries` of them, about $0.03 each here).
            assert!(spent <= 0.5 + 0.1, "tight overspent: {spent}");
        }
        checked += 1;
    }
    assert_eq!(checked, keys.len() + 1, "ledgers: {ledgers:#?}");
}
