//! The same gateway on Cloudflare Workers: the built Worker under
//! `wrangler dev` (workerd) on 127.0.0.1, in front of the mock provider.
//! One test, so that one workerd serves every check and is stopped after.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

#[test]
fn worker_end_to_end() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:60\" }\n  - { name: llama,",
    );
    let Some(gw) = start_worker(&yaml, mock) else {
        return;
    };

    // Health and models.
    assert_eq!(gw.get("/health"), (200, json!({"status": "ok"})));
    let (s, models) = gw.get("/v1/models");
    assert_eq!((s, models["object"].as_str()), (200, Some("list")));

    // Text on every provider type, validated against the spec.
    let models = [
        "gpt-4o-mini",
        "llama",
        "offline",
        "az-responses",
        "az-chat",
        "claude-test",
        "gemini-test",
    ];
    for model in models {
        let (s, resp) = gw.post(&json!({"model": model, "input": "hello worker"}));
        assert_eq!(s, 200, "{model}: {resp}");
        assert_valid("ResponseResource", &resp);
        assert!(
            output_text(&resp).ends_with("hello worker"),
            "{model}: {resp}"
        );
    }
    let sent = gw.upstream_requests();
    assert_eq!(sent.len(), 6, "every upstream call went out through Fetch");
    assert_eq!(sent[5]["headers"]["x-goog-api-key"], "g-key");

    // Streaming validates, and arrives over time (60 ms between upstream events).
    for model in models {
        let (s, events) = gw.stream(&json!({"model": model, "input": "stream it", "stream": true}));
        assert_eq!(s, 200);
        let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
        assert_valid_stream(&events);
    }
    let (_, timed) = gw.stream(&json!({"model": "slow", "input": "one two three four five six seven eight", "stream": true}));
    let first = timed
        .iter()
        .find(|(_, e)| e["type"] == "response.output_text.delta")
        .unwrap()
        .0;
    let last = timed.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(300),
        "not incremental: first delta {first:?}, end {last:?}"
    );

    // Tool calling round trip, and image input.
    let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    for model in ["llama", "claude-test", "gemini-test", "gpt-4o-mini"] {
        let (s, resp) =
            gw.post(&json!({"model": model, "input": "use get_weather for Oslo", "tools": tools}));
        assert_eq!(s, 200, "{resp}");
        let call = resp["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .cloned()
            .unwrap();
        let (s, resp) = gw.post(&json!({"model": model, "tools": tools, "input": [
            {"role": "user", "content": "use get_weather for Oslo"}, call.clone(),
            {"type": "function_call_output", "call_id": call["call_id"], "output": "rainy"}]}));
        assert_eq!(s, 200);
        assert!(output_text(&resp).ends_with("rainy"), "{model}: {resp}");
    }
    gw.upstream_requests();
    let image = "data:image/png;base64,iVBORw0KGgo=";
    let (s, _) = gw.post(&json!({"model": "claude-test", "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": image}]}]}));
    assert_eq!(s, 200);
    let sent = gw.upstream_requests();
    assert_eq!(
        sent[0]["body"]["messages"][0]["content"][1]["source"]["data"],
        "iVBORw0KGgo="
    );

    // Error envelopes: the gateway's own, and an upstream's with retry-after.
    let (s, e) = gw.post(&json!({"model": "nope", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let (s, _, e) = gw.post_raw("/v1/responses", "application/json", b"{not json".to_vec());
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .json(&json!({"model": "error:429", "provider": "claude", "input": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());

    // Conversations through the Durable Object: a continuation right after
    // a response finds it; the whole context goes upstream in order.
    let (_, first) = gw.post(&json!({"model": "llama", "input": "first"}));
    let (s, second) =
        gw.post(&json!({"model": "llama", "input": "second", "previous_response_id": first["id"]}));
    assert_eq!(s, 200, "{second}");
    let last = gw.upstream_requests().pop().unwrap();
    assert_eq!(
        last["body"]["messages"][1],
        json!({"role": "assistant", "content": "echo: first"})
    );
    let (s, got) = gw.get(&format!("/v1/responses/{}", second["id"].as_str().unwrap()));
    assert_eq!((s, &got), (200, &second));
    let r = client()
        .delete(format!(
            "{}/v1/responses/{}",
            gw.url,
            second["id"].as_str().unwrap()
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, e) =
        gw.post(&json!({"model": "llama", "input": "x", "previous_response_id": second["id"]}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
}

#[test]
fn worker_auth() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let issuer = Issuer::start(&mock);
    let Some(gw) = start_worker(&config_with_auth(&mock, &issuer.url), mock) else {
        return;
    };
    auth_checks(&gw, &issuer);
}
