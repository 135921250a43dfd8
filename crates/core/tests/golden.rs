//! Golden tests: every recorded OpenAI-style fixture replayed through the
//! whole pipeline (a fake host serves the recording as the upstream), the
//! output checked against the spec's schemas and snapshotted.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

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
            let is_error = upstream.get("error").is_some_and(Value::is_object);
            let status = recorded_status(&upstream);
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
