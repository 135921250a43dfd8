//! The official Open Responses compliance suite (vendored in
//! `tests/compliance`, run by Bun) against the native gateway, once per
//! upstream protocol: HTTP, streaming, compaction and the WebSocket
//! transport, 17 tests at spec 2026-04-24. Every one must pass.

mod support;

use std::process::Command;

use support::*;

#[test]
fn the_compliance_suite_passes_on_every_upstream_protocol() {
    let home = std::env::var("HOME").unwrap_or_default();
    let dir = std::path::PathBuf::from(home).join(".cache/latticelm/compliance");
    let bun = dir.join("node_modules/.bin/bun");
    if !bun.exists() || !dir.join("node_modules/zod").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install bun and zod (.ci/run does)"
        );
        eprintln!("skipped: install the compliance runtime (see .ci/run)");
        return;
    }
    // The suite runs beside its node_modules.
    let suite = dir.join("suite");
    let _ = std::fs::remove_dir_all(&suite);
    let copied = Command::new("cp")
        .arg("-r")
        .arg(root().join("tests/compliance"))
        .arg(&suite)
        .status()
        .unwrap();
    assert!(copied.success());
    let gw = start();
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        let out = Command::new(&bun)
            .current_dir(&suite)
            .args(["run", "bin/compliance-test.ts", "-u"])
            .arg(format!("{}/v1", gw.url))
            .args(["-k", "unused", "-m", model])
            .env("NO_COLOR", "1")
            .output()
            .expect("run bun");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("17 passed") && text.contains("0 failed"),
            "{model}:\n{text}"
        );
    }
}
