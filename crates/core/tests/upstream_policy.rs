//! What goes upstream is what was checked: a front door's body sent as
//! written passes the same passthrough policy and caps as `/v1/responses`
//! (issue 23, items 5–7), and a hosted tool the operator did not allow is
//! treated the same on every provider (item 16).

mod common;

use bytes::Bytes;
use common::*;
use latticelm_core::{Config, Gateway, HttpRequest};
use serde_json::{json, Value};

fn post_to(path: &str, body: &Value) -> HttpRequest {
    HttpRequest {
        path: path.into(),
        ..post(body)
    }
}

fn answering(name: &str) -> FakeHost {
    let text = std::fs::read_to_string(shared_dir().join("fixtures").join(name)).unwrap();
    FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(text)],
    })
}

fn gateway_of(kind: &str, server: &str) -> Gateway {
    let yaml = format!(
        "server: {server}\nproviders:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\nrouting: {{ retries: 0 }}\n"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn error_code(body: &[Bytes]) -> Value {
    let v: Value = serde_json::from_slice(&body.concat()).unwrap();
    v["error"]["code"].clone()
}

#[test]
fn chat_fields_that_reach_the_account_are_refused_as_on_responses() {
    let gw = gateway("openai-chat");
    let ok = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]});
    for (field, value) in [("service_tier", json!("priority")), ("store", json!(true))] {
        let host = FakeHost::default();
        let mut body = ok.clone();
        body[field] = value;
        let (status, out) = run(&gw, &host, post_to("/v1/chat/completions", &body));
        assert_eq!(
            status,
            403,
            "{field}: {}",
            String::from_utf8_lossy(&out.concat())
        );
        assert!(
            host.sent.borrow().is_empty(),
            "{field} reached the upstream"
        );
        // The same field on /v1/responses gets the same answer.
        if field == "service_tier" {
            let r = json!({"model": "test-model", "input": "hi", "service_tier": "priority"});
            let (status, _) = run(&gw, &FakeHost::default(), post(&r));
            assert_eq!(status, 403);
        }
    }
    // Web search is a hosted tool: left out and named, as elsewhere.
    let host = answering("openai-chat/openai-text.json");
    let mut body = ok.clone();
    body["web_search_options"] = json!({"search_context_size": "high"});
    let (status, _, headers) = run_full(&gw, &host, post_to("/v1/chat/completions", &body));
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_slice(&host.sent.borrow()[0].body).unwrap();
    assert!(sent.get("web_search_options").is_none(), "{sent}");
    assert_eq!(
        header(&headers, "x-latticelm-dropped-tools"),
        Some("web_search")
    );
    // Allowed, all of it goes as written.
    let gw = gateway_passthrough_of("openai-chat", "service_tier, store, web_search");
    let host = answering("openai-chat/openai-text.json");
    body["service_tier"] = json!("priority");
    body["store"] = json!(true);
    let (status, _) = run(&gw, &host, post_to("/v1/chat/completions", &body));
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_slice(&host.sent.borrow()[0].body).unwrap();
    assert_eq!(sent["service_tier"], "priority");
    assert!(sent.get("web_search_options").is_some());
}

#[test]
fn n_is_absent_or_one() {
    let gw = gateway("openai-chat");
    for n in [
        json!(2.0),
        json!(128.0),
        json!("2"),
        json!(0),
        json!(-1),
        json!([1]),
    ] {
        let host = FakeHost::default();
        let body =
            json!({"model": "test-model", "n": n, "messages": [{"role": "user", "content": "hi"}]});
        let (status, _) = run(&gw, &host, post_to("/v1/chat/completions", &body));
        assert_eq!(status, 400, "n = {n}");
        assert!(
            host.sent.borrow().is_empty(),
            "n = {n} reached the upstream"
        );
    }
    for n in [json!(1), json!(1.0), Value::Null] {
        let host = answering("openai-chat/openai-text.json");
        let body =
            json!({"model": "test-model", "n": n, "messages": [{"role": "user", "content": "hi"}]});
        let (status, _) = run(&gw, &host, post_to("/v1/chat/completions", &body));
        assert_eq!(status, 200, "n = {n}");
    }
}

fn messages_body(tools: Value) -> Value {
    json!({"model": "test-model", "max_tokens": 100, "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]})
}

#[test]
fn messages_server_tools_and_account_fields_are_checked_as_sent() {
    let gw = gateway("anthropic");
    let custom = json!({"name": "lookup", "input_schema": {"type": "object"}});
    // Deferred server tools are left out of what is sent, and named.
    let tools = json!([custom,
        {"type": "web_search_20250305", "name": "web_search", "defer_loading": true},
        {"type": "code_execution_20250825", "name": "code_execution", "defer_loading": true},
        {"type": "bash_20250124", "name": "bash", "defer_loading": true}]);
    let host = answering("anthropic/anthropic-text.json");
    let mut req = post_to("/v1/messages", &messages_body(tools));
    req.headers.push((
        "anthropic-beta".into(),
        "mcp-client-2025-04-04, interleaved-thinking-2025-05-14,code-execution-2025-08-25".into(),
    ));
    let (status, out, headers) = run_full(&gw, &host, req);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out.concat()));
    let sent = &host.sent.borrow()[0];
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    let kinds: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap_or("custom"))
        .collect();
    assert_eq!(kinds, ["custom", "bash_20250124"]);
    let betas: Vec<&str> = sent
        .headers
        .iter()
        .filter(|(k, _)| k == "anthropic-beta")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(betas, ["interleaved-thinking-2025-05-14"]);
    assert_eq!(
        header(&headers, "x-latticelm-dropped-tools"),
        Some("web_search, code_execution, anthropic-beta:mcp-client-2025-04-04, anthropic-beta:code-execution-2025-08-25")
    );
    // Fields that reach remote servers or containers are refused.
    for (field, value) in [
        (
            "mcp_servers",
            json!([{"type": "url", "url": "https://attacker.example/mcp", "name": "x"}]),
        ),
        ("container", json!("container_011")),
        ("service_tier", json!("priority")),
    ] {
        let host = FakeHost::default();
        let mut body = messages_body(json!([custom]));
        body[field] = value;
        let (status, out) = run(&gw, &host, post_to("/v1/messages", &body));
        assert_eq!(
            status,
            403,
            "{field}: {}",
            String::from_utf8_lossy(&out.concat())
        );
        assert!(host.sent.borrow().is_empty(), "{field} reached Anthropic");
    }
    // Allowed by the provider, all of it goes as written.
    let gw = gateway_passthrough_of(
        "anthropic",
        "web_search, code_execution, mcp, anthropic-beta:mcp-client-2025-04-04",
    );
    let host = answering("anthropic/anthropic-text.json");
    let mut body = messages_body(json!([custom,
        {"type": "code_execution_20250825", "name": "code_execution", "defer_loading": true}]));
    body["mcp_servers"] = json!([{"type": "url", "url": "https://mcp.example/mcp", "name": "x"}]);
    let mut req = post_to("/v1/messages", &body);
    req.headers
        .push(("anthropic-beta".into(), "mcp-client-2025-04-04".into()));
    let (status, _) = run(&gw, &host, req);
    assert_eq!(status, 200);
    let sent = &host.sent.borrow()[0];
    let got: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(got["tools"].as_array().unwrap().len(), 2);
    assert!(sent
        .headers
        .contains(&("anthropic-beta".into(), "mcp-client-2025-04-04".into())));
}

#[test]
fn the_caps_count_what_is_sent() {
    // 5,000 deferred tools against max_tools: 4.
    let gw = gateway_of("anthropic", "{ limits: { max_tools: 4 } }");
    let tools: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("t{i}"), "input_schema": {"type": "object"}, "defer_loading": true}))
        .collect();
    let host = FakeHost::default();
    let (status, out) = run(
        &gw,
        &host,
        post_to("/v1/messages", &messages_body(json!(tools))),
    );
    assert_eq!(status, 400);
    assert!(host.sent.borrow().is_empty());
    let v: Value = serde_json::from_slice(&out.concat()).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tools"),
        "{v}"
    );

    // Nesting 121 deep in a field the gateway does not model.
    let mut deep = json!(1);
    for _ in 0..121 {
        deep = json!({"a": deep});
    }
    let gw = gateway("openai-chat");
    let host = FakeHost::default();
    let body = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "logit_bias": deep});
    let (status, out) = run(&gw, &host, post_to("/v1/chat/completions", &body));
    assert_eq!(status, 400);
    assert_eq!(error_code(&out), "limit_exceeded");
    assert!(host.sent.borrow().is_empty());
    let gw = gateway("anthropic");
    let host = FakeHost::default();
    let mut body = messages_body(json!([]));
    body["context_management"] = deep;
    let (status, out) = run(&gw, &host, post_to("/v1/messages", &body));
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&out.concat()));
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn many_small_values_are_a_400_before_parsing() {
    let gw = gateway_of("openai-chat", "{ limits: { max_json_values: 1000 } }");
    let zeros = vec!["0"; 5000].join(",");
    let text = format!(
        "{{\"model\": \"test-model\", \"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"x\": [{zeros}]}}"
    );
    for path in [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/responses/compact",
    ] {
        let req = HttpRequest {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(text.clone()),
            ..Default::default()
        };
        let host = FakeHost::default();
        let (status, out) = run(&gw, &host, req);
        assert_eq!(status, 400, "{path}");
        let s = String::from_utf8_lossy(&out.concat()).into_owned();
        assert!(s.contains("max_json_values"), "{path}: {s}");
    }
    // A body under the cap is fine.
    let ok = latticelm_core::caps::scan(b"{\"a\": [1, 2, 3], \"b\": \"x\"}", &Default::default());
    assert_eq!(ok.unwrap(), 8);
}

#[test]
fn an_unallowed_hosted_tool_is_dropped_on_every_provider() {
    let tools = json!([{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {"type": "object"}}]);
    let req = json!({"model": "test-model", "input": "hi", "tools": tools});
    for (kind, fixture) in [
        ("openai", "openai-responses/openai-phase.1.json"),
        ("anthropic", "anthropic/anthropic-text.json"),
        ("google", "google/google-text.json"),
    ] {
        let gw = gateway(kind);
        let host = answering(fixture);
        let (status, out, headers) = run_full(&gw, &host, post(&req));
        assert_eq!(
            status,
            200,
            "{kind}: {}",
            String::from_utf8_lossy(&out.concat())
        );
        assert_eq!(
            header(&headers, "x-latticelm-dropped-tools"),
            Some("web_search"),
            "{kind}"
        );
        let sent = String::from_utf8_lossy(&host.sent.borrow()[0].body).into_owned();
        assert!(!sent.contains("web_search"), "{kind}: {sent}");
    }
    // Refused with 400 when the provider says so.
    let gw = gateway_with("openai", "");
    let yaml = "providers:\n  up: { type: openai, endpoint: \"http://upstream.test\", api_key: sk-test, unsupported_tools: reject }\nmodels:\n  - { name: test-model, provider: up }\n";
    let strict = Gateway::new(Config::from_yaml(yaml, &|_| None).unwrap());
    let (status, _) = run(&strict, &FakeHost::default(), post(&req));
    assert_eq!(status, 400);
    // What reaches stored resources stays a 403.
    for tool in [
        json!({"type": "file_search", "vector_store_ids": ["vs_1"]}),
        json!({"type": "code_interpreter", "container": {"type": "auto"}}),
    ] {
        let host = FakeHost::default();
        let r = json!({"model": "test-model", "input": "hi", "tools": [tool]});
        let (status, _) = run(&gw, &host, post(&r));
        assert_eq!(status, 403, "{tool}");
        assert!(host.sent.borrow().is_empty());
    }
    let (status, _) = run(
        &gw,
        &FakeHost::default(),
        post(&json!({"model": "test-model", "input": "hi", "conversation": "conv_1"})),
    );
    assert_eq!(status, 403);
}
