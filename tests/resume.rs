//! Mid-stream continuation on the native binary: a stream cut after its
//! first output (the mock's `stop_after`) continues on the next target,
//! for each upstream protocol, prefilled where it can be and best effort
//! where not, and the client sees one valid stream with one answer.

mod support;

use serde_json::{json, Value};
use support::*;

const INPUT: &str = "one two three four five six seven eight nine ten eleven twelve";

fn resume_config(mock: &str) -> String {
    format!(
        r#"
server:
  address: "127.0.0.1:0"
  upstream_timeout: 5s
providers:
  cut: {{ type: anthropic, endpoint: "{mock}/_fault/stop_after=7", api_key: "sk-ant" }}
  claude: {{ type: anthropic, endpoint: "{mock}", api_key: "sk-ant" }}
  claude-new: {{ type: anthropic, endpoint: "{mock}/_fault/refuse_prefill", api_key: "sk-ant" }}
  gemini: {{ type: google, endpoint: "{mock}", api_key: "g-key" }}
  oa: {{ type: openai, endpoint: "{mock}", api_key: "sk-oa" }}
  vllm: {{ type: openai-chat, endpoint: "{mock}/v1", api_key: "k", prefill: continue_final_message }}
  deepseek: {{ type: openai-chat, endpoint: "{mock}/v1", api_key: "k", prefill: prefix }}
  plain: {{ type: openai-chat, endpoint: "{mock}/v1", api_key: "k" }}
models:
  - {{ name: to-claude, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: claude, provider_model_id: claude-haiku-4-5 }}] }}
  - {{ name: to-claude-new, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: claude-new, provider_model_id: claude-opus-5 }}] }}
  - {{ name: to-gemini, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: gemini, provider_model_id: gemini-2.5-flash }}] }}
  - {{ name: to-vllm, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: vllm, provider_model_id: llama }}] }}
  - {{ name: to-deepseek, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: deepseek, provider_model_id: llama }}] }}
  - {{ name: to-chat, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: plain, provider_model_id: llama }}] }}
  - {{ name: to-openai, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: oa, provider_model_id: gpt-4o-mini }}] }}
  - {{ name: off, continue_after_output: false, targets: [{{ provider: cut, provider_model_id: claude-haiku-4-5 }}, {{ provider: claude, provider_model_id: claude-haiku-4-5 }}] }}
routing:
  continue_after_output: true
  circuit_breaker: {{ failures: 100000 }}
"#
    )
}

fn events(gw: &Gateway, model: &str, input: &str) -> Vec<Value> {
    let body = json!({"model": model, "input": input, "stream": true});
    let (status, events) = gw.stream(&body);
    assert_eq!(status, 200, "{model}");
    events.into_iter().map(|(_, e)| e).collect()
}

/// The last turn of the continuation request, per protocol: its role and
/// text, and the request itself.
fn last_turn(req: &Value) -> (String, String) {
    let b = &req["body"];
    if let Some(c) = b["contents"].as_array() {
        let last = c.last().unwrap();
        let text: Vec<&str> = last["parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect();
        return (last["role"].as_str().unwrap().to_owned(), text.join(""));
    }
    let list = b["messages"]
        .as_array()
        .or_else(|| b["input"].as_array())
        .unwrap();
    let last = list.last().unwrap();
    let text = match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    (last["role"].as_str().unwrap_or_default().to_owned(), text)
}

#[test]
fn a_cut_stream_continues_on_every_protocol_as_one_answer() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&resume_config(&mock), mock, &[]);
    let full = format!("echo: {INPUT}");
    for (model, prefilled) in [
        ("to-claude", true),
        ("to-gemini", true),
        ("to-vllm", true),
        ("to-deepseek", true),
        ("to-chat", false),
        ("to-openai", false),
        ("to-claude-new", false),
    ] {
        gw.upstream_requests();
        let events = events(&gw, model, INPUT);
        assert_valid_stream(&events);
        let done = events
            .iter()
            .find(|e| e["type"] == "response.completed")
            .unwrap_or_else(|| panic!("{model}: {events:#?}"));
        let r = &done["response"];
        assert_eq!(
            r["output"].as_array().unwrap().len(),
            1,
            "{model}: one item"
        );
        assert_eq!(
            output_text(r),
            full,
            "{model}: the partial and the continuation, no seam"
        );
        let sent = gw.upstream_requests();
        // A model that refuses the prefill is asked again, best effort.
        let calls = if model == "to-claude-new" { 3 } else { 2 };
        assert_eq!(
            sent.len(),
            calls,
            "{model}: the cut attempt and its continuation"
        );
        let sent = &sent[sent.len() - 2..];
        let (role, text) = last_turn(&sent[1]);
        if prefilled {
            assert!(role == "assistant" || role == "model", "{model}: {role}");
            assert!(
                full.starts_with(&text) && !text.is_empty() && text.len() < full.len(),
                "{model}: prefill `{text}`"
            );
            assert_eq!(
                text,
                text.trim_end(),
                "{model}: no trailing whitespace in a prefill"
            );
        } else {
            assert_eq!(role, "user", "{model}");
            assert!(
                text.starts_with("Your previous reply was cut off."),
                "{model}: {text}"
            );
        }
        if model == "to-vllm" {
            assert_eq!(sent[1]["body"]["continue_final_message"], true);
            assert_eq!(sent[1]["body"]["add_generation_prompt"], false);
        }
        if model == "to-deepseek" {
            let msgs = sent[1]["body"]["messages"].as_array().unwrap();
            assert_eq!(msgs.last().unwrap()["prefix"], true);
        }
    }
    let lines: Vec<Value> = out
        .json()
        .into_iter()
        .filter(|l| l["continuation"].is_object())
        .collect();
    assert!(lines.len() >= 7, "{lines:?}");
    let modes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["continuation"]["mode"].as_str())
        .collect();
    assert!(
        modes.contains(&"prefill") && modes.contains(&"best_effort"),
        "{modes:?}"
    );
}

#[test]
fn off_by_default_and_where_unsafe_the_stream_fails_as_before() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&resume_config(&mock), mock);
    let events = events(&gw, "off", INPUT);
    assert_valid_stream(&events);
    assert_eq!(
        events.last().unwrap()["type"],
        "response.failed",
        "continue_after_output: false"
    );
    // Cut inside a function call's arguments: not continued.
    let body = json!({"model": "to-claude", "input": "call get_weather for Paris please", "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]});
    let (_, evs) = gw.stream(&body);
    let evs: Vec<Value> = evs.into_iter().map(|(_, e)| e).collect();
    assert_valid_stream(&evs);
    assert!(
        evs.iter()
            .any(|e| e["type"] == "response.function_call_arguments.delta"),
        "the cut fell inside the call's arguments: {evs:#?}"
    );
    assert_eq!(evs.last().unwrap()["type"], "response.failed");
}

#[test]
fn the_front_doors_get_one_unbroken_answer() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&resume_config(&mock), mock);
    let full = format!("echo: {INPUT}");
    let chat = json!({"model": "to-claude", "stream": true, "messages": [{"role": "user", "content": INPUT}]});
    let text = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut said = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            said.push_str(c);
        }
    }
    assert_eq!(said, full, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let msgs = json!({"model": "to-gemini", "max_tokens": 256, "stream": true, "messages": [{"role": "user", "content": INPUT}]});
    let text = client()
        .post(format!("{}/v1/messages", gw.url))
        .json(&msgs)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut said = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).unwrap_or_default();
        if let Some(t) = v["delta"]["text"].as_str() {
            said.push_str(t);
        }
    }
    assert_eq!(said, full, "{text}");
    assert!(text.contains("message_stop"), "{text}");
}

/// The official SDKs, streaming through a cut: one answer each.
#[test]
fn the_openai_and_anthropic_sdks_see_one_answer() {
    if !python_has("openai") || !python_has("anthropic") {
        return;
    }
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&resume_config(&mock), mock);
    let oks = [
        "OK openai responses stream",
        "OK openai chat stream",
        "OK anthropic messages stream",
    ];
    python_check("resume_check.py", &[&gw.url, INPUT], &["to-claude"], &oks);
}

/// A WebSocket turn cut mid-answer continues too.
#[test]
fn a_websocket_turn_gets_one_unbroken_answer() {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::Message;
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&resume_config(&mock), mock);
    let req = (gw.url.replace("http://", "ws://") + "/v1/responses")
        .into_client_request()
        .unwrap();
    let (mut ws, _) = tungstenite::connect(req).unwrap();
    let body = json!({"type": "response.create", "model": "to-claude", "input": INPUT});
    ws.send(Message::text(body.to_string())).unwrap();
    let mut events = Vec::new();
    loop {
        let Message::Text(t) = ws.read().unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let kind = v["type"].as_str().unwrap().to_owned();
        events.push(v);
        if matches!(
            kind.as_str(),
            "response.completed" | "response.failed" | "error"
        ) {
            break;
        }
    }
    assert_valid_stream_without_done(&events);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(output_text(&last["response"]), format!("echo: {INPUT}"));
}

/// The stream checks, for a WebSocket's events (no `[DONE]`).
fn assert_valid_stream_without_done(events: &[Value]) {
    let seq: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence_number"].as_u64())
        .collect();
    assert!(
        seq.windows(2).all(|w| w[1] > w[0]),
        "sequence numbers increase: {seq:?}"
    );
    for e in events {
        if let Some(name) = event_schema(e["type"].as_str().unwrap_or_default()) {
            assert_valid(&name, e);
        }
    }
}
