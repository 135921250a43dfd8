//! The real Codex CLI (`@openai/codex` from npm, unmodified) through the
//! gateway, on every upstream protocol: `codex exec` asks for a shell
//! command, the mock model calls Codex's `exec_command` tool, Codex runs
//! it and sends the result back, and the model's answer is printed.

mod support;

use std::process::Command;

use support::*;

/// Where `.ci/run` installs Codex (outside the clone).
fn codex() -> Option<std::path::PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let path = std::env::var("LATTICELM_CODEX")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(home).join(".cache/latticelm/codex/node_modules/.bin/codex")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must install @openai/codex (.ci/run does)"
    );
    eprintln!("skipped: install @openai/codex (see .ci/run)");
    None
}

/// Runs `codex exec` against the gateway with `model`; returns its
/// exit status and what it printed.
fn run_codex(codex: &std::path::Path, gw: &Gateway, model: &str) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(codex)
        .current_dir(work.path())
        .env("CODEX_HOME", home.path())
        .env("GW_API_KEY", "unused")
        .args(["exec", "--skip-git-repo-check", "--ephemeral"])
        .args([
            "-c",
            &format!("model=\"{model}\""),
            "-c",
            "model_provider=\"gw\"",
        ])
        .args(["-c", "model_providers.gw.name=\"latticelm\""])
        .args([
            "-c",
            &format!("model_providers.gw.base_url=\"{}/v1\"", gw.url),
        ])
        .args(["-c", "model_providers.gw.env_key=\"GW_API_KEY\""])
        .args(["-c", "model_providers.gw.wire_api=\"responses\""])
        .args([
            "-c",
            "web_search=\"disabled\"",
            "-c",
            "analytics.enabled=false",
        ])
        .args([
            "--disable",
            "plugins",
            "--dangerously-bypass-approvals-and-sandbox",
        ])
        .arg("please use exec_command to run: echo hello-from-the-tool")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run codex");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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
