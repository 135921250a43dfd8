//! Property: splitting a recorded upstream stream at arbitrary byte
//! boundaries (CRLF line ends too) yields byte-identical gateway output.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use serde_json::json;

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

fn replay(kind: &str, chunks: Vec<Bytes>) -> Vec<u8> {
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks,
    });
    let (_, body) = run(
        &gateway(kind),
        &host,
        post(&json!({"model": "test-model", "input": "hi", "stream": true})),
    );
    body.concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn rechunking_does_not_change_output(cuts in proptest::collection::vec(any::<u16>(), 0..64)) {
        for (kind, sse) in fixtures() {
            let whole = replay(kind, vec![Bytes::from(sse.clone())]);
            let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % (sse.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for p in points {
                chunks.push(Bytes::copy_from_slice(&sse[start..p]));
                start = p;
            }
            chunks.push(Bytes::copy_from_slice(&sse[start..]));
            let got = replay(kind, chunks);
            if got != whole {
                let at = got.iter().zip(&whole).position(|(a, b)| a != b).unwrap_or(got.len().min(whole.len()));
                let window = |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(120)..(at + 120).min(v.len())]).into_owned();
                prop_assert!(false, "output differs at byte {at}:\n got: {}\nwant: {}", window(&got), window(&whole));
            }
        }
    }
}

#[test]
fn byte_at_a_time() {
    for (kind, sse) in fixtures().into_iter().take(4) {
        let whole = replay(kind, vec![Bytes::from(sse.clone())]);
        let singles = sse.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect();
        assert_eq!(replay(kind, singles), whole);
    }
}
