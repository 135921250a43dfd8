//! Fault injection through the `/_fault/<spec>` path prefix.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

fn mock() -> String {
    // Where cargo runs this test from, not where it was built: a build
    // directory shared between checkouts may hold another's binary.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).to_owned(),
        Into::into,
    );
    latticelm_mock::spawn(dir.join("../../../shared/fixtures"))
}

/// One wire protocol: its paths and a request body.
#[derive(Clone, Copy)]
struct Proto {
    name: &'static str,
    stream_path: &'static str,
    plain_path: &'static str,
}

const RESPONSES: Proto = Proto {
    name: "responses",
    stream_path: "/v1/responses",
    plain_path: "/v1/responses",
};
const CHAT: Proto = Proto {
    name: "chat",
    stream_path: "/v1/chat/completions",
    plain_path: "/v1/chat/completions",
};
const ANTHROPIC: Proto = Proto {
    name: "anthropic",
    stream_path: "/v1/messages",
    plain_path: "/v1/messages",
};
const GOOGLE: Proto = Proto {
    name: "google",
    stream_path: "/v1beta/models/{model}:streamGenerateContent?alt=sse",
    plain_path: "/v1beta/models/{model}:generateContent",
};
const ALL: [Proto; 4] = [RESPONSES, CHAT, ANTHROPIC, GOOGLE];

impl Proto {
    fn body(self, model: &str, stream: bool) -> Value {
        match self.name {
            "responses" => json!({"model": model, "input": "hello there", "stream": stream}),
            "chat" => {
                json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "stream": stream})
            }
            "anthropic" => {
                json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hello there"}], "stream": stream})
            }
            _ => json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}),
        }
    }

    /// The request path; Gemini names the model in it.
    fn path(self, model: &str, stream: bool) -> String {
        let path = if stream {
            self.stream_path
        } else {
            self.plain_path
        };
        path.replace("{model}", model)
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// POSTs a request for `proto` under an optional fault prefix.
fn send(base: &str, spec: Option<&str>, proto: Proto, stream: bool) -> reqwest::Result<Response> {
    send_model(base, spec, proto, "mock-model", stream)
}

fn send_model(
    base: &str,
    spec: Option<&str>,
    proto: Proto,
    model: &str,
    stream: bool,
) -> reqwest::Result<Response> {
    let prefix = spec.map(|s| format!("/_fault/{s}")).unwrap_or_default();
    client()
        .post(format!("{base}{prefix}{}", proto.path(model, stream)))
        .json(&proto.body(model, stream))
        .send()
}

/// The SSE frames of a body, each with the blank line (LF or CRLF) that ends it.
fn frames(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = [("\r\n\r\n", 4), ("\n\n", 2)]
            .iter()
            .filter_map(|(sep, len)| rest.find(sep).map(|i| i + len))
            .min()
            .unwrap_or(rest.len());
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

fn counts(base: &str) -> Value {
    client()
        .get(format!("{base}/_mock/counts"))
        .send()
        .and_then(|r| r.json())
        .expect("counts")
}

/// The expected in-stream error event(s) for a protocol.
fn error_frames(proto: Proto, seq: usize) -> Vec<String> {
    match proto.name {
        "anthropic" => vec![
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into(),
        ],
        "chat" => vec![
            "data: {\"error\":{\"message\":\"The server is overloaded. Please try again later.\",\"type\":\"server_error\",\"param\":null,\"code\":503}}\n\n".into(),
        ],
        "google" => vec![
            "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n".into(),
        ],
        _ => vec![
            format!("event: error\ndata: {{\"type\":\"error\",\"sequence_number\":{seq},\"error\":{{\"type\":\"server_error\",\"code\":\"server_error\",\"message\":\"The server had an error while processing your request. Sorry about that!\",\"param\":null}}}}\n\n"),
        ],
    }
}

/// Checks the error event(s) that end a faulted stream.
fn assert_error_tail(proto: Proto, tail: &[String], seq: usize) {
    let expected = error_frames(proto, seq);
    assert_eq!(tail[0], expected[0], "{}", proto.name);
    if proto.name == "responses" {
        assert_eq!(tail.len(), 2, "error then response.failed");
        let failed = tail[1]
            .strip_prefix("event: response.failed\ndata: ")
            .expect("response.failed event");
        let failed: Value = serde_json::from_str(failed.trim_end()).expect("json");
        assert_eq!(failed["type"], "response.failed");
        assert_eq!(failed["sequence_number"], seq + 1);
        assert_eq!(failed["response"]["status"], "failed");
        assert_eq!(failed["response"]["error"]["code"], "server_error");
    } else {
        assert_eq!(
            tail.len(),
            1,
            "{}: the error event ends the stream",
            proto.name
        );
    }
}

#[test]
fn status_answers_the_protocols_error_body_with_retry_after() {
    let base = mock();
    for proto in ALL {
        let resp = send(&base, Some("status=503,retry_after=1"), proto, false).expect("send");
        assert_eq!(resp.status().as_u16(), 503, "{}", proto.name);
        assert_eq!(resp.headers()["retry-after"], "1");
        let body: Value = resp.json().expect("json");
        match proto.name {
            "anthropic" => assert_eq!(body["type"], "error"),
            "google" => assert_eq!(body["error"]["status"], "UNAVAILABLE"),
            _ => assert_eq!(body["error"]["type"], "server_error"),
        }
    }
    // Azure's deployment path, streaming or not.
    let resp = client()
        .post(format!(
            "{base}/_fault/status=429/openai/deployments/d/chat/completions"
        ))
        .json(&CHAT.body("m", true))
        .send()
        .expect("send");
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_none());
}

#[test]
fn unknown_or_bad_faults_are_a_400_that_names_them() {
    let base = mock();
    for (spec, named) in [
        ("stauts=503", "stauts"),
        ("status=abc", "abc"),
        ("drop=1", "drop"),
        ("retry_after=2", "retry_after"),
    ] {
        let resp = send(&base, Some(spec), ANTHROPIC, false).expect("send");
        assert_eq!(resp.status().as_u16(), 400, "{spec}");
        let body: Value = resp.json().expect("json");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{spec}: {message}");
    }
    // No route after the prefix: 404, as without it.
    let resp = client()
        .post(format!("{base}/_fault/drop"))
        .body("{}")
        .send()
        .expect("send");
    assert_eq!(resp.status().as_u16(), 404);
}

#[test]
fn first_k_then_normal_and_counts() {
    let base = mock();
    let spec = "status=500,first=2";
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            send(&base, Some(spec), CHAT, false)
                .expect("send")
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses, [500, 500, 200, 200]);
    send(&base, Some("slow_headers=1"), RESPONSES, false).expect("send");
    send(&base, None, RESPONSES, false).expect("send");
    assert_eq!(counts(&base), json!({spec: 4, "slow_headers=1": 1}));

    // Requests keep their full path; forgetting them keeps the counts.
    let reqs: Value = client()
        .delete(format!("{base}/_mock/requests"))
        .send()
        .and_then(|r| r.json())
        .expect("requests");
    let prefixed = reqs
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["path"] == format!("/_fault/{spec}/v1/chat/completions"))
        .count();
    assert_eq!(prefixed, 4);
    assert_eq!(counts(&base)[spec], 4);

    // Clearing the counts re-arms `first`.
    client()
        .delete(format!("{base}/_mock/counts"))
        .send()
        .expect("delete");
    assert_eq!(counts(&base), json!({}));
    let again = send(&base, Some(spec), CHAT, false).expect("send");
    assert_eq!(again.status().as_u16(), 500);
}

#[test]
fn drop_closes_the_connection_without_a_response() {
    let base = mock();
    for stream in [false, true] {
        let err = send(&base, Some("drop"), ANTHROPIC, stream).expect_err("transport error");
        assert!(err.status().is_none(), "{err:?}");
        assert!(!err.is_timeout(), "{err:?}");
    }
    assert_eq!(counts(&base), json!({"drop": 2}));
    // first=1: the retry gets through.
    assert!(send(&base, Some("drop,first=1"), GOOGLE, false).is_err());
    let ok = send(&base, Some("drop,first=1"), GOOGLE, false).expect("second try");
    assert_eq!(ok.status().as_u16(), 200);
}

#[test]
fn slow_headers_delays_then_answers() {
    let base = mock();
    let start = Instant::now();
    let resp = send(&base, Some("slow_headers=300"), RESPONSES, false).expect("send");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().expect("json");
    assert_eq!(body["status"], "completed");

    let start = Instant::now();
    let resp = send(&base, Some("slow_headers=200,status=502"), GOOGLE, true).expect("send");
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(resp.status().as_u16(), 502);
}

/// Reads a body until it ends or fails; returns the bytes and whether it failed.
fn read_all(mut resp: Response) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match resp.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
}

#[test]
fn stop_after_aborts_the_stream_mid_body() {
    let base = mock();
    for proto in ALL {
        let normal = send(&base, None, proto, true)
            .expect("send")
            .text()
            .expect("body");
        let normal = frames(&normal);
        let resp = send(&base, Some("stop_after=2"), proto, true).expect("send");
        assert_eq!(resp.status().as_u16(), 200);
        let (got, failed) = read_all(resp);
        assert!(failed, "{}: the body read fails", proto.name);
        assert_eq!(frames(&got), normal[..2], "{}", proto.name);
        for terminal in [
            "[DONE]",
            "message_stop",
            "response.completed",
            "finishReason",
        ] {
            assert!(!got.contains(terminal), "{}: {got}", proto.name);
        }
    }
    let streams: Value = client()
        .get(format!("{base}/_mock/streams"))
        .send()
        .and_then(|r| r.json())
        .expect("streams");
    let aborted = streams
        .as_array()
        .expect("list")
        .iter()
        .filter(|s| *s == "aborted")
        .count();
    assert_eq!(aborted, 4);

    // A fixture replay is cut too; a non-streamed answer is not.
    let resp = send_model(
        &base,
        Some("stop_after=1"),
        ANTHROPIC,
        "fixture:anthropic/anthropic-text",
        true,
    )
    .expect("send");
    let (got, failed) = read_all(resp);
    assert!(failed);
    assert_eq!(frames(&got).len(), 1);
    let resp = send(&base, Some("stop_after=1"), CHAT, false).expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().expect("json");
    assert_eq!(body["object"], "chat.completion");
}

#[test]
fn open_error_sends_the_protocols_error_event_first() {
    let base = mock();
    for proto in ALL {
        let resp = send(&base, Some("open_error"), proto, true).expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{}", proto.name);
        let ct = resp.headers()["content-type"].to_str().unwrap_or_default();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        let body = resp.text().expect("a clean end");
        assert_error_tail(proto, &frames(&body), 0);

        let resp = send(&base, Some("open_error,retry_after=4"), proto, false).expect("send");
        assert_eq!(resp.status().as_u16(), 503, "{}", proto.name);
        assert_eq!(resp.headers()["retry-after"], "4");
    }
}

#[test]
fn mid_error_sends_n_frames_then_the_error_event() {
    let base = mock();
    for proto in ALL {
        let normal = send(&base, None, proto, true)
            .expect("send")
            .text()
            .expect("body");
        let normal = frames(&normal);
        let body = send(&base, Some("mid_error=2"), proto, true)
            .expect("send")
            .text()
            .expect("a clean end");
        let got = frames(&body);
        assert_eq!(got[..2], normal[..2], "{}", proto.name);
        assert_error_tail(proto, &got[2..], 2);

        // Past the end: the error still comes before the terminal event.
        let body = send(&base, Some("mid_error=1000"), proto, true)
            .expect("send")
            .text()
            .expect("body");
        let got = frames(&body);
        let n = normal.len() - 1;
        assert_eq!(got[..n], normal[..n], "{}", proto.name);
        assert_error_tail(proto, &got[n..], n);

        // Non-streamed answers are unaffected.
        let resp = send(&base, Some("mid_error=2"), proto, false).expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{}", proto.name);
    }
    // On a fixture replay, and with the `slow:` model prefix.
    let body = send_model(
        &base,
        Some("mid_error=1"),
        GOOGLE,
        "fixture:google/google-text",
        true,
    )
    .expect("send")
    .text()
    .expect("body");
    assert_error_tail(GOOGLE, &frames(&body)[1..], 1);
    let body = send_model(&base, Some("mid_error=3"), CHAT, "slow:5", true)
        .expect("send")
        .text()
        .expect("body");
    assert_error_tail(CHAT, &frames(&body)[3..], 3);
}

#[test]
fn model_prefixes_still_work_under_a_fault_prefix() {
    let base = mock();
    let resp = send_model(&base, Some("first=0"), ANTHROPIC, "error:429", false).expect("send");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let resp = send_model(
        &base,
        Some("slow_headers=1"),
        RESPONSES,
        "fixture:openai-responses/openai-error.1",
        false,
    )
    .expect("send");
    assert_eq!(resp.status().as_u16(), 429);
}
