//! The real Claude Code CLI (`@anthropic-ai/claude-code` from npm,
//! installed by `.ci/run`), pointed at the gateway by `ANTHROPIC_BASE_URL`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Gateway;

/// The `claude` binary (`$LATTICELM_CLAUDE_CODE` or `.ci/run`'s install);
/// a missing one is a skip, except in CI.
pub fn claude_code() -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let path = std::env::var("LATTICELM_CLAUDE_CODE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(home).join(".cache/latticelm/claude-code/node_modules/.bin/claude")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must install @anthropic-ai/claude-code (.ci/run does)"
    );
    super::skipped("install @anthropic-ai/claude-code (see .ci/run)");
    None
}

/// Runs `claude -p PROMPT --model MODEL` in `work` against the gateway,
/// with only the Bash tool allowed; returns its exit status and output.
pub fn run_claude_code(
    claude: &Path,
    gw: &Gateway,
    model: &str,
    prompt: &str,
    work: &Path,
) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(claude)
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", &gw.url)
        .env("ANTHROPIC_API_KEY", "sk-unused")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .args(["-p", prompt, "--model", model, "--allowedTools", "Bash"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
