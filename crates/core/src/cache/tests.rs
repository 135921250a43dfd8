//! The cache key: what moves it and what leaves it, as documented in
//! `key.rs`; and the policy from config and headers.

use serde_json::{json, Value};

use super::key::{canonical, key, Sent, IGNORED};
use super::*;
use crate::types::CreateResponseBody;

const YAML: &str = "providers:\n  p: { type: mock }\nmodels:\n  - { name: m, provider: p, cache: { ttl: 1h } }\n  - { name: plain, provider: p }\n  - { name: other, provider: p, provider_model_id: x }\n";

fn config() -> Config {
    Config::from_yaml(YAML, &|_| None).unwrap()
}

fn body(v: Value) -> CreateResponseBody {
    serde_json::from_value(v).unwrap()
}

fn k(v: Value) -> String {
    let c = config();
    key(
        &body(v),
        Some(&c.models[0]),
        "principal:key:a",
        None,
        Sent::default(),
    )
}

fn base() -> Value {
    json!({"model": "m", "input": "hi", "temperature": 0.5, "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]})
}

#[test]
fn order_whitespace_and_number_forms_leave_the_key() {
    let a: Value =
        serde_json::from_str(r#"{"model":"m","input":"hi","temperature":1,"top_p":0.5}"#).unwrap();
    let b: Value = serde_json::from_str(
        "{ \"top_p\" : 5e-1,\n \"temperature\": 1.0, \"input\": \"hi\", \"model\": \"m\" }",
    )
    .unwrap();
    assert_eq!(k(a), k(b));
    let mut s = String::new();
    canonical(&json!({"b": [1.0, 2], "a": {"y": 1, "x": null}}), &mut s);
    assert_eq!(s, r#"{"a":{"x":null,"y":1},"b":[1,2]}"#);
}

#[test]
fn ignored_fields_leave_the_key() {
    let plain = k(base());
    let values = [
        ("stream", json!(true)),
        ("stream_options", json!({"include_obfuscation": false})),
        ("metadata", json!({"run": "42"})),
        ("user", json!("u1")),
        ("safety_identifier", json!("s1")),
        ("store", json!(false)),
        ("previous_response_id", json!("resp_1")),
        ("background", json!(false)),
        ("prompt_cache_key", json!("pk")),
        ("service_tier", json!("auto")),
    ];
    assert_eq!(values.len(), IGNORED.len());
    for (field, v) in values {
        let mut b = base();
        b[field] = v;
        assert_eq!(k(b), plain, "{field} must not count");
    }
}

#[test]
fn fields_that_change_the_answer_move_the_key() {
    let plain = k(base());
    let changes = [
        ("input", json!("hello")),
        ("instructions", json!("be terse")),
        ("temperature", json!(0.7)),
        ("top_p", json!(0.9)),
        ("max_output_tokens", json!(100)),
        ("tools", json!([])),
        ("tool_choice", json!("required")),
        ("parallel_tool_calls", json!(false)),
        ("text", json!({"format": {"type": "json_object"}})),
        ("reasoning", json!({"effort": "high"})),
        ("truncation", json!("auto")),
        ("include", json!(["reasoning.encrypted_content"])),
        ("frequency_penalty", json!(0.5)),
        ("some_passthrough_field", json!(1)),
    ];
    for (field, v) in changes {
        let mut b = base();
        b[field] = v;
        assert_ne!(k(b), plain, "{field} must count");
    }
}

#[test]
fn the_model_its_targets_and_the_scope_move_the_key() {
    let c = config();
    let b = body(base());
    let one = key(
        &b,
        Some(&c.models[0]),
        "principal:key:a",
        None,
        Sent::default(),
    );
    assert_ne!(
        one,
        key(
            &b,
            Some(&c.models[2]),
            "principal:key:a",
            None,
            Sent::default()
        )
    );
    assert_ne!(
        one,
        key(
            &b,
            Some(&c.models[0]),
            "principal:key:b",
            None,
            Sent::default()
        )
    );
    assert_ne!(
        one,
        key(&b, Some(&c.models[0]), "shared", None, Sent::default())
    );
    // What the caller may send upstream, and the headers that go with it.
    let web = ["web_search".to_owned()];
    let allowed = Sent {
        passthrough: &web,
        headers: &[],
    };
    assert_ne!(
        one,
        key(&b, Some(&c.models[0]), "principal:key:a", None, allowed)
    );
    let beta = [("anthropic-beta".to_owned(), "x".to_owned())];
    let with_beta = Sent {
        passthrough: &[],
        headers: &beta,
    };
    assert_ne!(
        one,
        key(&b, Some(&c.models[0]), "principal:key:a", None, with_beta)
    );
    assert_eq!(scope_id(CacheScope::Team, "key:a", None), "principal:key:a");
    assert_eq!(scope_id(CacheScope::Team, "key:a", Some("t")), "team:t");
    assert_eq!(scope_id(CacheScope::Shared, "key:a", Some("t")), "shared");
}

fn req(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(a, b)| ((*a).into(), (*b).into()))
        .collect()
}

#[test]
fn the_policy_follows_config_and_headers() {
    let c = config();
    let p = policy(&c, "m", &req(&[])).unwrap().unwrap();
    assert_eq!((p.ttl.as_secs(), p.lookup, p.write), (3600, true, true));
    assert!(policy(&c, "plain", &req(&[])).unwrap().is_none());
    let on = policy(&c, "plain", &req(&[(TTL_HEADER, "60")]))
        .unwrap()
        .unwrap();
    assert_eq!(on.ttl.as_secs(), 60);
    assert!(policy(&c, "m", &req(&[(TTL_HEADER, "0")]))
        .unwrap()
        .is_none());
    assert!(policy(&c, "m", &req(&[(TTL_HEADER, "soon")])).is_err());
    assert!(policy(&c, "m", &req(&[(TTL_HEADER, "99999999")])).is_err());
    let nc = policy(&c, "m", &req(&[("cache-control", "no-cache")]))
        .unwrap()
        .unwrap();
    assert_eq!((nc.lookup, nc.write), (false, true));
    let ns = policy(&c, "m", &req(&[("cache-control", "max-age=0, No-Store")]))
        .unwrap()
        .unwrap();
    assert_eq!((ns.lookup, ns.write), (true, false));
}
