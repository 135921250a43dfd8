//! `POST /v1/responses/compact` on the native binary: the gateway compacts
//! through the model for providers without the endpoint, an OpenAI
//! upstream compacts itself, and a later request carrying the compaction
//! item works on every provider.

mod support;

use serde_json::{json, Value};
use support::*;

fn compact(gw: &Gateway, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/responses/compact", gw.url))
        .json(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn history() -> Value {
    json!([
        {"role": "user", "content": "my name is Ada"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Ada."}]},
        {"role": "user", "content": "remember it"},
    ])
}

#[test]
fn the_gateway_compacts_and_any_provider_continues() {
    let gw = start();
    // `model` is required.
    let (status, err) = compact(&gw, &json!({"input": history()}));
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "model");

    // Claude has no compaction endpoint: the gateway asks Claude.
    gw.upstream_requests();
    let (status, c) = compact(
        &gw,
        &json!({"model": "claude-test", "input": history(), "prompt_cache_key": "k"}),
    );
    assert_eq!(status, 200, "{c}");
    assert_valid("CompactResource", &c);
    assert_eq!(c["object"], "response.compaction");
    let out = c["output"].as_array().unwrap();
    let kinds: Vec<&str> = out.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["message", "message", "compaction"],
        "the user's messages, then the summary: {c}"
    );
    let item = &out[2];
    assert!(item["id"].as_str().unwrap().starts_with("cmp_"));
    assert!(item["encrypted_content"]
        .as_str()
        .unwrap()
        .starts_with("lattice2."));
    assert!(c["usage"]["input_tokens"].is_u64());
    let asked = gw.upstream_requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["path"], "/v1/messages");
    assert!(asked[0]["body"]
        .to_string()
        .contains("Compact the conversation above"));

    // The window continues on every provider, the summary as a message.
    for (model, path) in [
        (
            "gemini-test",
            "/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        ("claude-test", "/v1/messages"),
        ("llama", "/v1/chat/completions"),
        ("gpt-4o-mini", "/v1/responses"),
    ] {
        let mut input = out.clone();
        input.push(json!({"role": "user", "content": "what is my name?"}));
        let (status, resp) = gw.post(&json!({"model": model, "input": input, "store": false}));
        assert_eq!(status, 200, "{model}: {resp}");
        let sent = gw.upstream_requests();
        let last = sent.last().unwrap();
        assert_eq!(last["path"], path, "{model}");
        let body = last["body"].to_string();
        assert!(
            body.contains("A summary of the earlier conversation"),
            "{model}: {body}"
        );
        assert!(
            body.contains("echo: ") && body.contains("Compact the conversation above"),
            "{model}: the summary itself: {body}"
        );
        assert!(
            !body.contains("lattice1."),
            "{model}: the blob never goes upstream"
        );
    }

    // A tampered summary is dropped, not believed.
    let mut input = out.clone();
    let mut blob = input[2]["encrypted_content"].as_str().unwrap().to_owned();
    let at = "lattice2.".len() + 10;
    let flipped = if &blob[at..=at] == "A" { "B" } else { "A" };
    blob.replace_range(at..=at, flipped);
    input[2]["encrypted_content"] = json!(blob);
    input.push(json!({"role": "user", "content": "what is my name?"}));
    let (status, _) = gw.post(&json!({"model": "claude-test", "input": input, "store": false}));
    assert_eq!(status, 200);
    let body = gw.upstream_requests().last().unwrap()["body"].to_string();
    assert!(
        !body.contains("A summary of the earlier conversation"),
        "{body}"
    );

    // previous_response_id: a stored chain compacts too.
    let (_, first) = gw.post(&json!({"model": "claude-test", "input": "my name is Ada"}));
    let (status, c) = compact(
        &gw,
        &json!({"model": "claude-test", "previous_response_id": first["id"], "input": "and more"}),
    );
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["output"].as_array().unwrap().len(), 3, "{c}");
}

#[test]
fn an_openai_upstream_compacts_itself() {
    let gw = start();
    gw.upstream_requests();
    let (status, c) = compact(&gw, &json!({"model": "gpt-4o-mini", "input": history()}));
    assert_eq!(status, 200, "{c}");
    assert_valid("CompactResource", &c);
    let sent = gw.upstream_requests();
    assert_eq!(sent[0]["path"], "/v1/responses/compact");
    assert_eq!(sent[0]["body"]["model"], "gpt-4o-mini");
    let item = c["output"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(item["type"], "compaction");
    // Its own item goes back to it as it came, and nowhere else.
    let input = json!([item, {"role": "user", "content": "go on"}]);
    let (status, _) = gw.post(&json!({"model": "gpt-4o-mini", "input": input, "store": false}));
    assert_eq!(status, 200);
    let body = gw.upstream_requests().last().unwrap()["body"].to_string();
    assert!(
        body.contains("gAAAAmock-compaction-of-the-upstream"),
        "{body}"
    );
    let (status, resp) = gw.post(&json!({"model": "claude-test", "input": input, "store": false}));
    assert_eq!(status, 200, "{resp}");
    let body = gw.upstream_requests().last().unwrap()["body"].to_string();
    assert!(!body.contains("gAAAAmock"), "{body}");
}
