//! The official `openai` Python SDK (from PyPI) against the running
//! gateway, with only `base_url` changed. Skipped when the SDK is not
//! installed, except in CI (`CI=true`), where `.ci/run` installs it.

mod support;

use std::process::Command;

#[test]
fn openai_python_sdk() {
    let has_sdk = Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the openai SDK (pip install openai)"
        );
        support::skipped("`pip install openai` to run this test");
        return;
    }
    let gw = support::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sdk_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("{}/v1", gw.url))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sdk_check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("21 passed, 0 failed"), "{stdout}");
}
