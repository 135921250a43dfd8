//! `POST /v1/messages` with the official `anthropic` Python SDK onto every
//! upstream protocol (Claude's API in front of GPT, Gemini and the rest):
//! plain, streamed, a tool round trip (streamed and not), and errors in
//! Anthropic's shape. `count_tokens` is a clear 501.

mod support;

use support::*;

#[test]
fn messages_ingress_on_every_upstream() {
    if !python_has("anthropic") {
        return;
    }
    let gw = start();
    python_check(
        "messages_check.py",
        &[&gw.url],
        &[
            "gpt-4o-mini",
            "llama",
            "claude-test",
            "gemini-test",
            "az-responses",
        ],
        &["OK plain", "OK stream", "OK tools", "OK errors"],
    );
    let r = client()
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
}
