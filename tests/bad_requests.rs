//! Bad requests: each gets the right status and the spec's error envelope,
//! and none of them hurts the server.

mod support;

use serde_json::{json, Value};
use support::*;

fn envelope_ok(body: &Value) {
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    assert!(e["type"].is_string(), "type: {body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "param and code present: {body}"
    );
}

/// What, content type, body, expected status, code and param.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
);

#[test]
fn bad_requests_get_the_envelope() {
    let gw = start();
    let big = "x".repeat(1_100_000);
    let cases: Vec<Case> = vec![
        ("empty body", "application/json", b"".to_vec(), 400, "invalid_body", None),
        ("not JSON", "application/json", b"{model: gpt".to_vec(), 400, "invalid_body", None),
        ("JSON array", "application/json", b"[1,2]".to_vec(), 400, "invalid_body", None),
        ("missing model", "application/json", br#"{"input":"hi"}"#.to_vec(), 400, "missing_required_parameter", Some("model")),
        ("empty model", "application/json", br#"{"model":"","input":"hi"}"#.to_vec(), 400, "invalid_value", Some("model")),
        ("model is a number", "application/json", br#"{"model":5,"input":"hi"}"#.to_vec(), 400, "invalid_body", Some("model")),
        ("missing input", "application/json", br#"{"model":"offline"}"#.to_vec(), 400, "missing_required_parameter", Some("input")),
        ("input is a number", "application/json", br#"{"model":"offline","input":42}"#.to_vec(), 400, "invalid_body", Some("input")),
        ("stream not bool", "application/json", br#"{"model":"offline","input":"x","stream":"yes"}"#.to_vec(), 400, "invalid_body", Some("stream")),
        ("temperature too high", "application/json", br#"{"model":"offline","input":"x","temperature":3}"#.to_vec(), 400, "invalid_value", Some("temperature")),
        ("top_p negative", "application/json", br#"{"model":"offline","input":"x","top_p":-0.1}"#.to_vec(), 400, "invalid_value", Some("top_p")),
        ("max_output_tokens zero", "application/json", br#"{"model":"offline","input":"x","max_output_tokens":0}"#.to_vec(), 400, "invalid_value", Some("max_output_tokens")),
        ("max_output_tokens negative", "application/json", br#"{"model":"offline","input":"x","max_output_tokens":-5}"#.to_vec(), 400, "invalid_body", Some("max_output_tokens")),
        ("unknown model", "application/json", br#"{"model":"nonexistent-model","input":"x"}"#.to_vec(), 404, "model_not_found", Some("model")),
        ("unconfigured provider prefix", "application/json", br#"{"model":"ghost/model-x","input":"x"}"#.to_vec(), 404, "model_not_found", Some("model")),
        ("unknown provider pin", "application/json", br#"{"model":"x","provider":"ghost","input":"x"}"#.to_vec(), 400, "unknown_provider", Some("provider")),
        ("item without type or role", "application/json", br#"{"model":"offline","input":[{"content":"x"}]}"#.to_vec(), 400, "invalid_body", Some("input[0]")),
        ("message with bad role", "application/json", br#"{"model":"offline","input":[{"role":"wizard","content":"x"}]}"#.to_vec(), 400, "invalid_body", Some("input[0]")),
        ("function_call without call_id", "application/json", br#"{"model":"offline","input":[{"type":"function_call","name":"f","arguments":"{}"}]}"#.to_vec(), 400, "invalid_body", Some("input[0]")),
        ("bad image url", "application/json", br#"{"model":"offline","input":[{"role":"user","content":[{"type":"input_image","image_url":"ftp://x"}]}]}"#.to_vec(), 400, "invalid_value", Some("input[0].content[0].image_url")),
        ("bad tool name", "application/json", br#"{"model":"offline","input":"x","tools":[{"type":"function","name":"has space"}]}"#.to_vec(), 400, "invalid_value", Some("tools[0].name")),
        ("duplicate tools", "application/json", br#"{"model":"offline","input":"x","tools":[{"type":"function","name":"a"},{"type":"function","name":"a"}]}"#.to_vec(), 400, "invalid_value", Some("tools[1].name")),
        ("tool_choice names a missing tool", "application/json", br#"{"model":"offline","input":"x","tool_choice":{"type":"function","name":"nope"}}"#.to_vec(), 400, "invalid_value", Some("tool_choice.name")),
        ("tool_choice unknown string", "application/json", br#"{"model":"offline","input":"x","tool_choice":"sometimes"}"#.to_vec(), 400, "invalid_body", Some("tool_choice")),
        ("required without tools", "application/json", br#"{"model":"offline","input":"x","tool_choice":"required"}"#.to_vec(), 400, "invalid_value", Some("tool_choice")),
        ("json_schema without schema", "application/json", br#"{"model":"offline","input":"x","text":{"format":{"type":"json_schema","name":"s"}}}"#.to_vec(), 400, "invalid_value", Some("text.format.schema")),
        ("metadata value not a string", "application/json", br#"{"model":"offline","input":"x","metadata":{"k":1}}"#.to_vec(), 400, "invalid_value", Some("metadata.k")),
        ("background", "application/json", br#"{"model":"offline","input":"x","background":true}"#.to_vec(), 400, "unsupported_parameter", Some("background")),
        ("unknown previous response", "application/json", br#"{"model":"offline","input":"x","previous_response_id":"resp_nope"}"#.to_vec(), 404, "previous_response_not_found", Some("previous_response_id")),
        ("unsupported item for chat", "application/json", br#"{"model":"llama","input":[{"type":"item_reference","id":"msg_1"}]}"#.to_vec(), 400, "unsupported_parameter", Some("input[0]")),
        ("wrong content type", "text/csv", b"a,b".to_vec(), 415, "unsupported_media_type", None),
        ("body too large", "application/json", format!("{{\"model\":\"offline\",\"input\":\"{big}\"}}").into_bytes(), 413, "request_too_large", None),
        ("invalid UTF-8", "application/json", b"{\"model\":\"offline\",\"input\":\"\xff\xfe\"}".to_vec(), 400, "invalid_body", None),
    ];
    assert!(cases.len() >= 20);
    for (what, ct, body, status, code, param) in cases {
        let (got, _, out) = gw.post_raw("/v1/responses", ct, body);
        assert_eq!(got, status, "{what}: {out}");
        envelope_ok(&out);
        assert_eq!(out["error"]["code"], code, "{what}: {out}");
        if let Some(p) = param {
            assert_eq!(out["error"]["param"], p, "{what}: {out}");
        }
    }
    // Wrong paths and methods.
    let (s, _, out) = gw.post_raw("/v1/nothing", "application/json", b"{}".to_vec());
    assert_eq!((s, out["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, out) = gw.get("/v1/responses");
    assert_eq!(
        (s, out["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (s, out) = gw.get("/v1/responses/resp_unknown");
    assert_eq!((s, out["error"]["code"].as_str()), (404, Some("not_found")));
    // A hosted tool a Chat server cannot express is dropped, and named.
    let (s, h, out) = gw.post_raw(
        "/v1/responses",
        "application/json",
        br#"{"model":"llama","input":"x","tools":[{"type":"web_search"}]}"#.to_vec(),
    );
    assert_eq!(s, 200, "{out}");
    assert_eq!(h["x-latticelm-dropped-tools"], "web_search");
    // The server is still fine.
    let (s, resp) = gw.post(&json!({"model": "offline", "input": "still alive?"}));
    assert_eq!(s, 200);
    assert_eq!(output_text(&resp), "You said: still alive?");
}
