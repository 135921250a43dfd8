//! Hosted `mcp` tools, run by the gateway for any model: a real MCP
//! server on the official Python SDK (`tests/mcp/server.py`), the native
//! binary, and the mock provider on every upstream protocol.

mod support;

use serde_json::{json, Value};
use support::*;

/// Servers: `weather` (only `get_weather`, with a credential), `kit`
/// (`fail`, `slow`, `big`, `echo`), `ask` (every call waits for
/// approval). Keys: `sk-all` (every server), `sk-weather` (only
/// `weather`).
fn mcp_config(mock: &str, mcp: &str) -> String {
    config(mock)
        + &format!(
            r#"mcp:
  call_timeout: 2s
  max_result_bytes: 64KiB
  servers:
    - {{ label: weather, url: "{mcp}", headers: {{ authorization: "Bearer mcp-secret" }}, allowed_tools: [get_weather] }}
    - {{ label: kit, url: "{mcp}", allowed_tools: [fail, slow, big, echo] }}
    - {{ label: ask, url: "{mcp}", allowed_tools: [get_weather], require_approval: always }}
auth:
  admin_keys: ["{ADMIN}"]
  api_keys:
    - {{ name: all, key: sk-all }}
    - {{ name: weather-only, key: sk-weather, mcp: [weather] }}
    - {{ name: budgeted, key: sk-budget, budget: {{ usd: 100, period: daily }} }}
    - {{ name: slowpoke, key: sk-rpm, mcp: [weather], limits: {{ requests_per_minute: 2 }} }}
"#
        )
}

fn post(gw: &Gateway, key: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(key)
        .json(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn of_type<'a>(resp: &'a Value, t: &str) -> Vec<&'a Value> {
    resp["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == t)
        .collect()
}

fn answer_text(resp: &Value) -> String {
    of_type(resp, "message")
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect()
}

/// The loop on every upstream protocol: listed, called with what the
/// model asked, the result handed back, the answer built on it; the
/// server's configured credential sent, the client's key never.
#[test]
fn a_hosted_mcp_tool_runs_for_every_provider() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    for model in [
        "gpt-4o-mini",
        "llama",
        "claude-test",
        "gemini-test",
        "az-responses",
        "az-chat",
    ] {
        let body = json!({
            "model": model,
            "input": "What is the weather? run: Paris",
            "tools": [{"type": "mcp", "server_label": "weather"}],
        });
        let (status, resp) = post(&gw, "sk-all", &body);
        assert_eq!(status, 200, "{model}: {resp}");
        let lists = of_type(&resp, "mcp_list_tools");
        assert_eq!(lists.len(), 1, "{model}: {resp}");
        assert_eq!(lists[0]["tools"][0]["name"], "get_weather", "{model}");
        assert_eq!(
            lists[0]["tools"].as_array().unwrap().len(),
            1,
            "allowed_tools: {resp}"
        );
        let calls = of_type(&resp, "mcp_call");
        assert_eq!(calls.len(), 1, "{model}: {resp}");
        assert_eq!(calls[0]["server_label"], "weather");
        assert_eq!(calls[0]["name"], "get_weather");
        assert_eq!(
            calls[0]["output"], "Sunny, 21 C in Paris",
            "{model}: {resp}"
        );
        assert_eq!(
            answer_text(&resp),
            "tool said: Sunny, 21 C in Paris",
            "{model}: {resp}"
        );
        assert!(
            of_type(&resp, "function_call").is_empty(),
            "{model}: {resp}"
        );
    }
    let ran = server.calls();
    assert_eq!(ran.len(), 6, "{ran:?}");
    assert!(
        ran.iter()
            .all(|c| c["arguments"] == json!({"city": "Paris"})),
        "{ran:?}"
    );
    for r in server.recorded().iter().filter(|r| r.get("http").is_some()) {
        assert_eq!(r["headers"]["authorization"], "Bearer mcp-secret", "{r}");
    }
}

/// Streamed: OpenAI's MCP events, in order, around the items.
#[test]
fn a_hosted_mcp_tool_streams_openais_events() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let body = json!({
        "model": "claude-test", "stream": true,
        "input": "What is the weather? run: Oslo",
        "tools": [{"type": "mcp", "server_label": "weather"}],
    });
    let (status, events) = gw.stream_with(&body, &[("authorization", "Bearer sk-all")]);
    assert_eq!(status, 200);
    let types: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["type"].as_str().unwrap_or_default())
        .collect();
    let at = |t: &str| {
        types
            .iter()
            .position(|x| *x == t)
            .unwrap_or_else(|| panic!("no {t}: {types:?}"))
    };
    assert!(at("response.mcp_list_tools.in_progress") < at("response.mcp_list_tools.completed"));
    assert!(at("response.mcp_list_tools.completed") < at("response.mcp_call.in_progress"));
    assert!(at("response.mcp_call.in_progress") < at("response.mcp_call_arguments.delta"));
    assert!(at("response.mcp_call_arguments.done") < at("response.mcp_call.completed"));
    assert!(at("response.mcp_call.completed") < at("response.completed"));
    let done = &events.last().unwrap().1["response"];
    assert_eq!(answer_text(done), "tool said: Sunny, 21 C in Oslo");
    for (i, (_, e)) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64, "{e}");
    }
}

/// `require_approval`: the response ends with an approval request; the
/// client approves (the call runs) or refuses (nothing runs, the model
/// is told) through `previous_response_id`.
#[test]
fn approvals_run_or_refuse_a_call() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let tools = json!([{"type": "mcp", "server_label": "ask"}]);
    for approve in [true, false] {
        let body = json!({"model": "gemini-test", "input": "What is the weather? run: Rome", "tools": tools});
        let (status, first) = post(&gw, "sk-all", &body);
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["status"], "completed");
        let request = first["output"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(request["type"], "mcp_approval_request", "{first}");
        assert_eq!(request["name"], "get_weather");
        let before = server.calls().len();
        let next = json!({
            "model": "gemini-test", "previous_response_id": first["id"], "tools": tools,
            "input": [{"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": approve}],
        });
        let (status, second) = post(&gw, "sk-all", &next);
        assert_eq!(status, 200, "{second}");
        if approve {
            let calls = of_type(&second, "mcp_call");
            assert_eq!(calls.len(), 1, "{second}");
            assert_eq!(calls[0]["approval_request_id"], request["id"]);
            assert_eq!(server.calls().len(), before + 1);
            assert_eq!(answer_text(&second), "tool said: Sunny, 21 C in Rome");
        } else {
            assert!(of_type(&second, "mcp_call").is_empty(), "{second}");
            assert_eq!(server.calls().len(), before, "a refused call ran");
            assert_eq!(
                answer_text(&second),
                "tool said: the user did not approve this call"
            );
        }
    }
}

/// Who may use which server, and what a request may name itself.
#[test]
fn servers_are_allowed_per_key_and_request_urls_are_refused() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let ask = |key: &str, tool: Value| {
        post(
            &gw,
            key,
            &json!({"model": "llama", "input": "hi", "tools": [tool]}),
        )
    };
    let (s, e) = ask("sk-weather", json!({"type": "mcp", "server_label": "kit"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("mcp_server_not_allowed")),
        "{e}"
    );
    assert_valid("ErrorPayload", &e["error"]);
    assert_eq!(
        ask(
            "sk-weather",
            json!({"type": "mcp", "server_label": "weather"})
        )
        .0,
        200
    );
    let (s, e) = ask(
        "sk-all",
        json!({"type": "mcp", "server_label": "mine", "server_url": "https://mcp.example.com/mcp"}),
    );
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "tools[0].server_url");
    let (s, e) = ask("sk-all", json!({"type": "mcp", "server_label": "nobody"}));
    assert_eq!(s, 400, "{e}");
    let (s, e) = ask(
        "sk-all",
        json!({"type": "mcp", "server_label": "weather", "server_url": "https://evil.example.com/mcp"}),
    );
    assert_eq!(s, 400, "{e}");
    // Nothing was called for the refused requests: only the two lists.
    assert!(server.calls().is_empty());
}

/// A tool that fails, hangs or answers 10 MB becomes an `mcp_call` with
/// an `error`, and the loop goes on to the model's answer.
#[test]
fn failing_hanging_and_huge_tools_are_errors_the_model_reads() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    for (input, kind) in [
        ("kit__fail run: boom", "mcp_tool_execution_error"),
        ("kit__slow run: 30", "http_error"),
        ("kit__big run: now", "http_error"),
    ] {
        let body = json!({"model": "claude-test", "input": input,
            "tools": [{"type": "mcp", "server_label": "kit"}]});
        let (status, resp) = post(&gw, "sk-all", &body);
        assert_eq!(status, 200, "{input}: {resp}");
        let calls = of_type(&resp, "mcp_call");
        assert_eq!(calls.len(), 1, "{input}: {resp}");
        assert_eq!(calls[0]["error"]["type"], kind, "{input}: {resp}");
        assert_eq!(calls[0]["status"], "failed");
        assert!(
            answer_text(&resp).starts_with("tool said: error"),
            "{input}: {resp}"
        );
    }
}

/// The Chat Completions door takes hosted tools in the Responses shape:
/// the answer is the model's, after the calls the gateway ran.
#[test]
fn the_chat_door_runs_hosted_tools_too() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    for model in ["llama", "claude-test"] {
        let body = json!({
            "model": model,
            "messages": [{"role": "user", "content": "What is the weather? run: Lima"}],
            "tools": [{"type": "mcp", "server_label": "weather"}],
        });
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth("sk-all")
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{model}");
        let v: Value = r.json().unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"], "tool said: Sunny, 21 C in Lima",
            "{model}: {v}"
        );
        assert!(v["choices"][0]["message"]["tool_calls"].is_null(), "{v}");
    }
    assert_eq!(server.calls().len(), 2);
}

/// Runtime keys and teams carry `mcp` through the admin API: a key's
/// list, narrowed by its team's, binds its requests.
#[test]
fn runtime_keys_and_teams_carry_their_mcp_servers() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let admin = |method: &str, path: &str, body: Option<Value>| {
        admin_call(&gw, method, path, Some(ADMIN), body)
    };
    let (s, e) = admin(
        "POST",
        "/v1/admin/keys",
        Some(json!({"name": "bad", "mcp": ["nowhere"]})),
    );
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("mcp")), "{e}");
    let (s, team) = admin(
        "POST",
        "/v1/admin/teams",
        Some(json!({"name": "wx", "mcp": ["weather", "ask"]})),
    );
    assert_eq!(s, 201, "{team}");
    assert_eq!(team["mcp"], json!(["weather", "ask"]));
    let (s, key) = admin(
        "POST",
        "/v1/admin/keys",
        Some(json!({"name": "k", "team": "wx", "mcp": ["weather", "kit"]})),
    );
    assert_eq!(s, 201, "{key}");
    let secret = key["key"].as_str().unwrap().to_owned();
    let use_server = |label: &str| {
        let body = json!({"model": "llama", "input": "hi", "tools": [{"type": "mcp", "server_label": label}]});
        let (s, e) = post(&gw, &secret, &body);
        (s, e["error"]["code"].as_str().map(str::to_owned))
    };
    assert_eq!(use_server("weather").0, 200);
    // `kit` is the key's but not its team's; `ask` the team's, not the key's.
    assert_eq!(
        use_server("kit"),
        (403, Some("mcp_server_not_allowed".into()))
    );
    assert_eq!(
        use_server("ask"),
        (403, Some("mcp_server_not_allowed".into()))
    );
    let id = key["id"].as_str().unwrap();
    let (s, patched) = admin(
        "PATCH",
        &format!("/v1/admin/keys/{id}"),
        Some(json!({"mcp": ["ask"]})),
    );
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["mcp"], json!(["ask"]));
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert_eq!(use_server("ask").0, 200);
    assert_eq!(
        use_server("weather"),
        (403, Some("mcp_server_not_allowed".into()))
    );
}

/// Every turn of the loop is held and charged: a budgeted key's
/// settlement is both turns' usage at their prices, and the response's
/// usage sums them.
#[test]
fn every_turn_of_the_loop_is_charged() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = mcp_config(&mock, &server.url).replace(
        "  - { name: claude-test, provider: claude, provider_model_id: \"claude-haiku-4-5\" }\n",
        "  - { name: claude-test, targets: [ { provider: claude, provider_model_id: claude-haiku-4-5, input_cost: 1000, output_cost: 1000 } ] }\n",
    );
    assert!(
        yaml.contains("input_cost: 1000"),
        "the config changed shape"
    );
    let (gw, out) = start_logged(&yaml, mock, &[]);
    let body = json!({"model": "claude-test", "input": "What is the weather? run: Kyiv",
        "tools": [{"type": "mcp", "server_label": "weather"}]});
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth("sk-budget")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-latticelm-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let resp: Value = r.json().unwrap();
    let single = {
        let (s, one) = post(
            &gw,
            "sk-budget",
            &json!({"model": "claude-test", "input": "What is the weather? run: Kyiv"}),
        );
        assert_eq!(s, 200, "{one}");
        one["usage"]["total_tokens"].as_u64().unwrap()
    };
    let total = resp["usage"]["total_tokens"].as_u64().unwrap();
    assert!(
        total > single,
        "usage sums both turns: {total} vs one turn {single}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let line = out
        .json()
        .into_iter()
        .find(|l| l["principal"] == "key:budgeted" && l["limits"]["settled_usd"].is_number())
        .expect("a log line with a settlement");
    let settled = line["limits"]["settled_usd"].as_f64().unwrap();
    assert!(
        (settled - cost).abs() < 1e-9,
        "settled {settled}, cost header {cost}"
    );
    assert!(settled > 0.0);
    let u = &resp["usage"];
    let want =
        (u["input_tokens"].as_f64().unwrap() + u["output_tokens"].as_f64().unwrap()) * 1000.0 / 1e6;
    assert!(
        (settled - want).abs() < 1e-9,
        "both turns at their price: {settled} vs {want}"
    );
}

/// Runs `tests/mcp/client.py` (the official SDK's client) against the
/// gateway's `/mcp`; its JSON report.
fn sdk_client(gw: &Gateway, key: &str, mode: &str, tool: &str, args: &Value) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("{}/mcp", gw.url))
        .arg(key)
        .args(["--mode", mode, "--tool", tool, "--args", &args.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `/mcp` with the official SDK's client in both generations: each key
/// sees only its servers' allowed tools, and a call reaches the right
/// server with that server's credential.
#[test]
fn the_gateway_serves_mcp_to_the_official_client_in_both_generations() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    for mode in ["2026-07-28", "legacy"] {
        let r = sdk_client(
            &gw,
            "sk-weather",
            mode,
            "weather__get_weather",
            &json!({"city": "Bern"}),
        );
        assert_eq!(r["tools"], json!(["weather__get_weather"]), "{mode}: {r}");
        assert_eq!(r["is_error"], false, "{mode}: {r}");
        assert_eq!(
            r["content"][0]["text"], "Sunny, 21 C in Bern",
            "{mode}: {r}"
        );
        let want = if mode == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(r["protocol_version"], want, "{r}");
    }
    let r = sdk_client(&gw, "sk-all", "auto", "kit__echo", &json!({"text": "hi"}));
    let tools = r["tools"].as_array().unwrap();
    assert!(
        tools.contains(&json!("kit__echo")) && tools.contains(&json!("ask__get_weather")),
        "{r}"
    );
    assert!(
        !tools.contains(&json!("weather__add")),
        "allowed_tools: {r}"
    );
    assert_eq!(r["content"][0]["text"], "hi");
    // The weather calls carried the weather server's credential.
    let calls: Vec<Value> = server
        .recorded()
        .into_iter()
        .filter(|r| r["headers"]["mcp-method"] == "tools/call" || r["tool"].is_string())
        .collect();
    assert!(!calls.is_empty());
}

/// `/mcp` by hand: 401 without a key, a tool of another key's server is
/// unknown, GET is 405, and a bad message is a JSON-RPC error.
#[test]
fn the_mcp_endpoint_refuses_what_it_must() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let rpc = |key: Option<&str>, body: Value| {
        let mut r = client()
            .post(format!("{}/mcp", gw.url))
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let r = r.send().unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "kit__echo", "arguments": {"text": "x"}}});
    assert_eq!(rpc(None, call.clone()).0, 401);
    let (s, v) = rpc(Some("sk-weather"), call);
    assert_eq!(s, 200);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let (s, v) = rpc(
        Some("sk-weather"),
        json!({"jsonrpc": "2.0", "id": 2, "method": "nope"}),
    );
    assert_eq!((s, v["error"]["code"].as_i64()), (200, Some(-32601)), "{v}");
    let (s, v) = rpc(Some("sk-weather"), json!([1, 2]));
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32600)), "{v}");
    let (s, _) = rpc(
        Some("sk-weather"),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(s, 202);
    // A client that accepts only SSE gets its answer as one SSE event.
    let r = client()
        .post(format!("{}/mcp", gw.url))
        .bearer_auth("sk-weather")
        .header("accept", "text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().unwrap();
    assert!(text.starts_with("event: message\ndata: {"), "{text}");
    assert!(text.contains("\"id\":9"), "{text}");
    let r = client()
        .get(format!("{}/mcp", gw.url))
        .bearer_auth("sk-weather")
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(server.calls().is_empty(), "nothing ran");
}

/// A server of the handshake generation only (it refuses 2026-07-28 as
/// such servers do): the gateway falls back to `initialize` and keeps the
/// session the server gives for the rest of the exchange. A server that
/// answers JSON rather than SSE works the same.
#[test]
fn older_servers_get_the_handshake_and_json_answers_work() {
    for flags in [&["--legacy-only"][..], &["--json"][..]] {
        let Some(server) = mcp_server_with(flags) else {
            return;
        };
        let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
        let gw = start_with(&mcp_config(&mock, &server.url), mock);
        let body = json!({"model": "llama", "input": "What is the weather? run: Riga",
            "tools": [{"type": "mcp", "server_label": "weather"}]});
        let (status, resp) = post(&gw, "sk-all", &body);
        assert_eq!(status, 200, "{flags:?}: {resp}");
        assert_eq!(
            answer_text(&resp),
            "tool said: Sunny, 21 C in Riga",
            "{flags:?}: {resp}"
        );
        let http: Vec<Value> = server
            .recorded()
            .into_iter()
            .filter(|r| r.get("http").is_some())
            .collect();
        if flags == ["--legacy-only"] {
            let versions: Vec<&str> = http
                .iter()
                .filter_map(|r| r["headers"]["mcp-protocol-version"].as_str())
                .collect();
            assert!(versions.contains(&"2025-11-25"), "{versions:?}");
            assert!(
                http.iter()
                    .any(|r| r["headers"]["mcp-session-id"].is_string()),
                "the session was not kept: {http:?}"
            );
        }
    }
}

/// The official `openai` SDK's `tools=[{"type": "mcp", …}]`, unmodified,
/// on Claude and Gemini models: it parses the MCP items and events.
#[test]
fn the_openai_sdk_uses_hosted_mcp_tools_on_other_models() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/openai_sdk.py");
    for model in ["claude-test", "gemini-test"] {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args([gw.url.as_str(), "sk-all", model])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Gemini's thought signature rides in a reasoning item, kept.
        let types: Vec<&Value> = v["types"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| *t != "reasoning")
            .collect();
        assert_eq!(
            types,
            [
                &json!("mcp_list_tools"),
                &json!("mcp_call"),
                &json!("message")
            ],
            "{model}: {v}"
        );
        assert_eq!(v["call"], "Sunny, 21 C in Accra");
        assert_eq!(v["text"], "tool said: Sunny, 21 C in Accra");
        let events = v["events"].as_array().unwrap();
        assert!(
            events.contains(&json!("response.mcp_call.completed")),
            "{v}"
        );
        assert_eq!(events.last().unwrap(), "response.completed");
    }
}

/// Two replicas answer one client's requests alternately: the handshake
/// on one, the list and the calls on the other, in both generations.
#[test]
fn two_replicas_serve_one_mcp_client_alternately() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = mcp_config(&mock, &server.url);
    let gws = [start_with(&yaml, mock.clone()), start_with(&yaml, mock)];
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (s, v) = mcp_rpc(&gws[0], "sk-weather", &[], &init);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let legacy = [("mcp-protocol-version", "2025-06-18")];
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(mcp_rpc(&gws[1], "sk-weather", &legacy, &note).0, 202);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "weather__get_weather", "arguments": {"city": "Pune"}}});
    let (s, v) = mcp_rpc(&gws[1], "sk-weather", &legacy, &call);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "Sunny, 21 C in Pune");
    mcp_endpoint_call(&gws[0], "sk-weather", "Oslo");
    mcp_endpoint_call(&gws[1], "sk-weather", "Lima");
}

/// A `tools/call` through `/mcp` is a request for the caller's limits:
/// past its requests per minute it is a 429 with a JSON-RPC error, and
/// nothing runs.
#[test]
fn mcp_endpoint_calls_count_against_the_callers_limits() {
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let legacy = [("mcp-protocol-version", "2025-06-18")];
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "weather__get_weather", "arguments": {"city": "Doha"}}});
    for _ in 0..2 {
        let (s, v) = mcp_rpc(&gw, "sk-rpm", &legacy, &call);
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = mcp_rpc(&gw, "sk-rpm", &legacy, &call);
    assert_eq!(s, 429, "{v}");
    assert_eq!(
        (v["id"].as_i64(), v["error"]["code"].as_i64()),
        (Some(7), Some(-32000)),
        "{v}"
    );
    assert_eq!(server.calls().len(), 2, "the refused call ran");
    // Listing is not a call: it is not counted.
    let list = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"});
    assert_eq!(mcp_rpc(&gw, "sk-rpm", &legacy, &list).0, 200);
}

/// A WebSocket turn with a hosted tool runs the same loop.
#[test]
fn a_websocket_turn_runs_hosted_tools() {
    use tungstenite::Message;
    let Some(server) = mcp_server() else { return };
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&mcp_config(&mock, &server.url), mock);
    let mut ws = ws_socket(&gw, "sk-all");
    let turn = json!({"type": "response.create", "model": "claude-test",
        "input": "What is the weather? run: Baku",
        "tools": [{"type": "mcp", "server_label": "weather"}]});
    ws.send(Message::text(turn.to_string())).unwrap();
    let mut types = Vec::new();
    let done = loop {
        let Message::Text(t) = ws.read().unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        types.push(v["type"].as_str().unwrap_or_default().to_owned());
        if matches!(
            v["type"].as_str(),
            Some("response.completed" | "response.failed" | "error")
        ) {
            break v;
        }
    };
    assert_eq!(done["type"], "response.completed", "{done}");
    assert_eq!(
        answer_text(&done["response"]),
        "tool said: Sunny, 21 C in Baku",
        "{done}"
    );
    assert!(
        types.iter().any(|t| t == "response.mcp_call.completed"),
        "{types:?}"
    );
}
