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
