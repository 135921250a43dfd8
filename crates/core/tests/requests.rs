//! Request translation: for each Open Responses feature, the exact
//! upstream request body built for each protocol, as snapshots.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

fn cases() -> Vec<(&'static str, Value)> {
    let weather = json!({"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true});
    let time = json!({"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}});
    vec![
        ("string input", json!({"input": "hi"})),
        (
            "instructions and roles",
            json!({"instructions": "Be terse.", "input": [
            {"role": "system", "content": "sys"}, {"role": "developer", "content": "dev"},
            {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "u2"}, {"type": "input_text", "text": "u3"}]}]}),
        ),
        (
            "images and files",
            json!({"input": [{"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
            {"type": "input_image", "image_url": "https://example.com/a.jpg"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}]}]}),
        ),
        (
            "tools, parallel calls and outputs",
            json!({"tools": [weather, time], "parallel_tool_calls": false, "input": [
            {"role": "user", "content": "weather and time?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call", "call_id": "c2", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "noon"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thought"}], "encrypted_content": "opaque"}]}),
        ),
        (
            "tool_choice required",
            json!({"input": "x", "tools": [weather], "tool_choice": "required"}),
        ),
        (
            "tool_choice function",
            json!({"input": "x", "tools": [weather, time], "tool_choice": {"type": "function", "name": "get_time"}}),
        ),
        (
            "tool_choice allowed_tools",
            json!({"input": "x", "tools": [weather, time], "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]}}),
        ),
        (
            "json_schema output",
            json!({"input": "x", "text": {"format": {"type": "json_schema", "name": "person", "strict": true, "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}),
        ),
        (
            "json_object output",
            json!({"input": "x", "text": {"format": {"type": "json_object"}}}),
        ),
        (
            "sampling and limits",
            json!({"input": "x", "temperature": 0.3, "top_p": 0.9, "presence_penalty": 0.1, "frequency_penalty": 0.2, "max_output_tokens": 64, "top_logprobs": 2, "reasoning": {"effort": "low", "summary": "auto"}, "safety_identifier": "u-1", "prompt_cache_key": "k", "service_tier": "flex"}),
        ),
        (
            "extra parameters pass through",
            json!({"input": "x", "top_k": 40, "repetition_penalty": 1.1}),
        ),
        ("streaming", json!({"input": "x", "stream": true})),
    ]
}

#[test]
fn upstream_request_bodies() {
    for kind in ["openai-chat", "openai", "anthropic", "google"] {
        let mut out = serde_json::Map::new();
        for (name, mut body) in cases() {
            body["model"] = json!("test-model");
            let host = FakeHost::answering(Canned {
                status: 500,
                headers: vec![],
                chunks: vec![Bytes::from_static(b"{}")],
            });
            run(&gateway_passthrough(kind), &host, post(&body));
            let sent = host.sent.borrow();
            let req = sent
                .first()
                .unwrap_or_else(|| panic!("{kind}/{name}: nothing sent"));
            let upstream: Value = serde_json::from_slice(&req.body).unwrap();
            out.insert(name.to_owned(), json!({"url": req.url, "body": upstream}));
        }
        insta::assert_json_snapshot!(kind, out);
    }
}

/// A request carrying every top-level field of the spec, and fields that
/// only Codex or OpenAI know: each protocol's upstream body holds only
/// fields its own API defines.
#[test]
fn upstream_bodies_hold_only_their_apis_fields() {
    let everything = json!({
        "model": "test-model", "input": "x", "instructions": "i",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": "auto", "text": {"format": {"type": "text"}, "verbosity": "low"},
        "reasoning": {"effort": "low", "summary": "auto"}, "temperature": 0.5, "top_p": 0.9,
        "presence_penalty": 0.1, "frequency_penalty": 0.1, "max_output_tokens": 100,
        "max_tool_calls": 3, "top_logprobs": 1, "parallel_tool_calls": true, "stream": true,
        "stream_options": {"include_obfuscation": false}, "store": false, "background": false,
        "metadata": {"k": "v"}, "include": ["reasoning.encrypted_content"], "truncation": "auto",
        "safety_identifier": "s", "prompt_cache_key": "p", "user": "u",
        "client_metadata": {"x": "y"}, "conversation": null, "prompt": null,
    });
    let allowed: &[(&str, &[&str])] = &[
        (
            "openai-chat",
            &[
                "model",
                "messages",
                "tools",
                "tool_choice",
                "temperature",
                "top_p",
                "presence_penalty",
                "frequency_penalty",
                "max_tokens",
                "max_completion_tokens",
                "top_logprobs",
                "logprobs",
                "parallel_tool_calls",
                "stream",
                "stream_options",
                "response_format",
                "reasoning_effort",
                "safety_identifier",
                "prompt_cache_key",
                "service_tier",
                "stop",
                "metadata",
                "store",
                "user",
                "verbosity",
            ],
        ),
        (
            "anthropic",
            &[
                "model",
                "messages",
                "system",
                "tools",
                "tool_choice",
                "temperature",
                "top_p",
                "top_k",
                "max_tokens",
                "stream",
                "stop_sequences",
                "thinking",
                "metadata",
                "service_tier",
            ],
        ),
        (
            "google",
            &[
                "contents",
                "systemInstruction",
                "tools",
                "toolConfig",
                "generationConfig",
                "safetySettings",
                "cachedContent",
            ],
        ),
    ];
    for (kind, keys) in allowed {
        let host = FakeHost::answering(Canned {
            status: 500,
            ..Default::default()
        });
        let _ = run(&gateway(kind), &host, post(&everything));
        let sent = host.sent.borrow();
        let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
        for k in body.as_object().unwrap().keys() {
            assert!(
                keys.contains(&k.as_str()),
                "{kind}: `{k}` is not a field of its API: {body}"
            );
        }
    }
}

/// `prompt_cache_key` on Anthropic: cache breakpoints on the last tool,
/// the last system block and the conversation's last block; none without
/// the key.
#[test]
fn prompt_cache_key_sets_anthropic_cache_breakpoints() {
    let body = |key: bool| {
        let mut b = json!({"model": "test-model", "instructions": "Be brief.",
            "input": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                      {"role": "user", "content": "three"}],
            "tools": [{"type": "function", "name": "a", "parameters": {"type": "object"}},
                      {"type": "function", "name": "b", "parameters": {"type": "object"}}]});
        if key {
            b["prompt_cache_key"] = json!("conversation-1");
        }
        let host = FakeHost::answering(Canned {
            status: 500,
            headers: vec![],
            chunks: vec![Bytes::from_static(b"{}")],
        });
        run(&gateway("anthropic"), &host, post(&b));
        let sent: Value = serde_json::from_slice(&host.sent.borrow()[0].body).unwrap();
        sent
    };
    let cached = body(true);
    let ephemeral = json!({"type": "ephemeral"});
    assert_eq!(cached["tools"][1]["cache_control"], ephemeral, "{cached}");
    assert!(cached["tools"][0].get("cache_control").is_none());
    assert_eq!(cached["system"][0]["cache_control"], ephemeral);
    assert_eq!(
        cached["messages"][2]["content"],
        json!([{"type": "text", "text": "three", "cache_control": ephemeral}])
    );
    assert!(cached.get("prompt_cache_key").is_none());
    assert_eq!(cached.to_string().matches("cache_control").count(), 3);
    assert!(!body(false).to_string().contains("cache_control"));
}
