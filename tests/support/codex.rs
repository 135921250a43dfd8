//! The real Codex CLI against a running gateway.

use std::process::Command;

use super::Gateway;

/// Where `.ci/run` installs Codex (outside the clone).
pub fn codex() -> Option<std::path::PathBuf> {
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
    super::skipped("install @openai/codex (see .ci/run)");
    None
}

/// Runs `codex exec` against the gateway with `model`; returns its
/// exit status and what it printed.
pub fn run_codex(codex: &std::path::Path, gw: &Gateway, model: &str) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    run_codex_in(
        codex,
        gw,
        model,
        "please use exec_command to run: echo hello-from-the-tool",
        work.path(),
    )
}

/// Runs `codex exec` with a prompt in a working directory.
pub fn run_codex_in(
    codex: &std::path::Path,
    gw: &Gateway,
    model: &str,
    prompt: &str,
    work: &std::path::Path,
) -> (bool, String) {
    run_codex_with(codex, gw, model, prompt, work, &[])
}

/// [`run_codex_in`] with more `-c` settings.
pub fn run_codex_with(
    codex: &std::path::Path,
    gw: &Gateway,
    model: &str,
    prompt: &str,
    work: &std::path::Path,
    settings: &[&str],
) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(codex)
        .current_dir(work)
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
        // Codex's default web search, unless the test keeps it
        // (`web_search=default`).
        .args(
            ["-c", "web_search=\"disabled\""]
                .iter()
                .filter(|_| !settings.contains(&"web_search=default")),
        )
        .args(["-c", "analytics.enabled=false"])
        .args([
            "--disable",
            "plugins",
            "--dangerously-bypass-approvals-and-sandbox",
        ])
        .args(
            settings
                .iter()
                .filter(|s| **s != "web_search=default")
                .flat_map(|s| ["-c", s]),
        )
        .arg(prompt)
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
