//! Conversations through the pipeline with a fake host: continuation,
//! retrieval, deletion, ownership, `store: false`, expiry, and what a
//! failed store write does.

mod common;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};

const CHAT_REPLY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"REPLY"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

fn reply(host: &FakeHost, text: &str) {
    let body = CHAT_REPLY.replace("REPLY", text);
    host.canned.borrow_mut().insert(
        0,
        Canned {
            status: 200,
            headers: vec![],
            chunks: vec![Bytes::from(body)],
        },
    );
}

fn call(
    gw: &latticelm_core::Gateway,
    host: &FakeHost,
    req: latticelm_core::HttpRequest,
) -> (u16, Value) {
    let (status, body) = run(gw, host, req);
    (
        status,
        serde_json::from_slice(&body.concat()).unwrap_or(Value::Null),
    )
}

fn as_principal(mut req: latticelm_core::HttpRequest, p: &str) -> latticelm_core::HttpRequest {
    req.headers.push(("x-test-principal".into(), p.into()));
    req
}

const PRINCIPALS: &str =
    "server: { insecure_test_principal_header: x-test-principal }\nconversations: { ttl: 60s }\n";

#[test]
fn continuation_sends_the_whole_prior_context_in_order() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    reply(&host, "one");
    let (s, first) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "instructions": "Be kind.", "input": "first"})),
    );
    assert_eq!(s, 200, "{first}");
    reply(&host, "two");
    let (s, second) = call(
        &gw,
        &host,
        post(
            &json!({"model": "test-model", "input": "second", "previous_response_id": first["id"]}),
        ),
    );
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["previous_response_id"], first["id"]);
    reply(&host, "three");
    let (s, _) = call(
        &gw,
        &host,
        post(
            &json!({"model": "test-model", "input": [{"role": "user", "content": "third"}], "previous_response_id": second["id"]}),
        ),
    );
    assert_eq!(s, 200);
    let sent: Value = serde_json::from_slice(&host.sent.borrow()[2].body).unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "third"},
        ]),
        "instructions do not carry over (as in OpenAI's API); everything else does, in order"
    );
}

#[test]
fn get_input_items_and_delete() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    reply(&host, "one");
    let (_, first) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "first"})),
    );
    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}");
    let (s, got) = call(&gw, &host, request("GET", &path, "", None));
    assert_eq!(
        (s, &got),
        (200, &first),
        "GET returns the response as created"
    );
    assert_valid("ResponseResource", &got);
    let (s, items) = call(
        &gw,
        &host,
        request("GET", &format!("{path}/input_items"), "order=asc", None),
    );
    assert_eq!(s, 200);
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["content"], "first");
    assert!(items["data"][0]["id"].as_str().unwrap().starts_with("msg_"));
    let (s, del) = call(&gw, &host, request("DELETE", &path, "", None));
    assert_eq!(
        (s, del),
        (
            200,
            json!({"id": id, "object": "response", "deleted": true})
        )
    );
    let (s, e) = call(&gw, &host, request("GET", &path, "", None));
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "x", "previous_response_id": id})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
}

#[test]
fn another_principal_gets_404_not_403() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    reply(&host, "secret");
    let (_, first) = call(
        &gw,
        &host,
        as_principal(
            post(&json!({"model": "test-model", "input": "mine"})),
            "alice",
        ),
    );
    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}");
    for req in [
        request("GET", &path, "", Some("bob")),
        request("GET", &format!("{path}/input_items"), "", Some("bob")),
        request("DELETE", &path, "", Some("bob")),
        request("GET", &path, "", None),
    ] {
        let (s, e) = call(&gw, &host, req);
        assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    }
    let (s, e) = call(
        &gw,
        &host,
        as_principal(
            post(&json!({"model": "test-model", "input": "x", "previous_response_id": id})),
            "bob",
        ),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
    assert_eq!(
        call(&gw, &host, request("GET", &path, "", Some("alice"))).0,
        200,
        "the owner still can"
    );
}

#[test]
fn store_false_writes_nothing() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    reply(&host, "x");
    let (s, first) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "a", "store": false})),
    );
    assert_eq!((s, first["store"].as_bool()), (200, Some(false)));
    assert!(host.kv.borrow().is_empty());
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "b", "previous_response_id": first["id"]})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
}

#[test]
fn entries_expire() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    reply(&host, "x");
    let (_, first) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "a"})),
    );
    let path = format!("/v1/responses/{}", first["id"].as_str().unwrap());
    host.clock.set(59);
    assert_eq!(call(&gw, &host, request("GET", &path, "", None)).0, 200);
    host.clock.set(61);
    // The fake store has no TTL of its own: the core's expiry check decides.
    assert_eq!(call(&gw, &host, request("GET", &path, "", None)).0, 404);
    assert!(
        host.kv.borrow().is_empty(),
        "an expired entry found on read is deleted"
    );
}

#[test]
fn a_failed_store_write_is_never_reported_as_success() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    host.fail_puts.set(true);
    reply(&host, "x");
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "a"})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{e}"
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("was generated but not stored"));
    // Streaming: the terminal event is error + response.failed, never completed.
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    host.canned.borrow_mut().push(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse)],
    });
    let (_, body) = run(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "a", "stream": true})),
    );
    let events = parse_sse(&body.concat());
    assert_valid_stream(&events);
    assert!(events.iter().all(|e| e["type"] != "response.completed"));
    let n = events.len();
    assert_eq!(events[n - 2]["error"]["code"], "store_unavailable");
    assert_eq!(events[n - 1]["response"]["status"], "failed");
    // With store: false nothing is written, so nothing can fail.
    reply(&host, "x");
    assert_eq!(
        call(
            &gw,
            &host,
            post(&json!({"model": "test-model", "input": "a", "store": false}))
        )
        .0,
        200
    );
}

#[test]
fn streamed_and_failed_responses_are_stored_with_their_status() {
    let gw = gateway_with("openai-chat", PRINCIPALS);
    let host = FakeHost::default();
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n";
    host.canned.borrow_mut().push(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(sse)],
    });
    let (_, body) = run(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "a", "stream": true})),
    );
    let events = parse_sse(&body.concat());
    let last = &events.last().unwrap()["response"];
    assert_eq!(last["status"], "failed");
    let (s, got) = call(
        &gw,
        &host,
        request(
            "GET",
            &format!("/v1/responses/{}", last["id"].as_str().unwrap()),
            "",
            None,
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(
        &got, last,
        "the stored response is the final snapshot, status and all"
    );
    assert_eq!(got["output"][0]["content"][0]["text"], "partial");
}

#[test]
fn conversations_cross_providers() {
    // Started on an Anthropic-speaking provider, continued on Chat: the
    // tool call and its result are mapped for the new protocol.
    let claude = gateway_with("anthropic", PRINCIPALS);
    let host = FakeHost::default();
    let msg = r#"{"content":[{"type":"thinking","thinking":"hm","signature":"SIG"},{"type":"tool_use","id":"toolu_1","name":"calc","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}"#;
    host.canned.borrow_mut().push(Canned {
        status: 200,
        headers: vec![],
        chunks: vec![Bytes::from(msg)],
    });
    let tools = json!([{"type": "function", "name": "calc", "parameters": {"type": "object"}}]);
    let (s, first) = call(
        &claude,
        &host,
        post(&json!({"model": "test-model", "input": "add", "tools": tools})),
    );
    assert_eq!(s, 200, "{first}");
    // The same store behind a Chat provider (both gateways share the host).
    let chat = gateway_with("openai-chat", PRINCIPALS);
    reply(&host, "2");
    let follow = json!({"model": "test-model", "tools": tools, "previous_response_id": first["id"],
        "input": [{"type": "function_call_output", "call_id": "toolu_1", "output": "2"}]});
    let (s, _) = call(&chat, &host, post(&follow));
    assert_eq!(s, 200);
    let sent: Value = serde_json::from_slice(&host.sent.borrow()[1].body).unwrap();
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["tool_calls"][0]["id"], "toolu_1");
    assert_eq!(
        msgs[2],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "2"})
    );
    assert!(
        !sent.to_string().contains("SIG"),
        "Claude's signature is not sent to another provider"
    );
}

#[test]
fn storage_grows_linearly_and_chains_are_checked() {
    let gw = gateway_with(
        "openai-chat",
        "conversations: { ttl: 60s, max_depth: 30, max_entry_bytes: 20000 }\n",
    );
    let host = FakeHost::default();
    let mut prev: Option<String> = None;
    let mut ids = Vec::new();
    for turn in 0..25 {
        reply(&host, &format!("answer {turn} {}", "x".repeat(200)));
        let mut body =
            json!({"model": "test-model", "input": format!("question {turn} {}", "y".repeat(200))});
        if let Some(p) = &prev {
            body["previous_response_id"] = json!(p);
        }
        let (s, r) = call(&gw, &host, post(&body));
        assert_eq!(s, 200, "turn {turn}: {r}");
        prev = r["id"].as_str().map(str::to_owned);
        ids.push(prev.clone().unwrap());
    }
    // Each record holds its own turn: the last is about as large as the
    // first, not 25 times larger.
    let sizes: Vec<usize> = host.kv.borrow().values().map(Vec::len).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(*max < 3 * *min, "records from {min} to {max} bytes");
    // The last upstream request still had the whole conversation.
    let last = host.sent.borrow().last().cloned().unwrap();
    let sent: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 49);
    // input_items of the last response lists the whole chain's input.
    let (s, page) = call(
        &gw,
        &host,
        request(
            "GET",
            &format!("/v1/responses/{}/input_items", ids[24]),
            "limit=100",
            None,
        ),
    );
    assert_eq!((s, page["data"].as_array().unwrap().len()), (200, 49));
    // A chain whose middle was deleted cannot be continued, and says why.
    let (s, _) = call(
        &gw,
        &host,
        request("DELETE", &format!("/v1/responses/{}", ids[10]), "", None),
    );
    assert_eq!(s, 200);
    reply(&host, "never");
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "x", "previous_response_id": ids[24]})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found")),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains(&ids[10]));
}

#[test]
fn depth_and_entry_size_are_capped_before_any_upstream_call() {
    let gw = gateway_with(
        "openai-chat",
        "conversations: { ttl: 60s, max_depth: 3, max_entry_bytes: 5000 }\n",
    );
    let host = FakeHost::default();
    let mut prev = Value::Null;
    for _ in 0..3 {
        reply(&host, "ok");
        let (s, r) = call(
            &gw,
            &host,
            post(&json!({"model": "test-model", "input": "x", "previous_response_id": prev})),
        );
        assert_eq!(s, 200, "{r}");
        prev = r["id"].clone();
    }
    let sent = host.sent.borrow().len();
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "x", "previous_response_id": prev})),
    );
    assert_eq!(s, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("conversations.max_depth"));
    let (s, e) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "z".repeat(6000)})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (413, Some("stored_response_too_large")),
        "{e}"
    );
    assert_eq!(
        host.sent.borrow().len(),
        sent,
        "no upstream call for either"
    );
    // Not stored: no cap.
    reply(&host, "ok");
    let (s, _) = call(
        &gw,
        &host,
        post(&json!({"model": "test-model", "input": "z".repeat(6000), "store": false})),
    );
    assert_eq!(s, 200);
}
