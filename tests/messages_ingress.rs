//! `POST /v1/messages` with the official `anthropic` Python SDK onto every
//! upstream protocol (Claude's API in front of GPT, Gemini and the rest):
//! plain, streamed, a tool round trip (streamed and not), and errors in
//! Anthropic's shape. `count_tokens` is a clear 501.

mod support;

use std::process::Command;

#[test]
fn messages_ingress_on_every_upstream() {
    let has_sdk = Command::new("python3")
        .args(["-c", "import anthropic"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the anthropic SDK"
        );
        return;
    }
    let gw = support::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/messages_check.py"
    );
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        let out = Command::new("python3")
            .arg(script)
            .arg(&gw.url)
            .arg(model)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}:\n{text}");
        for ok in ["OK plain", "OK stream", "OK tools", "OK errors"] {
            assert!(text.contains(ok), "{model}: {ok}\n{text}");
        }
    }
    let r = support::client()
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
}
