//! The official Open Responses compliance suite (vendored in
//! `tests/compliance`, run by Bun) against the native gateway, once per
//! upstream protocol: HTTP, streaming, compaction and the WebSocket
//! transport, 17 tests at spec 2026-04-24. Every one must pass.

mod support;

use support::*;

#[test]
fn the_compliance_suite_passes_on_every_upstream_protocol() {
    let Some((bun, suite)) = compliance_suite() else {
        return;
    };
    let gw = start();
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        assert_compliant(&bun, &suite, &gw.url, model);
    }
    let _ = std::fs::remove_dir_all(&suite);
}
