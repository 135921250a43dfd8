//! Property: upstream streams mangled at the event level (events
//! dropped, repeated, cut short, bytes flipped) never make the gateway
//! panic, and what it answers always follows the spec: a valid event
//! stream with one terminal event, or an error envelope before any output.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let base = shared_dir().join("fixtures");
    let mut out = Vec::new();
    for (dir, kind) in [
        ("openai-responses", "openai"),
        ("open-responses", "openai"),
        ("azure-openai-responses", "openai"),
        ("openai-chat", "openai-chat"),
        ("anthropic", "anthropic"),
        ("google", "google"),
    ] {
        for entry in std::fs::read_dir(base.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".chunks.txt") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut sse = Vec::new();
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    if kind != "openai-chat" && kind != "google" {
                        let t = line
                            .split("\"type\":\"")
                            .nth(1)
                            .and_then(|r| r.split('"').next())
                            .unwrap();
                        sse.extend_from_slice(format!("event: {t}\r\n").as_bytes());
                    }
                    sse.extend_from_slice(format!("data: {line}\r\n\r\n").as_bytes());
                }
                if kind == "openai-chat" {
                    sse.extend_from_slice(b"data: [DONE]\r\n\r\n");
                }
                out.push((kind, sse));
            }
        }
    }
    out.sort();
    out
}

/// The events of an SSE recording (blocks ending in a blank line).
fn events(sse: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(sse);
    text.split_inclusive("\r\n\r\n")
        .map(|e| e.as_bytes().to_vec())
        .collect()
}

#[derive(Debug, Clone)]
enum Mangle {
    Drop(usize),
    Repeat(usize),
    Cut(usize),
    Flip(usize, u8),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        any::<usize>().prop_map(Mangle::Drop),
        any::<usize>().prop_map(Mangle::Repeat),
        any::<usize>().prop_map(Mangle::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mangle::Flip(i, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mangled_streams_still_follow_the_spec(pick in any::<usize>(), mangles in proptest::collection::vec(mangle(), 1..6)) {
        let all = fixtures();
        let (kind, sse) = &all[pick % all.len()];
        let mut evs = events(sse);
        for m in mangles {
            if evs.is_empty() {
                break;
            }
            let n = evs.len();
            match m {
                Mangle::Drop(i) => { evs.remove(i % n); }
                Mangle::Repeat(i) => { let e = evs[i % n].clone(); evs.insert(i % n, e); }
                Mangle::Cut(i) => evs.truncate(i % n),
                Mangle::Flip(i, b) => {
                    let e = &mut evs[i % n];
                    let at = (i / n) % e.len().max(1);
                    if let Some(x) = e.get_mut(at) { *x ^= b | 1; }
                }
            }
        }
        let host = FakeHost::answering(Canned { status: 200, headers: vec![], chunks: vec![Bytes::from(evs.concat())] });
        let gw = gateway_with(kind, "routing: { retries: 0 }");
        let (status, body) = run(&gw, &host, post(&json!({"model": "test-model", "input": "hi", "stream": true})));
        let body = body.concat();
        if status == 200 {
            let out = parse_sse(&body);
            assert_valid_stream(&out);
            let terminal = out.iter().filter(|e| {
                matches!(e["type"].as_str(), Some("response.completed" | "response.incomplete" | "response.failed"))
            }).count();
            prop_assert_eq!(terminal, 1);
        } else {
            let e: Value = serde_json::from_slice(&body).unwrap();
            assert_valid("Error", &e["error"]);
            prop_assert!(status >= 400);
        }
    }
}
