//! The native server under attack (issue 23, items 1–4 and 12): the
//! WebSocket's origin, path, connection cap, idle timeout, message size,
//! pings during a turn, shutdown; and a client that stops reading. The
//! WebSocket checks run the `websockets` Python library
//! (`tests/python/ws_check.py`); the cap and the stalled reader use
//! tungstenite and a raw socket.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The test config, with these lines added under `server:` and a model
/// whose upstream takes 3 s to answer.
fn gateway(server: &str) -> Gateway {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    let yaml = config(&mock)
        .replace("server:\n", &format!("server:\n{server}"))
        .replace(
            "providers:\n",
            &format!("providers:\n  slow: {{ type: anthropic, endpoint: \"{mock}/_fault/slow_headers=3000\", api_key: k }}\n"),
        )
        .replace(
            "models:\n",
            "models:\n  - { name: slow-claude, provider: slow, provider_model_id: claude-haiku-4-5 }\n",
        );
    start_with(&yaml, mock)
}

fn ws_url(gw: &Gateway) -> String {
    gw.url.replace("http://", "ws://") + "/v1/responses"
}

fn ws_check(scenario: &str, gw: &Gateway, model: &str) {
    python_check(
        "ws_check.py",
        &[scenario, &ws_url(gw)],
        &[model],
        &[&format!("OK {scenario}")],
    );
}

#[test]
fn origin_and_path_are_checked_at_the_upgrade() {
    if !python_has("websockets") {
        return;
    }
    let gw = gateway("");
    ws_check("origin", &gw, "claude-test");
}

#[test]
fn pings_are_answered_during_a_turn() {
    if !python_has("websockets") {
        return;
    }
    let gw = gateway("");
    ws_check("pings", &gw, "slow-claude");
}

#[test]
fn an_idle_socket_is_closed() {
    if !python_has("websockets") {
        return;
    }
    let gw = gateway("  websocket_idle_timeout: 1s\n");
    ws_check("idle", &gw, "claude-test");
}

#[test]
fn a_message_past_the_size_limit_is_refused_as_it_arrives() {
    if !python_has("websockets") {
        return;
    }
    let gw = gateway("");
    let url = gw.url.clone();
    // /health keeps answering meanwhile.
    let probe = std::thread::spawn(move || {
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let t = Instant::now();
            let ok = client()
                .get(format!("{url}/health"))
                .send()
                .is_ok_and(|r| r.status() == 200);
            assert!(ok);
            worst = worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        worst
    });
    ws_check("too_large", &gw, "claude-test");
    let worst = probe.join().unwrap();
    eprintln!("slowest /health meanwhile: {worst:?}");
}

#[test]
fn shutdown_finishes_the_turn_then_closes_with_1001() {
    if !python_has("websockets") {
        return;
    }
    let mut gw = gateway("  shutdown_grace: 20s\n");
    let script = root().join("tests/python/ws_check.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["shutdown", &ws_url(&gw), "slow-claude"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("READY") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the client ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // The turn is waiting on the slow model.
    std::thread::sleep(Duration::from_millis(500));
    let status = gw.terminate(Duration::from_secs(20));
    assert!(status.is_some(), "the gateway did not stop");
    let out = child.wait_with_output().unwrap();
    stdout.read_to_string(&mut seen).unwrap();
    let text = seen + &String::from_utf8_lossy(&out.stdout) + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("OK shutdown"),
        "{text}"
    );
}

#[test]
fn websockets_count_against_max_connections() {
    let gw = gateway("  max_connections: 8\n");
    let url = ws_url(&gw);
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        match tungstenite::connect(url.as_str()) {
            Ok((ws, _)) => open.push(ws),
            Err(_) => refused += 1,
        }
    }
    assert!(
        open.len() <= 8,
        "{} sockets open past max_connections: 8",
        open.len()
    );
    assert!(refused >= 32, "{refused}");
    // Closed, they give their places back.
    for mut ws in open.drain(..) {
        let _ = ws.close(None);
        let _ = ws.flush();
        while ws.read().is_ok() {}
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tungstenite::connect(url.as_str()) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("no place again: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The in-flight gauge from `/metrics`, less the scrape itself.
fn in_flight(gw: &Gateway) -> f64 {
    let text = client()
        .get(format!("{}/metrics", gw.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("latticelm_requests_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .map_or(-1.0, |n: f64| n - 1.0)
}

#[test]
fn a_client_that_stops_reading_releases_the_upstream() {
    let gw = gateway("  upstream_idle_timeout: 2s\n");
    // A long streamed answer (the mock echoes its input in small pieces),
    // to a client with a small receive window that reads nothing.
    let input = "word ".repeat(150_000);
    let body = serde_json::json!({"model": "llama", "input": input, "stream": true}).to_string();
    let addr: std::net::SocketAddr = gw.url.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    write!(
        stream,
        "POST /v1/responses HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The stream starts, then fills every buffer on the way.
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_flight(&gw) < 1.0 {
        assert!(Instant::now() < deadline, "the stream never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without reading: the gateway gives up on the client within its idle
    // timeout (plus the time to fill the buffers) and ends the request.
    while in_flight(&gw) > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the stream is still held for a client that does not read"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(stream);
}
