//! Stateless conversations (`store: false`), as Codex and the Agents SDK
//! run them: the client carries the reasoning items of earlier turns, and
//! the upstream must receive its own signatures back exactly. The mock
//! refuses a history whose signatures it did not issue, as the real APIs
//! do (Anthropic: thinking blocks bound to their text, and required at the
//! start of a tool loop's last assistant turn; Gemini 3: the signature on
//! each turn's first function call).

mod support;

use serde_json::{json, Value};
use support::*;

fn final_response(gw: &Gateway, body: &Value, stream: bool) -> Value {
    if !stream {
        let (status, resp) = gw.post(body);
        assert_eq!(status, 200, "{resp}");
        return resp;
    }
    let mut body = body.clone();
    body["stream"] = json!(true);
    let (status, events) = gw.stream(&body);
    assert_eq!(status, 200);
    let last = &events.last().expect("events").1;
    assert_eq!(last["type"], "response.completed", "{last}");
    last["response"].clone()
}

/// Turn one asks for a tool; turn two sends everything back with the
/// tool's result. Returns turn one's output and what the upstream got.
fn two_turns(gw: &Gateway, model: &str, stream: bool) -> (Vec<Value>, Value) {
    let tools = json!([{"type": "function", "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let user = json!({"role": "user", "content": "use get_weather for Oslo"});
    let first = json!({"model": model, "input": [user], "tools": tools, "store": false,
        "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"}});
    let out = final_response(gw, &first, stream)["output"]
        .as_array()
        .cloned()
        .unwrap();
    let call = out
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap_or_else(|| panic!("{model}: a call: {out:?}"));
    let mut input = vec![user];
    input.extend(out.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}),
    );
    gw.upstream_requests();
    let mut second = first.clone();
    second["input"] = json!(input);
    let resp = final_response(gw, &second, stream);
    assert_eq!(output_text(&resp), "tool said: sunny", "{model}: {resp}");
    let sent = gw.upstream_requests();
    assert_eq!(sent.len(), 1, "one upstream request: {sent:?}");
    (out, sent[0]["body"].clone())
}

#[test]
fn claude_thinking_comes_back_signed() {
    let gw = start();
    for stream in [false, true] {
        let (out, upstream) = two_turns(&gw, "claude-test", stream);
        let reasoning: Vec<&Value> = out.iter().filter(|i| i["type"] == "reasoning").collect();
        assert_eq!(reasoning.len(), 1, "{out:?}");
        let blob = reasoning[0]["encrypted_content"].as_str().unwrap();
        assert!(blob.starts_with("lattice2."), "sealed, not raw: {blob}");
        assert!(!blob.contains("EqMockSig"), "opaque: {blob}");
        // The assistant turn opens with the thinking block, signature and
        // text as the mock issued them (it refuses anything else).
        let msgs = upstream["messages"].as_array().unwrap();
        let thinking = &msgs[1]["content"][0];
        assert_eq!(thinking["type"], "thinking", "{upstream}");
        assert_eq!(
            thinking["thinking"],
            "The user asked for get_weather. I will call it."
        );
        assert!(thinking["signature"]
            .as_str()
            .unwrap()
            .starts_with("EqMockSig"));
        assert_eq!(msgs[1]["content"][1]["type"], "tool_use");
    }
}

#[test]
fn claude_redacted_thinking_comes_back() {
    let gw = start();
    let body = json!({"model": "claude-test", "input": "redact this; say hi", "store": false,
        "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"}});
    let (status, first) = gw.post(&body);
    assert_eq!(status, 200, "{first}");
    let out = first["output"].as_array().unwrap();
    let kinds: Vec<&str> = out.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reasoning", "reasoning", "message"], "{first}");
    let mut input = vec![json!({"role": "user", "content": "redact this; say hi"})];
    input.extend(out.iter().cloned());
    input.push(json!({"role": "user", "content": "again"}));
    gw.upstream_requests();
    let (status, resp) = gw.post(
        &json!({"model": "claude-test", "input": input, "store": false,
        "reasoning": {"effort": "low"}}),
    );
    assert_eq!(status, 200, "{resp}");
    let sent = &gw.upstream_requests()[0]["body"];
    let blocks = &sent["messages"][1]["content"];
    assert_eq!(blocks[0]["type"], "thinking", "{sent}");
    assert_eq!(
        blocks[1],
        json!({"type": "redacted_thinking", "data": "EmwKAhgBEgyMockRedactedThinkingData"})
    );
}

#[test]
fn gemini_signatures_come_back_on_their_calls() {
    let gw = start();
    for stream in [false, true] {
        let (out, upstream) = two_turns(&gw, "gemini-3", stream);
        let blob = out
            .iter()
            .find(|i| i["type"] == "reasoning")
            .and_then(|r| r["encrypted_content"].as_str())
            .expect("a signature item");
        assert!(blob.starts_with("lattice2."), "{blob}");
        let model_turn = &upstream["contents"][1];
        assert_eq!(model_turn["role"], "model", "{upstream}");
        assert_eq!(
            model_turn["parts"][0]["thoughtSignature"], "bW9jay1zaWduYXR1cmU=",
            "{upstream}"
        );
        assert_eq!(
            model_turn["parts"][0]["functionCall"]["name"],
            "get_weather"
        );
    }
}

#[test]
fn a_tampered_or_foreign_blob_is_dropped_and_the_upstream_says_why() {
    let gw = start();
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let user = json!({"role": "user", "content": "use get_weather for Oslo"});
    let first = json!({"model": "claude-test", "input": [user], "tools": tools, "store": false,
        "reasoning": {"effort": "low"}});
    let (_, resp) = gw.post(&first);
    let mut out = resp["output"].as_array().cloned().unwrap();
    // Claude's thinking, carried to Gemini, is dropped there cleanly.
    let call = out
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    let mut input = vec![user.clone()];
    input.extend(out.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}),
    );
    let (status, resp) =
        gw.post(&json!({"model": "gemini-test", "input": input, "tools": tools, "store": false}));
    assert_eq!(status, 200, "{resp}");
    // Tampered with, it is dropped too: Claude then refuses the tool loop
    // for want of its thinking, and the client sees Anthropic's reason.
    let blob = out[0]["encrypted_content"].as_str().unwrap().to_owned();
    out[0]["encrypted_content"] = json!(tamper(&blob));
    let mut input = vec![user];
    input.extend(out.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}),
    );
    let (status, resp) = gw.post(
        &json!({"model": "claude-test", "input": input, "tools": tools,
        "store": false, "reasoning": {"effort": "low"}}),
    );
    assert_eq!(status, 400, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must start with a thinking block"),
        "{resp}"
    );
}

/// A sealed blob with one character of its ciphertext changed.
fn tamper(blob: &str) -> String {
    let at = "lattice2.".len() + 10;
    let flipped = if &blob[at..=at] == "A" { "B" } else { "A" };
    let mut out = blob.to_owned();
    out.replace_range(at..=at, flipped);
    out
}
