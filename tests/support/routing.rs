//! The routing and failover checks every host passes, against the mock
//! provider's fault injection (`/_fault/<spec>` endpoint prefixes).

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::{assert_valid, assert_valid_stream, client, config, output_text, parse_sse, Gateway};

/// The test configuration plus targets that fail in every way the mock can.
pub fn config_with_routing(mock: &str) -> String {
    let f = |spec: &str| format!("{mock}/_fault/{spec}");
    let providers = format!(
        r#"providers:
  down503: {{ type: openai-chat, endpoint: "{down503}/v1" }}
  recovers: {{ type: openai-chat, endpoint: "{recovers}/v1" }}
  chat-open-error: {{ type: openai-chat, endpoint: "{chat_open}/v1" }}
  claude-open-error: {{ type: anthropic, endpoint: "{claude_open}", api_key: k }}
  claude-529: {{ type: anthropic, endpoint: "{claude_529}", api_key: k }}
  chat-mid-error: {{ type: openai-chat, endpoint: "{mid}/v1" }}
  chat-cut: {{ type: openai-chat, endpoint: "{cut}/v1" }}
  limited: {{ type: openai-chat, endpoint: "{limited}/v1" }}
  limited-long: {{ type: openai-chat, endpoint: "{limited_long}/v1" }}
"#,
        down503 = f("status=503"),
        recovers = f("status=503,first=2"),
        chat_open = f("open_error"),
        claude_open = f("open_error,x=claude"),
        claude_529 = f("status=529"),
        mid = f("mid_error=3"),
        cut = f("stop_after=3"),
        limited = f("status=429,retry_after=1,first=1"),
        limited_long = f("status=429,retry_after=30"),
    )
    .replace(",x=claude", "");
    let models = r#"models:
  - name: failover
    targets:
      - { provider: dead, provider_model_id: m }
      - { provider: down503, provider_model_id: m }
      - { provider: chat, provider_model_id: served }
  - name: heals
    targets:
      - { provider: recovers, provider_model_id: m }
      - { provider: chat, provider_model_id: standby }
  - name: ab
    strategy: weighted
    targets:
      - { provider: chat, provider_model_id: variant-a, weight: 3 }
      - { provider: chat, provider_model_id: variant-b, weight: 1 }
  - name: cheapest
    strategy: cost
    targets:
      - { provider: claude, provider_model_id: pricey, input_cost: 3.0, output_cost: 15.0 }
      - { provider: chat, provider_model_id: thrifty, input_cost: 0.15, output_cost: 0.6 }
  - name: opens-with-error
    targets:
      - { provider: chat-open-error, provider_model_id: m }
      - { provider: claude-open-error, provider_model_id: m }
      - { provider: gemini, provider_model_id: rescued }
  - { name: mid-error, provider: chat-mid-error, provider_model_id: m }
  - { name: cut-short, provider: chat-cut, provider_model_id: m }
  - { name: chain, provider: claude-529, provider_model_id: m, fallbacks: [chain-next] }
  - { name: chain-next, provider: gemini, provider_model_id: gemini-fallback }
  - { name: rate-limited, provider: limited, provider_model_id: m }
  - name: rate-limited-long
    targets:
      - { provider: limited-long, provider_model_id: m }
      - { provider: chat, provider_model_id: elsewhere }
"#;
    let routing = "routing: { retries: 3, backoff: 20ms, max_backoff: 2s, circuit_breaker: { failures: 2, cooldown: 2s } }\n";
    let base = config(mock)
        .replacen("providers:\n", &providers, 1)
        .replacen("models:\n", models, 1);
    format!("{base}{routing}")
}

impl Gateway {
    /// How many requests the mock received per fault spec, and forgets.
    pub fn fault_counts(&self) -> Value {
        let r = client()
            .delete(format!("{}/_mock/counts", self.mock))
            .send()
            .unwrap();
        serde_json::from_slice(&r.bytes().unwrap()).unwrap()
    }

    /// A streamed request: status, headers and events.
    pub fn stream_with_headers(&self, body: &Value) -> (u16, HeaderMap, Vec<Value>) {
        let r = client()
            .post(format!("{}/v1/responses", self.url))
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, parse_sse(&r.bytes().unwrap()))
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Who served a response: provider, upstream model, attempts.
fn served(h: &HeaderMap) -> (&str, &str, &str) {
    (
        header(h, "x-latticelm-provider"),
        header(h, "x-latticelm-model"),
        header(h, "x-latticelm-attempts"),
    )
}

fn count(counts: &Value, spec: &str) -> u64 {
    counts[spec].as_u64().unwrap_or(0)
}

/// Every routing behaviour, on one gateway started with
/// [`config_with_routing`].
pub fn routing_suite(gw: &Gateway) {
    failover_and_circuit(gw);
    weighted_split(gw);
    cheapest_first(gw);
    stream_failover_before_output(gw);
    failures_after_output(gw);
    cross_protocol_chain(gw);
    retry_after(gw);
}

/// A dead first target (connection refused), then a 503: every request
/// succeeds, and once their circuits open they get no more traffic; a
/// target that recovers is closed again by its half-open probe.
fn failover_and_circuit(gw: &Gateway) {
    gw.fault_counts();
    let body = json!({"model": "failover", "input": "hello"});
    for i in 0..8 {
        let (s, h, r) = gw.post_as(&[], &body);
        assert_eq!(s, 200, "request {i}: {r}");
        assert_valid("ResponseResource", &r);
        let attempts = if i < 2 { "3" } else { "1" };
        assert_eq!(served(&h), ("chat", "served", attempts), "request {i}");
    }
    let counts = gw.fault_counts();
    assert_eq!(
        count(&counts, "status=503"),
        2,
        "the open circuit cut the 503 target off after 2 failures: {counts}"
    );
    // The same, streaming.
    let (s, h, events) =
        gw.stream_with_headers(&json!({"model": "failover", "input": "hi", "stream": true}));
    assert_eq!((s, served(&h)), (200, ("chat", "served", "1")));
    assert_valid_stream(&events);
    // Open → half-open → closed: the target fails twice, then heals.
    let heals = json!({"model": "heals", "input": "x"});
    for _ in 0..2 {
        let (s, h, _) = gw.post_as(&[], &heals);
        assert_eq!((s, served(&h).0), (200, "chat"));
    }
    let (_, h, _) = gw.post_as(&[], &heals);
    assert_eq!(served(&h), ("chat", "standby", "1"), "circuit open");
    std::thread::sleep(Duration::from_millis(2200));
    let (s, h, _) = gw.post_as(&[], &heals);
    assert_eq!(
        (s, served(&h)),
        (200, ("recovers", "m", "1")),
        "the probe closed it"
    );
    let (_, h, _) = gw.post_as(&[], &heals);
    assert_eq!(served(&h).0, "recovers", "closed again");
}

/// `weighted` 3:1 over a few hundred requests.
fn weighted_split(gw: &Gateway) {
    let n = 300;
    let mut a = 0;
    for _ in 0..n {
        let (s, h, _) = gw.post_as(&[], &json!({"model": "ab", "input": "x"}));
        assert_eq!(s, 200);
        match served(&h).1 {
            "variant-a" => a += 1,
            "variant-b" => {}
            other => panic!("served by {other}"),
        }
    }
    let share = a as f64 / n as f64;
    assert!(
        (share - 0.75).abs() < 0.1,
        "variant-a got {share:.2} of the traffic, expected 0.75 ± 0.1"
    );
}

/// `cost`: the cheaper target first.
fn cheapest_first(gw: &Gateway) {
    let (s, h, _) = gw.post_as(&[], &json!({"model": "cheapest", "input": "x"}));
    assert_eq!((s, served(&h)), (200, ("chat", "thrifty", "1")));
}

/// A 200 stream that opens with an error event (Chat's `{"error":…}`,
/// Anthropic's `event: error`) fails over invisibly: the client sees one
/// clean stream.
fn stream_failover_before_output(gw: &Gateway) {
    gw.fault_counts();
    let (s, h, events) = gw.stream_with_headers(
        &json!({"model": "opens-with-error", "input": "rescue me", "stream": true}),
    );
    assert_eq!(s, 200);
    assert_eq!(served(&h), ("gemini", "rescued", "3"));
    assert_valid_stream(&events);
    assert!(
        events.iter().all(|e| e["type"] != "error"),
        "no trace of the failures"
    );
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    assert!(output_text(&done["response"]).ends_with("rescue me"));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.created")
            .count(),
        1
    );
    let counts = gw.fault_counts();
    assert_eq!(count(&counts, "open_error"), 2, "{counts}");
}

/// After output has reached the client, a failure ends the stream with
/// `error` and `response.failed`, never a hang or a silent truncation.
fn failures_after_output(gw: &Gateway) {
    for (model, code) in [
        ("mid-error", "server_error"),
        ("cut-short", "upstream_stream_error"),
    ] {
        let (s, h, events) = gw.stream_with_headers(
            &json!({"model": model, "input": "one two three four five", "stream": true}),
        );
        assert_eq!((s, served(&h).2), (200, "1"), "{model}");
        assert_valid_stream(&events);
        let n = events.len();
        assert_eq!(events[n - 2]["type"], "error", "{model}");
        assert_eq!(events[n - 2]["error"]["code"], code, "{model}");
        let failed = &events[n - 1]["response"];
        assert_eq!(failed["status"], "failed");
        assert!(
            !failed["output"].as_array().unwrap().is_empty(),
            "{model}: the output so far is kept"
        );
    }
}

/// Anthropic (529) → Gemini through `fallbacks`, streaming and not; the
/// Anthropic-signed reasoning in the input is not sent to Gemini.
fn cross_protocol_chain(gw: &Gateway) {
    gw.upstream_requests();
    let input = json!([
        {"role": "user", "content": "think first"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:c2lnbmF0dXJl"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"role": "user", "content": "and now?"},
    ]);
    let (s, h, r) = gw.post_as(&[], &json!({"model": "chain", "input": input}));
    assert_eq!(s, 200, "{r}");
    assert_eq!(served(&h), ("gemini", "gemini-fallback", "2"));
    assert!(output_text(&r).ends_with("and now?"));
    let sent = gw.upstream_requests();
    let to_gemini = sent
        .iter()
        .find(|q| q["path"].as_str().unwrap().contains("gemini-fallback"))
        .unwrap();
    assert!(
        !to_gemini["body"].to_string().contains("c2lnbmF0dXJl"),
        "another provider's reasoning signature was sent to Gemini: {}",
        to_gemini["body"]
    );
    let (s, h, events) =
        gw.stream_with_headers(&json!({"model": "chain", "input": input, "stream": true}));
    assert_eq!((s, served(&h).0), (200, "gemini"));
    assert_valid_stream(&events);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
}

/// A 429 with `retry-after: 1` is waited out (within `max_backoff`), then
/// retried; one with `retry-after: 30` moves on at once, and cools its
/// target down for the next requests.
fn retry_after(gw: &Gateway) {
    gw.fault_counts();
    let start = Instant::now();
    let (s, h, r) = gw.post_as(&[], &json!({"model": "rate-limited", "input": "x"}));
    assert_eq!(s, 200, "{r}");
    assert_eq!(served(&h).2, "2");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "retry-after was not waited out: {:?}",
        start.elapsed()
    );
    for _ in 0..3 {
        let (s, h, _) = gw.post_as(&[], &json!({"model": "rate-limited-long", "input": "x"}));
        assert_eq!((s, served(&h).1), (200, "elsewhere"));
    }
    let counts = gw.fault_counts();
    assert_eq!(
        count(&counts, "status=429,retry_after=30"),
        1,
        "the cooling target got no more requests: {counts}"
    );
}
