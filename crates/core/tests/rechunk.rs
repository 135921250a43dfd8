//! Property: splitting a recorded upstream stream at arbitrary byte
//! boundaries (CRLF line ends too) yields byte-identical gateway output.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use serde_json::json;

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
