//! Round trips: output items of one provider sent back as input reach the
//! provider exactly (thinking signatures byte for byte, call ids kept),
//! and structured output comes back as text.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

fn replay_stream(kind: &str, fixture: &str, request: Value) -> Value {
    let text = std::fs::read_to_string(shared_dir().join("fixtures").join(fixture)).unwrap();
    let mut sse = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let t = line
            .split("\"type\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("x");
        if kind != "google" {
            sse.push_str(&format!("event: {t}\n"));
        }
        sse.push_str(&format!("data: {line}\n\n"));
    }
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse)],
    });
    let mut request = request;
    request["stream"] = json!(true);
    let (_, body) = run(&gateway(kind), &host, post(&request));
    let events = parse_sse(&body.concat());
    assert_valid_stream(&events);
    events.last().unwrap()["response"].clone()
}

/// What a sealed `encrypted_content` blob holds, opened with the key of
/// the test gateway's provider (as [`gateway`] configures it) of whichever
/// kind sealed it.
fn peek(blob: &Value) -> String {
    let blob = blob.as_str().expect("a blob");
    assert!(blob.starts_with("lattice2."), "sealed: {blob}");
    for kind in ["anthropic", "google", "openai", "openai-chat"] {
        let yaml = format!(
            "providers:\n  up: {{ type: {kind}, endpoint: \"http://upstream.test\", api_key: sk-test }}\nmodels:\n  - {{ name: test-model, provider: up, provider_model_id: upstream-model }}\n"
        );
        let config = latticelm_core::config::Config::from_yaml(&yaml, &|_| None).unwrap();
        let route = latticelm_core::routing::resolve(&config, "test-model", None).unwrap();
        let sealer = latticelm_core::providers::seal::Sealer::for_route(&config, &route);
        if let Some(raw) = sealer.open(blob) {
            return raw;
        }
    }
    panic!("no test provider's key opens {blob}")
}

/// The upstream body the gateway builds for a request.
fn upstream_body(kind: &str, request: &Value) -> Value {
    let host = FakeHost::answering(Canned {
        status: 500,
        headers: vec![],
        chunks: vec![Bytes::from_static(b"{}")],
    });
    run(&gateway(kind), &host, post(request));
    let sent = host.sent.borrow();
    serde_json::from_slice(&sent[0].body).unwrap()
}

#[test]
fn anthropic_json_tool_becomes_text() {
    let format =
        json!({"format": {"type": "json_schema", "name": "json", "schema": {"type": "object"}}});
    let resp = replay_stream(
        "anthropic",
        "anthropic/anthropic-json-tool.1.chunks.txt",
        json!({"model": "test-model", "input": "weather?", "text": format}),
    );
    let out = resp["output"].as_array().unwrap();
    assert_eq!(out.len(), 1, "{resp}");
    assert_eq!(out[0]["type"], "message");
    let text = out[0]["content"][0]["text"].as_str().unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["elements"][0]["location"], "San Francisco");
    // The request forced the tool named after the schema.
    let body = upstream_body(
        "anthropic",
        &json!({"model": "test-model", "input": "weather?", "text": format}),
    );
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "json"}));
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
}

#[test]
fn anthropic_thinking_and_tools_round_trip() {
    let tools = json!([{"type": "function", "name": "calculator", "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}]);
    let first = replay_stream(
        "anthropic",
        "anthropic/anthropic-clear-thinking.1.chunks.txt",
        json!({"model": "test-model", "input": "925/5?", "tools": tools}),
    );
    let mut input = vec![json!({"role": "user", "content": "925/5?"})];
    input.extend(first["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call", "call_id": "toolu_1", "name": "calculator", "arguments": "{\"a\":1}"}));
    input.push(json!({"type": "function_call", "call_id": "toolu_2", "name": "calculator", "arguments": "{\"a\":2}"}));
    input.push(json!({"type": "function_call_output", "call_id": "toolu_1", "output": "1"}));
    input.push(json!({"type": "function_call_output", "call_id": "toolu_2", "output": "2"}));
    input.push(json!({"role": "user", "content": "thanks"}));
    let body = upstream_body(
        "anthropic",
        &json!({"model": "test-model", "input": input, "tools": tools}),
    );
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs.len(),
        3,
        "user, one merged assistant turn, one merged user turn: {body}"
    );
    let assistant = msgs[1]["content"].as_array().unwrap();
    let reasoning = &first["output"][0];
    assert_eq!(assistant[0]["type"], "thinking");
    let raw = peek(&reasoning["encrypted_content"]);
    let sealed: Value = serde_json::from_str(raw.strip_prefix("anthropic:").unwrap()).unwrap();
    assert!(sealed["signature"]
        .as_str()
        .unwrap()
        .starts_with("EvQBCkYI"));
    assert_eq!(assistant[0], sealed, "the block byte for byte");
    assert_eq!(assistant[0]["thinking"], reasoning["content"][0]["text"]);
    assert_eq!(
        assistant[1],
        json!({"type": "text", "text": "925 ÷ 5 = 185"})
    );
    assert_eq!(assistant[2]["type"], "tool_use");
    assert_eq!(assistant[3]["id"], "toolu_2");
    let user = msgs[2]["content"].as_array().unwrap();
    assert_eq!(
        user[0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "1"})
    );
    assert_eq!(user[1]["tool_use_id"], "toolu_2");
    assert_eq!(user[2], json!({"type": "text", "text": "thanks"}));
}

#[test]
fn gemini_signatures_return_on_their_parts() {
    let tools = json!([{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}]);
    let first = replay_stream(
        "google",
        "google/google-tool-call.chunks.txt",
        json!({"model": "test-model", "input": "weather in SF?", "tools": tools}),
    );
    let out = first["output"].as_array().unwrap();
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[1]["type"], "function_call");
    let call_id = out[1]["call_id"].as_str().unwrap();
    let mut input = vec![json!({"role": "user", "content": "weather in SF?"})];
    input.extend(out.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": call_id, "output": "{\"temp\": 14}"}),
    );
    let body = upstream_body(
        "google",
        &json!({"model": "test-model", "input": input, "tools": tools, "instructions": "Be brief."}),
    );
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{body}");
    let call_part = &contents[1]["parts"][0];
    assert_eq!(contents[1]["role"], "model");
    let raw = peek(&out[0]["encrypted_content"]);
    let signature = raw.strip_prefix("google:").unwrap();
    assert_eq!(
        call_part["thoughtSignature"], signature,
        "the signature is on the functionCall part"
    );
    assert_eq!(
        call_part["functionCall"],
        json!({"name": "weather", "args": {"location": "San Francisco"}})
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"temp": 14}}}]})
    );
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["properties"]
            ["location"]["type"],
        "string"
    );
}

#[test]
fn reasoning_never_crosses_providers() {
    // Sealed Claude thinking, a sealed Gemini signature and OpenAI's own
    // encrypted reasoning, all in one history; then what the gateway must
    // refuse to pass on: raw provider state a client wrote, and a sealed
    // blob with one character changed.
    let claude = replay_stream(
        "anthropic",
        "anthropic/anthropic-clear-thinking.1.chunks.txt",
        json!({"model": "test-model", "input": "925/5?"}),
    )["output"][0]["encrypted_content"]
        .clone();
    let gemini = replay_stream(
        "google",
        "google/google-tool-call.chunks.txt",
        json!({"model": "test-model", "input": "weather in SF?"}),
    )["output"][0]["encrypted_content"]
        .clone();
    let sig_a = "EvQBCkYICxgCKkAxhD4";
    let sig_g = peek(&gemini).strip_prefix("google:").unwrap().to_owned();
    let mut tampered = claude.as_str().unwrap().to_owned();
    let at = "lattice2.".len() + 30;
    let flipped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    let input = json!([
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "summary": [], "encrypted_content": claude},
        {"type": "reasoning", "summary": [], "encrypted_content": gemini},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA_openai"},
        {"type": "reasoning", "summary": [], "encrypted_content": "anthropic:{\"type\":\"redacted_thinking\",\"data\":\"FORGED\"}"},
        {"type": "reasoning", "summary": [], "encrypted_content": tampered},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "again"},
    ]);
    let req = json!({"model": "test-model", "input": input});
    let a = upstream_body("anthropic", &req);
    let thinking: Vec<&Value> = a["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] != "text")
        .collect();
    assert_eq!(thinking.len(), 1, "only the one genuine block: {a}");
    let a = a.to_string();
    assert!(a.contains(sig_a), "{a}");
    for other in [sig_g.as_str(), "gAAAA", "FORGED", "lattice2."] {
        assert!(!a.contains(other), "{other} in {a}");
    }
    let g = upstream_body("google", &req).to_string();
    assert!(g.contains(&sig_g), "{g}");
    for other in [sig_a, "gAAAA", "FORGED", "lattice2."] {
        assert!(!g.contains(other), "{other} in {g}");
    }
    let o = upstream_body("openai", &req).to_string();
    assert!(o.contains("gAAAA_openai"), "{o}");
    for other in [sig_a, sig_g.as_str(), "FORGED", "lattice2."] {
        assert!(!o.contains(other), "{other} in {o}");
    }
}

#[test]
fn a_blob_sealed_for_one_provider_does_not_open_for_another() {
    // Without `conversations.reasoning_key`, each provider's key comes from
    // its own credential: a blob from one account is dropped by another.
    let claude = replay_stream(
        "anthropic",
        "anthropic/anthropic-clear-thinking.1.chunks.txt",
        json!({"model": "test-model", "input": "925/5?"}),
    )["output"][0]["encrypted_content"]
        .clone();
    let input = json!([
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "summary": [], "encrypted_content": claude},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "again"},
    ]);
    let other = latticelm_core::Gateway::new(
        latticelm_core::config::Config::from_yaml(
            "providers:\n  up: { type: anthropic, endpoint: \"http://upstream.test\", api_key: sk-other }\nmodels:\n  - { name: test-model, provider: up }\n",
            &|_| None,
        )
        .unwrap(),
    );
    let host = FakeHost::answering(Canned {
        status: 500,
        headers: vec![],
        chunks: vec![Bytes::from_static(b"{}")],
    });
    run(
        &other,
        &host,
        post(&json!({"model": "test-model", "input": input})),
    );
    let sent = String::from_utf8(host.sent.borrow()[0].body.to_vec()).unwrap();
    assert!(!sent.contains("thinking"), "{sent}");
    // With one reasoning_key, it opens anywhere that shares the key.
    let shared = "conversations: { reasoning_key: s3cret }\n";
    let first = {
        let text = std::fs::read_to_string(
            shared_dir().join("fixtures/anthropic/anthropic-clear-thinking.1.chunks.txt"),
        )
        .unwrap();
        let sse: String = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("data: {l}\n\n"))
            .collect();
        let host = FakeHost::answering(Canned {
            status: 200,
            headers: vec![],
            chunks: vec![Bytes::from(sse)],
        });
        let req = json!({"model": "test-model", "input": "925/5?", "stream": true});
        let (_, body) = run(&gateway_with("anthropic", shared), &host, post(&req));
        parse_sse(&body.concat()).last().unwrap()["response"]["output"][0]["encrypted_content"]
            .clone()
    };
    let input = json!([
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "summary": [], "encrypted_content": first},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "again"},
    ]);
    let other = latticelm_core::Gateway::new(
        latticelm_core::config::Config::from_yaml(
            &format!("providers:\n  up: {{ type: anthropic, endpoint: \"http://elsewhere.test\", api_key: sk-other }}\nmodels:\n  - {{ name: test-model, provider: up }}\n{shared}"),
            &|_| None,
        )
        .unwrap(),
    );
    let host = FakeHost::answering(Canned {
        status: 500,
        headers: vec![],
        chunks: vec![Bytes::from_static(b"{}")],
    });
    run(
        &other,
        &host,
        post(&json!({"model": "test-model", "input": input})),
    );
    let sent = String::from_utf8(host.sent.borrow()[0].body.to_vec()).unwrap();
    assert!(sent.contains("\"signature\":\"EvQBCkYI"), "{sent}");
}
