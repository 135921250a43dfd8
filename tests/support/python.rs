//! The official Python SDKs (from PyPI, installed by `.ci/run`) running a
//! check script against the gateway.

use std::process::Command;

/// Whether `module` imports; a missing one is a skip, except in CI.
pub fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the `{module}` Python package (.ci/run does)"
        );
        super::skipped(&format!("pip install {module}"));
    }
    ok
}

/// Runs `tests/python/<script>` with `args` on each model; each run must
/// succeed and print every line of `oks`.
pub fn python_check(script: &str, args: &[&str], models: &[&str], oks: &[&str]) {
    let path = super::root().join("tests/python").join(script);
    for model in models {
        let out = Command::new("python3")
            .arg(&path)
            .args(args)
            .arg(model)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}:\n{text}");
        for ok in oks {
            assert!(text.contains(ok), "{model}: {ok}\n{text}");
        }
    }
}

/// A model on each upstream protocol, all behind the mock provider.
pub const EVERY_UPSTREAM: [&str; 5] = [
    "gpt-4o-mini",
    "llama",
    "claude-test",
    "gemini-test",
    "az-responses",
];

/// The `openai` SDK's Chat Completions check against a gateway, on a
/// model of every upstream protocol.
pub fn chat_sdk_check(url: &str) {
    python_check(
        "chat_check.py",
        &[&format!("{url}/v1")],
        &EVERY_UPSTREAM,
        &["OK plain", "OK stream", "OK tools", "OK json", "OK n"],
    );
}

/// The `anthropic` SDK's Messages check against a gateway, on a model
/// of every upstream protocol.
pub fn messages_sdk_check(url: &str) {
    python_check(
        "messages_check.py",
        &[url],
        &EVERY_UPSTREAM,
        &[
            "OK plain",
            "OK stream",
            "OK tools",
            "OK images",
            "OK thinking",
            "OK as written",
            "OK errors",
        ],
    );
}

/// LangChain's `ChatOpenAI` against a gateway's Chat Completions, on a
/// model of every upstream protocol.
pub fn langchain_check(url: &str) {
    python_check(
        "langchain_check.py",
        &[&format!("{url}/v1")],
        &EVERY_UPSTREAM,
        &["OK invoke", "OK stream", "OK tools", "OK structured"],
    );
}
