//! The same gateway on Cloudflare Workers: the built Worker under
//! `wrangler dev` (workerd) on 127.0.0.1, in front of the mock provider.

mod support;

use support::*;

#[test]
fn worker_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_slow(&mock), mock) else {
        return;
    };
    edge_suite(&gw);
}

#[test]
fn worker_auth() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let Some(gw) = start_worker(&config_with_auth(&mock, &issuer.url), mock) else {
        return;
    };
    auth_checks(&gw, &issuer);
}

#[test]
fn worker_routing() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_routing(&mock), mock) else {
        return;
    };
    routing_suite(&gw);
}

#[test]
fn worker_safe_defaults() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker_with("", mock.clone(), &[("OPENAI_API_KEY", "sk-operator")]) else {
        return;
    };
    edge_refuses_open_proxy(&gw);
    drop(gw);
    let secret = "sk-very-secret-0123";
    let broken =
        format!("providers: {{ x: {{ type: openai-chat, endpoint: \"ftp://{secret}\" }} }}");
    let Some(gw) = start_worker(&broken, mock) else {
        return;
    };
    edge_hides_config_errors(&gw, secret);
}

#[test]
fn worker_codex() {
    let Some(codex) = codex() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config(&mock), mock) else {
        return;
    };
    for model in ["llama", "claude-test"] {
        let (ok, text) = run_codex(&codex, &gw, model);
        assert!(ok, "{model}: codex failed:\n{text}");
        assert!(
            text.contains("tool said:") && text.contains("hello-from-the-tool"),
            "{model}:\n{text}"
        );
    }
}

#[test]
fn worker_observability() {
    let receiver = Receiver::start();
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + &format!(
            "observability:\n  otlp: {{ endpoint: \"http://127.0.0.1:{}\" }}\n",
            receiver.port
        );
    let Some((gw, out)) = start_worker_logged(&yaml, mock) else {
        return;
    };
    edge_observability(&gw, &out, &receiver, &["sk-ant", "hello edge"]);
}

/// The compliance suite (WebSocket tests included) against the Worker.
#[test]
fn worker_compliance() {
    let Some((bun, suite)) = compliance_suite() else {
        return;
    };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config(&mock), mock) else {
        return;
    };
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        assert_compliant(&bun, &suite, &gw.url, model);
    }
    let _ = std::fs::remove_dir_all(&suite);
}

/// The Chat Completions and Messages front doors on the Worker, with the
/// official `openai` and `anthropic` Python SDKs, onto every upstream.
#[test]
fn worker_ingress() {
    if !python_has("openai") || !python_has("anthropic") {
        return;
    }
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config(&mock), mock) else {
        return;
    };
    chat_sdk_check(&gw.url);
    messages_sdk_check(&gw.url);
}

/// The web playground and dashboard under workerd, in headless Chromium.
#[test]
fn worker_playground() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config(&mock), mock) else {
        return;
    };
    playground_check(
        &gw.url,
        PlaygroundRun {
            model: "gpt-4o-mini",
            ..Default::default()
        },
    );
}

/// Limits and budgets through the `LIMITS` Durable Objects under workerd
/// (one `wrangler dev`: two cannot share a Durable Object's storage).
#[test]
fn worker_limits_through_durable_objects() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_limits(&mock, None), mock) else {
        return;
    };
    edge_limits(&[&gw]);
}

/// A runtime key's lifecycle through the admin API, its record in the
/// Worker's store (a Durable Object per record).
#[test]
fn worker_runtime_keys() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_admin(&mock), mock) else {
        return;
    };
    edge_key_lifecycle(&gw, Edge::Worker);
}

/// The response cache on the Worker: a repeat is served from the data
/// centre's Cache API (workerd's), streamed and not, one upstream call.
#[test]
fn worker_serves_cache_hits() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_cache(&mock, "principal"), mock) else {
        return;
    };
    for model in ["gpt-4o-mini", "claude-test"] {
        assert_eq!(hit_after_miss(&gw, model, "at the edge", &[]), 1, "{model}");
    }
}

/// A hosted MCP tool's loop under workerd: the core's MCP client over
/// the Worker's fetch, against the real MCP server.
#[test]
fn worker_runs_hosted_mcp_tools() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let Some(gw) = start_worker(&config_with_mcp(&mock, &server.url), mock) else {
        return;
    };
    hosted_tool_loop(&gw, &server);
    mcp_endpoint_call(&gw, "anything", "Lagos");
}
