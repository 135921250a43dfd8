//! `POST /v1/chat/completions` with the official `openai` Python SDK's
//! Chat Completions API, onto every upstream protocol: plain, streamed
//! with usage, a tool round trip (streamed and not), structured output,
//! and a clear 400 for `n > 1`.

mod support;

use support::*;

#[test]
fn chat_completions_ingress_on_every_upstream() {
    if !python_has("openai") {
        return;
    }
    let gw = start();
    python_check(
        "chat_check.py",
        &[&format!("{}/v1", gw.url)],
        &[
            "gpt-4o-mini",
            "llama",
            "claude-test",
            "gemini-test",
            "az-responses",
        ],
        &["OK plain", "OK stream", "OK tools", "OK json", "OK n"],
    );
}
