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

/// Both ledgers over random reserve, extend, settle, cancel and lapse,
/// with lapses met by refusals, amounts up to `u64::MAX` and a team's
/// scope shared by two keys: they answer alike and hold alike state
/// (peeked after every step); nothing wraps; spent plus held never
/// passes a budget; every lapsed lease is charged.
#[test]
fn the_ledgers_agree_at_the_extremes_and_charge_every_lapse() {
    use latticelm_core::quota::{self, Ledger, Op, OpKind, ScopeOp};
    use std::collections::BTreeMap;
    let Some(redis) = redis() else { return };
    let mut lua = lua_ledger(&redis.url);
    let mut rust: BTreeMap<String, Ledger> = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let (budget_x, budget_y, budget_t) = (1.0, 0.4, 1.5);
    let scopes = |key: &str, budget: f64| {
        vec![
            ScopeOp {
                shard: format!("key:{key}"),
                name: "all".into(),
                tpm: Some(1_000_000),
                budget: Some(budget),
                period: "total".into(),
                ..Default::default()
            },
            ScopeOp {
                shard: "team:t".into(),
                name: "all".into(),
                budget: Some(budget_t),
                period: "total".into(),
                ..Default::default()
            },
        ]
    };
    let mut now = 1_900_000_000_000u64;
    // Open leases: id → (key, cost held, lapses at).
    let mut open: BTreeMap<String, (String, f64, u64)> = BTreeMap::new();
    // What each shard must have spent: settled costs and lapsed leases.
    let mut owed: BTreeMap<String, f64> = BTreeMap::new();
    let mut lapses = 0;
    let mut lapse_refused = 0;
    for step in 0..600 {
        now += next(400);
        let key = if next(2) == 0 { "x" } else { "y" };
        let tokens = match next(4) {
            0 => u64::MAX - next(3),
            1 => next(1 << 50),
            _ => next(5_000),
        };
        let cost = next(100) as f64 / 10_000.0;
        let (kind, id) = match next(10) {
            0..=4 => (OpKind::Reserve, format!("r{step}")),
            5 | 6 if !open.is_empty() => {
                let i = next(open.len() as u64) as usize;
                (OpKind::Settle, open.keys().nth(i).unwrap().clone())
            }
            7 if !open.is_empty() => {
                let i = next(open.len() as u64) as usize;
                (OpKind::Cancel, open.keys().nth(i).unwrap().clone())
            }
            8 if !open.is_empty() => {
                let i = next(open.len() as u64) as usize;
                (OpKind::Extend, open.keys().nth(i).unwrap().clone())
            }
            _ => (OpKind::Peek, "peek".into()),
        };
        // A settle, cancel or extend names its lease's own key.
        let key = open.get(&id).map_or(key.to_owned(), |o| o.0.clone());
        let budget = if key == "x" { budget_x } else { budget_y };
        let held = open.get(&id).map_or(0.0, |o| o.1);
        // Settled at no more than it held.
        let amount = if kind == OpKind::Settle {
            held * (next(101) as f64 / 100.0)
        } else {
            cost
        };
        let op = Op {
            op: kind,
            id: id.clone(),
            now_ms: now,
            lease_ms: 100 + next(1_200),
            scopes: scopes(&key, budget)
                .into_iter()
                .map(|s| ScopeOp {
                    tokens,
                    cost: amount,
                    ..s
                })
                .collect(),
        };
        let expected = quota::apply(&mut rust, &op);
        let got = lua(&op);
        assert_eq!(got.ok, expected.ok, "step {step} {op:?}");
        assert_eq!(
            got.refused.as_ref().map(|r| (&r.kind, &r.shard)),
            expected.refused.as_ref().map(|r| (&r.kind, &r.shard)),
            "step {step}"
        );
        if let (Some(g), Some(e)) = (&got.refused, &expected.refused) {
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (a, b) => a.is_none() && b.is_none(),
            };
            assert!(
                close(g.spent, e.spent) && close(g.held, e.held),
                "step {step}: {g:?} {e:?}"
            );
        }
        // The model: a lease past its time is charged what it held
        // (whoever prunes it), so it is owed from the moment it lapses.
        let lapsed: Vec<String> = open
            .iter()
            .filter(|(_, o)| o.2 <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for l in lapsed {
            let (k, c, _) = open.remove(&l).unwrap();
            *owed.entry(format!("key:{k}")).or_default() += c;
            *owed.entry("team:t".into()).or_default() += c;
            lapses += 1;
            if !expected.ok {
                lapse_refused += 1;
            }
        }
        match kind {
            OpKind::Reserve if expected.ok => {
                open.insert(id.clone(), (key.clone(), amount, now + op.lease_ms));
            }
            OpKind::Extend if expected.ok => {
                if let Some(o) = open.get_mut(&id) {
                    o.1 += amount;
                    o.2 = now + op.lease_ms;
                }
            }
            OpKind::Cancel => {
                open.remove(&id);
            }
            OpKind::Settle => {
                // A lease that lapsed first was charged instead.
                let settled = open.remove(&id).map_or(0.0, |_| amount);
                *owed.entry(format!("key:{key}")).or_default() += settled;
                *owed.entry("team:t".into()).or_default() += settled;
            }
            _ => {}
        }
        // State for state: peek every scope on both.
        for k in ["x", "y"] {
            let peek = Op {
                op: OpKind::Peek,
                id: "peek".into(),
                now_ms: now,
                lease_ms: 0,
                scopes: scopes(k, if k == "x" { budget_x } else { budget_y }),
            };
            let (e, g) = (quota::apply(&mut rust, &peek), lua(&peek));
            for (i, (e, g)) in e.scopes.iter().zip(&g.scopes).enumerate() {
                assert_eq!(
                    (e.tokens, e.concurrent),
                    (g.tokens, g.concurrent),
                    "step {step} {k}/{i}"
                );
                assert!(
                    (e.spent - g.spent).abs() < 1e-9 && (e.reserved - g.reserved).abs() < 1e-9,
                    "step {step} {k}/{i}: rust {e:?} lua {g:?}"
                );
                let limit = [if k == "x" { budget_x } else { budget_y }, budget_t][i];
                assert!(
                    e.spent + e.reserved <= limit + 1e-9,
                    "step {step}: over budget {e:?}"
                );
                assert!(e.tokens <= quota::MAX_TOKENS * 64, "step {step}: {e:?}");
            }
        }
    }
    assert!(
        lapses > 5 && lapse_refused > 0,
        "lapses {lapses}, met by refusals {lapse_refused}"
    );
    // An hour on, every lease has lapsed: each shard has spent exactly
    // what was settled and what lapsed.
    for (_, (k, c, _)) in std::mem::take(&mut open) {
        *owed.entry(format!("key:{k}")).or_default() += c;
        *owed.entry("team:t".into()).or_default() += c;
    }
    for k in ["x", "y"] {
        let peek = Op {
            op: OpKind::Peek,
            id: "peek".into(),
            now_ms: now + 3_600_000,
            lease_ms: 0,
            scopes: scopes(k, if k == "x" { budget_x } else { budget_y }),
        };
        let (e, g) = (quota::apply(&mut rust, &peek), lua(&peek));
        let shards = [format!("key:{k}"), "team:t".to_owned()];
        for ((e, g), shard) in e.scopes.iter().zip(&g.scopes).zip(&shards) {
            let want = owed.get(shard).copied().unwrap_or(0.0);
            assert!(
                (e.spent - want).abs() < 1e-6,
                "Rust {shard}: {} vs {want}",
                e.spent
            );
            assert!(
                (g.spent - want).abs() < 1e-6,
                "Lua {shard}: {} vs {want}",
                g.spent
            );
            assert_eq!((e.reserved, g.reserved), (0.0, 0.0));
        }
    }
    eprintln!("{lapses} lapses ({lapse_refused} met by a refusal); owed {owed:?}");
}

/// The reproduction: a team's lapsed lease is charged when the
/// operation that prunes it is refused.
#[test]
fn a_lapsed_lease_is_charged_when_a_refusal_prunes_it() {
    use latticelm_core::quota::{self, Ledger, Op, OpKind, ScopeOp};
    use std::collections::BTreeMap;
    let Some(redis) = redis() else { return };
    let mut lua = lua_ledger(&redis.url);
    let mut rust: BTreeMap<String, Ledger> = BTreeMap::new();
    let scope = |shard: &str, budget: f64, cost: f64| ScopeOp {
        shard: shard.into(),
        name: "all".into(),
        budget: Some(budget),
        period: "total".into(),
        cost,
        ..Default::default()
    };
    let now = 1_900_000_000_000u64;
    let a = Op {
        op: OpKind::Reserve,
        id: "a".into(),
        now_ms: now,
        lease_ms: 100,
        scopes: vec![scope("key:x", 10.0, 0.5), scope("team:t", 10.0, 0.5)],
    };
    let b = Op {
        op: OpKind::Reserve,
        id: "b".into(),
        now_ms: now + 1000,
        lease_ms: 100,
        scopes: vec![scope("key:y", 0.1, 0.5), scope("team:t", 10.0, 0.5)],
    };
    let peek = Op {
        op: OpKind::Peek,
        id: "p".into(),
        now_ms: now + 1001,
        lease_ms: 0,
        scopes: vec![scope("team:t", 10.0, 0.0)],
    };
    for op in [&a, &b, &peek] {
        let expected = quota::apply(&mut rust, op);
        let got = lua(op);
        assert_eq!(got.ok, expected.ok);
        if op.op == OpKind::Peek {
            let (g, e) = (&got.scopes[0], &expected.scopes[0]);
            assert_eq!((g.spent, g.reserved), (0.5, 0.0), "Lua: {g:?}");
            assert_eq!((e.spent, e.reserved), (0.5, 0.0), "Rust: {e:?}");
        }
    }
}

/// The Lua ledger on the Redis at `url`, called as the native host calls
/// it (`quota::redis_call`, `quota::redis_reply`).
fn lua_ledger(url: &str) -> impl FnMut(&latticelm_core::quota::Op) -> latticelm_core::quota::Reply {
    use latticelm_core::quota;
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let script = redis::Script::new(quota::REDIS_SCRIPT);
    move |op| {
        let (keys, args) = quota::redis_call(op);
        let mut inv = script.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(&args[0]).arg(&args[1]);
        let got: String = inv.invoke(&mut conn).unwrap();
        quota::redis_reply(got.as_bytes()).unwrap()
    }
}
