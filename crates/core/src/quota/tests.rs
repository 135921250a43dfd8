use std::collections::BTreeMap;

use super::*;

const T0: u64 = 1_800_000_000_000;

fn scope(shard: &str) -> ScopeOp {
    ScopeOp {
        shard: shard.into(),
        name: "all".into(),
        ..Default::default()
    }
}

fn op(kind: OpKind, id: &str, now_ms: u64, scopes: Vec<ScopeOp>) -> Op {
    Op {
        op: kind,
        id: id.into(),
        now_ms,
        lease_ms: 600_000,
        scopes,
    }
}

#[test]
fn requests_per_minute_is_exact_over_a_rolling_minute() {
    let mut l = BTreeMap::new();
    let s = ScopeOp {
        rpm: Some(3),
        ..scope("key:a")
    };
    for i in 0..3 {
        let r = apply(
            &mut l,
            &op(
                OpKind::Reserve,
                &format!("r{i}"),
                T0 + i * 10_000,
                vec![s.clone()],
            ),
        );
        assert!(r.ok, "{r:?}");
    }
    let r = apply(
        &mut l,
        &op(OpKind::Reserve, "r3", T0 + 30_000, vec![s.clone()]),
    );
    let refused = r.refused.expect("the fourth in a minute is refused");
    assert_eq!(refused.kind, "requests");
    // The first request leaves the window at T0 + 60 s.
    assert_eq!(refused.retry_after_ms, Some(30_000));
    assert!(apply(&mut l, &op(OpKind::Reserve, "r4", T0 + 60_000, vec![s])).ok);
}

#[test]
fn a_refused_reservation_changes_nothing_on_any_scope() {
    let mut l = BTreeMap::new();
    let key = ScopeOp {
        rpm: Some(10),
        tokens: 100,
        ..scope("key:a")
    };
    let team = ScopeOp {
        tpm: Some(150),
        tokens: 100,
        ..scope("team:t")
    };
    assert!(
        apply(
            &mut l,
            &op(OpKind::Reserve, "a", T0, vec![key.clone(), team.clone()])
        )
        .ok
    );
    let before = l.clone();
    let r = apply(&mut l, &op(OpKind::Reserve, "b", T0, vec![key, team]));
    assert_eq!(r.refused.unwrap().kind, "tokens");
    assert_eq!(l, before);
}

#[test]
fn settling_replaces_the_reservation_by_the_real_use() {
    let mut l = BTreeMap::new();
    let s = ScopeOp {
        tpm: Some(1000),
        budget: Some(1.0),
        period: "m".into(),
        tokens: 800,
        cost: 0.5,
        ..scope("key:a")
    };
    assert!(apply(&mut l, &op(OpKind::Reserve, "a", T0, vec![s.clone()])).ok);
    // Held: another 800 tokens or 0.5 USD does not fit.
    assert!(!apply(&mut l, &op(OpKind::Reserve, "b", T0, vec![s.clone()])).ok);
    let used = ScopeOp {
        tokens: 120,
        cost: 0.1,
        ..s.clone()
    };
    let r = apply(
        &mut l,
        &op(OpKind::Settle, "a", T0 + 1000, vec![used.clone()]),
    );
    assert_eq!(r.scopes[0].tokens, 120);
    assert_eq!(r.scopes[0].concurrent, 0);
    assert!((r.scopes[0].spent - 0.1).abs() < 1e-12);
    // Settling twice changes nothing.
    let again = apply(&mut l, &op(OpKind::Settle, "a", T0 + 2000, vec![used]));
    assert_eq!(
        again.scopes[0],
        r.scopes[0].clone().with_resets(&again.scopes[0])
    );
    assert!(apply(&mut l, &op(OpKind::Reserve, "b", T0 + 2000, vec![s])).ok);
}

impl ScopeStatus {
    fn with_resets(mut self, other: &ScopeStatus) -> ScopeStatus {
        self.reset_requests_ms = other.reset_requests_ms;
        self.reset_tokens_ms = other.reset_tokens_ms;
        self
    }
}

#[test]
fn budgets_refuse_until_the_period_ends_and_lapsed_leases_are_charged() {
    let mut l = BTreeMap::new();
    let s = |cost: f64, period: &str| ScopeOp {
        budget: Some(1.0),
        period: period.into(),
        period_end_ms: T0 + 3_600_000,
        cost,
        ..scope("team:t")
    };
    assert!(apply(&mut l, &op(OpKind::Reserve, "a", T0, vec![s(0.9, "d1")])).ok);
    assert!(apply(&mut l, &op(OpKind::Settle, "a", T0, vec![s(0.9, "d1")])).ok);
    let r = apply(
        &mut l,
        &op(OpKind::Reserve, "b", T0 + 1000, vec![s(0.2, "d1")]),
    );
    let refused = r.refused.unwrap();
    assert_eq!(
        (refused.kind.as_str(), refused.retry_after_ms),
        ("budget", Some(3_599_000))
    );
    // Larger than the whole budget: never.
    let r = apply(
        &mut l,
        &op(OpKind::Reserve, "c", T0 + 1000, vec![s(2.0, "d1")]),
    );
    assert_eq!(r.refused.unwrap().retry_after_ms, None);
    // A new period starts from zero.
    assert!(
        apply(
            &mut l,
            &op(OpKind::Reserve, "d", T0 + 2000, vec![s(0.5, "d2")])
        )
        .ok
    );
    // Never settled: charged in full once its lease lapses.
    let r = apply(
        &mut l,
        &op(OpKind::Peek, "", T0 + 2000 + 600_000, vec![s(0.0, "d2")]),
    );
    assert!((r.scopes[0].spent - 0.5).abs() < 1e-12);
    assert_eq!(r.scopes[0].concurrent, 0);
}

#[test]
fn concurrency_counts_leases_and_cancel_gives_everything_back() {
    let mut l = BTreeMap::new();
    let s = ScopeOp {
        concurrent: Some(1),
        rpm: Some(5),
        tokens: 10,
        ..scope("key:a")
    };
    assert!(apply(&mut l, &op(OpKind::Reserve, "a", T0, vec![s.clone()])).ok);
    let r = apply(&mut l, &op(OpKind::Reserve, "b", T0, vec![s.clone()]));
    assert_eq!(r.refused.unwrap().kind, "concurrent");
    let r = apply(&mut l, &op(OpKind::Cancel, "a", T0, vec![s.clone()]));
    assert_eq!(
        (
            r.scopes[0].requests,
            r.scopes[0].tokens,
            r.scopes[0].concurrent
        ),
        (0, 0, 0)
    );
}

#[test]
fn an_extension_is_refused_when_it_does_not_fit() {
    let mut l = BTreeMap::new();
    let s = ScopeOp {
        tpm: Some(100),
        tokens: 60,
        ..scope("key:a")
    };
    assert!(apply(&mut l, &op(OpKind::Reserve, "a", T0, vec![s.clone()])).ok);
    assert!(
        apply(
            &mut l,
            &op(
                OpKind::Extend,
                "a",
                T0,
                vec![ScopeOp {
                    tokens: 40,
                    ..s.clone()
                }]
            )
        )
        .ok
    );
    assert!(
        !apply(
            &mut l,
            &op(OpKind::Extend, "a", T0, vec![ScopeOp { tokens: 1, ..s }])
        )
        .ok
    );
}

#[test]
fn the_sharded_form_cancels_what_an_earlier_shard_held() {
    let shards = std::cell::RefCell::new(BTreeMap::<String, BTreeMap<String, Ledger>>::new());
    let run = |o: &Op| {
        futures::executor::block_on(apply_sharded(o, |shard, part| {
            let mut all = shards.borrow_mut();
            let l = all.entry(shard).or_default();
            let r = apply(l, &part);
            async move { Ok(r) }
        }))
        .unwrap()
    };
    let key = ScopeOp {
        rpm: Some(10),
        ..scope("key:a")
    };
    let team = ScopeOp {
        rpm: Some(1),
        ..scope("team:t")
    };
    assert!(
        run(&op(
            OpKind::Reserve,
            "a",
            T0,
            vec![key.clone(), team.clone()]
        ))
        .ok
    );
    let r = run(&op(
        OpKind::Reserve,
        "b",
        T0,
        vec![key.clone(), team.clone()],
    ));
    assert_eq!(r.refused.unwrap().shard, "team:t");
    // The key's shard gave back what it had taken for "b".
    let peek = run(&op(OpKind::Peek, "", T0, vec![key]));
    assert_eq!(peek.scopes[0].requests, 1);
}

#[test]
fn replies_from_lua_parse_with_an_empty_object_for_an_empty_list() {
    let r: Reply = serde_json::from_str(r#"{"ok":false,"scopes":{},"refused":{"shard":"k","name":"all","kind":"requests","limit":5,"need":1,"retry_after_ms":1000}}"#).unwrap();
    assert!(!r.ok && r.scopes.is_empty());
}
