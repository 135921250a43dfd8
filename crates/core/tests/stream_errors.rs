//! Streams that go wrong upstream: an error in the middle, a stream cut
//! short, garbage. After output each ends with `error` then
//! `response.failed`, never a silently truncated "completed"; before any
//! output the stream is held back, and the failure is an error status.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

fn stream(kind: &str, sse: &str) -> Vec<Value> {
    let (status, body) = attempt(kind, sse);
    assert_eq!(status, 200);
    let events = parse_sse(&body);
    assert_valid_stream(&events);
    events
}

/// A stream that fails before any output: the error envelope.
fn held_error(kind: &str, sse: &str) -> (u16, Value) {
    let (status, body) = attempt(kind, sse);
    (status, serde_json::from_slice(&body).unwrap())
}

/// One streaming attempt (no retries) on a canned upstream body.
fn attempt(kind: &str, sse: &str) -> (u16, Vec<u8>) {
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse.to_owned())],
    });
    let (status, body) = run(
        &gateway_with(kind, "routing: { retries: 0 }"),
        &host,
        post(&json!({"model": "test-model", "input": "hi", "stream": true})),
    );
    (status, body.concat())
}

fn tail(events: &[Value]) -> (&Value, &Value) {
    let n = events.len();
    (&events[n - 2], &events[n - 1])
}

#[test]
fn chat_error_chunk_mid_stream() {
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n\
               data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"overloaded\"}}\n\n";
    let events = stream("openai-chat", sse);
    let (err, failed) = tail(&events);
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["code"], "overloaded");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream 'up'"));
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(
        failed["response"]["output"][0]["status"], "incomplete",
        "the partial message is kept, marked incomplete"
    );
    assert_eq!(failed["response"]["output"][0]["content"][0]["text"], "Hel");
}

#[test]
fn chat_stream_cut_short() {
    let events = stream(
        "openai-chat",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    );
    let (err, failed) = tail(&events);
    assert_eq!(err["error"]["code"], "upstream_stream_truncated");
    assert_eq!(failed["response"]["status"], "failed");
}

#[test]
fn chat_length_finish_is_incomplete() {
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
    let events = stream("openai-chat", sse);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn responses_stream_cut_short_and_garbage() {
    let sse = "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}}\n\n";
    let events = stream("openai", sse);
    let (err, _) = tail(&events);
    assert_eq!(err["error"]["code"], "upstream_stream_truncated");
    let (status, err) = held_error(
        "openai",
        "event: response.output_text.delta\ndata: {not json\n\n",
    );
    assert_eq!(status, 502);
    assert_eq!(err["error"]["code"], "upstream_invalid_response");
}

#[test]
fn chat_refusal_and_content_filter() {
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"}}]}\n\n\
               data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n";
    let events = stream("openai-chat", sse);
    let last = events.last().unwrap();
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "content_filter"
    );
    assert_eq!(
        last["response"]["output"][0]["content"][0],
        json!({"type": "refusal", "refusal": "I can't"})
    );
}

#[test]
fn anthropic_error_event_and_truncation() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
               event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
               event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
               event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let events = stream("anthropic", sse);
    let (err, failed) = tail(&events);
    assert_eq!(err["error"]["code"], "overloaded_error");
    assert_eq!(failed["response"]["output"][0]["content"][0]["text"], "Hi");
    let events = stream("anthropic", &sse[..sse.find("event: error").unwrap()]);
    assert_eq!(
        tail(&events).0["error"]["code"],
        "upstream_stream_truncated"
    );
}

#[test]
fn gemini_safety_blocked_prompt_and_malformed_call() {
    let safety = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"partial\"}],\"role\":\"model\"},\"finishReason\":\"SAFETY\"}]}\n\n";
    let events = stream("google", safety);
    assert_eq!(
        events.last().unwrap()["response"]["incomplete_details"]["reason"],
        "content_filter"
    );
    let blocked = "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}\n\n";
    let (status, err) = held_error("google", blocked);
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("content_filter")),
        "a blocked prompt is the same 400 as when not streaming"
    );
    let malformed = "data: {\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\n\n";
    let (status, err) = held_error("google", malformed);
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (502, Some("malformed_function_call"))
    );
}

#[test]
fn gemini_blocked_prompt_is_a_400_when_not_streaming() {
    let body = r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":3}}"#;
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(body)],
    });
    let (status, out) = run(
        &gateway("google"),
        &host,
        post(&json!({"model": "test-model", "input": "x"})),
    );
    let out: Value = serde_json::from_slice(&out.concat()).unwrap();
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "content_filter");
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("PROHIBITED_CONTENT"));
}
