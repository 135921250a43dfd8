//! `POST /v1/messages` with the official `anthropic` Python SDK onto every
//! upstream protocol (Claude's API in front of GPT, Gemini and the rest):
//! plain, streamed, a tool round trip (streamed and not), images, thinking
//! through a tool round trip, fields passed as written to Claude
//! (`cache_control`), and errors in Anthropic's shape. `count_tokens` is a
//! clear 501. (The Worker runs it in `worker.rs`.)

mod support;

use support::*;

#[test]
fn messages_ingress_on_every_upstream() {
    if !python_has("anthropic") {
        return;
    }
    let gw = start();
    messages_sdk_check(&gw.url);
    let r = client()
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
}

/// A Messages stream that goes quiet gets `ping` events (here every
/// 25 ms, against an upstream pausing 60 ms between events), and stays
/// well formed around them.
#[test]
fn messages_streams_ping_on_long_waits() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config_with_slow(&mock).replace(
        "upstream_timeout: 5s",
        "upstream_timeout: 5s\n  stream_ping_interval: 25ms",
    );
    let gw = start_with(&yaml, mock);
    let r = client()
        .post(format!("{}/v1/messages", gw.url))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"model": "slow", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "one two three four five six"}]})
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    let pings = names.iter().filter(|n| **n == "ping").count();
    // One after `message_start` always; more while the upstream pauses.
    assert!(pings >= 3, "{pings} pings:\n{text}");
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(text.contains("\"text_delta\""), "{text}");
}
