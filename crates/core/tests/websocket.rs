//! The WebSocket session state machine, with a fixed clock and the
//! built-in mock model: sequential turns, continuation from the
//! connection, eviction on failure, the 60-minute limit, malformed frames
//! and a second `response.create` while a turn is running.

mod common;

use common::*;
use futures::StreamExt;
use latticelm_core::{Config, Gateway, HttpRequest, WsSession};
use serde_json::{json, Value};

fn setup() -> (Gateway, FakeHost, WsSession) {
    setup_with("")
}

/// A gateway on the mock model (with `extra` YAML) and an open session.
fn setup_with(extra: &str) -> (Gateway, FakeHost, WsSession) {
    let yaml = format!(
        "providers:\n  m: {{ type: mock }}\nmodels:\n  - {{ name: mock, provider: m }}\n{extra}"
    );
    let gw = Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap());
    let host = FakeHost::default();
    let upgrade = HttpRequest {
        method: "GET".into(),
        path: "/v1/responses".into(),
        ..Default::default()
    };
    let session = futures::executor::block_on(gw.ws_open(&host, &upgrade))
        .ok()
        .expect("open");
    (gw, host, session)
}

fn send(gw: &Gateway, host: &FakeHost, s: &WsSession, frame: Value) -> (Vec<Value>, bool) {
    futures::executor::block_on(async {
        let reply = gw.ws_message(host, s, &frame.to_string()).await;
        let frames: Vec<String> = reply.frames.collect().await;
        let v = frames
            .iter()
            .map(|f| serde_json::from_str(f).expect("each frame is one JSON object"))
            .collect();
        (v, reply.close.is_some())
    })
}

fn create(body: Value) -> Value {
    let mut b = body;
    b["type"] = json!("response.create");
    b
}

fn code(frames: &[Value]) -> &str {
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "error", "{last}");
    assert_valid("WebSocketErrorEvent", last);
    last["error"]["code"].as_str().unwrap()
}

#[test]
fn sequential_turns_continue_from_the_connection() {
    let (gw, host, s) = setup();
    let (first, close) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "store": false, "input": "one"})),
    );
    assert!(!close);
    assert_valid_stream(&first);
    assert_eq!(first.last().unwrap()["type"], "response.completed");
    let id = first.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (second, _) = send(
        &gw,
        &host,
        &s,
        create(
            json!({"model": "mock", "store": false, "previous_response_id": id, "input": "two"}),
        ),
    );
    assert_valid_stream(&second);
    assert_eq!(second.last().unwrap()["type"], "response.completed");
    // Nothing was written to the store.
    assert!(
        host.kv.borrow().is_empty(),
        "store:false stays on the connection"
    );
    // An id the connection never saw, with store:false.
    let (e, _) = send(
        &gw,
        &host,
        &s,
        create(
            json!({"model": "mock", "store": false, "previous_response_id": "resp_nope", "input": "x"}),
        ),
    );
    assert_eq!(code(&e), "previous_response_not_found");
}

#[test]
fn a_failed_continuation_evicts_the_turn() {
    let (gw, host, s) = setup();
    let (first, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "store": false, "input": "one"})),
    );
    let id = first.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"model": "mock", "store": false, "previous_response_id": id,
        "input": [{"type": "function_call_output", "call_id": "call_x", "output": "?"}]});
    let (e, close) = send(&gw, &host, &s, create(bad));
    assert_eq!(e.len(), 1, "one terminal frame: {e:?}");
    assert_eq!(e[0]["status"], 400);
    assert!(!close, "the connection stays open");
    let again = json!({"model": "mock", "store": false, "previous_response_id": id, "input": "x"});
    assert_eq!(
        code(&send(&gw, &host, &s, create(again)).0),
        "previous_response_not_found"
    );
}

#[test]
fn the_connection_ends_after_sixty_minutes() {
    let (gw, host, s) = setup();
    host.clock.set(59 * 60);
    let (ok, close) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "still here"})),
    );
    assert_eq!(ok.last().unwrap()["type"], "response.completed");
    assert!(!close);
    host.clock.set(60 * 60);
    let (e, close) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "too late"})),
    );
    assert_eq!(code(&e), "websocket_connection_limit_reached");
    assert!(close, "the host closes the connection");
}

#[test]
fn malformed_frames_get_error_frames() {
    let (gw, host, s) = setup();
    for (frame, want) in [
        ("not json".to_owned(), "invalid_json"),
        (json!(["an", "array"]).to_string(), "invalid_json"),
        (
            json!({"type": "response.cancel"}).to_string(),
            "unknown_event_type",
        ),
        (
            json!({"type": "response.create", "model": "mock", "background": true}).to_string(),
            "unsupported_parameter",
        ),
        (
            json!({"type": "response.create", "model": "mock", "input": 5}).to_string(),
            "invalid_value",
        ),
    ] {
        let frames = futures::executor::block_on(async {
            let r = gw.ws_message(&host, &s, &frame).await;
            r.frames.collect::<Vec<String>>().await
        });
        let v: Vec<Value> = frames
            .iter()
            .map(|f| serde_json::from_str(f).unwrap())
            .collect();
        assert_eq!(v.len(), 1, "{frame}: {v:?}");
        assert_eq!(v[0]["type"], "error", "{frame}");
        assert_valid("WebSocketErrorEvent", &v[0]);
        assert!(
            v[0]["error"]["code"].as_str().unwrap().contains(want)
                || (want == "invalid_value" && v[0]["status"] == 400),
            "{frame}: {}",
            v[0]
        );
    }
    // `stream: true` (Codex sends it) changes nothing.
    let (ok, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "fine", "stream": true, "background": false})),
    );
    assert_eq!(ok.last().unwrap()["type"], "response.completed", "{ok:?}");
    // The connection still works.
    let (ok, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "fine"})),
    );
    assert_eq!(ok.last().unwrap()["type"], "response.completed");
}

#[test]
fn one_response_at_a_time() {
    let (gw, host, s) = setup();
    futures::executor::block_on(async {
        let first = gw
            .ws_message(
                &host,
                &s,
                &create(json!({"model": "mock", "input": "one"})).to_string(),
            )
            .await;
        // The first turn's reply is still being sent.
        let second = gw
            .ws_message(
                &host,
                &s,
                &create(json!({"model": "mock", "input": "two"})).to_string(),
            )
            .await;
        let second: Vec<String> = second.frames.collect().await;
        let v: Value = serde_json::from_str(&second[0]).unwrap();
        assert_eq!(v["error"]["code"], "response_in_progress", "{v}");
        let first: Vec<String> = first.frames.collect().await;
        assert!(first.last().unwrap().contains("response.completed"));
        // Once it has ended, the next turn runs.
        let third = gw
            .ws_message(
                &host,
                &s,
                &create(json!({"model": "mock", "input": "three"})).to_string(),
            )
            .await;
        let third: Vec<String> = third.frames.collect().await;
        assert!(third.last().unwrap().contains("response.completed"));
    });
}

fn open_with(extra: &str, path: &str, headers: &[(&str, &str)]) -> Result<WsSession, u16> {
    let yaml = format!(
        "providers:\n  m: {{ type: mock }}\nmodels:\n  - {{ name: mock, provider: m }}\n{extra}"
    );
    let gw = Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap());
    let upgrade = HttpRequest {
        method: "GET".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    futures::executor::block_on(gw.ws_open(&FakeHost::default(), &upgrade)).map_err(|r| r.status)
}

#[test]
fn a_browser_upgrade_needs_an_allowed_origin() {
    let host = [("host", "127.0.0.1:8080")];
    // No Origin: not a browser.
    assert!(open_with("", "/v1/responses", &host).is_ok());
    // Same origin.
    assert!(open_with(
        "",
        "/v1/responses",
        &[host[0], ("origin", "http://127.0.0.1:8080")]
    )
    .is_ok());
    // Another site, with auth off: refused all the same.
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1:9999",
        "file://",
    ] {
        let got = open_with("", "/v1/responses", &[host[0], ("origin", origin)]);
        assert_eq!(got.err(), Some(403), "{origin}");
    }
    // Listed.
    let listed = "server: { allowed_origins: [\"https://app.example.com\"] }\n";
    assert!(open_with(
        listed,
        "/v1/responses",
        &[host[0], ("origin", "https://app.example.com")]
    )
    .is_ok());
    assert_eq!(
        open_with(
            listed,
            "/v1/responses",
            &[host[0], ("origin", "https://evil.example")]
        )
        .err(),
        Some(403)
    );
    // Only on /v1/responses.
    for path in ["/", "/v1/chat/completions", "/anything", "/v1/responses/x"] {
        assert_eq!(open_with("", path, &host).err(), Some(404), "{path}");
    }
}

#[test]
fn a_frame_past_the_caps_is_refused_before_parsing() {
    let (gw, host, s) =
        setup_with("server: { max_request_bytes: 2048, limits: { max_json_values: 100 } }\n");
    let (frames, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "x".repeat(3000)})),
    );
    assert_eq!(code(&frames), "request_too_large");
    let (frames, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "x", "metadata": {"z": vec![0; 200]}})),
    );
    assert_eq!(code(&frames), "limit_exceeded");
    // The connection still takes turns.
    let (frames, _) = send(
        &gw,
        &host,
        &s,
        create(json!({"model": "mock", "input": "hi"})),
    );
    assert_eq!(frames.last().unwrap()["type"], "response.completed");
}
