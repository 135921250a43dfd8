//! Routing state shared between principals (issue 23, items 10, 11, 13,
//! 14): one caller cannot open a breaker for everyone, an upstream's
//! `retry-after` is capped, names a client makes up grow neither the
//! routing state nor the metrics, and the dashboard shows a caller only
//! what its allow-list covers.

mod common;

use bytes::Bytes;
use common::*;
use latticelm_core::{Config, Gateway, HttpRequest};
use serde_json::{json, Value};

const OK: &str = r#"{"id":"resp_up","object":"response","created_at":1,"status":"completed","model":"upstream-model","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[]}]}],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}"#;

fn gw(extra: &str) -> Gateway {
    let yaml = format!(
        "server: {{ insecure_test_principal_header: x-test-principal }}\nproviders:\n  up: {{ type: openai, endpoint: \"http://upstream.test\", api_key: sk-test }}\n  other: {{ type: openai, endpoint: \"http://other.test\", api_key: sk-test }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n{extra}"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

fn canned(status: u16, headers: &[(&str, &str)], body: &str) -> Canned {
    Canned {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        chunks: vec![Bytes::from(body.to_owned())],
    }
}

fn as_principal(p: &str, body: &Value) -> HttpRequest {
    let mut req = post(body);
    req.headers.push(("x-test-principal".into(), p.into()));
    req
}

fn ask(model: &str) -> Value {
    json!({"model": model, "input": "hi"})
}

/// Queues answers (the fake host pops from the end).
fn queue(host: &FakeHost, answers: Vec<Canned>) {
    let mut c = host.canned.borrow_mut();
    for a in answers {
        c.insert(0, a);
    }
}

#[test]
fn a_timeout_is_not_retried_on_the_target_that_timed_out() {
    let g = gw("routing: { retries: 2 }");
    let host = FakeHost::default();
    queue(
        &host,
        vec![canned(0, &[], ""), canned(0, &[], ""), canned(0, &[], "")],
    );
    let (status, _) = run(&g, &host, post(&ask("test-model")));
    assert_eq!(status, 504);
    assert_eq!(
        host.sent.borrow().len(),
        1,
        "the timed-out target was tried again"
    );

    // With a second target, the retry goes there.
    let g = gw("  - { name: two, targets: [ { provider: up, provider_model_id: upstream-model }, { provider: other, provider_model_id: upstream-model } ] }\nrouting: { retries: 2 }");
    let host = FakeHost::default();
    queue(&host, vec![canned(0, &[], ""), canned(200, &[], OK)]);
    let (status, _) = run(&g, &host, post(&ask("two")));
    assert_eq!(status, 200);
    let sent = host.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].url.starts_with("http://other.test"),
        "{}",
        sent[1].url
    );
}

#[test]
fn one_principal_cannot_open_the_breaker_for_everyone() {
    let g = gw("routing: { retries: 2, backoff: 1ms, max_backoff: 2ms }");
    let host = FakeHost::default();
    // Principal A's requests fail again and again (each retried).
    for _ in 0..6 {
        queue(
            &host,
            vec![
                canned(503, &[], "{}"),
                canned(503, &[], "{}"),
                canned(503, &[], "{}"),
            ],
        );
        let (status, _) = run(&g, &host, as_principal("a", &ask("test-model")));
        assert!(status >= 500);
        host.canned.borrow_mut().clear();
    }
    // Now A is held off the target…
    let before = host.sent.borrow().len();
    let (status, out) = run(&g, &host, as_principal("a", &ask("test-model")));
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&out.concat()));
    assert_eq!(
        host.sent.borrow().len(),
        before,
        "A reached the open target"
    );
    // …and B is not.
    queue(&host, vec![canned(200, &[], OK)]);
    let (status, out) = run(&g, &host, as_principal("b", &ask("test-model")));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out.concat()));

    // Failures from two principals open it for everyone.
    let g = gw("routing: { retries: 0 }");
    let host = FakeHost::default();
    for p in ["a", "a", "a", "a", "b"] {
        queue(&host, vec![canned(503, &[], "{}")]);
        run(&g, &host, as_principal(p, &ask("test-model")));
    }
    let before = host.sent.borrow().len();
    let (status, _) = run(&g, &host, as_principal("c", &ask("test-model")));
    assert_eq!(status, 503);
    assert_eq!(host.sent.borrow().len(), before);
}

#[test]
fn retry_after_is_capped_and_cooling_targets_show() {
    let g = gw("routing: { retries: 0 }");
    let host = FakeHost::default();
    queue(
        &host,
        vec![canned(429, &[("retry-after", "999999999")], "{}")],
    );
    let (status, _) = run(&g, &host, post(&ask("test-model")));
    assert_eq!(status, 429);
    let dash = |host: &FakeHost| -> Value {
        let (_, body) = run(&g, host, request("GET", "/v1/dashboard", "", None));
        serde_json::from_slice(&body.concat()).unwrap()
    };
    let d = dash(&host);
    assert_eq!(d["circuits"][0]["state"], "cooling_down", "{d}");
    let until = d["circuits"][0]["until_ms"].as_u64().unwrap();
    assert!(until <= d["now_ms"].as_u64().unwrap() + 60_000, "{d}");
    // Sixty seconds on, the target takes traffic again.
    host.clock.set(host.clock.get() + 61);
    queue(&host, vec![canned(200, &[], OK)]);
    let (status, _) = run(&g, &host, post(&ask("test-model")));
    assert_eq!(status, 200);
    assert_eq!(dash(&host)["circuits"][0]["state"], "closed");
}

#[test]
fn made_up_names_grow_neither_routing_state_nor_metrics() {
    let g = gw("routing: { retries: 0 }");
    let host = FakeHost::default();
    for i in 0..50 {
        let name = format!("{}{i}", "m".repeat(100_000));
        run(&g, &host, post(&ask(&name)));
        queue(&host, vec![canned(503, &[], "{}")]);
        run(&g, &host, post(&ask(&format!("up/random-{i}"))));
        host.canned.borrow_mut().clear();
    }
    let state = host.routing.borrow().clone();
    assert!(state.target("up/random-0").is_none());
    assert!(state.circuits(0).is_empty(), "{:?}", state.circuits(0));
    let resp = g.metrics(&host);
    let latticelm_core::Body::Full(text) = resp.body else {
        panic!("a stream")
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    assert!(text.len() < 20_000, "{} bytes of metrics", text.len());
    assert!(!text.contains("random-"), "{text}");
    assert!(!text.contains("mmmm"));
    assert!(text.contains("model=\"other\""), "{text}");
}

#[test]
fn the_series_cap_holds() {
    let mut m = latticelm_core::observe::Metrics::with_known(["x".to_owned()]);
    for i in 0..(latticelm_core::observe::MAX_SERIES + 500) {
        m.start();
        let r = latticelm_core::observe::Record {
            model: Some("x".into()),
            principal: Some(format!("p{i}")),
            usage: Some(Default::default()),
            ..Default::default()
        };
        m.observe(&r, "responses");
    }
    let snap = m.snapshot();
    let n =
        snap["counters"].as_array().unwrap().len() + snap["histograms"].as_array().unwrap().len();
    assert!(n <= latticelm_core::observe::MAX_SERIES + 20, "{n} series");
}

#[test]
fn the_dashboard_shows_only_what_the_key_may_use() {
    let yaml = "providers:\n  up: { type: openai, endpoint: \"http://upstream.test\", api_key: sk-test }\nmodels:\n  - { name: open-model, provider: up, provider_model_id: open-upstream }\n  - { name: secret-model, provider: up, provider_model_id: secret-upstream-id }\nauth:\n  enabled: true\n  api_keys:\n    - { name: narrow, key: \"key-narrow\", models: [open-model] }\n    - { name: wide, key: \"key-wide\" }\n";
    let g = Gateway::new(Config::from_yaml(yaml, &|_| None).unwrap());
    let host = FakeHost::default();
    let get = |key: &str| -> String {
        let mut req = request("GET", "/v1/dashboard", "", None);
        req.headers
            .push(("authorization".into(), format!("Bearer {key}")));
        let (status, body) = run(&g, &host, req);
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body.concat()).into_owned()
    };
    let narrow = get("key-narrow");
    assert!(narrow.contains("open-upstream"), "{narrow}");
    assert!(!narrow.contains("secret"), "{narrow}");
    let wide = get("key-wide");
    assert!(wide.contains("secret-upstream-id"), "{wide}");
}

fn compact_req(model: &str) -> HttpRequest {
    HttpRequest {
        path: "/v1/responses/compact".into(),
        ..post(&json!({"model": model, "input": [{"role": "user", "content": "hi"}]}))
    }
}

#[test]
fn compaction_goes_through_the_attempt_loop() {
    let g = gw("routing: { retries: 2, backoff: 1ms, max_backoff: 2ms }");
    // An upstream 401 is the gateway's 502, without the provider's text.
    let host = FakeHost::default();
    let leak = r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd. Organization org-SECRET123.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    queue(&host, vec![canned(401, &[], leak)]);
    let (status, out, headers) = run_full(&g, &host, compact_req("test-model"));
    let text = String::from_utf8_lossy(&out.concat()).into_owned();
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("upstream_auth_error"), "{text}");
    assert!(
        !text.contains("org-SECRET123") && !text.contains("sk-proj"),
        "{text}"
    );
    assert!(headers
        .iter()
        .any(|(k, v)| k == "x-latticelm-attempts" && v == "1"));
    // A stalled upstream times out, and is not tried again.
    let host = FakeHost::default();
    queue(&host, vec![canned(0, &[], ""), canned(0, &[], "")]);
    let (status, _) = run(&g, &host, compact_req("test-model"));
    assert_eq!(status, 504);
    assert_eq!(host.sent.borrow().len(), 1);
    // A 503 is retried; the answer is passed on as it came.
    let host = FakeHost::default();
    let done = r#"{"id":"resp_c","object":"response.compaction","created_at":1,"output":[{"type":"compaction","id":"cmp_1","encrypted_content":"gAAAA"}],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}"#;
    queue(&host, vec![canned(503, &[], "{}"), canned(200, &[], done)]);
    let (status, out, headers) = run_full(&g, &host, compact_req("test-model"));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&out.concat()).unwrap();
    assert_eq!(v["output"][0]["encrypted_content"], "gAAAA");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "x-latticelm-attempts" && v == "2"));
    let sent = host.sent.borrow();
    assert!(
        sent[1].url.ends_with("/responses/compact"),
        "{}",
        sent[1].url
    );
    // The breaker counts it: failures from two principals open it.
    drop(sent);
    let g = gw("routing: { retries: 0 }");
    let host = FakeHost::default();
    for p in ["a", "a", "a", "b", "c"] {
        queue(&host, vec![canned(503, &[], "{}")]);
        let mut req = compact_req("test-model");
        req.headers.push(("x-test-principal".into(), p.into()));
        run(&g, &host, req);
    }
    let before = host.sent.borrow().len();
    let (status, _) = run(&g, &host, compact_req("test-model"));
    assert_eq!(status, 503);
    assert_eq!(host.sent.borrow().len(), before);
}
