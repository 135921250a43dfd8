//! The limit checks every edge host passes (the Worker through its
//! Durable Objects, Spin through outbound Redis).

use serde_json::{json, Value};

use super::{client, config, Gateway};

/// The test config with a key limited to 5 requests a minute, and a key
/// of a team whose budget covers about one worst-case request of the
/// priced model; `store` is `limits.store`.
pub fn config_with_limits(mock: &str, store: Option<&str>) -> String {
    let mut yaml = config(mock)
        + "  - name: priced\n    targets:\n      - { provider: oa, provider_model_id: gpt-4o-mini, input_cost: 1000, output_cost: 1000 }\n"
        + "auth:\n  api_keys:\n    - { name: edge-a, key: sk-edge-a, limits: { requests_per_minute: 5 } }\n    - { name: edge-b, key: sk-edge-b, team: beta }\n"
        + "teams:\n  - { name: beta, budget: { usd: 0.06, period: daily } }\n";
    if let Some(s) = store {
        yaml += &format!("limits:\n  store: \"{s}\"\n");
    }
    yaml
}

fn post(gw: &Gateway, key: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(key)
        .json(body)
        .send()
        .unwrap()
}

/// Exactly the limit admitted out of concurrent requests spread over
/// `gws`, with OpenAI's headers; a team budget refuses once spent.
pub fn edge_limits(gws: &[&Gateway]) {
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let gw = gws[i % gws.len()];
                s.spawn(move || {
                    let r = post(gw, "sk-edge-a", &json!({"model": "offline", "input": "hi"}));
                    if r.status() == 200 {
                        assert_eq!(
                            r.headers()["x-ratelimit-limit-requests"].to_str().unwrap(),
                            "5"
                        );
                    }
                    r.status().as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    assert_eq!((count(200), count(429)), (5, 7), "{statuses:?}");
    // A route without prices can't be reached under a budget.
    let r = post(
        gws[0],
        "sk-edge-b",
        &json!({"model": "chat/anything", "input": "hi"}),
    );
    assert_eq!(r.status(), 403);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"]["code"], "model_not_priced", "{e}");
    // The budget: spent by real use, then refused for the rest of the day.
    let body = json!({"model": "priced", "input": "hello there", "max_output_tokens": 16});
    let mut served = 0;
    let refusal = loop {
        let r = post(gws[0], "sk-edge-b", &body);
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        served += 1;
        assert!(served < 20, "the budget never ran out");
    };
    assert!(served >= 1, "one worst case fits");
    let after: u64 = refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > 60, "until the day ends: {after}");
    assert_eq!(refusal.headers()["x-should-retry"], "false");
    let e: Value = refusal.json().unwrap();
    assert_eq!(e["error"]["code"], "budget_exceeded", "{e}");
    // Another name for the same route is the same route: refused too.
    let alias = json!({"model": "oa/gpt-4o-mini", "input": "hello there", "max_output_tokens": 16});
    assert_eq!(post(gws[0], "sk-edge-b", &alias).status(), 429);
}
