//! Hostile clients against the release-shaped binary: what the operator
//! allowed holds, browsers cannot post, client input cannot reach other
//! upstream endpoints, and internal details stay out of answers.

mod support;

use serde_json::json;
use support::*;

#[test]
fn a_keys_allow_list_holds_whatever_the_request_says() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let gw = start_with(&config_with_auth(&mock, &issuer.url), mock);
    let key = [("x-api-key", "key-a-123")];
    // team-a may use `llama` (served by provider `chat`) and `offline`.
    let (s, _, _) = gw.post_as(&key, &json!({"model": "llama", "input": "x"}));
    assert_eq!(s, 200);
    for body in [
        json!({"model": "llama", "provider": "oa", "input": "x"}),
        json!({"model": "llama", "provider": "claude", "input": "x"}),
        json!({"model": "oa/llama", "input": "x"}),
        json!({"model": "gpt-4o", "input": "x"}),
        json!({"model": "claude-3-5-haiku", "input": "x"}),
    ] {
        let (s, _, e) = gw.post_as(&key, &body);
        assert_eq!(s, 403, "{body}: {e}");
    }
    // Pinning one of the model's own targets is fine.
    let (s, _, e) = gw.post_as(
        &key,
        &json!({"model": "llama", "provider": "chat", "input": "x"}),
    );
    assert_eq!(s, 200, "{e}");
}

#[test]
fn organisation_level_passthrough_is_off_unless_allowed() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let cfg = config(&mock).replace(
        "azure: { type: azureopenai,",
        "azure: { type: azureopenai, passthrough: [conversation, file_search],",
    );
    let gw = start_with(&cfg, mock);
    for (body, param) in [
        (
            json!({"model": "gpt-4o-mini", "input": "x", "conversation": "conv_123"}),
            "conversation",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "prompt": {"id": "pmpt_1"}}),
            "prompt",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "service_tier": "priority"}),
            "service_tier",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}),
            "tools[0]",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
            "tools[0]",
        ),
    ] {
        let (s, e) = gw.post(&body);
        assert_eq!(
            (s, e["error"]["code"].as_str(), e["error"]["param"].as_str()),
            (403, Some("not_allowed"), Some(param)),
            "{body}: {e}"
        );
    }
    assert!(gw.upstream_requests().is_empty(), "nothing went upstream");
    // An MCP server the gateway does not run is refused before anything
    // is called (the gateway runs hosted `mcp` tools itself: tests/mcp.rs).
    let mcp = json!([{"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}]);
    let (s, e) = gw.post(&json!({"model": "gpt-4o-mini", "input": "x", "tools": mcp}));
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("tools[0].server_url")),
        "{e}"
    );
    // Hosted tools that reach no stored resource are left out and named,
    // as on every provider (Codex sends `web_search` by default).
    for kind in ["web_search", "image_generation"] {
        let tools =
            json!([{"type": kind, "server_label": "x", "server_url": "https://mcp.example"}]);
        let r = client()
            .post(format!("{}/v1/responses", gw.url))
            .json(&json!({"model": "gpt-4o-mini", "input": "x", "tools": tools}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{kind}");
        let dropped = r.headers()["x-latticelm-dropped-tools"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(dropped, kind);
        let sent = gw.upstream_requests();
        assert!(
            sent.last().unwrap()["body"]
                .get("tools")
                .is_none_or(|t| t.as_array().is_some_and(|a| a.is_empty())),
            "{kind}: {sent:?}"
        );
    }
    // A provider that allows them passes them on.
    let (s, e) = gw.post(
        &json!({"model": "az-responses", "input": "x", "conversation": "conv_123",
        "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}),
    );
    assert_eq!(s, 200, "{e}");
    let sent = gw.upstream_requests();
    assert_eq!(sent[0]["body"]["conversation"], "conv_123");
}

#[test]
fn browsers_cannot_post_and_model_names_stay_in_their_url_segment() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config(&mock), mock);
    let body = br#"{"model":"offline","input":"x"}"#.to_vec();
    // What a web page can send without a preflight: form and text types,
    // or no type at all.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (s, _, e) = gw.post_raw("/v1/responses", ct, body.clone());
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{ct}"
        );
    }
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "no content type");
    let (s, _, _) = gw.post_raw("/v1/responses", "application/json; charset=utf-8", body);
    assert_eq!(s, 200);
    // Path and query characters in a model name are encoded, on the
    // protocols that put the model in the URL.
    gw.upstream_requests();
    for (provider, model) in [
        ("gemini", "gemini-x/../../v1beta/files?key=steal#"),
        ("azure-chat", "dep/../../other?api-version=1"),
    ] {
        let _ = gw.post(&json!({"model": model, "provider": provider, "input": "x"}));
    }
    for sent in gw.upstream_requests() {
        let path = sent["path"].as_str().unwrap();
        assert!(
            path.starts_with(
                "/v1beta/models/gemini-x%2F..%2F..%2Fv1beta%2Ffiles%3Fkey%3Dsteal%23:"
            ) || path.starts_with(
                "/openai/deployments/dep%2F..%2F..%2Fother%3Fapi-version%3D1/chat/completions"
            ),
            "{path}"
        );
        assert!(!sent["query"].as_str().unwrap_or("").contains("steal"));
    }
}
