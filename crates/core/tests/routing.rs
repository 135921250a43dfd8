//! The attempt loop through the whole pipeline, on a fake host whose clock
//! moves only when the gateway sleeps: failover, backoff, retry-after,
//! non-retryable errors, and the deadline.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use latticelm_core::{Body, Config, Gateway, HttpResponse};
use serde_json::{json, Value};

fn gateway(routing: &str) -> Gateway {
    let yaml = format!(
        r#"
providers:
  a: {{ type: openai-chat, endpoint: "http://a.test" }}
  b: {{ type: anthropic, endpoint: "http://b.test", api_key: k }}
models:
  - name: m
    targets:
      - {{ provider: a, provider_model_id: first }}
      - {{ provider: b, provider_model_id: second }}
  - {{ name: solo, provider: a, provider_model_id: only }}
routing: {routing}
"#
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

fn status(code: u16, headers: &[(&str, &str)]) -> Canned {
    Canned {
        status: code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        chunks: vec![Bytes::from(
            json!({"error": {"message": "nope", "type": "server_error"}}).to_string(),
        )],
    }
}

fn chat_ok() -> Canned {
    Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(
            json!({"id": "c1", "object": "chat.completion", "model": "only", "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}]}).to_string(),
        )],
    }
}

fn anthropic_ok() -> Canned {
    Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "second", "content": [{"type": "text", "text": "from b"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 2}}).to_string(),
        )],
    }
}

/// A host answering with these, in order.
fn host(answers: Vec<Canned>) -> FakeHost {
    let h = FakeHost::default();
    h.canned.borrow_mut().extend(answers.into_iter().rev());
    h
}

fn call(gw: &Gateway, h: &FakeHost, model: &str) -> (HttpResponse, Value) {
    futures::executor::block_on(async {
        let mut resp = gw
            .handle(h, post(&json!({"model": model, "input": "hi"})))
            .await;
        let body = std::mem::replace(&mut resp.body, Body::Full(Bytes::new()));
        let Body::Full(b) = body else {
            panic!("not streaming")
        };
        (resp, serde_json::from_slice(&b).unwrap())
    })
}

fn header<'a>(r: &'a HttpResponse, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn fails_over_across_protocols_without_waiting() {
    let gw = gateway("{ retries: 2 }");
    let h = host(vec![status(503, &[]), anthropic_ok()]);
    let (resp, body) = call(&gw, &h, "m");
    assert_eq!(resp.status, 200, "{body}");
    assert_eq!(header(&resp, "x-latticelm-provider"), "b");
    assert_eq!(header(&resp, "x-latticelm-model"), "second");
    assert_eq!(header(&resp, "x-latticelm-attempts"), "2");
    let urls: Vec<String> = h.sent.borrow().iter().map(|r| r.url.clone()).collect();
    assert_eq!(
        urls,
        [
            "http://a.test/v1/chat/completions",
            "http://b.test/v1/messages"
        ]
    );
    assert!(
        h.sleeps.borrow().is_empty(),
        "another target is tried at once"
    );
}

#[test]
fn the_same_target_is_retried_after_a_backoff() {
    let gw = gateway("{ retries: 2, backoff: 100ms, max_backoff: 1s }");
    let h = host(vec![status(502, &[]), status(500, &[]), chat_ok()]);
    let (resp, _) = call(&gw, &h, "solo");
    assert_eq!(resp.status, 200);
    assert_eq!(header(&resp, "x-latticelm-attempts"), "3");
    let sleeps = h.sleeps.borrow().clone();
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps[0] >= Duration::from_millis(50) && sleeps[0] <= Duration::from_millis(100));
    assert!(sleeps[1] >= Duration::from_millis(100) && sleeps[1] <= Duration::from_millis(200));
}

#[test]
fn retry_after_wins_over_the_backoff() {
    let gw = gateway("{ retries: 1, backoff: 10ms, max_backoff: 2s }");
    let h = host(vec![status(429, &[("retry-after", "1")]), chat_ok()]);
    let (resp, _) = call(&gw, &h, "solo");
    assert_eq!(resp.status, 200);
    assert_eq!(h.sleeps.borrow().as_slice(), [Duration::from_secs(1)]);
    // Longer than max_backoff: not waited for; the client gets the 429.
    let h = host(vec![status(429, &[("retry-after", "30")]), chat_ok()]);
    let (resp, body) = call(&gw, &h, "solo");
    assert_eq!(resp.status, 429, "{body}");
    assert_eq!(header(&resp, "retry-after"), "30");
    assert!(h.sleeps.borrow().is_empty());
    // And the target stays cooled down: the next request fails fast.
    let (resp, body) = call(&gw, &h, "solo");
    assert_eq!(
        (resp.status, body["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    assert_eq!(header(&resp, "x-latticelm-attempts"), "0");
    assert_eq!(
        h.sent.borrow().len(),
        1,
        "no upstream call while cooling down"
    );
}

#[test]
fn non_retryable_errors_come_back_at_once() {
    let gw = gateway("{ retries: 3 }");
    let h = host(vec![status(400, &[]), anthropic_ok()]);
    let (resp, body) = call(&gw, &h, "m");
    assert_eq!(resp.status, 400, "{body}");
    assert_eq!(header(&resp, "x-latticelm-attempts"), "1");
    assert_eq!(h.sent.borrow().len(), 1);
}

#[test]
fn the_deadline_bounds_attempts_and_backoff() {
    let gw = gateway("{ retries: 50, backoff: 100ms, max_backoff: 400ms, deadline: 1s }");
    let h = host((0..60).map(|_| status(503, &[])).collect());
    let (resp, body) = call(&gw, &h, "solo");
    assert_eq!(resp.status, 503, "{body}");
    let slept: Duration = h.sleeps.borrow().iter().sum();
    assert!(slept < Duration::from_secs(1), "slept {slept:?}");
    let attempts: u32 = header(&resp, "x-latticelm-attempts").parse().unwrap();
    assert!((3..10).contains(&attempts), "{attempts} attempts");
}

#[test]
fn an_open_circuit_skips_the_target() {
    let gw = gateway("{ retries: 1, circuit_breaker: { failures: 2, cooldown: 30s } }");
    let h = host(vec![
        status(503, &[]),
        anthropic_ok(),
        status(503, &[]),
        anthropic_ok(),
        anthropic_ok(),
    ]);
    for _ in 0..3 {
        let (resp, _) = call(&gw, &h, "m");
        assert_eq!(resp.status, 200);
        assert_eq!(header(&resp, "x-latticelm-provider"), "b");
    }
    let to_a = h
        .sent
        .borrow()
        .iter()
        .filter(|r| r.url.starts_with("http://a.test"))
        .count();
    assert_eq!(to_a, 2, "the third request skipped the open circuit");
}
