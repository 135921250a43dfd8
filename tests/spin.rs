//! The same gateway as a Spin component: built for wasm32-wasip2 and served
//! by the wasmtime test harness (a fresh instance per request, real
//! outbound HTTP, in-memory spin:key-value and spin:variables), in front of
//! the mock provider.

mod support;

use serde_json::json;
use support::*;

#[test]
fn spin_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config_with_slow(&mock), mock) else {
        return;
    };
    edge_suite(&gw);
    // Gemini image input, through the component.
    gw.upstream_requests();
    let image = json!({"model": "gemini-test", "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]});
    assert_eq!(gw.post(&image).0, 200);
    assert_eq!(
        gw.upstream_requests()[0]["body"]["contents"][0]["parts"][1]["inlineData"]["data"],
        "iVBORw0KGgo="
    );
}

#[test]
fn spin_routing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config_with_routing(&mock), mock) else {
        return;
    };
    routing_suite(&gw);
}

#[test]
fn spin_safe_defaults() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin_with("", mock.clone(), &[("OPENAI_API_KEY", "sk-operator")]) else {
        return;
    };
    edge_refuses_open_proxy(&gw);
    let secret = "sk-very-secret-0123";
    let broken =
        format!("providers: {{ x: {{ type: openai-chat, endpoint: \"ftp://{secret}\" }} }}");
    let Some(gw) = start_spin(&broken, mock) else {
        return;
    };
    edge_hides_config_errors(&gw, secret);
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

#[test]
fn spin_observability() {
    let receiver = Receiver::start();
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + &format!(
            "observability:\n  otlp: {{ endpoint: \"http://127.0.0.1:{}\" }}\n",
            receiver.port
        );
    let Some((gw, out)) = start_spin_logged(&yaml, mock) else {
        return;
    };
    edge_observability(&gw, &out, &receiver, &["sk-ant", "hello edge"]);
}

/// The compliance suite's 10 HTTP tests against the Spin component (its
/// HTTP trigger has no WebSockets).
#[test]
fn spin_compliance_http() {
    let Some((bun, suite)) = compliance_suite() else {
        return;
    };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config(&mock), mock) else {
        return;
    };
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        assert_passes(&bun, &suite, &gw.url, model, Some(HTTP_TESTS), 10);
    }
    let _ = std::fs::remove_dir_all(&suite);
}

/// Limits and budgets on Spin through outbound `spin:redis` to a real
/// Redis. Every request is a fresh instance with no memory of the last,
/// so a count that holds here is shared by every instance.
#[test]
fn spin_limits_over_outbound_redis() {
    let Some(redis) = redis() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config_with_limits(&mock, Some(&redis.url));
    let Some(gw) = start_spin(&yaml, mock) else {
        return;
    };
    edge_limits(&[&gw]);
}

/// A runtime key's lifecycle through the admin API, its record in
/// Spin's key-value store.
#[test]
fn spin_runtime_keys() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config_with_admin(&mock), mock) else {
        return;
    };
    edge_key_lifecycle(&gw, Edge::Spin);
}

/// The response cache on Spin, in its key-value store.
#[test]
fn spin_serves_cache_hits() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config_with_cache(&mock, "principal"), mock) else {
        return;
    };
    assert_eq!(hit_after_miss(&gw, "gemini-test", "on spin", &[]), 1);
}

/// A hosted MCP tool's loop on Spin: the core's MCP client over Spin's
/// outbound HTTP, against the real MCP server.
#[test]
fn spin_runs_hosted_mcp_tools() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_spin(&config_with_mcp(&mock, &server.url), mock) else {
        return;
    };
    hosted_tool_loop(&gw, &server);
    mcp_endpoint_call(&gw, "anything", "Lagos");
}
