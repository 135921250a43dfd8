//! Rate limits and budgets on the native binary, against real
//! `redis-server`s: exact across replicas, no budget overshoot with
//! streams cut and failed over, every door refused the same, the store's
//! outages in both modes, and the official SDK reading the headers and
//! waiting out `retry-after`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// The test config, plus `extra` top-level sections.
fn with(mock: &str, extra: &str) -> String {
    config(mock) + extra
}

fn post(gw: &Gateway, path: &str, key: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}{path}", gw.url))
        .bearer_auth(key)
        .json(body)
        .send()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::blocking::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn exactly_the_limit_is_admitted_across_three_replicas_sharing_redis() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = with(
        &mock,
        &format!(
            "auth:\n  api_keys:\n    - {{ name: svc-a, key: sk-svc-a, limits: {{ requests_per_minute: 50 }} }}\nlimits:\n  store: \"{}\"\n",
            redis.url
        ),
    );
    let gws: Vec<Gateway> = (0..3).map(|_| start_with(&yaml, mock.clone())).collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let gw = &gws[i % 3];
                s.spawn(move || {
                    let body = json!({"model": "offline", "input": "hi"});
                    post(gw, "/v1/responses", "sk-svc-a", &body)
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    assert_eq!((count(200), count(429)), (50, 150), "{statuses:?}");
    // The next one, on any replica, is refused with OpenAI's headers.
    let r = post(
        &gws[1],
        "/v1/responses",
        "sk-svc-a",
        &json!({"model": "offline", "input": "x"}),
    );
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), Some("50"));
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(header(&r, "x-should-retry"), Some("true"));
    let after: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&after), "{after}");
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_valid("ErrorPayload", &body["error"]);
}

#[test]
fn answers_carry_the_remaining_requests_and_tokens() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = with(
        &mock,
        "auth:\n  api_keys:\n    - { name: svc-a, key: sk-svc-a, limits: { requests_per_minute: 10, tokens_per_minute: 100000 } }\n",
    );
    let gw = start_with(&yaml, mock);
    let body = json!({"model": "offline", "input": "hi", "max_output_tokens": 1000});
    let r = post(&gw, "/v1/responses", "sk-svc-a", &body);
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), Some("10"));
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), Some("9"));
    assert_eq!(header(&r, "x-ratelimit-limit-tokens"), Some("100000"));
    let left: u64 = header(&r, "x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(left < 99_000, "the reservation counts: {left}");
    assert!(header(&r, "x-ratelimit-reset-requests")
        .unwrap()
        .ends_with('s'));
    // A request larger than the whole limit is told so, and not to retry.
    let huge = json!({"model": "offline", "input": "hi", "max_output_tokens": 200000});
    let r = post(&gw, "/v1/responses", "sk-svc-a", &huge);
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-should-retry"), Some("false"));
    let e: Value = r.json().unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than key 'svc-a'"),
        "{e}"
    );
}

/// Every door that reaches a model, and the WebSocket turn, is refused
/// the same way once the key's minute is used up; no other route reaches
/// an upstream at all.
#[test]
fn every_door_is_refused_the_same() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = with(
        &mock,
        "auth:\n  api_keys:\n    - { name: one, key: sk-one, limits: { requests_per_minute: 1 } }\n",
    );
    let gw = start_with(&yaml, mock.clone());
    let ok = post(
        &gw,
        "/v1/responses",
        "sk-one",
        &json!({"model": "gpt-4o-mini", "input": "hi"}),
    );
    assert_eq!(ok.status(), 200);
    let doors = [
        (
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": "hi"}),
        ),
        (
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": "hi", "stream": true}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "llama", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "llama", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-test", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/responses/compact",
            json!({"model": "gpt-4o-mini", "input": "hi"}),
        ),
        (
            "/v1/responses/compact",
            json!({"model": "claude-test", "input": "hi"}),
        ),
    ];
    let seen_before = mock_requests(&mock);
    for (path, body) in &doors {
        let r = post(&gw, path, "sk-one", body);
        assert_eq!(r.status(), 429, "{path} {body}");
        assert!(header(&r, "retry-after").is_some(), "{path}");
        let v: Value = r.json().unwrap();
        let e = if path.ends_with("/messages") {
            assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
            &v["error"]
        } else {
            &v["error"]
        };
        assert_eq!(e["type"], "rate_limit_error", "{path}: {v}");
    }
    // The WebSocket turn.
    use tungstenite::client::IntoClientRequest;
    let mut req = (gw.url.replace("http://", "ws://") + "/v1/responses")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer sk-one".parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).unwrap();
    let turn = json!({"type": "response.create", "model": "gpt-4o-mini", "input": "hi"});
    ws.send(tungstenite::Message::text(turn.to_string()))
        .unwrap();
    let frame = loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            break serde_json::from_str::<Value>(&t).unwrap();
        }
    };
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["status"], 429, "{frame}");
    assert_eq!(frame["error"]["code"], "rate_limit_exceeded", "{frame}");
    assert_valid("WebSocketErrorEvent", &frame);
    // No refused request reached the upstream, and no other route does.
    for path in [
        "/v1/completions",
        "/v1/embeddings",
        "/v1/messages/count_tokens",
        "/v1/responses/x/input_items",
        "/v1/models",
        "/v1/dashboard",
        "/v1/foo",
    ] {
        let r = post(
            &gw,
            path,
            "sk-one",
            &json!({"model": "gpt-4o-mini", "input": "hi"}),
        );
        assert!(
            r.status().is_client_error() || r.status().as_u16() == 501,
            "{path}: {}",
            r.status()
        );
    }
    assert_eq!(mock_requests(&mock), seen_before);
}

fn mock_requests(mock: &str) -> usize {
    let v: Value = client()
        .get(format!("{mock}/_mock/requests"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v.as_array().map_or(0, Vec::len)
}

/// A team budget that covers three worst-case requests. Rounds of
/// concurrent streams on two replicas, some cut by their client, some
/// failed over from a failing first target: what is recorded never
/// passes the budget, and once everything has ended nothing is held and
/// the spend is exactly what the requests were settled at.
#[test]
fn concurrent_streams_never_overshoot_a_team_budget() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let priced = "  - name: priced\n    targets:\n      - { provider: flaky, provider_model_id: \"slow:40\", input_cost: 1000, output_cost: 1000 }\n      - { provider: oa, provider_model_id: \"slow:40\", input_cost: 1000, output_cost: 1000 }\n";
    let yaml = config(&mock).replace(
        "  dead: {",
        &format!("  flaky: {{ type: openai, endpoint: \"{mock}/_fault/status=503,first=6\", api_key: \"sk\" }}\n  dead: {{"),
    ) + priced
        + &format!(
            "auth:\n  api_keys:\n    - {{ name: a1, key: sk-a1, team: alpha }}\n    - {{ name: a2, key: sk-a2, team: alpha }}\nteams:\n  - {{ name: alpha, budget: {{ usd: 0.5, period: daily }} }}\nlimits:\n  store: \"{}\"\n",
            redis.url
        );
    let (gw1, out1) = start_logged(&yaml, mock.clone(), &[]);
    let (gw2, out2) = start_logged(&yaml, mock.clone(), &[]);
    let gws = [&gw1, &gw2];
    let cli = |args: &[&str]| redis_cli(&redis.url, args);
    // (spent, held by requests in flight), in USD.
    let ledger = || -> (f64, f64) {
        let v = cli(&["HMGET", "latticelm:limits:team:alpha:all", "spent", "r"]);
        let n = |i: usize| v.get(i).and_then(|x| x.parse().ok()).unwrap_or(0.0);
        (n(0), n(1))
    };
    let held = |(spent, reserved): (f64, f64)| spent + reserved;
    let leases = || cli(&["ZCARD", "latticelm:limits:team:alpha:all:z"]).join("");
    let mut admitted = 0;
    for round in 0..4 {
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let gw = gws[i % 2];
                    let key = if i % 3 == 0 { "sk-a2" } else { "sk-a1" };
                    s.spawn(move || {
                        let body = json!({"model": "priced", "input": format!("round {round} stream {i}"), "stream": true, "max_output_tokens": 100});
                        let mut r = post(gw, "/v1/responses", key, &body);
                        let status = r.status().as_u16();
                        if status == 200 && i % 4 == 1 {
                            // Cut by the client after its first bytes.
                            let mut buf = [0u8; 64];
                            let _ = std::io::Read::read(&mut r, &mut buf);
                            drop(r);
                        } else {
                            let _ = r.text();
                        }
                        status
                    })
                })
                .collect();
            // Meanwhile, the ledger never holds more than the budget.
            for _ in 0..20 {
                let l = ledger();
                assert!(held(l) <= 0.5 + 1e-9, "overshoot: {l:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 429),
            "{statuses:?}"
        );
        admitted += statuses.iter().filter(|s| **s == 200).count();
    }
    assert!(
        admitted >= 3,
        "a budget for three admits at least three: {admitted}"
    );
    // Everything has ended: nothing is held, and the spend is the sum of
    // what each request was settled at, as their log lines say.
    std::thread::sleep(Duration::from_millis(500));
    let (spent, reserved) = ledger();
    assert_eq!(reserved, 0.0, "nothing is held");
    assert_eq!(leases(), "0", "no reservation is held");
    assert!(spent <= 0.5 + 1e-9, "{spent}");
    let lines: Vec<Value> = out1.json().into_iter().chain(out2.json()).collect();
    let settled: f64 = lines
        .iter()
        .filter_map(|v| v["limits"]["settled_usd"].as_f64())
        .sum();
    assert!(
        (spent - settled).abs() < 1e-6,
        "ledger {spent} vs log {settled}"
    );
    let refused = lines
        .iter()
        .filter(|v| v["limits"]["refused"] == "budget")
        .count();
    assert!(refused > 0, "the budget refused some");
    let failed_over = lines
        .iter()
        .filter(|v| v["attempts"].as_array().is_some_and(|a| a.len() > 1))
        .count();
    assert!(failed_over > 0, "some were failed over");
    eprintln!("budget 0.5: {admitted} admitted, {refused} refused, {failed_over} failed over, spent {spent:.4}");
}

/// The counter store goes away: by default rate limits fail open (served,
/// logged, counted) and budgets closed (503); both can be turned around.
#[test]
fn a_redis_outage_fails_limits_open_and_budgets_closed_or_as_configured() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let keys = "auth:\n  api_keys:\n    - { name: lim, key: sk-lim, limits: { requests_per_minute: 100 } }\n    - { name: bud, key: sk-bud, budget: { usd: 10, period: monthly } }\n";
    let body = json!({"model": "offline", "input": "hi"});
    let default = with(
        &mock,
        &format!("{keys}limits:\n  store: \"{}\"\n", redis.url),
    );
    let (gw, out) = start_logged(&default, mock.clone(), &[]);
    assert_eq!(post(&gw, "/v1/responses", "sk-lim", &body).status(), 200);
    assert_eq!(post(&gw, "/v1/responses", "sk-bud", &body).status(), 200);
    drop(redis);
    assert_eq!(post(&gw, "/v1/responses", "sk-lim", &body).status(), 200);
    let r = post(&gw, "/v1/responses", "sk-bud", &body);
    assert_eq!(r.status(), 503);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"]["code"], "limits_unavailable");
    assert!(out
        .lines()
        .iter()
        .any(|l| l.contains("the counter store is unreachable")));
    let metrics = client()
        .get(format!("{}/metrics", gw.url))
        .bearer_auth("sk-lim")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("latticelm_limit_store_errors_total{outcome=\"open\"}"),
        "{metrics}"
    );
    // Turned around.
    let flipped = with(
        &mock,
        &format!("{keys}limits:\n  store: \"redis://127.0.0.1:{}\"\n  on_store_error: {{ limits: closed, budgets: open }}\n", free_port()),
    );
    let gw = start_with(&flipped, mock);
    assert_eq!(post(&gw, "/v1/responses", "sk-lim", &body).status(), 503);
    assert_eq!(post(&gw, "/v1/responses", "sk-bud", &body).status(), 200);
}

/// The openai SDK reads the `x-ratelimit-*` headers, and its own retry
/// waits out `retry-after` on a 429 and then succeeds.
#[test]
fn the_openai_sdk_reads_the_headers_and_honours_retry_after() {
    if !python_has("openai") {
        return;
    }
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + "  - { name: slow, provider: oa, provider_model_id: \"slow:150\" }\n"
        + "auth:\n  api_keys:\n    - { name: sdk, key: sk-sdk, limits: { requests_per_minute: 100, concurrent: 1 } }\n";
    let gw = start_with(&yaml, mock);
    python_check(
        "limits_check.py",
        &[&format!("{}/v1", gw.url), "sk-sdk"],
        &["offline"],
        &["OK headers", "OK retried"],
    );
}

/// A stream that sets no `max_output_tokens` holds
/// `limits.default_max_output_tokens`, and reserves more as it outgrows
/// it; when its key's tokens per minute have no room left, it ends there
/// with the spec's `error` and `response.failed`, instead of running past
/// the limit.
#[test]
fn a_stream_that_outgrows_its_reservation_ends_at_the_limit() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + "  - { name: paced, provider: oa, provider_model_id: \"slow:2\" }\n"
        + "auth:\n  api_keys:\n    - { name: s, key: sk-s, limits: { tokens_per_minute: 400 } }\n"
        + "limits:\n  default_max_output_tokens: 8\n";
    let gw = start_with(&yaml, mock);
    let words: Vec<String> = (0..120).map(|i| format!("word{i}")).collect();
    let body = json!({"model": "paced", "input": words.join(" "), "stream": true});
    let r = post(&gw, "/v1/responses", "sk-s", &body);
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{text}");
    let error = events.iter().find(|e| e["type"] == "error").unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded", "{error}");
    let out: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(out.len() > 24, "it grew past its first reservation: {out}");
    assert!(!out.contains("word119"), "it stopped before the end: {out}");
}

/// Crossing a budget's alert threshold writes one warn line and posts
/// the alert to the webhook, once; refusals and the budget left are in
/// the metrics.
#[test]
fn a_budget_alert_fires_once_and_the_metrics_count() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + "  - name: priced\n    targets: [{ provider: oa, provider_model_id: gpt-4o-mini, input_cost: 1000, output_cost: 1000 }]\n"
        + "auth:\n  api_keys:\n    - { name: w, key: sk-w, team: ops }\n"
        + "teams:\n  - { name: ops, budget: { usd: 0.2, period: weekly } }\n"
        + &format!("limits:\n  budget_alert: {{ threshold: 0.5, webhook: \"{mock}/hook\" }}\n");
    let (gw, out) = start_logged(&yaml, mock.clone(), &[]);
    gw.upstream_requests();
    let body = json!({"model": "priced", "input": "hi", "max_output_tokens": 10});
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let s = post(&gw, "/v1/responses", "sk-w", &body).status().as_u16();
        statuses.push(s);
        if s == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    std::thread::sleep(Duration::from_millis(300));
    let alerts: Vec<Value> = out
        .json()
        .into_iter()
        .filter(|v| v["msg"] == "budget threshold crossed")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["scope"], "team:ops");
    let hooks: Vec<Value> = gw
        .upstream_requests()
        .into_iter()
        .filter(|r| r["path"] == "/hook")
        .collect();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["body"]["scope"], "team:ops");
    let metrics = client()
        .get(format!("{}/metrics", gw.url))
        .bearer_auth("sk-w")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            "latticelm_limit_refusals_total{principal=\"key:w\",team=\"ops\",kind=\"budget\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("latticelm_budget_remaining_usd{scope=\"team:ops\"}"),
        "{metrics}"
    );
}
