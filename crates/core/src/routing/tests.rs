//! The routing state and plans with a fixed clock and fixed randomness.

use std::time::Duration;

use super::*;
use crate::config::{BreakerConfig, Config, RoutingConfig};
use crate::error::RouteError;

const T0: u64 = 1_800_000_000_000;

fn config(models: &str) -> Config {
    let yaml = format!(
        r#"
providers:
  a: {{ type: openai-chat, endpoint: "http://a.test" }}
  b: {{ type: openai-chat, endpoint: "http://b.test" }}
  c: {{ type: anthropic, endpoint: "http://c.test" }}
models:
{models}
"#
    );
    Config::from_yaml(&yaml, &|_| None).unwrap()
}

fn input(model: &str, seed: u64) -> PlanInput<'_> {
    PlanInput {
        principal: "",
        model,
        pinned: None,
        now: T0,
        input_tokens: 1000,
        output_tokens: 1000,
        seed,
        explore: 0.05,
    }
}

fn keys(c: &Config, state: &RoutingState, input: PlanInput<'_>) -> Vec<String> {
    plan(c, state, input)
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect()
}

const THREE: &str = "  - name: m
    targets:
      - { provider: a, provider_model_id: x }
      - { provider: b, provider_model_id: y }
      - { provider: c, provider_model_id: z }";

#[test]
fn priority_keeps_the_order_and_appends_fallbacks() {
    let c = config(&format!(
        "{THREE}\n    fallbacks: [f]\n  - {{ name: f, provider: a, provider_model_id: w, fallbacks: [g] }}\n  - {{ name: g, provider: b }}"
    ));
    let s = RoutingState::default();
    assert_eq!(
        keys(&c, &s, input("m", 1)),
        ["a/x", "b/y", "c/z", "a/w", "b/g"]
    );
}

#[test]
fn weighted_shares_follow_the_weights() {
    let c = config(
        "  - name: m
    strategy: weighted
    targets:
      - { provider: a, weight: 3 }
      - { provider: b, weight: 1 }
      - { provider: c, weight: 0 }",
    );
    let s = RoutingState::default();
    let n = 20_000;
    let mut first_a = 0;
    for seed in 0..n {
        let k = keys(&c, &s, input("m", seed));
        assert_eq!(k.len(), 3);
        assert_eq!(k[2], "c/m", "weight 0 is only a failover");
        if k[0] == "a/m" {
            first_a += 1;
        }
    }
    let share = first_a as f64 / n as f64;
    assert!((share - 0.75).abs() < 0.02, "share {share}");
    // The same seed, the same plan.
    assert_eq!(keys(&c, &s, input("m", 42)), keys(&c, &s, input("m", 42)));
}

#[test]
fn least_latency_adapts_and_explores() {
    let c = config(
        "  - name: m
    strategy: least-latency
    targets:
      - { provider: a }
      - { provider: b }",
    );
    let mut s = RoutingState::default();
    let breaker = BreakerConfig::default();
    let ok = |ms| TargetOutcome::Success {
        ttfb: Duration::from_millis(ms),
    };
    s.record("a/m", ok(300), T0, &breaker);
    s.record("b/m", ok(100), T0, &breaker);
    let firsts = |s: &RoutingState| {
        (0..10_000)
            .filter(|&seed| keys(&c, s, input("m", seed))[0] == "b/m")
            .count() as f64
            / 10_000.0
    };
    let share = firsts(&s);
    assert!(
        (share - 0.95).abs() < 0.01,
        "fastest first, 5% explore: {share}"
    );
    // b slows down: the moving average follows, and a takes over.
    for _ in 0..10 {
        s.record("b/m", ok(900), T0, &breaker);
    }
    assert!(s.target("b/m").unwrap().ttfb_ms.unwrap() > 800.0);
    assert!(firsts(&s) < 0.06);
}

#[test]
fn cost_prefers_the_cheapest_for_this_request() {
    let c = config(
        "  - name: m
    strategy: cost
    targets:
      - { provider: a, input_cost: 3.0, output_cost: 15.0 }
      - { provider: b, input_cost: 0.15, output_cost: 0.6 }
      - { provider: c, input_cost: 0.1, output_cost: 20.0 }",
    );
    let s = RoutingState::default();
    assert_eq!(keys(&c, &s, input("m", 0)), ["b/m", "a/m", "c/m"]);
    // A long prompt with a short answer: input price dominates.
    let long_prompt = PlanInput {
        input_tokens: 100_000,
        output_tokens: 10,
        ..input("m", 0)
    };
    assert_eq!(keys(&c, &s, long_prompt)[0], "c/m");
}

#[test]
fn circuit_opens_half_opens_and_closes() {
    let breaker = BreakerConfig {
        failures: 3,
        cooldown: Duration::from_secs(30),
        min_principals: 2,
    };
    let mut s = RoutingState::default();
    let fail = TargetOutcome::Failure {
        retry_after: None,
        status: 503,
    };
    for i in 0..2 {
        s.record("a/m", fail, T0 + i, &breaker);
        assert_eq!(s.availability("a/m", T0 + i), Availability::Ready);
    }
    s.record("a/m", fail, T0 + 2, &breaker);
    let open = Availability::Blocked {
        until: T0 + 30_002,
        status: 503,
    };
    assert_eq!(s.availability("a/m", T0 + 10_000), open);
    assert!(!s.acquire("a/m", T0 + 10_000, breaker.cooldown));
    // After the cooldown, one probe at a time.
    let later = T0 + 30_002;
    assert_eq!(s.availability("a/m", later), Availability::Probe);
    assert!(s.acquire("a/m", later, breaker.cooldown));
    assert!(
        !s.acquire("a/m", later + 1, breaker.cooldown),
        "one probe only"
    );
    // A failed probe opens it again at once.
    s.record("a/m", fail, later + 5, &breaker);
    assert!(matches!(
        s.availability("a/m", later + 6),
        Availability::Blocked { .. }
    ));
    // A successful probe closes it.
    let later = later + 5 + 30_000;
    assert!(s.acquire("a/m", later, breaker.cooldown));
    let ttfb = Duration::from_millis(50);
    s.record("a/m", TargetOutcome::Success { ttfb }, later, &breaker);
    assert_eq!(s.availability("a/m", later), Availability::Ready);
    assert_eq!(s.target("a/m").unwrap().failures, 0);
    // A probe whose request vanished frees the target when its lease ends.
    for i in 0..3 {
        s.record("a/m", fail, later + i, &breaker);
    }
    let half_open = later + 2 + 30_000;
    assert!(s.acquire("a/m", half_open, Duration::from_secs(5)));
    assert!(!s.acquire("a/m", half_open + 4_999, Duration::from_secs(5)));
    assert!(s.acquire("a/m", half_open + 5_000, Duration::from_secs(5)));
}

#[test]
fn request_errors_prove_the_target_alive() {
    let breaker = BreakerConfig::default();
    let mut s = RoutingState::default();
    let fail = TargetOutcome::Failure {
        retry_after: None,
        status: 502,
    };
    for _ in 0..4 {
        s.record("a/m", fail, T0, &breaker);
    }
    s.record("a/m", TargetOutcome::Answered, T0, &breaker);
    s.record("a/m", fail, T0, &breaker);
    assert_eq!(
        s.availability("a/m", T0),
        Availability::Ready,
        "the count restarted"
    );
}

#[test]
fn retry_after_cools_a_target_down() {
    let c = config(THREE);
    let mut s = RoutingState::default();
    let breaker = BreakerConfig::default();
    let limited = TargetOutcome::Failure {
        retry_after: Some(Duration::from_secs(7)),
        status: 429,
    };
    s.record("a/x", limited, T0, &breaker);
    assert_eq!(
        s.availability("a/x", T0 + 6_999),
        Availability::Blocked {
            until: T0 + 7_000,
            status: 429
        }
    );
    assert_eq!(keys(&c, &s, input("m", 0)), ["b/y", "c/z"]);
    assert_eq!(s.availability("a/x", T0 + 7_000), Availability::Ready);
    // Every target cooling down: the plan fails with the earliest return.
    s.record("b/y", limited, T0, &breaker);
    s.record("c/z", limited, T0 + 2_000, &breaker);
    let err = plan(&c, &s, input("m", 0)).unwrap_err();
    assert!(
        matches!(
            err,
            RouteError::Unavailable {
                retry_after_secs: 7,
                status: 429,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let r = RoutingConfig {
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..RoutingConfig::default()
    };
    for seed in 0..200 {
        let b1 = backoff(&r, 1, seed);
        assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
        let b3 = backoff(&r, 3, seed);
        assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
        let b40 = backoff(&r, 40, seed);
        assert!(b40 >= Duration::from_millis(500) && b40 <= Duration::from_secs(1));
    }
    assert_ne!(backoff(&r, 2, 1), backoff(&r, 2, 2), "jittered");
}

#[test]
fn retry_policy_and_error_events() {
    let r = RoutingConfig::default();
    for f in [
        Failure::Status(503),
        Failure::Status(429),
        Failure::Connect,
        Failure::Timeout,
    ] {
        assert!(is_retryable(&r, f), "{f:?}");
    }
    for f in [
        Failure::Status(400),
        Failure::Status(404),
        Failure::Status(401),
    ] {
        assert!(!is_retryable(&r, f), "{f:?}");
    }
    let ev = |kind: &str, code: Option<&str>| crate::types::ErrorPayload {
        kind: kind.into(),
        code: code.map(str::to_owned),
        message: String::new(),
        param: None,
    };
    assert_eq!(status_of_error(&ev("overloaded_error", None)), 503);
    assert_eq!(status_of_error(&ev("rate_limit_error", None)), 429);
    assert_eq!(
        status_of_error(&ev(
            "invalid_request_error",
            Some("context_length_exceeded")
        )),
        400
    );
    assert_eq!(status_of_error(&ev("server_error", None)), 500);
    assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
}

#[test]
fn state_survives_a_round_trip_through_the_store() {
    let mut s = RoutingState::default();
    let breaker = BreakerConfig::default();
    for _ in 0..5 {
        s.record(
            "a/m",
            TargetOutcome::Failure {
                retry_after: Some(Duration::from_secs(3)),
                status: 503,
            },
            T0,
            &breaker,
        );
    }
    s.record(
        "b/m",
        TargetOutcome::Success {
            ttfb: Duration::from_millis(40),
        },
        T0,
        &breaker,
    );
    let back: RoutingState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn config_mistakes_are_explained() {
    let load = |models: &str, extra: &str| {
        Config::from_yaml(
            &format!("providers:\n  a: {{ type: openai-chat, endpoint: \"http://a.test\" }}\nmodels:\n{models}\n{extra}"),
            &|_| None,
        )
        .unwrap_err()
        .to_string()
    };
    let cases = [
        (load("  - { name: m, targets: [ { provider: ghost } ] }", ""), "models[0].targets[0].provider"),
        (load("  - { name: m, provider: a, fallbacks: [n] }\n  - { name: n, provider: a, fallbacks: [m] }", ""), "cycle: m → n → m"),
        (load("  - { name: m, provider: a, fallbacks: [nope] }", ""), "models[0].fallbacks[0]"),
        (load("  - { name: m, strategy: weighted, targets: [ { provider: a, weight: 0 } ] }", ""), "weight above zero"),
        (load("  - { name: m, strategy: cost, targets: [ { provider: a, input_cost: 1 } ] }", ""), "strategy `cost` needs"),
        (load("  - { name: m, provider: a, targets: [ { provider: a } ] }", ""), "both `provider`"),
        (load("  - { name: m }", ""), "needs a `provider`"),
        (load("  - { name: m, provider: a }", "routing: { retry_on: [ 999 ] }"), "not an HTTP status"),
        (load("  - { name: m, provider: a }", "routing: { retry_on: [ sometimes ] }"), "neither an HTTP status"),
        (load("  - { name: m, provider: a }", "routing: { deadline: 99999999999999d }"), "too long"),
        (load("  - { name: m, provider: a }", "routing: { circuit_breaker: { failures: 0 } }"), "at least 1"),
    ];
    for (err, expected) in cases {
        assert!(
            err.contains(expected),
            "{err}\n  should mention: {expected}"
        );
    }
}
