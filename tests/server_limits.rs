//! The native server against slow, idle and greedy clients, and its
//! graceful shutdown. Bounds are asserted generously: what matters is that
//! the server acts, not how fast.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

fn limited(mock: &str) -> String {
    config(mock).replace(
        "server:\n",
        "server:\n  client_header_timeout: 500ms\n  client_body_timeout: 500ms\n  keepalive_timeout: 700ms\n  max_connections: 4\n  max_body_memory: 4000\n",
    )
}

fn connect(gw: &Gateway) -> TcpStream {
    let s = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes; returns what it sent and how long it took.
fn until_closed(mut s: TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[test]
fn slow_and_idle_clients_are_cut_off() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&limited(&mock), mock);
    // Slowloris: half the headers, then nothing.
    let mut slow = connect(&gw);
    slow.write_all(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // An idle connection that never sends a byte.
    let idle = connect(&gw);
    // A body that never finishes.
    let mut body = connect(&gw);
    body.write_all(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\"").unwrap();
    // Meanwhile the server answers others at once.
    let start = Instant::now();
    assert_eq!(gw.get("/health").0, 200);
    assert!(start.elapsed() < Duration::from_secs(2));
    let (_, t) = until_closed(slow);
    assert!(
        t < Duration::from_secs(5),
        "slow headers closed after {t:?}"
    );
    let (_, t) = until_closed(idle);
    assert!(
        t < Duration::from_secs(5),
        "idle connection closed after {t:?}"
    );
    let (answer, t) = until_closed(body);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"));
    assert!(t < Duration::from_secs(5));
}

#[test]
fn connections_and_body_memory_are_capped() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let gw = start_with(&limited(&mock), mock);
    // Four open connections (the cap): the fifth is refused at once.
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&gw)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let (answer, _) = until_closed(connect(&gw));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"));
    assert!(start.elapsed() < Duration::from_secs(2));
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    // Bodies past the memory budget (4000 bytes in all) get 503.
    let big = json!({"model": "offline", "input": "x".repeat(5000)});
    let (s, _, e) = gw.post_raw(
        "/v1/responses",
        "application/json",
        big.to_string().into_bytes(),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("server_busy")),
        "{e}"
    );
    let (s, _) = gw.post(&json!({"model": "offline", "input": "small"}));
    assert_eq!(s, 200, "the budget was given back");
}

#[test]
fn sigterm_lets_streams_finish_and_takes_no_new_connections() {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let cfg = config_with_slow(&mock).replace("server:\n", "server:\n  shutdown_grace: 10s\n");
    let mut gw = start_with(&cfg, mock);
    let url = gw.url.clone();
    let streaming = std::thread::spawn(move || {
        let body = json!({"model": "slow", "input": "one two three four five six seven eight nine ten", "stream": true});
        let r = client()
            .post(format!("{url}/v1/responses"))
            .json(&body)
            .send()
            .unwrap();
        String::from_utf8_lossy(&r.bytes().unwrap()).into_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = gw
        .terminate(Duration::from_secs(15))
        .expect("exited within the grace period");
    assert!(status.success(), "{status:?}");
    let text = streaming.join().unwrap();
    assert!(
        text.contains("response.completed"),
        "the stream finished: {text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        TcpStream::connect(gw.url.trim_start_matches("http://")).is_err(),
        "no new connections after shutdown"
    );
}
