//! Hostile input: caps from `server.limits`, checks that stay linear in
//! the size of the request, and a mock that does not amplify its input.

mod common;

use std::time::{Duration, Instant};

use common::*;
use latticelm_core::{validate, Config, Gateway};
use serde_json::{json, Value};

fn mock_gateway(server: &str) -> Gateway {
    let yaml = format!(
        "server: {server}\nproviders: {{ m: {{ type: mock }} }}\nmodels: [ {{ name: mock, provider: m }} ]\n"
    );
    Gateway::new(Config::from_yaml(&yaml, &|_| None).unwrap())
}

fn error_of(gw: &Gateway, body: &Value) -> (u16, Value) {
    let (status, chunks) = run(gw, &FakeHost::default(), post(body));
    (status, serde_json::from_slice(&chunks.concat()).unwrap())
}

fn tools(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"type": "function", "name": format!("tool_{i}"), "parameters": {"type": "object"}}))
        .collect()
}

#[test]
fn each_cap_is_a_400_that_names_it() {
    let gw = mock_gateway("{ limits: { max_tools: 3, max_input_items: 2, max_parts_per_message: 2, max_metadata_entries: 1, max_string_bytes: 100, max_json_depth: 8 } }");
    let part = json!({"type": "input_text", "text": "x"});
    let cases = [
        (
            json!({"model": "mock", "input": "x", "tools": tools(4)}),
            "max_tools",
            Some("tools"),
        ),
        (
            json!({"model": "mock", "input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}]}),
            "max_input_items",
            Some("input"),
        ),
        (
            json!({"model": "mock", "input": [{"role": "user", "content": [part, part, part]}]}),
            "max_parts_per_message",
            Some("input[0].content"),
        ),
        (
            json!({"model": "mock", "input": "x", "metadata": {"a": "1", "b": "2"}}),
            "max_metadata_entries",
            Some("metadata"),
        ),
        (
            json!({"model": "mock", "input": "y".repeat(101)}),
            "max_string_bytes",
            None,
        ),
        (
            json!({"model": "mock", "input": "x", "metadata": {"a": [[[[[[[[[1]]]]]]]]]}}),
            "max_json_depth",
            None,
        ),
    ];
    for (body, cap, param) in cases {
        let (status, e) = error_of(&gw, &body);
        assert_eq!(status, 400, "{cap}: {e}");
        assert_eq!(e["error"]["code"], "limit_exceeded", "{cap}");
        assert_eq!(e["error"]["param"].as_str(), param, "{cap}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("server.limits.{cap}")), "{msg}");
    }
}

#[test]
fn tool_checks_are_linear() {
    // 50,000 uniquely named tools and a tool_choice listing all of them
    // (past the default cap, which is checked first): checks that scan a
    // list per name would take over a billion comparisons.
    let n = 50_000;
    let names: Vec<Value> = (0..n)
        .map(|i| json!({"type": "function", "name": format!("tool_{i}")}))
        .collect();
    let body = json!({"model": "mock", "input": "hello", "tools": tools(n),
        "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": names}});
    let body = validate::parse_body(body.to_string().as_bytes()).unwrap();
    let start = Instant::now();
    validate::validate(&body).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    // And through the whole pipeline with the cap raised.
    let gw = mock_gateway("{ limits: { max_tools: 100000 } }");
    let (status, _) = run(
        &gw,
        &FakeHost::default(),
        post(&json!({"model": "mock", "input": "x", "tools": tools(5_000), "store": false})),
    );
    assert_eq!(status, 200);
}

#[test]
fn the_mock_does_not_amplify_its_input() {
    // Two megabytes of one-letter words: echoed word by word, each word an
    // event, the answer would be a hundred times the request.
    let gw = mock_gateway("{}");
    let text = "a ".repeat(1024 * 1024);
    let body = json!({"model": "mock", "input": text, "stream": true, "store": false,
        "tools": [{"type": "function", "name": "zzz_tool"}]});
    let (status, chunks) = run(&gw, &FakeHost::default(), post(&body));
    assert_eq!(status, 200);
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    assert!(total < 4 * 1024 * 1024, "{total} bytes out for 2 MiB in");
    assert!(chunks.len() > 2, "the answer is streamed in chunks");
}

#[test]
fn an_upstream_cannot_stream_without_bound() {
    let yaml = "server: { max_upstream_stream_bytes: 2000 }\nproviders: { up: { type: openai-chat, endpoint: \"http://up.test\" } }\nmodels: [ { name: m, provider: up } ]\n";
    let gw = Gateway::new(Config::from_yaml(yaml, &|_| None).unwrap());
    let delta = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}]}\n\n";
    let host = FakeHost::answering(Canned {
        status: 200,
        headers: vec![],
        chunks: (0..100).map(|_| bytes::Bytes::from(delta)).collect(),
    });
    let (status, chunks) = run(
        &gw,
        &host,
        post(&json!({"model": "m", "input": "x", "stream": true})),
    );
    assert_eq!(status, 200);
    let events = parse_sse(&chunks.concat());
    let n = events.len();
    assert_eq!(
        events[n - 2]["error"]["code"],
        "upstream_response_too_large"
    );
    assert_eq!(events[n - 1]["response"]["status"], "failed");
}

#[test]
fn allowed_hosts_guard_against_dns_rebinding() {
    let gw = mock_gateway("{ allowed_hosts: [gateway.example.com, localhost, \"[::1]\"] }");
    let with_host = |host: &str, path: &str| {
        let mut req = if path == "/health" {
            request("GET", path, "", None)
        } else {
            post(&json!({"model": "mock", "input": "x"}))
        };
        req.headers.push(("host".into(), host.into()));
        run(&gw, &FakeHost::default(), req).0
    };
    for ok in [
        "gateway.example.com",
        "GATEWAY.example.com:443",
        "localhost:8080",
        "[::1]:8080",
    ] {
        assert_eq!(with_host(ok, "/v1/responses"), 200, "{ok}");
    }
    for bad in [
        "attacker.example",
        "127.0.0.1:8080",
        "gateway.example.com.evil",
        "",
    ] {
        assert_eq!(with_host(bad, "/v1/responses"), 421, "{bad}");
    }
    assert_eq!(
        with_host("10.0.0.7:8080", "/health"),
        200,
        "probes answer any host"
    );
}
