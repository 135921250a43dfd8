//! Money that cannot leak: each way a caller used to get past its limits
//! or budget, tried against the native binary with a real
//! `redis-server` counting, and found closed.

mod support;

use serde_json::{json, Value};
use support::*;

/// The test config with a priced model `m1` (served by `oa` as `am1`),
/// a capped model, Redis counting, and the keys: `sk-b` (a budget),
/// `sk-l` (one request a minute to `m1`), `sk-t` (a token limit).
fn leaky(mock: &str, redis: &str) -> String {
    config(mock)
        + r#"  - { name: m1, targets: [ { provider: oa, provider_model_id: am1, input_cost: 1000, output_cost: 1000 } ] }
  - { name: capped, provider: oa, provider_model_id: capped-upstream, max_output_tokens: 100 }
  - { name: claude-priced, targets: [ { provider: claude, provider_model_id: claude-haiku-4-5, input_cost: 1, output_cost: 5 } ] }
auth:
  api_keys:
    - { name: b, key: sk-b, budget: { usd: 100000, period: daily } }
    - { name: l, key: sk-l, limits: { models: { m1: { requests_per_minute: 1 } } } }
    - { name: t, key: sk-t, limits: { tokens_per_minute: 1000000 } }
"# + &format!("limits:\n  store: \"{redis}\"\n")
}

fn post(gw: &Gateway, path: &str, key: &str, body: &Value) -> (u16, Value, Option<f64>) {
    let r = client()
        .post(format!("{}{path}", gw.url))
        .bearer_auth(key)
        .json(body)
        .send()
        .unwrap();
    let cost = r
        .headers()
        .get("x-latticelm-cost-usd")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (r.status().as_u16(), r.json().unwrap_or(Value::Null), cost)
}

/// Item 1: `provider/model` and a pin are the route they reach, priced
/// and limited as its configured model, on every door; a pin elsewhere
/// is refused, and so is an unpriced route under a budget.
#[test]
fn another_name_for_a_priced_route_is_priced_and_limited() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&leaky(&mock, &redis.url), mock, &[]);
    let hi = |model: &str| json!({"model": model, "input": "hi", "max_output_tokens": 16});

    let (s, _, named) = post(&gw, "/v1/responses", "sk-b", &hi("m1"));
    assert_eq!(s, 200);
    let (s, _, aliased) = post(&gw, "/v1/responses", "sk-b", &hi("oa/am1"));
    assert_eq!(s, 200);
    assert!(aliased.is_some_and(|c| c > 0.0), "priced: {aliased:?}");
    assert_eq!(named, aliased, "the same route, the same price");
    let chat = json!({"model": "oa/am1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16});
    let (s, _, via_chat) = post(&gw, "/v1/chat/completions", "sk-b", &chat);
    assert_eq!(s, 200);
    assert!(via_chat.is_some_and(|c| c > 0.0), "Chat door: {via_chat:?}");

    // A pin chooses among the model's own targets.
    let mut pinned = hi("m1");
    pinned["provider"] = json!("chat");
    let (s, e, _) = post(&gw, "/v1/responses", "sk-b", &pinned);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("provider_not_a_target"))
    );
    assert_valid("ErrorPayload", &e["error"]);
    pinned["provider"] = json!("oa");
    let (s, _, cost) = post(&gw, "/v1/responses", "sk-b", &pinned);
    assert_eq!(s, 200);
    assert!(cost.is_some_and(|c| c > 0.0), "a pin on a target is priced");

    // An unlisted route has no price: a budget can't count it.
    let (s, e, _) = post(&gw, "/v1/responses", "sk-b", &hi("chat/anything"));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("model_not_priced"))
    );
    assert_valid("ErrorPayload", &e["error"]);
    // Without a budget it is served.
    let (s, _, _) = post(&gw, "/v1/responses", "sk-t", &hi("chat/anything"));
    assert_eq!(s, 200);

    // A per-model limit on m1 holds whatever m1 is called.
    assert_eq!(post(&gw, "/v1/responses", "sk-l", &hi("m1")).0, 200);
    let (s, e, _) = post(&gw, "/v1/responses", "sk-l", &hi("oa/am1"));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );

    // Usage and logs count the route under its configured name.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let routes: Vec<String> = out
        .json()
        .iter()
        .filter(|l| l["model"] == "oa/am1" && l["status"] == 200)
        .map(|l| l["route"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !routes.is_empty() && routes.iter().all(|r| r == "m1"),
        "{routes:?}"
    );
}

/// Items 2 and 3: the output the reservation assumed is what goes
/// upstream, on every protocol and through the verbatim path; a thinking
/// budget is reserved; a model's configured cap lowers what is asked.
#[test]
fn what_is_reserved_is_what_goes_upstream() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&leaky(&mock, &redis.url), mock, &[]);
    let sent = |path: &str, body: Value| -> Value {
        gw.upstream_requests();
        let (s, e, _) = post(&gw, path, "sk-t", &body);
        assert_eq!(s, 200, "{e}");
        gw.upstream_requests().pop().unwrap()["body"].clone()
    };
    let hi = |model: &str| json!({"model": model, "input": "hi"});
    // No max_output_tokens: the default reservation goes upstream.
    assert_eq!(
        sent("/v1/responses", hi("gpt-4o-mini"))["max_output_tokens"],
        4096
    );
    assert_eq!(sent("/v1/responses", hi("claude-test"))["max_tokens"], 4096);
    assert_eq!(
        sent("/v1/responses", hi("gemini-test"))["generationConfig"]["maxOutputTokens"],
        4096
    );
    assert_eq!(sent("/v1/responses", hi("llama"))["max_tokens"], 4096);
    let mut streamed = hi("gpt-4o-mini");
    streamed["stream"] = json!(true);
    assert_eq!(sent("/v1/responses", streamed)["max_output_tokens"], 4096);
    // The Chat door's own body, sent as written, gains the cap.
    let chat = json!({"model": "llama", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(sent("/v1/chat/completions", chat)["max_tokens"], 4096);
    // A model's configured cap lowers what a request asks.
    let mut big = hi("capped");
    big["max_output_tokens"] = json!(100_000);
    assert_eq!(sent("/v1/responses", big)["max_output_tokens"], 100);

    // Claude's thinking budget goes upstream inside max_tokens, and is
    // reserved with it.
    let think = json!({"model": "claude-test", "input": "hi", "max_output_tokens": 50,
        "reasoning": {"effort": "medium"}});
    let body = sent("/v1/responses", think);
    assert_eq!(
        (
            body["max_tokens"].as_u64(),
            body["thinking"]["budget_tokens"].as_u64()
        ),
        (Some(4146), Some(4096))
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let line = out
        .json()
        .into_iter()
        .rfind(|l| l["model"] == "claude-test")
        .unwrap();
    let reserved = line["limits"]["reserved_tokens"].as_u64().unwrap();
    assert!(reserved >= 4146, "{line}");
}

/// Item 4: images count at their worst case, not their bytes.
#[test]
fn images_are_reserved_at_their_worst_case() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&leaky(&mock, &redis.url), mock);
    let image = json!({"type": "input_image", "image_url": "https://example.com/a.png"});
    let parts: Vec<Value> = std::iter::repeat_n(image, 500).collect();
    let body = json!({"model": "gpt-4o-mini", "max_output_tokens": 16,
        "input": [{"role": "user", "content": parts}]});
    // 500 × 2,500 tokens is more than sk-t's 1,000,000 a minute.
    let (s, e, _) = post(&gw, "/v1/responses", "sk-t", &body);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded")),
        "{e}"
    );
}

/// Item 5: a `max_output_tokens` of 2^64 − 1 is refused, never wrapped
/// into a small reservation.
#[test]
fn the_largest_max_output_tokens_does_not_wrap() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&leaky(&mock, &redis.url), mock);
    let body = json!({"model": "m1", "input": "hi", "max_output_tokens": u64::MAX});
    for key in ["sk-t", "sk-b"] {
        let (s, e, _) = post(&gw, "/v1/responses", key, &body);
        assert_eq!(s, 429, "{key}: {e}");
        assert!(
            ["rate_limit_exceeded", "budget_exceeded"]
                .contains(&e["error"]["code"].as_str().unwrap_or_default()),
            "{e}"
        );
    }
    // The counters are intact: a small request still passes.
    let small = json!({"model": "m1", "input": "hi", "max_output_tokens": 16});
    assert_eq!(post(&gw, "/v1/responses", "sk-t", &small).0, 200);
}

/// A config of its own: `stuck` answers after the 1 s header timeout.
fn timeouts(mock: &str, redis: &str) -> String {
    format!(
        r#"
server:
  address: "127.0.0.1:0"
  upstream_timeout: 1s
providers:
  stuck: {{ type: openai, endpoint: "{mock}/_fault/slow_headers=2500", api_key: "k" }}
  oa: {{ type: openai, endpoint: "{mock}", api_key: "k" }}
  cut: {{ type: anthropic, endpoint: "{mock}/_fault/stop_after=7", api_key: "k" }}
  claude: {{ type: anthropic, endpoint: "{mock}", api_key: "k" }}
models:
  - {{ name: flaky, targets: [ {{ provider: stuck, provider_model_id: gpt-4o-mini, input_cost: 1000, output_cost: 1000 }}, {{ provider: oa, provider_model_id: gpt-4o-mini, input_cost: 1000, output_cost: 1000 }} ] }}
  - {{ name: hopeless, targets: [ {{ provider: stuck, provider_model_id: gpt-4o-mini, input_cost: 1000, output_cost: 1000 }} ] }}
  - {{ name: resumed, continue_after_output: true, targets: [ {{ provider: cut, provider_model_id: claude-haiku-4-5, input_cost: 1000, output_cost: 1000 }}, {{ provider: claude, provider_model_id: claude-haiku-4-5, input_cost: 1, output_cost: 1 }} ] }}
routing:
  circuit_breaker: {{ failures: 100000 }}
auth:
  api_keys:
    - {{ name: b, key: sk-b, budget: {{ usd: 100000, period: daily }} }}
limits:
  store: "{redis}"
"#
    )
}

fn last_line(out: &Output, model: &str) -> Value {
    for _ in 0..50 {
        if let Some(l) = out.json().into_iter().rfind(|l| l["model"] == model) {
            return l;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no log line for {model}");
}

/// Item 6: an attempt that reached its upstream and timed out is
/// charged at its reservation: on top of the answer another target gave,
/// or alone when none did.
#[test]
fn an_attempt_that_timed_out_is_charged() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&timeouts(&mock, &redis.url), mock, &[]);
    let body = |m: &str| json!({"model": m, "input": "hi", "max_output_tokens": 16});
    let (s, _, _) = post(&gw, "/v1/responses", "sk-b", &body("flaky"));
    assert_eq!(s, 200);
    let line = last_line(&out, "flaky");
    let reserved = line["limits"]["reserved_usd"].as_f64().unwrap();
    let cost = line["cost_usd"].as_f64().unwrap();
    let settled = line["limits"]["settled_usd"].as_f64().unwrap();
    assert!(reserved > 0.0 && cost > 0.0, "{line}");
    assert!((settled - (cost + reserved)).abs() < 1e-9, "{line}");

    let (s, _, _) = post(&gw, "/v1/responses", "sk-b", &body("hopeless"));
    assert_eq!(s, 504);
    let line = last_line(&out, "hopeless");
    let reserved = line["limits"]["reserved_usd"].as_f64().unwrap();
    let settled = line["limits"]["settled_usd"].as_f64().unwrap();
    assert!(
        reserved > 0.0 && (settled - reserved).abs() < 1e-9,
        "{line}"
    );
}

/// Item 7: a stream cut and continued is charged the cut part at its
/// reservation and the continuation at the target that produced it.
#[test]
fn a_continued_stream_is_priced_at_each_part_s_target() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&timeouts(&mock, &redis.url), mock, &[]);
    let body = json!({"model": "resumed", "input": "one two three four five six seven eight nine ten",
        "stream": true, "max_output_tokens": 64});
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth("sk-b")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    assert!(text.contains("response.completed"), "{text}");
    let line = last_line(&out, "resumed");
    assert!(line["continuation"].is_object(), "{line}");
    let reserved = line["limits"]["reserved_usd"].as_f64().unwrap();
    let cost = line["cost_usd"].as_f64().unwrap();
    let settled = line["limits"]["settled_usd"].as_f64().unwrap();
    // The continuation's usage at claude's $1/M, not cut's $1000/M.
    let tokens =
        line["tokens"]["input"].as_u64().unwrap() + line["tokens"]["output"].as_u64().unwrap();
    assert!((cost - tokens as f64 / 1e6).abs() < 1e-9, "{line}");
    assert!((settled - (reserved + cost)).abs() < 1e-9, "{line}");
}

/// Item 8: a team-scoped cache entry made with a hosted tool one key may
/// send is never served to a teammate that may not send it.
#[test]
fn a_team_cache_entry_is_served_only_to_callers_who_would_send_the_same() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + &format!(
            r#"  - {{ name: tcached, provider: oa, provider_model_id: gpt-4o-mini, cache: {{ ttl: 1h, scope: team }} }}
auth:
  api_keys:
    - {{ name: web, key: sk-web, team: alpha, passthrough: [web_search] }}
    - {{ name: web2, key: sk-web2, team: alpha, passthrough: [web_search] }}
    - {{ name: plain, key: sk-plain, team: alpha }}
teams:
  - {{ name: alpha }}
limits:
  store: "{}"
"#,
            redis.url
        );
    let gw = start_with(&yaml, mock);
    let body =
        json!({"model": "tcached", "input": "search the news", "tools": [{"type": "web_search"}]});
    let cache_of = |key: &str| {
        let r = client()
            .post(format!("{}/v1/responses", gw.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap();
        let h = r
            .headers()
            .get("x-latticelm-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), h)
    };
    assert_eq!(cache_of("sk-web"), (200, Some("miss".into())));
    // A teammate with the same rights shares it.
    assert_eq!(cache_of("sk-web2"), (200, Some("hit".into())));
    // One without them does not.
    let (status, cache) = cache_of("sk-plain");
    assert_ne!(cache.as_deref(), Some("hit"), "{status}");
}

/// Items 9 and 10: a WebSocket turn is admitted like a request: its
/// caller is checked again at each `response.create` (a disabled key
/// stops within the key cache's lapse, and the socket closes with 1008),
/// and each turn counts in its team's usage.
#[test]
fn a_websocket_checks_its_caller_at_every_turn_and_counts_in_its_team() {
    use std::time::{Duration, Instant};
    use tungstenite::Message;
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, &redis.url), mock);
    let (s, created) = admin_call(
        &gw,
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "socket", "team": "alpha"})),
    );
    assert_eq!(s, 201, "{created}");
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    );
    let mut ws = ws_socket(&gw, &secret);
    assert_eq!(ws_turn(&mut ws).unwrap()["type"], "response.completed");
    // The turn counts in its team's usage.
    let start = Instant::now();
    loop {
        let (_, u) = admin_call(&gw, "GET", "/v1/admin/usage?team=alpha", Some(ADMIN), None);
        if u["by_model"]["gpt-4o-mini"]["requests"] == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no team usage: {u}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Disabled: a later turn on the open socket is refused, and it closes.
    let path = format!("/v1/admin/keys/{id}");
    assert_eq!(
        admin_call(
            &gw,
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"disabled": true}))
        )
        .0,
        200
    );
    let start = Instant::now();
    let refused = loop {
        let last = ws_turn(&mut ws).expect("an error frame before the close");
        if last["type"] == "error" {
            break last;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still served 5 s after it was disabled"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(refused["status"], 401, "{refused}");
    let close = loop {
        match ws.read() {
            Ok(Message::Close(c)) => break c,
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1008));
}

/// Item 11: usage is kept under the configured model's name, a made-up
/// route's name is capped (`other` past 256 bytes), and every usage hash
/// in Redis expires (`limits.usage_retention`).
#[test]
fn usage_names_are_bounded_and_usage_expires() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = admin_config(&mock, &redis.url) + "limits:\n  usage_retention: 2d\n";
    let gw = start_with(&yaml, mock);
    let (s, created) = admin_call(
        &gw,
        "POST",
        "/v1/admin/keys",
        Some(ADMIN),
        Some(json!({"name": "usage", "team": "alpha"})),
    );
    assert_eq!(s, 201, "{created}");
    let secret = created["key"].as_str().unwrap();
    let long = format!("chat/{}", "x".repeat(10_000));
    for model in [long.as_str(), "gpt-4o-mini", long.as_str()] {
        let body = json!({"model": model, "input": "hi", "max_output_tokens": 16});
        assert_eq!(
            post(&gw, "/v1/responses", secret, &body).0,
            200,
            "{}",
            &model[..20]
        );
    }
    let cli = |args: &[&str]| redis_cli(&redis.url, args);
    let start = std::time::Instant::now();
    let keys = loop {
        let keys = cli(&["--scan", "--pattern", "*usage/*"]);
        if keys.len() >= 2 {
            break keys;
        }
        assert!(start.elapsed().as_secs() < 5, "no usage hashes: {keys:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    for k in &keys {
        let ttl: i64 = cli(&["PTTL", k])[0].parse().unwrap();
        assert!(ttl > 0 && ttl <= 3 * 86_400_000, "{k} expires in {ttl} ms");
        let fields = cli(&["HKEYS", k]);
        assert!(fields.iter().all(|f| f.len() < 300), "{k}: a long field");
        assert!(
            fields.iter().any(|f| f.contains("|other|")),
            "{k}: {fields:?}"
        );
        assert!(
            fields.iter().any(|f| f.contains("|gpt-4o-mini|")),
            "{k}: {fields:?}"
        );
    }
}

/// Item 12: a made-up `llm_` key costs one store read a minute, however
/// often it is tried.
#[test]
fn unknown_keys_are_cheap() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&admin_config(&mock, &redis.url), mock);
    let commands = || -> u64 {
        redis_cli(&redis.url, &["INFO", "stats"])
            .iter()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };

    let made_up = "llm_0000000000000000000000000000000000000000000";
    let hi = json!({"model": "gpt-4o-mini", "input": "hi"});
    let before = commands();
    for round in 0..2 {
        for _ in 0..50 {
            assert_eq!(post(&gw, "/v1/responses", made_up, &hi).0, 401);
        }
        if round == 0 {
            // Past the key cache's 2 s lapse for known keys.
            std::thread::sleep(std::time::Duration::from_millis(2_500));
        }
    }
    // One read, and the first INFO call itself.
    let used = commands() - before;
    assert_eq!(
        used, 2,
        "store commands for one made-up key, tried 100 times"
    );
}

/// Item 14: a stream the client leaves, at any point (during the held
/// first bytes, mid-stream, while the answer is stored), is logged as
/// the client's leaving, never as a plain success.
#[test]
fn every_abort_is_logged_as_one() {
    use std::io::Read;
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config_with_conversations(
        &mock,
        &format!("{{ store: redis, url: \"{}\", ttl: 1h }}", redis.url),
    )
    .replace(
        "  - { name: llama,",
        "  - { name: slow, provider: oa, provider_model_id: \"slow:15\" }\n  - { name: late, provider: oa, provider_model_id: \"sleep:1500\" }\n  - { name: llama,",
    );
    let (gw, out) = start_logged(&yaml, mock, &[]);
    let words = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
    std::thread::scope(|s| {
        for i in 0..24u64 {
            let gw = &gw;
            s.spawn(move || {
                let body = json!({"model": "slow", "input": words, "stream": true});
                let mut r = client()
                    .post(format!("{}/v1/responses", gw.url))
                    .json(&body)
                    .send()
                    .unwrap();
                // Leave after a different number of bytes each time; some
                // read to the end.
                let mut left = 200 + i * 400;
                let mut buf = [0u8; 256];
                while left > 0 {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left = left.saturating_sub(n as u64),
                    }
                }
            });
        }
        // One that leaves before its first byte.
        let gw = &gw;
        s.spawn(move || {
            let quick = reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_millis(300))
                .build()
                .unwrap();
            let body = json!({"model": "late", "input": "hi", "stream": true});
            let _ = quick
                .post(format!("{}/v1/responses", gw.url))
                .json(&body)
                .send();
        });
    });
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let lines: Vec<Value> = out
        .json()
        .into_iter()
        .filter(|l| l["msg"] == "request" && l["path"] == "/v1/responses")
        .collect();
    assert_eq!(lines.len(), 25, "{lines:?}");
    for l in &lines {
        let completed = l["status"] == 200 && l["finish_reason"].is_string();
        let left = l["error_code"] == "client_disconnected";
        assert!(completed || left, "neither completed nor left: {l}");
    }
    let late = lines.iter().find(|l| l["model"] == "late").unwrap();
    assert_eq!(
        (late["status"].as_u64(), late["error_code"].as_str()),
        (Some(499), Some("client_disconnected")),
        "{late}"
    );
}

/// A budget refusal says why in numbers: spent, held, and asked.
#[test]
fn a_budget_refusal_says_why_in_numbers() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = leaky(&mock, &redis.url).replace(
        "    - { name: b, key: sk-b,",
        "    - { name: small, key: sk-small, budget: { usd: 0.05, period: daily } }\n    - { name: b, key: sk-b,",
    );
    let gw = start_with(&yaml, mock);
    let ask = |max: u32| json!({"model": "m1", "input": "hi", "max_output_tokens": max});
    assert_eq!(post(&gw, "/v1/responses", "sk-small", &ask(16)).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (s, e, _) = post(&gw, "/v1/responses", "sk-small", &ask(30));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("budget_exceeded")),
        "{e}"
    );
    let message = e["error"]["message"].as_str().unwrap();
    for part in [
        "$0.05",
        "is spent",
        "held by requests in flight",
        "may cost up to",
        "max_output_tokens",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

/// `check-config` and `serve` name every route without prices, and what
/// a caller under a budget gets from it.
#[test]
fn check_config_names_the_unpriced_routes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, leaky("http://127.0.0.1:9", "redis://127.0.0.1:9")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_latticelm"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("warning: unpriced routes"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("refused to callers under a budget"), "{line}");
    assert!(line.contains("llama (chat/llama3.2:3b)"), "{line}");
    assert!(
        !line.contains("m1 (") && !line.contains("offline"),
        "{line}"
    );
}

/// A team deleted and created again starts from nothing: its spend is
/// counted apart from the old one's.
#[test]
fn a_recreated_team_starts_from_zero() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = leaky(&mock, &redis.url).replace(
        "auth:\n",
        &format!(
            "auth:\n  admin_keys: [\"{ADMIN}\"]\n  store: \"{}\"\n",
            redis.url
        ),
    );
    let gw = start_with(&yaml, mock);
    let team = json!({"name": "beta", "budget": {"usd": 10, "period": "daily"}});
    let spend_once = || {
        let (s, t) = admin_call(
            &gw,
            "POST",
            "/v1/admin/teams",
            Some(ADMIN),
            Some(team.clone()),
        );
        assert_eq!(s, 201, "{t}");
        let (s, k) = admin_call(
            &gw,
            "POST",
            "/v1/admin/keys",
            Some(ADMIN),
            Some(json!({"name": "b1", "team": "beta"})),
        );
        assert_eq!(s, 201, "{k}");
        let body = json!({"model": "m1", "input": "hi", "max_output_tokens": 16});
        assert_eq!(
            post(&gw, "/v1/responses", k["key"].as_str().unwrap(), &body).0,
            200
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let path = format!("/v1/admin/keys/{}", k["id"].as_str().unwrap());
        assert_eq!(admin_call(&gw, "DELETE", &path, Some(ADMIN), None).0, 200);
        assert_eq!(
            admin_call(&gw, "DELETE", "/v1/admin/teams/beta", Some(ADMIN), None).0,
            200
        );
    };
    spend_once();
    spend_once();
    let mut shards = redis_cli(
        &redis.url,
        &["--scan", "--pattern", "latticelm:limits:team:beta*:all"],
    );
    shards.sort();
    assert_eq!(
        shards.len(),
        2,
        "one ledger per team of that name: {shards:?}"
    );
    let spent: Vec<f64> = shards
        .iter()
        .map(|k| {
            redis_cli(&redis.url, &["HGET", k, "spent"])[0]
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        spent[0] > 0.0 && (spent[0] - spent[1]).abs() < 1e-9,
        "each spent once: {spent:?}"
    );
}

/// An OIDC token whose team claim names a runtime team gets that team's
/// models, and is stopped when the team is disabled.
#[test]
fn an_oidc_team_claim_applies_the_runtime_team() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let yaml = config_with_auth(&mock, &issuer.url).replace(
        "auth:\n  enabled: true\n",
        &format!(
            "auth:\n  enabled: true\n  team_claim: team\n  admin_keys: [\"{ADMIN}\"]\n  store: \"{}\"\n",
            redis.url
        ),
    );
    let gw = start_with(&yaml, mock);
    let (s, t) = admin_call(
        &gw,
        "POST",
        "/v1/admin/teams",
        Some(ADMIN),
        Some(json!({"name": "gamma", "models": ["offline"]})),
    );
    assert_eq!(s, 201, "{t}");
    let token = issuer.token_with("ada", "latticelm", 300, json!({"team": "gamma"}));
    let ask = |model: &str| {
        post(
            &gw,
            "/v1/responses",
            &token,
            &json!({"model": model, "input": "hi"}),
        )
    };
    assert_eq!(ask("offline").0, 200);
    let (s, e, _) = ask("llama");
    assert_eq!(s, 403, "the team's models hold: {e}");
    assert_eq!(
        admin_call(
            &gw,
            "PATCH",
            "/v1/admin/teams/gamma",
            Some(ADMIN),
            Some(json!({"disabled": true}))
        )
        .0,
        200
    );
    let start = std::time::Instant::now();
    loop {
        let (s, e, _) = ask("offline");
        if s == 403 {
            assert_eq!(e["error"]["code"], "team_disabled", "{e}");
            break;
        }
        assert!(start.elapsed().as_secs() < 5, "still served: {s} {e}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
