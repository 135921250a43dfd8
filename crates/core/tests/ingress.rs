//! The Chat Completions and Messages front doors: what reaches the
//! upstream (the client's own body when the protocols match, thinking
//! opened from the gateway's seal), and bad requests answered in each
//! protocol's error shape (snapshotted).

mod common;

use bytes::Bytes;
use common::*;
use latticelm_core::HttpRequest;
use serde_json::{json, Value};

fn post_to(path: &str, body: &Value) -> HttpRequest {
    HttpRequest {
        path: path.into(),
        ..post(body)
    }
}

fn body_json(text: &str) -> Canned {
    Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(text.to_owned())],
    }
}

fn sent_body(host: &FakeHost, i: usize) -> Value {
    serde_json::from_slice(&host.sent.borrow()[i].body).unwrap()
}

fn recording(name: &str) -> String {
    std::fs::read_to_string(shared_dir().join("fixtures").join(name)).unwrap()
}

#[test]
fn messages_to_anthropic_go_as_written() {
    let host = FakeHost::answering(body_json(&recording("anthropic/anthropic-text.json")));
    let client = json!({"model": "test-model", "max_tokens": 300, "top_k": 5,
        "metadata": {"user_id": "u-1"},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]});
    let mut req = post_to("/v1/messages", &client);
    req.headers.push((
        "anthropic-beta".into(),
        "extended-cache-ttl-2025-04-11".into(),
    ));
    let (status, body) = run(&gateway("anthropic"), &host, req);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body.concat()));
    let mut want = client.clone();
    want["model"] = json!("upstream-model");
    want["stream"] = json!(false);
    assert_eq!(sent_body(&host, 0), want);
    let sent = &host.sent.borrow()[0];
    assert!(sent.headers.contains(&(
        "anthropic-beta".into(),
        "extended-cache-ttl-2025-04-11".into()
    )));
    let out: Value = serde_json::from_slice(&body.concat()).unwrap();
    assert_eq!(out["type"], "message");
}

#[test]
fn chat_to_chat_goes_as_written() {
    let host = FakeHost::answering(body_json(&recording("openai-chat/openai-text.json")));
    let client = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}],
        "logit_bias": {"1234": -100}, "seed": 7, "logprobs": true, "top_logprobs": 2,
        "service_tier": "flex", "prediction": {"type": "content", "content": "hello"}});
    // `service_tier` needs the operator's allowance, as on /v1/responses.
    let gw = gateway_passthrough_of("openai-chat", "service_tier");
    let (status, _) = run(&gw, &host, post_to("/v1/chat/completions", &client));
    assert_eq!(status, 200);
    let mut want = client.clone();
    want["model"] = json!("upstream-model");
    want["stream"] = json!(false);
    assert_eq!(sent_body(&host, 0), want);

    // Streaming: the gateway always asks for usage (it counts tokens).
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse_of(
            "openai-chat",
            &recording("openai-chat/openai-text.chunks.txt"),
        ))],
    });
    let mut client = client;
    client["stream"] = json!(true);
    let (status, body) = run(&gw, &host, post_to("/v1/chat/completions", &client));
    assert_eq!(status, 200);
    assert_eq!(sent_body(&host, 0)["stream_options"]["include_usage"], true);
    let text = String::from_utf8_lossy(&body.concat()).into_owned();
    // …but the client did not, so it gets no usage chunk.
    assert!(!text.contains("\"usage\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn chat_to_another_protocol_is_translated() {
    let host = FakeHost::answering(body_json(&recording("anthropic/anthropic-text.json")));
    let client = json!({"model": "test-model", "max_tokens": 50,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let (status, _) = run(
        &gateway("anthropic"),
        &host,
        post_to("/v1/chat/completions", &client),
    );
    assert_eq!(status, 200);
    let sent = sent_body(&host, 0);
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Be brief."}])
    );
    assert_eq!(sent["max_tokens"], 50);
}

/// Claude's thinking goes to a Messages client under the gateway's seal,
/// and back to Claude as the exact block, on both paths: as written
/// (Anthropic upstream) and translated (through Open Responses).
#[test]
fn thinking_round_trips_under_the_seal() {
    let recorded = recording("anthropic/anthropic-clear-thinking.1.json");
    let original: Value = serde_json::from_str(&recorded).unwrap();
    let block = original["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "thinking")
        .unwrap()
        .clone();
    let gw = gateway("anthropic");
    let host = FakeHost::answering(body_json(&recorded));
    let first = json!({"model": "test-model", "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "What is 925 / 5?"}]});
    let (status, body) = run(&gw, &host, post_to("/v1/messages", &first));
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body.concat()).unwrap();
    let thinking = answer["content"][0].clone();
    assert_eq!(thinking["type"], "thinking");
    assert_eq!(thinking["thinking"], block["thinking"]);
    let sig = thinking["signature"].as_str().unwrap();
    assert!(sig.starts_with("lattice2."), "{sig}");

    let mut tampered = thinking.clone();
    tampered["signature"] = json!(format!("{}A", &sig[..sig.len() - 1]));
    for (turn, want) in [(thinking, Some(block)), (tampered, None)] {
        let next = json!({"model": "test-model", "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [
                {"role": "user", "content": "What is 925 / 5?"},
                {"role": "assistant", "content": [turn, {"type": "text", "text": "185"}]},
                {"role": "user", "content": "And times 2?"}]});
        host.canned.borrow_mut().push(body_json(&recorded));
        host.sent.borrow_mut().clear();
        let (status, _) = run(&gw, &host, post_to("/v1/messages", &next));
        assert_eq!(status, 200);
        let assistant = &sent_body(&host, 0)["messages"][1]["content"];
        match &want {
            Some(block) => assert_eq!(&assistant[0], block),
            None => assert_eq!(assistant[0]["type"], "text", "{assistant}"),
        }
    }
}

/// One bad request: its status and body, snapshotted by name.
fn refused(name: &str, kind: &str, path: &str, req: HttpRequest) -> Value {
    let gw = gateway_with(
        kind,
        "server: { max_request_bytes: 4096 }\nrouting: { retries: 0 }",
    );
    let host = FakeHost::default();
    let (status, body) = run(
        &gw,
        &host,
        HttpRequest {
            path: path.into(),
            ..req
        },
    );
    assert!(
        host.sent.borrow().is_empty(),
        "{name}: a bad request reached the upstream"
    );
    let body: Value = serde_json::from_slice(&body.concat()).unwrap();
    json!({"status": status, "body": body})
}

fn raw(content_type: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        headers: vec![("content-type".into(), content_type.into())],
        body: Bytes::from(body.to_owned()),
        ..Default::default()
    }
}

#[test]
fn bad_chat_requests() {
    let ok = json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        post(&b)
    };
    let cases: Vec<(&str, HttpRequest)> = vec![
        ("not_json", raw("application/json", "{\"model\": ")),
        ("wrong_media_type", raw("text/plain", "hi")),
        ("not_an_object", raw("application/json", "[1, 2]")),
        ("no_messages", post(&json!({"model": "test-model"}))),
        ("messages_not_a_list", with("messages", json!("hi"))),
        ("empty_messages", with("messages", json!([]))),
        (
            "unknown_role",
            with("messages", json!([{"role": "robot", "content": "hi"}])),
        ),
        (
            "unknown_part",
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "video", "video": {}}]}]),
            ),
        ),
        (
            "tool_without_call_id",
            with("messages", json!([{"role": "tool", "content": "42"}])),
        ),
        ("n_2", with("n", json!(2))),
        (
            "no_model",
            post(&json!({"messages": [{"role": "user", "content": "hi"}]})),
        ),
        ("unknown_model", with("model", json!("no-such-model"))),
        (
            "tool_without_name",
            with(
                "tools",
                json!([{"type": "function", "function": {"parameters": {}}}]),
            ),
        ),
        (
            "bad_response_format",
            with("response_format", json!({"type": "yaml"})),
        ),
        ("bad_max_tokens", with("max_tokens", json!(-3))),
        ("bad_temperature", with("temperature", json!("hot"))),
        (
            "too_large",
            with(
                "messages",
                json!([{"role": "user", "content": "x".repeat(5000)}]),
            ),
        ),
        (
            "wrong_method",
            HttpRequest {
                method: "GET".into(),
                ..Default::default()
            },
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, req) in cases {
        let out = refused(name, "openai", "/v1/chat/completions", req);
        let status = out["status"].as_u64().unwrap();
        assert!((400..500).contains(&status), "{name}: {out}");
        assert!(out["body"]["error"]["message"].is_string(), "{name}: {out}");
        insta::assert_json_snapshot!(format!("chat_{name}"), out);
    }
}

#[test]
fn bad_messages_requests() {
    let ok = json!({"model": "test-model", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        post(&b)
    };
    let cases: Vec<(&str, HttpRequest)> = vec![
        ("not_json", raw("application/json", "{\"model\": ")),
        ("wrong_media_type", raw("text/plain", "hi")),
        ("not_an_object", raw("application/json", "[1, 2]")),
        (
            "no_max_tokens",
            post(&json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]})),
        ),
        ("bad_max_tokens", with("max_tokens", json!("many"))),
        (
            "no_messages",
            post(&json!({"model": "test-model", "max_tokens": 100})),
        ),
        ("empty_messages", with("messages", json!([]))),
        (
            "unknown_role",
            with("messages", json!([{"role": "robot", "content": "hi"}])),
        ),
        (
            "content_a_number",
            with("messages", json!([{"role": "user", "content": 7}])),
        ),
        (
            "unknown_block",
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "hologram"}]}]),
            ),
        ),
        (
            "tool_choice_tool_without_name",
            with("tool_choice", json!({"type": "tool"})),
        ),
        (
            "tool_without_name",
            with("tools", json!([{"input_schema": {"type": "object"}}])),
        ),
        (
            "thinking_budget_too_small",
            with("thinking", json!({"type": "enabled", "budget_tokens": 100})),
        ),
        (
            "thinking_budget_over_max",
            with(
                "thinking",
                json!({"type": "enabled", "budget_tokens": 5000}),
            ),
        ),
        (
            "stop_sequences_not_a_list",
            with("stop_sequences", json!("STOP")),
        ),
        ("temperature_out_of_range", with("temperature", json!(1.5))),
        ("unknown_model", with("model", json!("no-such-model"))),
        (
            "too_large",
            with(
                "messages",
                json!([{"role": "user", "content": "x".repeat(5000)}]),
            ),
        ),
        (
            "wrong_method",
            HttpRequest {
                method: "GET".into(),
                ..Default::default()
            },
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, req) in cases {
        let out = refused(name, "anthropic", "/v1/messages", req);
        let status = out["status"].as_u64().unwrap();
        assert!((400..500).contains(&status), "{name}: {out}");
        assert_eq!(out["body"]["type"], "error", "{name}: {out}");
        assert!(out["body"]["error"]["message"].is_string(), "{name}: {out}");
        insta::assert_json_snapshot!(format!("messages_{name}"), out);
    }
}
