//! Golden tests of the Chat Completions and Anthropic Messages front
//! doors: every recorded upstream stream and body replayed through the
//! whole pipeline behind `/v1/chat/completions` and `/v1/messages`. The
//! output is checked for its protocol's grammar and for exact tool
//! arguments, then snapshotted.

mod common;

use std::collections::BTreeMap;

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

fn chat_request(stream: bool) -> Value {
    json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}],
        "stream": stream, "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null }})
}

fn messages_request(stream: bool) -> Value {
    json!({"model": "test-model", "max_tokens": 256, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]})
}

/// One upstream answer replayed behind `path`: the status and the body.
fn replay(kind: &str, path: &str, body: &Value, status: u16, upstream: Vec<u8>) -> (u16, Vec<u8>) {
    let host = FakeHost::answering(Canned {
        status,
        headers: vec![],
        chunks: vec![Bytes::from(upstream)],
    });
    let (status, out) = run(
        &gateway_with(kind, "routing: { retries: 0 }"),
        &host,
        post_to(path, body),
    );
    (status, out.concat())
}

/// `data:` payloads of an SSE body, with their `event:` names.
fn sse_events(body: &[u8]) -> Vec<(Option<String>, String)> {
    let text = String::from_utf8_lossy(body);
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut name = None;
            let mut data = String::new();
            for line in f.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

/// Chat chunks: each is a `chat.completion.chunk`, the stream ends with
/// `[DONE]`, and the tool calls' arguments (joined by `index`) are
/// returned.
fn check_chunks(events: &[(Option<String>, String)]) -> (Vec<Value>, Vec<Value>) {
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let mut args: BTreeMap<u64, String> = BTreeMap::new();
    for c in &chunks {
        if c.get("error").is_some() {
            continue;
        }
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
        for t in c
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let a = t
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            args.entry(t["index"].as_u64().unwrap())
                .or_default()
                .push_str(a);
        }
    }
    let args = args.values().map(|a| parse_args(a)).collect();
    (chunks, args)
}

fn parse_args(a: &str) -> Value {
    serde_json::from_str(if a.is_empty() { "{}" } else { a }).unwrap()
}

/// Messages events: names match their `type`, `message_start` comes
/// first and `message_stop` last, blocks open and close in order; the
/// `tool_use` blocks' input (joined deltas) is returned.
fn check_messages(events: &[(Option<String>, String)]) -> (Vec<Value>, Vec<Value>) {
    let data: Vec<Value> = events
        .iter()
        .map(|(name, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            assert_eq!(name.as_deref(), v["type"].as_str(), "{v}");
            v
        })
        .collect();
    assert_eq!(data[0]["type"], "message_start");
    let last = data.last().unwrap()["type"].as_str().unwrap();
    assert!(last == "message_stop" || last == "error", "{last}");
    let mut open: Option<u64> = None;
    let mut next = 0;
    let mut args: BTreeMap<u64, String> = BTreeMap::new();
    for v in &data {
        match v["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None, "a block is already open: {v}");
                assert_eq!(v["index"], next);
                open = Some(next);
                next += 1;
                if v["content_block"]["type"] == "tool_use" {
                    args.insert(v["index"].as_u64().unwrap(), String::new());
                }
            }
            "content_block_delta" => {
                assert_eq!(open, v["index"].as_u64(), "{v}");
                if let Some(p) = v["delta"]["partial_json"].as_str() {
                    args.get_mut(&v["index"].as_u64().unwrap())
                        .unwrap()
                        .push_str(p);
                }
            }
            "content_block_stop" => {
                assert_eq!(open.take(), v["index"].as_u64(), "{v}");
            }
            "message_delta" | "message_stop" => assert_eq!(open, None),
            _ => {}
        }
    }
    (data, args.values().map(|a| parse_args(a)).collect())
}

#[test]
fn streams() {
    insta::glob!(
        "../../../../shared/fixtures",
        "{openai-responses,azure-openai-responses,open-responses,openai-chat,anthropic,google}/*.chunks.txt",
        |path| {
            let kind = kind_of(path);
            let text = std::fs::read_to_string(path).unwrap();
            let mut snapshots = Vec::new();
            for recording in split_responses(&text) {
                let sse = sse_of(kind, &recording);
                let want = (!recording.contains("partialArgs"))
                    .then(|| recorded_args(kind, &recording));
                let mut one = serde_json::Map::new();
                for (name, path, body) in [
                    ("chat", "/v1/chat/completions", chat_request(true)),
                    ("messages", "/v1/messages", messages_request(true)),
                ] {
                    let (status, out) = replay(kind, path, &body, 200, sse.clone());
                    if status != 200 {
                        let error: Value = serde_json::from_slice(&out).unwrap();
                        let shaped = if name == "chat" {
                            error["error"]["message"].is_string()
                        } else {
                            error["type"] == "error" && error["error"]["message"].is_string()
                        };
                        assert!(shaped, "{name}: {error}");
                        one.insert(name.into(), json!({"status": status, "body": error}));
                        continue;
                    }
                    let events = sse_events(&out);
                    let (data, args) = if name == "chat" {
                        check_chunks(&events)
                    } else {
                        check_messages(&events)
                    };
                    if let Some(want) = &want {
                        assert_eq!(&args, want, "{name}: tool arguments equal the recording's");
                    }
                    one.insert(name.into(), Value::Array(data));
                }
                snapshots.push(Value::Object(one));
            }
            insta::assert_json_snapshot!(one_or_all(snapshots));
        }
    );
}

#[test]
fn bodies() {
    insta::glob!(
        "../../../../shared/fixtures",
        "{openai-responses,azure-openai-responses,open-responses,openai-chat,anthropic,google}/*.json",
        |path| {
            let kind = kind_of(path);
            let text = std::fs::read_to_string(path).unwrap();
            let upstream: Value = serde_json::from_str(&text).unwrap();
            let status = recorded_status(&upstream);
            let mut snapshot = serde_json::Map::new();
            for (name, path, body) in [
                ("chat", "/v1/chat/completions", chat_request(false)),
                ("messages", "/v1/messages", messages_request(false)),
            ] {
                let (got, out) = replay(kind, path, &body, status, text.clone().into_bytes());
                let out: Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(got, status, "{name}: {out}");
                if status == 200 {
                    let object = if name == "chat" { "chat.completion" } else { "message" };
                    let field = if name == "chat" { "object" } else { "type" };
                    assert_eq!(out[field], object, "{name}: {out}");
                } else if name == "messages" {
                    assert_eq!(out["type"], "error", "{out}");
                } else {
                    assert!(out["error"]["message"].is_string(), "{out}");
                }
                snapshot.insert(name.into(), json!({"status": got, "body": out}));
            }
            insta::assert_json_snapshot!(Value::Object(snapshot));
        }
    );
}
