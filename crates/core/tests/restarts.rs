//! An upstream that starts its message over mid-stream (a retrying proxy
//! in front of it): the final response is what the restarted message
//! says, and the partial first attempt is discarded. Recorded-style
//! fixtures in `tests/fixtures/*/*-restart.chunks.txt`: a recording's
//! first events, then the whole recording again (for Chat, under a new
//! completion id).

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

/// The gateway's events for a replayed recording: in one chunk, or one
/// chunk per event (then the client sees the first attempt before the
/// restart arrives).
fn replay_as(kind: &str, text: &str, per_event: bool) -> Vec<Value> {
    let mut sse = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if kind != "openai-chat" {
            let v: Value = serde_json::from_str(line).unwrap();
            sse.push_str(&format!("event: {}\n", v["type"].as_str().unwrap()));
        }
        sse.push_str(&format!("data: {line}\n\n"));
    }
    if kind == "openai-chat" {
        sse.push_str("data: [DONE]\n\n");
    }
    let chunks = if per_event {
        sse.split_inclusive("\n\n")
            .map(|c| Bytes::from(c.to_owned()))
            .collect()
    } else {
        vec![Bytes::from(sse)]
    };
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks,
    });
    let req = json!({"model": "test-model", "input": "hi", "stream": true});
    let (status, body) = run(&gateway(kind), &host, post(&req));
    assert_eq!(status, 200);
    parse_sse(&body.concat())
}

fn replay(kind: &str, text: &str) -> Vec<Value> {
    let events = replay_as(kind, text, false);
    assert_valid_stream(&events);
    events
}

fn outline(resp: &Value) -> Vec<(String, String)> {
    resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let text: String = i["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect();
            (i["type"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

#[test]
fn a_restarted_message_replaces_the_partial_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (kind, restart, whole) in [
        (
            "anthropic",
            "anthropic/anthropic-restart.chunks.txt",
            "anthropic/anthropic-text.chunks.txt",
        ),
        (
            "openai-chat",
            "openai-chat/openai-restart.chunks.txt",
            "openai-chat/openai-text.chunks.txt",
        ),
        (
            "openai",
            "openai-responses/openai-restart.chunks.txt",
            "openai-responses/openai-phase.1.chunks.txt",
        ),
    ] {
        let text = std::fs::read_to_string(dir.join(restart)).unwrap();
        let once = replay(
            kind,
            &std::fs::read_to_string(shared_dir().join("fixtures").join(whole)).unwrap(),
        );
        let want = &once.last().unwrap()["response"];
        // Held back (the restart came before anything reached the client):
        // the first attempt leaves no trace, and the stream is consistent.
        let held = replay(kind, &text);
        let last = held.last().unwrap();
        assert_eq!(last["type"], "response.completed", "{kind}: {last}");
        assert_valid("ResponseResource", &last["response"]);
        assert_eq!(outline(&last["response"]), outline(want), "{kind}: held");
        assert_eq!(
            last["response"]["usage"], want["usage"],
            "{kind}: its usage"
        );
        assert!(
            !held.iter().any(|e| e["item"]["status"] == "incomplete"),
            "{kind}"
        );
        // Seen: the partial items end `incomplete` in the stream, and the
        // final response is the restarted message alone.
        let seen = replay_as(kind, &text, true);
        let last = seen.last().unwrap();
        assert_eq!(last["type"], "response.completed", "{kind}: {last}");
        assert_valid("ResponseResource", &last["response"]);
        assert_eq!(outline(&last["response"]), outline(want), "{kind}: seen");
        assert!(
            seen.iter()
                .any(|e| e["type"] == "response.output_item.done"
                    && e["item"]["status"] == "incomplete"),
            "{kind}: the partial item was closed"
        );
    }
}

/// Azure OpenAI with content filtering opens a Chat stream with a chunk
/// whose `id` is empty (the prompt's filter results, no choices); the
/// completion's id comes with the next chunk. That change of id is not a
/// restart: nothing of the answer may be lost.
#[test]
fn an_empty_completion_id_is_no_id() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text =
        std::fs::read_to_string(dir.join("openai-chat/azure-content-filter.chunks.txt")).unwrap();
    for per_event in [false, true] {
        let events = replay_as("openai-chat", &text, per_event);
        assert_valid_stream(&events);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed", "{last}");
        assert_eq!(
            outline(&last["response"]),
            vec![("message".to_owned(), "Capital of Denmark.".to_owned())],
            "per event: {per_event}"
        );
        assert!(!events.iter().any(|e| e["item"]["status"] == "incomplete"));
        assert_eq!(last["response"]["usage"]["output_tokens"], 4);
    }
}
