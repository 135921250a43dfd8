//! `POST /v1/chat/completions` with the official `openai` Python SDK's
//! Chat Completions API, onto every upstream protocol: plain, streamed
//! with usage, a tool round trip (streamed and not), structured output,
//! and a clear 400 for `n > 1`. (The Worker runs it in `worker.rs`.)

mod support;

use support::*;

#[test]
fn chat_completions_ingress_on_every_upstream() {
    if !python_has("openai") {
        return;
    }
    let gw = start();
    chat_sdk_check(&gw.url);
}

/// LangChain's `ChatOpenAI` with only `base_url` changed: invoke, stream,
/// a bound tool round trip and structured output, on every upstream.
#[test]
fn langchain_on_every_upstream() {
    if !python_has("langchain_openai") {
        return;
    }
    let gw = start();
    langchain_check(&gw.url);
}
