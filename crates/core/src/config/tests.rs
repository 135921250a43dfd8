use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-test".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

#[test]
fn seed_format_loads_and_expands() {
    let yaml = r#"
server: { address: "127.0.0.1:8080" }
providers:
  openai:    { type: openai, api_key: "${OPENAI_API_KEY}", endpoint: "https://api.openai.com" }
  local:     { type: openai-chat, endpoint: "http://127.0.0.1:11434", api_key: "${OLLAMA_KEY:-}" }
models:
  - { name: gpt-4o-mini, provider: openai }
  - { name: llama, provider: local, provider_model_id: "llama3.2:3b" }
"#;
    let c = Config::from_yaml(yaml, &env).unwrap();
    assert_eq!(c.providers["openai"].key(), Some("sk-test"));
    assert_eq!(c.providers["local"].key(), None);
    assert_eq!(
        c.models[1].targets[0].provider_model_id.as_deref(),
        Some("llama3.2:3b")
    );
    assert_eq!(c.providers.keys().collect::<Vec<_>>(), ["openai", "local"]);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        ("providers: { a: { type: nope } }", "providers.a.type"),
        (
            "providers: { a: { type: openai, api_key: \"${MISSING}\" } }",
            "providers.a.api_key",
        ),
        (
            "providers: { a: { type: openai-chat } }",
            "providers.a.endpoint",
        ),
        (
            "providers: { a: { type: openai, endpont: x } }",
            "providers.a",
        ),
        (
            "models: [ { name: m, provider: ghost } ]",
            "models[0].provider",
        ),
        (
            "server: { upstream_timeout: 5 parsecs }",
            "server.upstream_timeout",
        ),
        ("auth: { enabled: true }", "auth"),
        (
            "auth: { issuer: \"http://example.com\", audience: a }",
            "auth.issuer",
        ),
        ("auth: { issuer: \"https://example.com\" }", "auth.audience"),
        ("auth: { api_keys: [ { name: a } ] }", "auth.api_keys[0]"),
        (
            "auth: { api_keys: [ { name: a, key: \"${EMPTY}\" } ] }",
            "auth.api_keys[0].key",
        ),
        (
            "auth: { issuer: \"https://x\", audience: a, algorithms: [HS256] }",
            "auth.algorithms",
        ),
    ];
    for (yaml, key) in cases {
        let err = Config::from_yaml(yaml, &env).unwrap_err().to_string();
        assert!(err.contains(key), "{yaml}: {err}");
    }
}

#[test]
fn expansion_rules() {
    let k = "k";
    assert_eq!(expand::expand_str("a${EMPTY:-d}b", k, &env).unwrap(), "adb");
    assert_eq!(
        expand::expand_str("$$x ${OPENAI_API_KEY}", k, &env).unwrap(),
        "$x sk-test"
    );
    assert_eq!(expand::expand_str("cost: $5", k, &env).unwrap(), "cost: $5");
    assert!(expand::expand_str("${OPEN", k, &env).is_err());
}

#[test]
fn embedded_default_loads_with_and_without_keys() {
    let none = |_: &str| None;
    let c = Config::embedded_default(&none);
    assert!(c.models.iter().any(|m| m.name == "mock"));
    let c = Config::embedded_default(&env);
    assert!(c.models.iter().any(|m| m.name == "gpt-4o-mini"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    assert!(parse_duration("h").is_err());
}

#[test]
fn the_example_config_loads() {
    let text = include_str!("../../../../config.example.yaml");
    let c = Config::from_yaml(text, &env).unwrap();
    assert_eq!(c.providers["groq"].headers["x-team"], "platform");
    assert_eq!(c.conversations.ttl, Duration::from_secs(3600));
}

#[test]
fn referenced_variables() {
    let yaml = "a: \"${OPENAI_API_KEY}\"\nb: \"${X:-d} ${OPENAI_API_KEY} $${NOT_ONE} ${bad-name}\"";
    assert_eq!(referenced_vars(yaml), ["OPENAI_API_KEY", "X"]);
}

#[test]
fn limits_and_budgets_load_as_documented_and_mistakes_name_their_key() {
    let base = "providers: { p: { type: mock } }\nmodels:\n  - { name: gpt-4o, provider: p }\n";
    let good = format!(
        "{base}auth:
  api_keys:
    - name: svc-a
      key: \"k\"
      team: alpha
      limits: {{ requests_per_minute: 50, tokens_per_minute: 100000, concurrent: 10 }}
      budget: {{ usd: 5.0, period: daily }}
teams:
  - name: alpha
    limits: {{ requests_per_minute: 500, models: {{ gpt-4o: {{ tokens_per_minute: 50000 }} }} }}
    budget: {{ usd: 100.0, period: monthly }}
limits:
  store: \"redis://127.0.0.1:6379\"
  default_max_output_tokens: 4096
  on_store_error: {{ limits: open, budgets: closed }}
"
    );
    let c = Config::from_yaml(&good, &env).unwrap();
    assert_eq!(
        c.teams[0].budget.as_ref().unwrap().period,
        crate::config::Period::Monthly
    );
    assert_eq!(
        c.limits.on_store_error.budgets,
        crate::config::StoreErrorMode::Closed
    );
    for (bad, key) in [
        (
            "auth:\n  api_keys:\n    - { name: a, key: k, team: nope }\n",
            "auth.api_keys[0].team",
        ),
        (
            "teams:\n  - { name: t, limits: { requests_per_minute: 0 } }\n",
            "teams[0].limits",
        ),
        (
            "teams:\n  - { name: t, limits: { models: { other: { concurrent: 2 } } } }\n",
            "teams[0].limits.models.other",
        ),
        (
            "teams:\n  - { name: t, budget: { usd: -1 } }\n",
            "teams[0].budget.usd",
        ),
        ("limits: { store: \"postgres://x\" }\n", "limits.store"),
        (
            "limits: { budget_alert: { threshold: 1.5 } }\n",
            "limits.budget_alert.threshold",
        ),
    ] {
        let err = Config::from_yaml(&format!("{base}{bad}"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
    }
}
