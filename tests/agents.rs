//! The OpenAI Agents SDK (`@openai/agents` from npm, unmodified), through
//! the gateway on every upstream protocol, streamed and not: an agent with
//! a function tool runs its loop, and a triage agent hands off to an agent
//! whose output type is a zod object (structured output the SDK parses
//! and validates).

mod support;

use std::process::Command;

use support::*;

/// Where `.ci/run` installs the SDK; `None` (a skip, but in CI) without it.
fn agents_dir() -> Option<std::path::PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let dir = std::path::PathBuf::from(home).join(".cache/latticelm/agents");
    if !dir.join("node_modules/@openai/agents").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install @openai/agents (.ci/run does)"
        );
        skipped("install @openai/agents (see .ci/run)");
        return None;
    }
    Some(dir)
}

#[test]
fn agents_sdk_runs_a_tool_loop_on_every_upstream() {
    let Some(dir) = agents_dir() else { return };
    // The script runs beside the SDK it imports.
    let script = dir.join("run.mjs");
    std::fs::write(&script, include_str!("agents/run.mjs")).unwrap();
    let gw = start();
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
    ] {
        for mode in ["plain", "stream"] {
            for scenario in ["tool", "handoff"] {
                let out = Command::new("node")
                    .arg(&script)
                    .args([gw.url.as_str(), model, mode, scenario])
                    .output()
                    .expect("run node");
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{model} {mode} {scenario}:\n{text}");
                let expected = match scenario {
                    // The tool's result reached the model.
                    "tool" => "FINAL: tool said: sunny in",
                    // The weather agent answered in its output type, after
                    // the handoff's result reached it.
                    _ => "FINAL: {\"city\":\"tool said: ",
                };
                assert!(
                    text.contains(expected),
                    "{model} {mode} {scenario}: {expected}\n{text}"
                );
                if scenario == "handoff" {
                    assert!(
                        text.contains("AGENT: weather"),
                        "{model} {mode}: handed off\n{text}"
                    );
                    assert!(text.contains("\"confident\":true"), "{text}");
                }
            }
        }
    }
}

/// The Agents SDK's hosted MCP tool (`hostedMcpTool`), unmodified, on
/// models no MCP reaches without the gateway: the gateway runs the tool.
#[test]
fn agents_sdk_hosted_mcp_tool_runs_on_any_model() {
    let Some(dir) = agents_dir() else { return };
    let Some(server) = mcp_server() else { return };
    let script = dir.join("run_mcp.mjs");
    std::fs::write(&script, include_str!("agents/run.mjs")).unwrap();
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&config_with_mcp(&mock, &server.url), mock);
    for model in ["claude-test", "gemini-test", "llama"] {
        for mode in ["plain", "stream"] {
            let out = Command::new("node")
                .arg(&script)
                .args([gw.url.as_str(), model, mode, "mcp"])
                .output()
                .expect("run node");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{model} {mode}:\n{text}");
            assert!(
                text.contains("FINAL: tool said: Sunny, 21 C in Oslo"),
                "{model} {mode}:\n{text}"
            );
        }
    }
    assert_eq!(server.calls().len(), 6);
}
