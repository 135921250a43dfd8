//! Observability on the native binary, with real parts: request ids on
//! every answer, the caller's trace carried to the upstream, one JSON log
//! line per request that never holds a secret or a prompt, and a real
//! Prometheus server scraping `server.metrics_address` and counting what
//! the test sent.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const KEY: &str = "secret-key-123";
const PROMPT: &str = "zebra-prompt-words";
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn yaml(mock: &str) -> String {
    config(mock).replacen("server:\n", "server:\n  metrics_address: \"127.0.0.1:0\"\n", 1)
        + "  - { name: priced, targets: [ { provider: claude, provider_model_id: claude-haiku-4-5, input_cost: 3, output_cost: 15 } ] }\n"
        + &format!("auth:\n  enabled: true\n  api_keys:\n    - {{ name: team-a, key: \"{KEY}\" }}\n")
}

fn post(
    gw: &Gateway,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(KEY)
        .json(&body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn logs_metrics_and_trace_context() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let (gw, out) = start_logged(&yaml(&mock), mock, &[]);
    gw.upstream_requests();

    // 1. A plain request with the caller's id and trace.
    let (status, headers, body) = post(
        &gw,
        json!({"model": "claude-test", "input": PROMPT}),
        &[
            ("x-request-id", "my-req-1"),
            ("traceparent", PARENT),
            ("tracestate", "vendor=x"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-request-id"], "my-req-1");
    let first: Value = serde_json::from_str(&body).unwrap();
    let sent = gw.upstream_requests();
    let upstream = sent[0]["headers"]["traceparent"].as_str().unwrap();
    assert!(
        upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{upstream}"
    );
    assert!(
        !upstream.contains("00f067aa0ba902b7"),
        "a child span: {upstream}"
    );
    assert_eq!(sent[0]["headers"]["tracestate"], "vendor=x");

    // 2. A stream on a priced model: a generated id, and a cost.
    let (status, headers, body) = post(
        &gw,
        json!({"model": "priced", "input": PROMPT, "stream": true}),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let generated = headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(generated.starts_with("req_"), "{generated}");
    let streamed = parse_sse(body.as_bytes());
    let usage = &streamed.last().unwrap()["response"]["usage"];

    // 3. An error carries its id too.
    let (status, headers, _) = post(&gw, json!({"model": "nope", "input": PROMPT}), &[]);
    assert_eq!(status, 404);
    assert!(headers.contains_key("x-request-id"));

    // 4. The Messages front door, with Anthropic's own key header.
    let r = client()
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .header("x-request-id", "my-req-4")
        .json(&json!({"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let message: Value = r.json().unwrap();
    let message_input = message["usage"]["input_tokens"].as_f64().unwrap()
        + message["usage"]["cache_read_input_tokens"]
            .as_f64()
            .unwrap();

    // The log: one JSON line per request, in order of ending.
    let lines = out.wait_json(4);
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {lines:#?}"))
            .clone()
    };
    let l1 = by_id("my-req-1");
    assert_eq!(l1["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(l1["principal"], "key:team-a");
    assert_eq!(l1["model"], "claude-test");
    assert_eq!(l1["status"], 200);
    assert_eq!(l1["stream"], false);
    assert_eq!(l1["attempts"][0]["provider"], "claude");
    assert_eq!(l1["attempts"][0]["protocol"], "anthropic");
    assert_eq!(l1["tokens"]["input"], first["usage"]["input_tokens"]);
    assert_eq!(l1["tokens"]["output"], first["usage"]["output_tokens"]);
    assert!(l1["duration_ms"].is_u64() && l1["ttfb_ms"].is_u64());
    let l2 = by_id(&generated);
    assert_eq!(l2["stream"], true);
    assert_eq!(l2["strategy"], "priority");
    let (i, o) = (
        usage["input_tokens"].as_f64().unwrap(),
        usage["output_tokens"].as_f64().unwrap(),
    );
    let cost = (i * 3.0 + o * 15.0) / 1e6;
    assert!(
        (l2["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{l2}"
    );
    assert_eq!(l2["ingress"], "responses");
    let l4 = by_id("my-req-4");
    assert_eq!(
        (&l4["ingress"], &l4["path"]),
        (&json!("messages"), &json!("/v1/messages"))
    );
    assert_eq!(l4["principal"], "key:team-a");
    let l3 = lines
        .iter()
        .find(|l| l["status"] == 404)
        .expect("the 404's line");
    assert_eq!(l3["level"], "warn");
    assert_eq!(l3["error_code"], "model_not_found");

    // /metrics on the API port needs the key; the metrics address does not.
    let r = client().get(format!("{}/metrics", gw.url)).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .get(format!("{}/metrics", gw.url))
        .bearer_auth(KEY)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().unwrap();
    assert!(
        text.contains("# TYPE gen_ai_client_operation_duration_seconds histogram"),
        "{text}"
    );
    let metrics_addr = out
        .lines()
        .iter()
        .find_map(|l| {
            l.strip_prefix("latticelm: metrics on http://")
                .map(|a| a.trim_end_matches("/metrics").to_owned())
        })
        .expect("the metrics address");

    // A real Prometheus scrapes it and counts what was sent.
    let prom = prometheus(&metrics_addr);
    let want_input = first["usage"]["input_tokens"].as_f64().unwrap() + i + message_input;
    let mut got = (0.0, 0.0, 0.0);
    let mut by_ingress = 0.0;
    for _ in 0..300 {
        got = (
            prom.value("sum(latticelm_requests_total{route=\"responses\"})"),
            prom.value("sum(latticelm_tokens_total{type=\"input\"})"),
            prom.value("sum(latticelm_cost_usd_total)"),
        );
        by_ingress =
            prom.value("sum(gen_ai_server_request_duration_seconds_count{ingress=\"messages\"})");
        if got.0 == 3.0 && got.1 == want_input && by_ingress == 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        by_ingress, 1.0,
        "the Messages request, labelled by its ingress"
    );
    assert_eq!(got.0, 3.0, "requests counted by Prometheus");
    assert_eq!(got.1, want_input, "input tokens counted by Prometheus");
    assert!((got.2 - cost).abs() < 1e-9, "cost: {got:?}");

    // Nothing secret anywhere in the gateway's output.
    for line in out.lines() {
        for secret in [KEY, PROMPT, "sk-ant", "g-key", "sk-oa", "az-key"] {
            assert!(!line.contains(secret), "{secret} in: {line}");
        }
    }
}

struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn value(&self, query: &str) -> f64 {
        let Ok(r) = client()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
        else {
            return f64::NAN;
        };
        let v: Value = r.json().unwrap_or_default();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Debian's Prometheus, scraping `target` every second.
fn prometheus(target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nscrape_configs:\n  - job_name: latticelm\n    static_configs: [ {{ targets: [\"{target}\"] }} ]\n"),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian's package; .ci/run installs it)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if client()
            .get(format!("{url}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Prometheus {
        child,
        url,
        _dir: dir,
    }
}

#[test]
fn traces_reach_an_otlp_receiver() {
    let receiver = Receiver::start();
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        + "  - { name: failover, targets: [ { provider: dead, provider_model_id: x }, { provider: claude, provider_model_id: claude-haiku-4-5 } ] }\n"
        + "  - { name: slow, provider: claude, provider_model_id: \"slow:40\" }\n"
        + &format!("observability:\n  otlp: {{ endpoint: \"http://127.0.0.1:{}\", headers: {{ x-ingest-key: k1 }} }}\n", receiver.port);
    let (gw, out) = start_logged(&yaml, mock, &[]);
    gw.upstream_requests();

    // A failover: the dead target's attempt, then Claude's, under the
    // caller's trace.
    let (status, _) = gw.post_with(
        &json!({"model": "failover", "input": "hi"}),
        &[("traceparent", PARENT)],
    );
    assert_eq!(status, 200);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let spans = receiver.spans(trace, 3);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let server = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_SERVER")
        .expect("a server span");
    assert_eq!(server["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(server["name"], "POST /v1/responses");
    assert_eq!(server["attributes"]["gen_ai.request.model"], "failover");
    assert_eq!(server["resource"]["service.name"], "latticelm");
    assert_eq!(server["header"]["x-ingest-key"], "k1");
    let mut clients: Vec<&Value> = spans
        .iter()
        .filter(|s| s["kind"] == "SPAN_KIND_CLIENT")
        .collect();
    clients.sort_by_key(|s| {
        s["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    assert_eq!(clients.len(), 2);
    for c in &clients {
        assert_eq!(
            c["parentSpanId"], server["spanId"],
            "children of the server span"
        );
        assert_eq!(c["attributes"]["gen_ai.operation.name"], "chat");
    }
    assert_eq!(clients[0]["attributes"]["latticelm.provider"], "dead");
    assert!(
        clients[0]["attributes"]["error.type"].is_string(),
        "{:#?}",
        clients[0]
    );
    assert_eq!(clients[0]["status"]["code"], "STATUS_CODE_ERROR");
    let served = clients[1];
    assert_eq!(served["name"], "chat claude-haiku-4-5");
    assert_eq!(served["attributes"]["gen_ai.provider.name"], "anthropic");
    assert!(
        served["attributes"]["gen_ai.usage.input_tokens"].is_string(),
        "{served:#?}"
    );
    assert!(served["attributes"]["gen_ai.response.id"].is_string());
    assert_eq!(
        served["attributes"]["gen_ai.response.finish_reasons"],
        json!(["completed"])
    );
    // The upstream saw the served attempt's span as its parent.
    let sent = gw.upstream_requests();
    let tp = sent.last().unwrap()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        tp,
        format!("00-{trace}-{}-01", served["spanId"].as_str().unwrap())
    );

    // A slow stream: the spans end when the stream does.
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let (status, events) = gw.stream_with(
        &json!({"model": "slow", "input": "a longer answer please", "stream": true}),
        &[("traceparent", parent)],
    );
    assert_eq!(status, 200);
    let took = events.last().unwrap().0;
    let spans = receiver.spans("0af7651916cd43dd8448eb211c80319c", 2);
    let server = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_SERVER")
        .expect("a server span");
    let ns = |s: &Value, k: &str| s[k].as_str().unwrap().parse::<u64>().unwrap();
    let span_ms = (ns(server, "endTimeUnixNano") - ns(server, "startTimeUnixNano")) / 1_000_000;
    assert!(
        span_ms + 50 >= took.as_millis() as u64,
        "the server span ({span_ms} ms) covers the stream ({took:?})"
    );
    let client = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_CLIENT")
        .unwrap();
    assert_eq!(client["attributes"]["gen_ai.request.stream"], true);
    assert!(client["attributes"]["gen_ai.response.time_to_first_chunk"].is_number());
    // A client that leaves mid-stream: its line says so.
    {
        use std::io::Read;
        let mut r = support::client()
            .post(format!("{}/v1/responses", gw.url))
            .header("x-request-id", "leaver")
            .json(&json!({"model": "slow", "input": "a b c d e f g h i j k l m n o p", "stream": true}))
            .send()
            .unwrap();
        let mut first = [0u8; 64];
        let _ = r.read(&mut first).unwrap();
    }
    let mut leaver = None;
    for _ in 0..200 {
        leaver = out.json().into_iter().find(|l| l["request_id"] == "leaver");
        if leaver.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let leaver = leaver.expect("the leaver's line");
    assert_eq!(leaver["error_code"], "client_disconnected", "{leaver}");
    assert_eq!(leaver["level"], "warn");
    // Exports never showed up as failures.
    assert!(
        !out.lines().iter().any(|l| l.contains("otlp export failed")),
        "{:#?}",
        out.lines()
    );
}
