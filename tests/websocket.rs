//! The Responses API over a WebSocket on the native binary: auth at the
//! upgrade, one JSON message per event and no `[DONE]`, sequential turns,
//! `store: false` continuation from the connection, and the spec's
//! `previous_response_not_found` after a reconnect or an evicted turn.

mod support;

use serde_json::{json, Value};
use support::*;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

const KEY: &str = "ws-key-1";

fn gateway() -> Gateway {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + &format!(
            "auth:\n  enabled: true\n  api_keys:\n    - {{ name: team-a, key: \"{KEY}\" }}\n"
        );
    start_with(&yaml, mock)
}

fn connect(gw: &Gateway, key: Option<&str>) -> Result<Socket, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let url = gw.url.replace("http://", "ws://") + "/v1/responses";
    let mut req = url.into_client_request().unwrap();
    if let Some(k) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    tungstenite::connect(req).map(|(s, _)| s)
}

/// Sends a turn; returns every message until its terminal one.
fn turn(ws: &mut Socket, body: Value) -> Vec<Value> {
    let mut body = body;
    body["type"] = json!("response.create");
    ws.send(Message::text(body.to_string())).unwrap();
    let mut out = Vec::new();
    loop {
        let Message::Text(t) = ws.read().unwrap() else {
            continue;
        };
        assert_ne!(t.as_str(), "[DONE]", "no [DONE] over a WebSocket");
        let v: Value = serde_json::from_str(&t).unwrap();
        let kind = v["type"].as_str().unwrap().to_owned();
        out.push(v);
        if matches!(
            kind.as_str(),
            "response.completed" | "response.failed" | "response.incomplete" | "error"
        ) {
            return out;
        }
    }
}

fn error_code(events: &[Value]) -> String {
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{last}");
    assert_valid("WebSocketErrorEvent", last);
    last["error"]["code"].as_str().unwrap().to_owned()
}

#[test]
fn turns_continue_on_the_connection() {
    let gw = gateway();
    // Auth is checked at the upgrade.
    match connect(&gw, None) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected a 401: {:?}", other.map(|_| ())),
    }
    let mut ws = connect(&gw, Some(KEY)).unwrap();
    gw.upstream_requests();
    let first = turn(
        &mut ws,
        json!({"model": "claude-test", "store": false, "input": "my name is Ada"}),
    );
    assert_valid_stream(&first);
    let done = first.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let id = done["response"]["id"].as_str().unwrap().to_owned();
    // The next turn on the same socket continues from the connection.
    let second = turn(
        &mut ws,
        json!({"model": "claude-test", "store": false, "previous_response_id": id, "input": "what is my name?"}),
    );
    assert_valid_stream(&second);
    assert_eq!(second.last().unwrap()["type"], "response.completed");
    let sent = gw.upstream_requests();
    assert_eq!(sent.len(), 2);
    let body = sent[1]["body"].to_string();
    assert!(
        body.contains("my name is Ada")
            && body.contains("echo: my name is Ada")
            && body.contains("what is my name?"),
        "{body}"
    );

    // Background mode is refused, and the socket stays open.
    assert_eq!(
        error_code(&turn(
            &mut ws,
            json!({"model": "claude-test", "background": true, "input": "x"})
        )),
        "unsupported_parameter"
    );
    // A continuation that fails evicts the turn it continued.
    let id2 = second.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"model": "claude-test", "store": false, "previous_response_id": id2,
        "input": [{"type": "function_call_output", "call_id": "call_nope", "output": "x"}]});
    let failed = turn(&mut ws, bad);
    assert_eq!(failed.last().unwrap()["type"], "error", "{failed:?}");
    assert_valid("WebSocketErrorEvent", failed.last().unwrap());
    let again = json!({"model": "claude-test", "store": false, "previous_response_id": id2, "input": "hello?"});
    assert_eq!(
        error_code(&turn(&mut ws, again.clone())),
        "previous_response_not_found"
    );

    // A new connection has no memory of store:false turns.
    let mut other = connect(&gw, Some(KEY)).unwrap();
    let again = json!({"model": "claude-test", "store": false, "previous_response_id": id, "input": "hello?"});
    assert_eq!(
        error_code(&turn(&mut other, again)),
        "previous_response_not_found"
    );

    // store:true turns continue from the store, on any connection.
    let stored = turn(
        &mut other,
        json!({"model": "gemini-test", "input": "remember 42"}),
    );
    let sid = stored.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut third = connect(&gw, Some(KEY)).unwrap();
    let cont = turn(
        &mut third,
        json!({"model": "gemini-test", "previous_response_id": sid, "input": "which number?"}),
    );
    assert_eq!(
        cont.last().unwrap()["type"],
        "response.completed",
        "{cont:?}"
    );
    let body = gw.upstream_requests().last().unwrap()["body"].to_string();
    assert!(
        body.contains("remember 42") && body.contains("which number?"),
        "{body}"
    );
}

/// A coding agent's loop over one connection: Claude reasons and calls a
/// tool, the client sends only the tool's output with
/// `previous_response_id` (`store: false`), and Claude receives its own
/// thinking back, signed, with the call and its result.
#[test]
fn a_tool_loop_over_one_connection() {
    let gw = gateway();
    let mut ws = connect(&gw, Some(KEY)).unwrap();
    gw.upstream_requests();
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let first = turn(
        &mut ws,
        json!({"model": "claude-test", "store": false, "tools": tools,
        "reasoning": {"effort": "low"}, "include": ["reasoning.encrypted_content"],
        "input": "use get_weather for Oslo"}),
    );
    let done = first.last().unwrap();
    assert_eq!(done["type"], "response.completed", "{first:?}");
    let call = done["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .expect("a call")
        .clone();
    let second = turn(
        &mut ws,
        json!({"model": "claude-test", "store": false, "tools": tools,
        "reasoning": {"effort": "low"}, "previous_response_id": done["response"]["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]}),
    );
    let done = second.last().unwrap();
    assert_eq!(done["type"], "response.completed", "{second:?}");
    assert_eq!(output_text(&done["response"]), "tool said: sunny");
    let sent = gw.upstream_requests();
    let msgs = &sent.last().unwrap()["body"]["messages"];
    assert_eq!(msgs[1]["content"][0]["type"], "thinking", "{msgs}");
    assert_eq!(msgs[1]["content"][1]["type"], "tool_use");
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
}
