//! The routing decision per request: planning a model's targets from the
//! routing state, claiming one, and recording its outcome. Baseline: the
//! plain name resolution of a single-target model, in the same run.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use latticelm_core::routing::{self, PlanInput, RoutingState, TargetOutcome};
use latticelm_core::Config;

const YAML: &str = r#"
providers:
  a: { type: openai-chat, endpoint: "http://a.test" }
  b: { type: anthropic, endpoint: "http://b.test" }
  c: { type: google, endpoint: "http://c.test" }
models:
  - { name: single, provider: a, provider_model_id: x }
  - name: two
    targets:
      - { provider: a, provider_model_id: x }
      - { provider: b, provider_model_id: y }
  - name: weighted
    strategy: weighted
    targets:
      - { provider: a, provider_model_id: x, weight: 3 }
      - { provider: b, provider_model_id: y, weight: 1 }
    fallbacks: [single]
  - name: fastest
    strategy: least-latency
    targets:
      - { provider: a, provider_model_id: x }
      - { provider: b, provider_model_id: y }
      - { provider: c, provider_model_id: z }
"#;

fn bench(c: &mut Criterion) {
    let config = Config::from_yaml(YAML, &|_| None).unwrap();
    let breaker = config.routing.circuit_breaker.clone();
    let mut state = RoutingState::default();
    let now = 1_800_000_000_000u64;
    let mut group = c.benchmark_group("routing");
    group.bench_function("resolve single (baseline)", |b| {
        b.iter(|| {
            routing::resolve(&config, black_box("single"), None)
                .unwrap()
                .upstream_model
                .len()
        })
    });
    for model in ["single", "two", "weighted", "fastest"] {
        let mut seed = 0u64;
        group.bench_function(format!("plan + acquire + record: {model}"), |b| {
            b.iter(|| {
                seed = seed.wrapping_add(1);
                let input = PlanInput {
                    principal: "",
                    model: black_box(model),
                    pinned: None,
                    now,
                    input_tokens: 500,
                    output_tokens: 500,
                    seed,
                    explore: 0.05,
                };
                let plan = routing::plan(&config, &state, input).unwrap();
                let key = &plan[0].key;
                assert!(state.acquire(key, now, Duration::from_secs(30)));
                let ttfb = Duration::from_millis(100 + seed % 50);
                state.record(key, TargetOutcome::Success { ttfb }, now, &breaker);
                plan.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
