//! Golden tests: every recorded OpenAI-style fixture replayed through the
//! whole pipeline (a fake host serves the recording as the upstream), the
//! output checked against the spec's schemas and snapshotted.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// The provider type that speaks a fixture folder's protocol.
fn kind_of(path: &std::path::Path) -> &'static str {
    match path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some("openai-chat") => "openai-chat",
        Some("azure-openai-responses") => "azureopenai",
        Some("anthropic") => "anthropic",
        Some("google") => "google",
        _ => "openai",
    }
}

/// The SSE bytes an upstream sent, rebuilt from a `.chunks.txt` file.
pub fn sse_of(kind: &str, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if kind != "openai-chat" && kind != "google" {
            // Some recorded lines are truncated JSON: read the type by hand.
            let kind = line
                .split("\"type\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            out.extend_from_slice(format!("event: {kind}\n").as_bytes());
        }
        out.extend_from_slice(format!("data: {line}\n\n").as_bytes());
    }
    if kind == "openai-chat" {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}

/// The function-call arguments a recording carries, in order, as JSON.
/// Gemini's streamed `partialArgs` are left to the snapshot.
fn recorded_args(kind: &str, recording: &str) -> Vec<Value> {
    let lines: Vec<Value> = recording
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let parse =
        |s: &str| serde_json::from_str::<Value>(if s.is_empty() { "{}" } else { s }).unwrap();
    match kind {
        "openai-chat" => {
            let mut by_index: std::collections::BTreeMap<u64, String> = Default::default();
            for l in &lines {
                for c in l
                    .pointer("/choices/0/delta/tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let arg = c
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    by_index
                        .entry(c["index"].as_u64().unwrap_or(0))
                        .or_default()
                        .push_str(arg);
                }
            }
            by_index.values().map(|a| parse(a)).collect()
        }
        "anthropic" => {
            let mut by_index: std::collections::BTreeMap<u64, String> = Default::default();
            for l in &lines {
                if l.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") {
                    by_index.insert(l["index"].as_u64().unwrap(), String::new());
                }
                if let (Some(s), Some(pj)) = (
                    by_index.get_mut(&l["index"].as_u64().unwrap_or(u64::MAX)),
                    l.pointer("/delta/partial_json").and_then(Value::as_str),
                ) {
                    s.push_str(pj);
                }
            }
            by_index.values().map(|a| parse(a)).collect()
        }
        "google" => lines
            .iter()
            .flat_map(|l| {
                l.pointer("/candidates/0/content/parts")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.pointer("/functionCall/args").cloned())
            .collect(),
        _ => lines
            .iter()
            .filter(|l| {
                l["type"] == "response.output_item.done"
                    && l.pointer("/item/type").and_then(Value::as_str) == Some("function_call")
            })
            .map(|l| {
                parse(
                    l.pointer("/item/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// Splits a recording at each `response.created`.
fn split_responses(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("{\"type\":\"response.created\"") || out.is_empty() {
            out.push(String::new());
        }
        let last = out.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    out
}

fn assert_function_args_are_json(response: &Value) {
    for item in response["output"].as_array().unwrap() {
        if item["type"] == "function_call" {
            let args = item["arguments"].as_str().unwrap();
            serde_json::from_str::<Value>(args)
                .unwrap_or_else(|e| panic!("arguments are not JSON ({e}): {args}"));
        }
    }
}

#[test]
fn streams() {
    insta::glob!(
        "../../../../shared/fixtures",
        "{openai-responses,azure-openai-responses,open-responses,openai-chat,anthropic,google}/*.chunks.txt",
        |path| {
            let kind = kind_of(path);
            // Some recordings hold several responses back to back (one per
            // step of an agent loop): each is replayed as its own upstream.
            let text = std::fs::read_to_string(path).unwrap();
            let mut snapshots = Vec::new();
            for recording in split_responses(&text) {
                let sse = sse_of(kind, &recording);
                let host = FakeHost::answering(Canned {
                    status: 200,
                    headers: vec![],
                    chunks: vec![Bytes::from(sse)],
                });
                // One attempt: a stream that fails before any output is
                // held back and answered as an error status.
                let (status, body) = run(
                    &gateway_with(kind, "routing: { retries: 0 }"),
                    &host,
                    post(&json!({"model": "test-model", "input": "hi", "stream": true})),
                );
                if status != 200 {
                    let error: Value = serde_json::from_slice(&body.concat()).unwrap();
                    snapshots.push(json!({"status": status, "body": error}));
                    continue;
                }
                let events = parse_sse(&body.concat());
                assert_valid_stream(&events);
                let response = events.last().unwrap()["response"].clone();
                assert_valid("ResponseResource", &response);
                assert_function_args_are_json(&response);
            let ours: Vec<Value> = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "function_call")
                .map(|i| serde_json::from_str(i["arguments"].as_str().unwrap()).unwrap())
                .collect();
            let partial = recording.contains("partialArgs");
            if !partial {
                assert_eq!(ours, recorded_args(kind, &recording), "function arguments equal the recording's");
            }
                snapshots.push(json!({"outline": outline(&events), "response": response}));
            }
            let snapshot = if snapshots.len() == 1 {
                snapshots.pop().unwrap()
            } else {
                Value::Array(snapshots)
            };
            insta::assert_json_snapshot!(snapshot);
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
            let is_error = upstream.get("error").is_some_and(Value::is_object);
            let status = match (
            upstream.pointer("/error/code").and_then(Value::as_u64),
            upstream.pointer("/error/type").and_then(Value::as_str),
        ) {
            (Some(code), _) => code as u16, // Gemini puts the status in the body
            (_, Some("insufficient_quota" | "rate_limit_exceeded")) => 429,
            (_, Some(_)) => 400,
            _ => 200,
        };
            let headers = if status == 429 {
                vec![("retry-after".to_owned(), "7".to_owned())]
            } else {
                vec![]
            };
            let host = FakeHost::answering(Canned {
                status,
                headers,
                chunks: vec![Bytes::from(text)],
            });
            let (got, body) = run(
                &gateway(kind),
                &host,
                post(&json!({"model": "test-model", "input": "hi"})),
            );
            let out: Value = serde_json::from_slice(&body.concat()).unwrap();
            if is_error {
                assert_eq!(got, status);
                assert!(out["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("upstream 'up'"));
                insta::assert_json_snapshot!(json!({"status": got, "body": out}));
            } else {
                assert_eq!(got, 200, "{}: {out}", path.display());
                assert_valid("ResponseResource", &out);
                assert_function_args_are_json(&out);
                insta::assert_json_snapshot!(out);
            }
        }
    );
}
