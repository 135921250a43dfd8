//! Property: every recorded stream, cut at every event boundary on its
//! first target with `continue_after_output` on, ends as one valid event
//! stream with one terminal event (continued on the second target, or
//! failed cleanly), or, cut before any output, fails over; never a
//! malformed stream and never a panic.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

fn events(sse: &[u8]) -> Vec<Vec<u8>> {
    String::from_utf8_lossy(sse)
        .split_inclusive("\r\n\r\n")
        .map(|e| e.as_bytes().to_vec())
        .collect()
}

#[test]
fn every_recorded_stream_cut_at_every_event_continues_or_fails_cleanly() {
    let mut continued = 0;
    let mut tally = std::collections::BTreeMap::new();
    let mut cases = 0;
    for (kind, sse) in fixtures() {
        let evs = events(&sse);
        let yaml = format!(
            "providers:\n  a: {{ type: {kind}, endpoint: \"http://a.test\", api_key: k }}\n  b: {{ type: {kind}, endpoint: \"http://b.test\", api_key: k }}\nmodels:\n  - {{ name: m, continue_after_output: true, targets: [{{ provider: a, provider_model_id: x }}, {{ provider: b, provider_model_id: x }}] }}\nrouting: {{ circuit_breaker: {{ failures: 100000 }} }}\n"
        );
        let gw = latticelm_core::Gateway::new(
            latticelm_core::Config::from_yaml(&yaml, &|_| None).unwrap(),
        );
        for k in 1..evs.len() {
            cases += 1;
            let host = FakeHost::default();
            // Popped last first: the cut stream, then the whole one.
            host.canned.borrow_mut().push(Canned {
                status: 200,
                headers: vec![],
                chunks: vec![Bytes::from(sse.clone())],
            });
            host.canned.borrow_mut().push(Canned {
                status: 200,
                headers: vec![],
                chunks: vec![Bytes::from(evs[..k].concat())],
            });
            let req = post(&json!({"model": "m", "input": "hi", "stream": true}));
            let (status, body) = run(&gw, &host, req);
            let body = body.concat();
            if status != 200 {
                let e: Value = serde_json::from_slice(&body).unwrap();
                assert_valid("Error", &e["error"]);
                continue;
            }
            let out = parse_sse(&body);
            assert_valid_stream(&out);
            let last = out
                .last()
                .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            let sent = host.sent.borrow().len();
            *tally
                .entry(format!("{kind} sent={sent} {last}"))
                .or_insert(0) += 1;
            if sent == 2 && last == "response.completed" {
                continued += 1;
            }
        }
    }
    assert!(cases > 100, "{cases} cuts");
    assert!(
        continued > 500,
        "cut streams go on to completion ({continued} of {cases})"
    );
    eprintln!("{cases} cuts, {continued} completed on the second target: {tally:#?}");
}
