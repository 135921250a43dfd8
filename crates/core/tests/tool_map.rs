//! Codex's tool kinds on protocols without them: namespaced tools
//! flattened on the way up and mapped back on the way down (streamed and
//! not), hosted tools dropped (and named) or refused.

mod common;

use bytes::Bytes;
use common::*;
use latticelm_core::Body;
use serde_json::{json, Value};

fn codex_tools() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
        {"type": "namespace", "name": "mcp__srv", "description": "Tools in the mcp__srv namespace.", "tools": [
            {"type": "function", "name": "echo", "description": "Echo text back", "strict": false,
             "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]},
        {"type": "web_search", "external_web_access": false},
    ])
}

/// A non-streaming upstream answer that calls `mcp__srv__echo`.
fn calls_echo(kind: &str) -> Value {
    match kind {
        "openai-chat" => {
            json!({"id": "c", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "mcp__srv__echo", "arguments": "{\"text\":\"hi\"}"}}]}}]})
        }
        "anthropic" => {
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "call_1", "name": "mcp__srv__echo", "input": {"text": "hi"}}], "usage": {"input_tokens": 1, "output_tokens": 1}})
        }
        _ => {
            json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "mcp__srv__echo", "args": {"text": "hi"}}}]}, "finishReason": "STOP"}]})
        }
    }
}

fn ask(
    kind: &str,
    extra: &str,
    body: &Value,
    answer: Value,
) -> (u16, Vec<(String, String)>, Value, FakeHost) {
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(answer.to_string())],
    });
    let gw = gateway_with(kind, extra);
    let resp = futures::executor::block_on(gw.handle(&host, post(body)));
    let Body::Full(b) = resp.body else {
        panic!("not streaming")
    };
    (
        resp.status,
        resp.headers,
        serde_json::from_slice(&b).unwrap(),
        host,
    )
}

#[test]
fn namespaced_tools_round_trip_and_hosted_tools_are_dropped() {
    for kind in ["openai-chat", "anthropic", "google"] {
        let body = json!({"model": "test-model", "input": "echo hi", "tools": codex_tools()});
        let (status, headers, out, host) = ask(kind, "", &body, calls_echo(kind));
        assert_eq!(status, 200, "{kind}: {out}");
        // (The response echoes the request's tools, namespace and hosted
        // ones included, which the spec's schema does not list.)
        // Upstream: two function tools, the namespaced one flattened; no web_search.
        let sent: Value = serde_json::from_slice(&host.sent.borrow()[0].body).unwrap();
        let text = sent["tools"].to_string();
        assert!(
            text.contains("\"exec_command\"") && text.contains("\"mcp__srv__echo\""),
            "{kind}: {text}"
        );
        assert!(!text.contains("web_search"), "{kind}: {text}");
        let dropped = headers
            .iter()
            .find(|(k, _)| k == "x-latticelm-dropped-tools");
        assert_eq!(
            dropped.map(|(_, v)| v.as_str()),
            Some("web_search"),
            "{kind}"
        );
        // Downstream: the call as the client knows the tool.
        let call = out["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap()
            .clone();
        assert_eq!(
            (call["name"].as_str(), call["namespace"].as_str()),
            (Some("echo"), Some("mcp__srv")),
            "{kind}: {call}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
            json!({"text": "hi"})
        );
        // The next turn sends the call back with its namespace: upstream
        // gets the flat name again.
        let next = json!({"model": "test-model", "tools": codex_tools(), "input": [
            {"role": "user", "content": "echo hi"}, call,
            {"type": "function_call_output", "call_id": "call_1", "output": "hi"}]});
        let answer = match kind {
            "openai-chat" => {
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}]})
            }
            "anthropic" => {
                json!({"type": "message", "role": "assistant", "content": [{"type": "text", "text": "done"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
            }
            _ => {
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "done"}]}, "finishReason": "STOP"}]})
            }
        };
        let (status, _, out, host) = ask(kind, "", &next, answer);
        assert_eq!(status, 200, "{kind}: {out}");
        let sent = String::from_utf8(host.sent.borrow()[0].body.to_vec()).unwrap();
        assert!(sent.contains("mcp__srv__echo"), "{kind}: {sent}");
        assert!(!sent.contains("\"namespace\""), "{kind}: {sent}");
    }
}

#[test]
fn streamed_calls_are_mapped_back_too() {
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"mcp__srv__echo\",\"arguments\":\"\"}}]}}]}\n\n\
               data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"text\\\":\\\"hi\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse)],
    });
    let body =
        json!({"model": "test-model", "input": "echo hi", "tools": codex_tools(), "stream": true});
    let (status, chunks) = run(&gateway("openai-chat"), &host, post(&body));
    assert_eq!(status, 200);
    let events = parse_sse(&chunks.concat());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let added = events
        .iter()
        .find(|e| e["type"] == "response.output_item.added")
        .unwrap();
    assert_eq!(
        (
            added["item"]["name"].as_str(),
            added["item"]["namespace"].as_str()
        ),
        (Some("echo"), Some("mcp__srv"))
    );
    let done = events.last().unwrap();
    assert_eq!(done["response"]["output"][0]["namespace"], "mcp__srv");
}

#[test]
fn long_names_are_cut_to_what_every_provider_takes() {
    let name = latticelm_core::providers::tool_map::flat_name(
        &"n".repeat(50),
        "a tool.with/odd chars and a long name",
    );
    assert!(
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{name}"
    );
    let other = latticelm_core::providers::tool_map::flat_name(
        &"n".repeat(50),
        "a tool.with/odd chars and a long nam3",
    );
    assert_ne!(name, other, "cut names stay distinct");
}

#[test]
fn hosted_tools_can_be_refused_instead() {
    let body = json!({"model": "test-model", "input": "x", "tools": codex_tools()});
    let (status, _, out, host) = ask("anthropic", "", &body, calls_echo("anthropic"));
    assert_eq!(status, 200);
    drop(host);
    let yaml_kind = "anthropic, unsupported_tools: reject";
    let (status, _, out2, host) = ask(yaml_kind, "", &body, calls_echo("anthropic"));
    assert_eq!(status, 400, "{out2} (was {out})");
    assert_eq!(out2["error"]["code"], "unsupported_parameter");
    assert!(host.sent.borrow().is_empty());
}

#[test]
fn custom_tools_become_functions_and_come_back_as_custom_calls() {
    let tools = json!([{"type": "custom", "name": "apply_patch", "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}}]);
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    for kind in ["openai-chat", "anthropic", "google"] {
        let args = json!({"input": patch});
        let answer = match kind {
            "openai-chat" => {
                json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": args.to_string()}}]}}]})
            }
            "anthropic" => {
                json!({"type": "message", "role": "assistant", "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1},
                "content": [{"type": "tool_use", "id": "call_p", "name": "apply_patch", "input": args}]})
            }
            _ => {
                json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"id": "call_p", "name": "apply_patch", "args": args}}]}, "finishReason": "STOP"}]})
            }
        };
        let body = json!({"model": "test-model", "input": "patch it", "tools": tools});
        let (status, _, out, host) = ask(kind, "", &body, answer);
        assert_eq!(status, 200, "{kind}: {out}");
        let sent = String::from_utf8(host.sent.borrow()[0].body.to_vec()).unwrap();
        assert!(
            sent.contains("apply_patch") && sent.contains("\"input\"") && sent.contains("lark"),
            "{kind}: {sent}"
        );
        let call = out["output"][0].clone();
        assert_eq!(call["type"], "custom_tool_call", "{kind}: {out}");
        assert_eq!(
            (call["name"].as_str(), call["input"].as_str()),
            (Some("apply_patch"), Some(patch))
        );
        assert_eq!(call["call_id"], "call_p");
        // The next turn sends the call and its output back.
        let next = json!({"model": "test-model", "tools": tools, "input": [
            {"role": "user", "content": "patch it"}, call,
            {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Success. Updated a.txt"}]});
        let done = match kind {
            "openai-chat" => {
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
            }
            "anthropic" => {
                json!({"type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
            }
            _ => {
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})
            }
        };
        let (status, _, out, host) = ask(kind, "", &next, done);
        assert_eq!(status, 200, "{kind}: {out}");
        let sent = String::from_utf8(host.sent.borrow()[0].body.to_vec()).unwrap();
        assert!(
            sent.contains("Success. Updated a.txt") && sent.contains("Begin Patch"),
            "{kind}: {sent}"
        );
    }
    // Streamed: the input arrives whole in the done item.
    let sse = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": serde_json::to_string(patch).unwrap() + "}"}}]}, "finish_reason": "tool_calls"}]}),
    );
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse)],
    });
    let body = json!({"model": "test-model", "input": "patch it", "tools": tools, "stream": true});
    let (status, chunks) = run(&gateway("openai-chat"), &host, post(&body));
    assert_eq!(status, 200);
    let events = parse_sse(&chunks.concat());
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(
        (
            done["item"]["type"].as_str(),
            done["item"]["input"].as_str()
        ),
        (Some("custom_tool_call"), Some(patch))
    );
    assert!(events
        .iter()
        .all(|e| e["type"] != "response.function_call_arguments.delta"));
}
