//! The limit ledger's two implementations on the same operations: the
//! Lua script a real `redis-server` runs (native replicas, Spin) and the
//! Rust one the memory store and the Durable Objects run.

mod support;

use support::*;

/// The Lua ledger Redis runs and the Rust one the memory store and the
/// Durable Object run answer the same to the same operations, and leave
/// the same counters behind.
#[test]
fn the_lua_ledger_and_the_rust_ledger_agree() {
    use latticelm_core::quota::{self, Ledger, Op, OpKind, ScopeOp};
    use std::collections::BTreeMap;
    let Some(redis) = redis() else { return };
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let script = redis::Script::new(quota::REDIS_SCRIPT);
    let mut rust: BTreeMap<String, Ledger> = BTreeMap::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut now = 1_800_000_000_000u64;
    let mut open: Vec<String> = Vec::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for step in 0..400 {
        now += next(1500);
        if step % 50 == 49 {
            // Past windows, leases and old history buckets.
            now += 20 * 60_000;
        }
        let scopes = vec![
            ScopeOp {
                shard: "key:a".into(),
                name: "all".into(),
                rpm: Some(8),
                tpm: Some(5000),
                concurrent: Some(3),
                budget: Some(2.0),
                period: format!("d{}", now / 3_600_000),
                period_end_ms: (now / 3_600_000 + 1) * 3_600_000,
                ..Default::default()
            },
            ScopeOp {
                shard: "key:a".into(),
                name: "m:gpt".into(),
                tpm: Some(3000),
                ..Default::default()
            },
            ScopeOp {
                shard: "team:t".into(),
                name: "all".into(),
                rpm: Some(30),
                budget: Some(3.0),
                period: "total".into(),
                ..Default::default()
            },
        ];
        let kind = match next(10) {
            0..=4 => OpKind::Reserve,
            5 | 6 => OpKind::Settle,
            7 => OpKind::Cancel,
            8 => OpKind::Extend,
            _ => OpKind::Peek,
        };
        let id = match kind {
            OpKind::Reserve => format!("r{step}"),
            _ if !open.is_empty() => open[next(open.len() as u64) as usize].clone(),
            _ => "none".into(),
        };
        let tokens = next(700);
        let cost = next(100) as f64 / 1000.0;
        let op = Op {
            op: kind,
            id: id.clone(),
            now_ms: now,
            lease_ms: 30_000,
            scopes: scopes
                .into_iter()
                .map(|s| ScopeOp { tokens, cost, ..s })
                .collect(),
        };
        let expected = quota::apply(&mut rust, &op);
        let keys: Vec<String> = op.shards().into_iter().map(quota::redis_key).collect();
        let mut inv = script.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(serde_json::to_string(&op).unwrap()).arg("0");
        let got: String = inv.invoke(&mut conn).unwrap();
        let got: quota::Reply = serde_json::from_str(&got).unwrap();
        assert_eq!(got.ok, expected.ok, "step {step} {op:?}");
        assert_eq!(
            got.refused
                .as_ref()
                .map(|r| (&r.kind, &r.shard, r.retry_after_ms)),
            expected
                .refused
                .as_ref()
                .map(|r| (&r.kind, &r.shard, r.retry_after_ms)),
            "step {step}"
        );
        assert_eq!(got.scopes.len(), expected.scopes.len(), "step {step}");
        for (g, e) in got.scopes.iter().zip(&expected.scopes) {
            assert_eq!(
                (
                    g.requests,
                    g.tokens,
                    g.concurrent,
                    g.reset_requests_ms,
                    g.reset_tokens_ms
                ),
                (
                    e.requests,
                    e.tokens,
                    e.concurrent,
                    e.reset_requests_ms,
                    e.reset_tokens_ms
                ),
                "step {step}"
            );
            assert!(
                (g.spent - e.spent).abs() < 1e-9 && (g.reserved - e.reserved).abs() < 1e-9,
                "step {step}: {g:?} {e:?}"
            );
        }
        assert_eq!(got.history.len(), expected.history.len(), "step {step}");
        for (shard, h) in &expected.history {
            let g = &got.history[shard];
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                h.keys().collect::<Vec<_>>(),
                "step {step}"
            );
            for (k, v) in h {
                let close = g[k].iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-9);
                assert!(close, "step {step} {shard} {k}: {:?} vs {v:?}", g[k]);
            }
        }
        let outcome = got
            .refused
            .as_ref()
            .map_or(format!("{kind:?} ok"), |r| r.kind.as_str().to_owned());
        *outcomes.entry(outcome).or_default() += 1;
        if kind == OpKind::Reserve && got.ok {
            open.push(id);
        } else if matches!(kind, OpKind::Settle | OpKind::Cancel) {
            open.retain(|x| *x != id);
        }
    }
    // Every kind of refusal, and every operation, was met on the way.
    for k in [
        "requests",
        "tokens",
        "concurrent",
        "budget",
        "Reserve ok",
        "Settle ok",
        "Cancel ok",
        "Extend ok",
        "Peek ok",
    ] {
        assert!(
            outcomes.get(k).is_some_and(|n| *n > 0),
            "{k} never happened: {outcomes:?}"
        );
    }
}
