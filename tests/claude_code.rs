//! The real Claude Code CLI on every upstream protocol through
//! `/v1/messages`: with only `ANTHROPIC_BASE_URL` changed, it answers,
//! then runs a Bash tool round trip that creates a real file, on models
//! served by OpenAI Responses, Chat Completions, Claude, Gemini and Azure.

mod support;

use support::*;

#[test]
fn claude_code_on_every_upstream() {
    let Some(claude) = claude_code() else { return };
    let gw = start();
    for model in EVERY_UPSTREAM {
        let work = tempfile::tempdir().unwrap();
        let (ok, text) =
            run_claude_code(&claude, &gw, model, "hello from claude code", work.path());
        assert!(
            ok && text.contains("hello from claude code"),
            "{model}:\n{text}"
        );
        let (ok, text) = run_claude_code(
            &claude,
            &gw,
            model,
            "use bash to run: echo hello-from-the-tool > made.txt; cat made.txt",
            work.path(),
        );
        assert!(ok, "{model}: claude failed:\n{text}");
        assert!(
            text.contains("tool said: hello-from-the-tool"),
            "{model}:\n{text}"
        );
        let made = std::fs::read_to_string(work.path().join("made.txt")).unwrap();
        assert_eq!(made.trim(), "hello-from-the-tool", "{model}");
    }
}
