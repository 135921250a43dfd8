//! End to end: the built `latticelm` binary over real HTTP, in front of
//! the mock provider speaking OpenAI Responses and Chat Completions.

mod support;

use serde_json::{json, Value};
use support::*;

#[test]
fn health_ready_and_models() {
    let gw = start();
    assert_eq!(gw.get("/health"), (200, json!({"status": "ok"})));
    assert_eq!(gw.get("/ready").0, 200);
    let (status, models) = gw.get("/v1/models");
    assert_eq!(status, 200);
    assert_eq!(models["object"], "list");
    let ids: Vec<_> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "gpt-4o-mini",
            "llama",
            "offline",
            "unreachable",
            "az-responses",
            "az-chat",
            "claude-test",
            "gemini-test",
            "gemini-3"
        ]
    );
    assert_eq!(
        models["data"][1],
        json!({"id": "llama", "object": "model", "created": 0, "owned_by": "chat"})
    );
}

#[test]
fn text_on_every_protocol() {
    let gw = start();
    for model in MODELS {
        let (status, resp) = gw.post(&json!({"model": model, "input": "hello gateway"}));
        assert_eq!(status, 200, "{model}: {resp}");
        assert_valid("ResponseResource", &resp);
        assert_eq!(resp["status"], "completed");
        assert_eq!(resp["model"], model);
        let text = output_text(&resp);
        assert!(text.ends_with("hello gateway"), "{model}: {text}");
        assert!(resp["usage"]["total_tokens"].as_u64().unwrap() > 0);
    }
    let sent = gw.upstream_requests();
    assert_eq!(sent.len(), 6);
    assert_eq!(
        sent[5]["path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(sent[5]["headers"]["x-goog-api-key"], "g-key");
    assert_eq!(sent[4]["path"], "/v1/messages");
    assert_eq!(sent[4]["headers"]["x-api-key"], "sk-ant");
    assert_eq!(sent[4]["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(sent[4]["body"]["model"], "claude-haiku-4-5");
    assert_eq!(sent[4]["body"]["max_tokens"], 4096);
    // Azure: the deployment name, api-key auth, and each API's path.
    assert_eq!(
        (sent[2]["path"].as_str(), sent[2]["query"].as_str()),
        (Some("/openai/v1/responses"), None)
    );
    assert_eq!(sent[2]["headers"]["api-key"], "az-key");
    assert!(sent[2]["headers"].get("authorization").is_none());
    assert_eq!(sent[2]["body"]["model"], "my-deployment");
    assert_eq!(
        sent[3]["path"],
        "/openai/deployments/my-deployment/chat/completions"
    );
    assert_eq!(sent[3]["query"], "api-version=2024-10-21");
    assert_eq!(sent[0]["path"], "/v1/responses");
    assert_eq!(sent[0]["headers"]["authorization"], "Bearer sk-oa");
    assert_eq!(sent[0]["body"]["model"], "gpt-4o-mini");
    assert_eq!(sent[1]["path"], "/v1/chat/completions", "no doubled /v1");
    assert_eq!(
        sent[1]["body"]["model"], "llama3.2:3b",
        "provider_model_id is sent upstream"
    );
    assert_eq!(sent[1]["headers"]["authorization"], "Bearer sk-chat");
}

#[test]
fn instructions_and_multi_turn_reach_upstream_in_order() {
    let gw = start();
    let input = json!([
        {"role": "user", "content": "first"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "answer one"}]},
        {"type": "message", "role": "developer", "content": "be brief"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]},
    ]);
    let (status, resp) = gw.post(&json!({"model": "llama", "instructions": "You are terse.", "input": input, "temperature": 0.2, "max_output_tokens": 50}));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(output_text(&resp), "echo: second");
    assert_eq!(resp["instructions"], "You are terse.");
    assert_eq!(resp["temperature"], 0.2);
    let body = &gw.upstream_requests()[0]["body"];
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer one"},
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "second"},
        ])
    );
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 50);

    let (status, _) =
        gw.post(&json!({"model": "gpt-4o-mini", "instructions": "You are terse.", "input": input}));
    assert_eq!(status, 200);
    let body = &gw.upstream_requests()[0]["body"];
    assert_eq!(body["instructions"], "You are terse.");
    assert_eq!(
        body["input"].as_array().unwrap().len(),
        4,
        "responses upstream gets the items as sent"
    );
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[test]
fn tool_call_round_trip_on_every_protocol() {
    let gw = start();
    for model in MODELS {
        let (status, resp) = gw.post(
            &json!({"model": model, "input": "use get_weather for Paris", "tools": weather_tool()}),
        );
        assert_eq!(status, 200, "{model}: {resp}");
        assert_valid("ResponseResource", &resp);
        let call = resp["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .cloned()
            .unwrap_or_else(|| panic!("{model}: no call in {resp}"));
        assert_eq!(call["name"], "get_weather");
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args["city"], "use get_weather for Paris");
        let call_id = call["call_id"].as_str().unwrap();
        let follow = json!({"model": model, "tools": weather_tool(), "input": [
            {"role": "user", "content": "use get_weather for Paris"},
            call,
            {"type": "function_call_output", "call_id": call_id, "output": "{\"temp\":21}"},
        ]});
        let (status, resp) = gw.post(&follow);
        assert_eq!(status, 200, "{model}: {resp}");
        assert!(
            output_text(&resp).ends_with("{\"temp\":21}"),
            "{model}: {resp}"
        );
    }
    let sent = gw.upstream_requests();
    // The chat follow-up: the call became assistant tool_calls, the output a tool message.
    let chat = sent
        .iter()
        .filter(|r| r["path"] == "/v1/chat/completions")
        .nth(1)
        .unwrap();
    let msgs = chat["body"]["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        msgs[2],
        json!({"role": "tool", "tool_call_id": msgs[1]["tool_calls"][0]["id"], "content": "{\"temp\":21}"})
    );
    assert_eq!(
        chat["body"]["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
}

#[test]
fn image_input_reaches_upstream() {
    let gw = start();
    let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let input = json!([{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": image, "detail": "low"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
    ]}]);
    for model in ["llama", "gpt-4o-mini"] {
        let (status, resp) = gw.post(&json!({"model": model, "input": input}));
        assert_eq!(status, 200, "{resp}");
    }
    let sent = gw.upstream_requests();
    assert_eq!(
        sent[0]["body"]["messages"][0]["content"],
        json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ])
    );
    assert_eq!(
        sent[1]["body"]["input"][0]["content"][1]["image_url"],
        image
    );
}

#[test]
fn streaming_on_every_protocol_validates() {
    let gw = start();
    for model in MODELS {
        for input in ["stream this please", "use get_weather for Oslo"] {
            let (status, events) = gw.stream(
                &json!({"model": model, "input": input, "stream": true, "tools": weather_tool()}),
            );
            assert_eq!(status, 200);
            let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
            assert_valid_stream(&events);
            let done = &events.last().unwrap()["response"];
            assert_eq!(done["status"], "completed", "{model}");
            assert_valid("ResponseResource", done);
        }
    }
}

#[test]
fn streaming_is_incremental() {
    let gw = start();
    // The mock pauses 60 ms between upstream events.
    let cfg = config(&gw.mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:60\" }\n  - { name: llama,",
    );
    let gw = start_with(&cfg, gw.mock.clone());
    let (status, events) = gw.stream(&json!({"model": "slow", "input": "one two three four five six seven eight", "stream": true}));
    assert_eq!(status, 200);
    let first_delta = events
        .iter()
        .find(|(_, e)| e["type"] == "response.output_text.delta")
        .unwrap()
        .0;
    let last = events.last().unwrap().0;
    assert!(
        last - first_delta >= std::time::Duration::from_millis(300),
        "deltas arrived together: first {first_delta:?}, last {last:?}"
    );
    let created = events[0].0;
    assert!(
        created < first_delta,
        "response.created is sent before upstream text arrives"
    );
}

#[test]
fn upstream_errors_map_to_the_envelope() {
    let gw = start();
    let cases = [
        ("error:429", 429, "rate_limit_exceeded"),
        ("error:400", 400, "invalid_request_error"),
        ("error:401", 502, "server_error"),
        ("error:403", 502, "server_error"),
        ("error:500", 502, "server_error"),
        ("error:503", 503, "server_error"),
        ("error:529", 503, "server_error"),
    ];
    for (model, status, kind) in cases {
        for provider in ["oa", "chat", "claude", "gemini"] {
            let r = client()
                .post(format!("{}/v1/responses", gw.url))
                .json(&json!({"model": model, "provider": provider, "input": "x"}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), status, "{model} via {provider}");
            if status == 429 {
                assert_eq!(r.headers()["retry-after"], "3");
            }
            let body: Value = r.json().unwrap();
            let msg = body["error"]["message"].as_str().unwrap();
            assert!(msg.contains(&format!("upstream '{provider}'")), "{msg}");
            if model == "error:401" || model == "error:403" {
                // The operator's credentials: the provider's words stay
                // in the log.
                assert_eq!(body["error"]["code"], "upstream_auth_error");
                assert!(!msg.contains("mock error"), "{msg}");
            }
            let t = body["error"]["type"].as_str().unwrap();
            assert!(
                t == kind || (status == 429 && t == "too_many_requests"),
                "{model}: {body}"
            );
        }
    }
    let (status, body) = gw.post(&json!({"model": "unreachable", "input": "x"}));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unreachable");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("upstream 'dead'"), "{msg}");
    assert!(
        !msg.contains("127.0.0.1:9"),
        "internal endpoints stay out of client messages: {msg}"
    );
    // A streaming request to a failing upstream gets the envelope, not a broken stream.
    let (status, body) =
        gw.post(&json!({"model": "error:429", "provider": "chat", "input": "x", "stream": true}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
}

#[test]
fn recorded_fixtures_replay_end_to_end() {
    let gw = start();
    for (provider, case) in [
        (
            "oa",
            "openai-responses/openai-reasoning-encrypted-content.1",
        ),
        ("oa", "open-responses/lmstudio-tool-call.1"),
        ("chat", "openai-chat/xai-tool-call"),
        ("claude", "anthropic/anthropic-clear-thinking.1"),
        ("gemini", "google/google-tool-call"),
    ] {
        let model = format!("fixture:{case}");
        let (status, resp) = gw.post(&json!({"model": model, "provider": provider, "input": "x"}));
        assert_eq!(status, 200, "{case}: {resp}");
        assert_valid("ResponseResource", &resp);
        let (status, events) =
            gw.stream(&json!({"model": model, "provider": provider, "input": "x", "stream": true}));
        assert_eq!(status, 200);
        let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
        assert_valid_stream(&events);
    }
    // A recorded stream that fails before any output is held back: the
    // client gets the error as a status, not a failed stream.
    let (status, e) = gw.post(&json!({"model": "fixture:openai-responses/openai-error.1", "provider": "oa", "input": "x", "stream": true}));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (429, Some("insufficient_quota")),
        "{e}"
    );
}

#[test]
fn client_disconnect_cancels_the_upstream_request() {
    use std::io::{Read, Write};
    let gw = start();
    let cfg = config(&gw.mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:100\" }\n  - { name: llama,",
    );
    let gw = start_with(&cfg, gw.mock.clone());
    let addr = gw.url.trim_start_matches("http://");
    let body = json!({"model": "slow", "input": "a long answer that takes a while to stream", "stream": true}).to_string();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(conn, "POST /v1/responses HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(conn); // the client goes away mid-stream
    let streams = || -> Vec<String> {
        client()
            .get(format!("{}/_mock/streams", gw.mock))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while streams().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        streams(),
        ["cancelled"],
        "the upstream stream was dropped, not read to the end"
    );
}

#[test]
fn upstream_timeouts() {
    let gw = start();
    let cfg = config(&gw.mock)
        .replace("upstream_timeout: 5s", "upstream_timeout: 300ms\n  upstream_idle_timeout: 300ms")
        .replace("- { name: llama,", "- { name: hang, provider: chat, provider_model_id: \"sleep:2000\" }\n  - { name: stall, provider: stalls, provider_model_id: \"stall\" }\n  - { name: llama,")
        .replace("providers:\n", &format!("providers:\n  stalls: {{ type: openai-chat, endpoint: \"{}/_fault/stall_after=3/v1\" }}\n", gw.mock));
    let gw = start_with(&cfg, gw.mock.clone());
    // No response headers in time: 504.
    let (status, body) = gw.post(&json!({"model": "hang", "input": "x"}));
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream 'chat'"));
    // A stream that goes silent after its first output: error event, then
    // response.failed, with the output so far.
    let (status, events) = gw.stream(&json!({"model": "stall", "input": "x y z", "stream": true}));
    assert_eq!(status, 200);
    let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
    assert_valid_stream(&events);
    let n = events.len();
    assert_eq!(events[n - 2]["error"]["code"], "upstream_timeout");
    assert_eq!(events[n - 1]["response"]["status"], "failed");
    assert!(!events[n - 1]["response"]["output"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn anthropic_upstream_shape() {
    let gw = start();
    let image = "data:image/png;base64,iVBORw0KGgo=";
    let input = json!([
        {"role": "user", "content": [{"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": image}, {"type": "input_image", "image_url": "https://example.com/cat.png"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a cat"}]},
        {"type": "message", "role": "developer", "content": "answer in French"},
        {"role": "user", "content": "and now?"},
    ]);
    let (status, resp) = gw.post(&json!({"model": "claude-test", "instructions": "Be brief.", "input": input, "max_output_tokens": 100, "temperature": 0.5, "stop": ["END"]}));
    assert_eq!(status, 200, "{resp}");
    assert_valid("ResponseResource", &resp);
    assert_eq!(output_text(&resp), "echo: and now?");
    let body = &gw.upstream_requests()[0]["body"];
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "answer in French"}])
    );
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
            {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
        ])
    );
}
