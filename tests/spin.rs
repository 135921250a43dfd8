//! The same gateway as a Spin component: built for wasm32-wasip2 and served
//! by the wasmtime test harness (a fresh instance per request, real
//! outbound HTTP, in-memory spin:key-value and spin:variables), in front of
//! the mock provider.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

#[test]
fn spin_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:60\" }\n  - { name: llama,",
    );
    let Some(gw) = start_spin(&yaml, mock) else {
        return;
    };
    assert_eq!(gw.get("/health"), (200, json!({"status": "ok"})));

    let models = [
        "gpt-4o-mini",
        "llama",
        "offline",
        "az-responses",
        "az-chat",
        "claude-test",
        "gemini-test",
    ];
    for model in models {
        let (s, resp) = gw.post(&json!({"model": model, "input": "hello spin"}));
        assert_eq!(s, 200, "{model}: {resp}");
        assert_valid("ResponseResource", &resp);
        assert!(
            output_text(&resp).ends_with("hello spin"),
            "{model}: {resp}"
        );
        let (s, events) = gw.stream(&json!({"model": model, "input": "stream it", "stream": true}));
        assert_eq!(s, 200);
        assert_valid_stream(&events.into_iter().map(|(_, e)| e).collect::<Vec<Value>>());
    }
    let (_, timed) = gw.stream(&json!({"model": "slow", "input": "one two three four five six seven eight", "stream": true}));
    let first = timed
        .iter()
        .find(|(_, e)| e["type"] == "response.output_text.delta")
        .unwrap()
        .0;
    assert!(
        timed.last().unwrap().0 - first >= Duration::from_millis(300),
        "not incremental"
    );

    let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    for model in ["llama", "claude-test", "gemini-test"] {
        let (s, resp) =
            gw.post(&json!({"model": model, "input": "use get_weather for Oslo", "tools": tools}));
        assert_eq!(s, 200, "{resp}");
        assert!(
            resp["output"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["type"] == "function_call"),
            "{model}: {resp}"
        );
    }
    gw.upstream_requests();
    let (s, _) = gw.post(&json!({"model": "gemini-test", "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]}));
    assert_eq!(s, 200);
    assert_eq!(
        gw.upstream_requests()[0]["body"]["contents"][0]["parts"][1]["inlineData"]["data"],
        "iVBORw0KGgo="
    );

    let (s, e) = gw.post(&json!({"model": "nope", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    // Conversations through the key-value store, across fresh instances.
    let (_, first) = gw.post(&json!({"model": "llama", "input": "first"}));
    let (s, second) =
        gw.post(&json!({"model": "llama", "input": "second", "previous_response_id": first["id"]}));
    assert_eq!(s, 200, "{second}");
    let last = gw.upstream_requests().pop().unwrap();
    assert_eq!(
        last["body"]["messages"][1],
        json!({"role": "assistant", "content": "echo: first"})
    );
    assert_eq!(
        gw.get(&format!("/v1/responses/{}", second["id"].as_str().unwrap()))
            .0,
        200
    );
}

#[test]
fn spin_auth() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let Some(gw) = start_spin(&config_with_auth(&mock, &issuer.url), mock) else {
        return;
    };
    auth_checks(&gw, &issuer);
}

/// Neither the harness nor `wasmtime serve` enforces `allowed_outbound_hosts`,
/// so check the manifests list what the gateway calls.
#[test]
fn manifests_allow_what_the_gateway_calls() {
    let read = |f: &str| std::fs::read_to_string(root().join(f)).unwrap();
    let (prod, dev) = (read("spin.toml"), read("spin.dev.toml"));
    let hosts = |m: &str| -> Vec<String> {
        let start = m.find("allowed_outbound_hosts = [").unwrap();
        let list = &m[start..m[start..].find(']').unwrap() + start];
        list.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    // The default endpoint of every provider type, and Google's OIDC issuer.
    for needed in [
        "https://api.openai.com",
        "https://api.anthropic.com",
        "https://generativelanguage.googleapis.com",
        "https://*.openai.azure.com",
        "https://accounts.google.com",
    ] {
        assert!(
            hosts(&prod).iter().any(|h| h == needed),
            "spin.toml lacks {needed}"
        );
        assert!(
            hosts(&dev).iter().any(|h| h == needed),
            "spin.dev.toml lacks {needed}"
        );
    }
    assert!(
        hosts(&dev).iter().any(|h| h == "http://127.0.0.1:*"),
        "spin.dev.toml allows local mocks"
    );
    assert!(
        !hosts(&prod)
            .iter()
            .any(|h| h.contains("127.0.0.1") || h.contains("localhost")),
        "no loopback in production"
    );
    for m in [&prod, &dev] {
        assert!(m.contains("key_value_stores = [\"default\"]"));
        for var in [
            "latticelm_config",
            "openai_api_key",
            "anthropic_api_key",
            "gemini_api_key",
        ] {
            assert!(
                m.contains(&format!("{var} = \"{{{{ {var} }}}}\"")),
                "{var} is mapped into the component"
            );
        }
    }
}
