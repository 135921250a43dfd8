//! The vendored Open Responses compliance suite (tests/compliance), run
//! by Bun from `~/.cache/latticelm/compliance` (installed by `.ci/run`).

use std::process::Command;

/// Bun, with the suite copied beside its node_modules; `None` (a skip)
/// when the runtime is not installed, which CI does not allow.
pub fn compliance_suite() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let home = std::env::var("HOME").unwrap_or_default();
    let dir = std::path::PathBuf::from(home).join(".cache/latticelm/compliance");
    let bun = dir.join("node_modules/.bin/bun");
    if !bun.exists() || !dir.join("node_modules/zod").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install bun and zod (.ci/run does)"
        );
        super::skipped("install the compliance runtime (see .ci/run)");
        return None;
    }
    // One copy per test binary run (tests may run at once).
    let suite = dir.join(format!("suite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&suite);
    let copied = Command::new("cp")
        .arg("-r")
        .arg(super::root().join("tests/compliance"))
        .arg(&suite)
        .status()
        .unwrap();
    assert!(copied.success());
    Some((bun, suite))
}

/// The suite's 10 HTTP tests (the other 7 are WebSocket tests).
pub const HTTP_TESTS: &str = "basic-response,assistant-phase,response-output-phase-schema,streaming-response,system-prompt,tool-calling,image-input,multi-turn,compact-response,compact-missing-model";

/// Runs the suite against `base` (`http://host:port`) with `model`;
/// panics with its report unless all 17 tests pass.
pub fn assert_compliant(bun: &std::path::Path, suite: &std::path::Path, base: &str, model: &str) {
    assert_passes(bun, suite, base, model, None, 17);
}

/// Runs the suite (or the tests in `filter`) and wants `n` passed.
pub fn assert_passes(
    bun: &std::path::Path,
    suite: &std::path::Path,
    base: &str,
    model: &str,
    filter: Option<&str>,
    n: usize,
) {
    let mut cmd = Command::new(bun);
    cmd.current_dir(suite)
        .args(["run", "bin/compliance-test.ts", "-u"])
        .arg(format!("{base}/v1"))
        .args(["-k", "unused", "-m", model])
        .env("NO_COLOR", "1");
    if let Some(f) = filter {
        cmd.args(["--filter", f]);
    }
    let out = cmd.output().expect("run bun");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains(&format!("{n} passed")) && text.contains("0 failed"),
        "{model}:\n{text}"
    );
}
