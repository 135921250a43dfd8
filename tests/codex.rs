//! The real Codex CLI (`@openai/codex` from npm, unmodified) through the
//! gateway, on every upstream protocol: `codex exec` asks for a shell
//! command, the mock model calls Codex's `exec_command` tool, Codex runs
//! it and sends the result back, and the model's answer is printed.

mod support;

use support::*;

#[test]
fn codex_runs_a_tool_loop_on_every_upstream() {
    let Some(codex) = codex() else { return };
    let gw = start();
    for (model, path) in [
        ("gpt-4o-mini", "/v1/responses"),
        ("llama", "/v1/chat/completions"),
        ("claude-test", "/v1/messages"),
        (
            "gemini-test",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        ),
        ("az-responses", "/openai/v1/responses"),
    ] {
        gw.upstream_requests();
        let (ok, text) = run_codex(&codex, &gw, model);
        assert!(ok, "{model}: codex failed:\n{text}");
        assert!(
            text.contains("tool said:") && text.contains("hello-from-the-tool"),
            "{model}: the tool ran and its result came back:\n{text}"
        );
        // The tool's result went upstream in the provider's own shape.
        let sent = gw.upstream_requests();
        let last = sent.last().unwrap();
        assert_eq!(last["path"], path, "{model}");
        let body = last["body"].to_string();
        let shape = match path {
            "/v1/chat/completions" => "\"role\":\"tool\"",
            "/v1/messages" => "\"type\":\"tool_result\"",
            p if p.starts_with("/v1beta") => "\"functionResponse\"",
            _ => "\"type\":\"function_call_output\"",
        };
        assert!(
            body.contains(shape) && body.contains("hello-from-the-tool"),
            "{model}: {body}"
        );
        // Codex's own fields never reach an upstream that does not know them.
        if !path.ends_with("/responses") {
            let keys: Vec<&String> = last["body"]
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            // (Chat Completions has its own prompt_cache_key and store.)
            let foreign: &[&str] = if path == "/v1/chat/completions" {
                &["client_metadata", "include"]
            } else {
                &["client_metadata", "include", "prompt_cache_key", "store"]
            };
            for field in foreign {
                assert!(
                    !keys.iter().any(|k| k == field),
                    "{model}: `{field}` sent upstream: {keys:?}"
                );
            }
        }
    }
}

/// Codex as installed, its web search on (it sends a `web_search` tool):
/// on an OpenAI or Azure Responses upstream that does not allow it, the
/// tool is dropped and named, as on every other provider, and the turn
/// runs (it used to get 403, which Codex retried five times, then failed).
#[test]
fn codex_with_its_default_web_search_runs_on_openai_and_azure() {
    let Some(codex) = codex() else { return };
    let gw = start();
    for model in ["gpt-4o-mini", "az-responses"] {
        gw.upstream_requests();
        let work = tempfile::tempdir().unwrap();
        let (ok, text) = run_codex_with(
            &codex,
            &gw,
            model,
            "please use exec_command to run: echo hello-from-the-tool",
            work.path(),
            &["web_search=default"],
        );
        assert!(ok, "{model}: codex failed:\n{text}");
        let sent = gw.upstream_requests();
        assert!(!sent.is_empty(), "{model}");
        for req in &sent {
            let tools = req["body"]["tools"].to_string();
            assert!(!tools.contains("web_search"), "{model}: {tools}");
        }
    }
    // Codex did send it: allowed, it reaches the upstream.
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock).replace(
        "oa: { type: openai,",
        "oa: { type: openai, passthrough: [web_search],",
    );
    let gw = start_with(&yaml, mock);
    let work = tempfile::tempdir().unwrap();
    let prompt = "please use exec_command to run: echo hello-from-the-tool";
    let (ok, text) = run_codex_with(
        &codex,
        &gw,
        "gpt-4o-mini",
        prompt,
        work.path(),
        &["web_search=default"],
    );
    assert!(ok, "codex failed:\n{text}");
    let sent = gw.upstream_requests();
    assert!(
        sent[0]["body"]["tools"].to_string().contains("web_search"),
        "{:?}",
        sent[0]["body"]["tools"]
    );
}

/// Codex with a model from its own catalog (`gpt-5.5`) served by Claude,
/// Gemini 3 and a Chat server: Codex then sends its freeform `apply_patch`
/// tool, reasoning with `include: ["reasoning.encrypted_content"]` and
/// `store: false`, and carries the reasoning items itself. The mock
/// refuses thinking or signatures that do not come back exactly.
#[test]
fn codex_edits_files_with_apply_patch_on_catalog_models() {
    let Some(codex) = codex() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    for (provider, upstream, path) in [
        ("claude", "claude-sonnet-4-5", "/v1/messages"),
        (
            "gemini",
            "gemini-3-pro-preview",
            "/v1beta/models/gemini-3-pro-preview:streamGenerateContent",
        ),
        ("chat", "llama3.2:3b", "/v1/chat/completions"),
    ] {
        let yaml = config(&mock)
            + &format!("  - {{ name: gpt-5.5, provider: {provider}, provider_model_id: \"{upstream}\" }}\n");
        let gw = start_with(&yaml, mock.clone());
        gw.upstream_requests();
        let work = tempfile::tempdir().unwrap();
        let prompt = "please use apply_patch to run: *** Begin Patch\n*** Add File: hello.txt\n+hello-from-the-patch\n*** End Patch";
        let (ok, text) = run_codex_in(&codex, &gw, "gpt-5.5", prompt, work.path());
        assert!(ok, "{provider}: codex failed:\n{text}");
        let file = std::fs::read_to_string(work.path().join("hello.txt")).unwrap_or_default();
        assert_eq!(
            file.trim(),
            "hello-from-the-patch",
            "{provider}: the patch applied:\n{text}"
        );
        assert!(
            text.contains("tool said:"),
            "{provider}: the result came back:\n{text}"
        );
        let sent = gw.upstream_requests();
        let first = &sent[0]["body"];
        let last = &sent.last().unwrap()["body"];
        assert_eq!(sent.last().unwrap()["path"], path, "{provider}");
        let tools = first["tools"].to_string();
        assert!(tools.contains("apply_patch"), "{provider}: {tools}");
        if provider == "claude" {
            // Codex asked to reason: the thinking went out and came back.
            assert!(first.get("thinking").is_some(), "{first}");
            assert_eq!(
                last["messages"][1]["content"][0]["type"], "thinking",
                "{last}"
            );
        }
        if provider == "gemini" {
            let turn = &last["contents"][1]["parts"][0];
            assert_eq!(turn["thoughtSignature"], "bW9jay1zaWduYXR1cmU=", "{last}");
        }
    }
}

/// Codex with its WebSocket transport on (`supports_websockets`): its
/// turns run over one connection to the gateway, on Claude and Gemini.
#[test]
fn codex_over_the_websocket_transport() {
    let Some(codex) = codex() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&config(&mock), mock, &[]);
    for model in ["claude-test", "gemini-test"] {
        let work = tempfile::tempdir().unwrap();
        let (ok, text) = run_codex_with(
            &codex,
            &gw,
            model,
            "please use exec_command to run: echo hello-over-ws",
            work.path(),
            &["model_providers.gw.supports_websockets=true"],
        );
        assert!(ok, "{model}: codex failed:\n{text}");
        assert!(
            text.contains("tool said:") && text.contains("hello-over-ws"),
            "{model}:\n{text}"
        );
    }
    // Every turn came over the WebSocket.
    let turns: Vec<serde_json::Value> = out
        .wait_json(4)
        .into_iter()
        .filter(|l| l["path"] == "/v1/responses")
        .collect();
    assert!(turns.len() >= 4, "{turns:#?}");
    assert!(turns.iter().all(|l| l["method"] == "WS"), "{turns:#?}");
}
