//! `POST /v1/chat/completions` with the official `openai` Python SDK's
//! Chat Completions API, onto every upstream protocol: plain, streamed
//! with usage, a tool round trip (streamed and not), structured output,
//! and a clear 400 for `n > 1`.

mod support;

use std::process::Command;

#[test]
fn chat_completions_ingress_on_every_upstream() {
    let has_sdk = Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the openai SDK"
        );
        return;
    }
    let gw = support::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/chat_check.py");
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        let out = Command::new("python3")
            .arg(script)
            .arg(format!("{}/v1", gw.url))
            .arg(model)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}:\n{text}");
        for ok in ["OK plain", "OK stream", "OK tools", "OK json", "OK n"] {
            assert!(text.contains(ok), "{model}: {ok}\n{text}");
        }
    }
}
