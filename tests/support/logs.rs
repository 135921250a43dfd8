//! A gateway whose output the test reads: every line of its stdout (the
//! request log) and stderr, kept as they come.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::Gateway;

/// Everything the gateway printed, line by line.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The stdout lines that parse as JSON objects (the request log).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
            .collect()
    }

    /// Keeps every line `from` writes, from a thread of its own.
    pub fn follow(&self, from: impl std::io::Read + Send + 'static) {
        let out = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                out.0.lock().unwrap().push(line);
            }
        });
    }

    /// [`follow`](Self::follow), returning the address that the first line
    /// announces (`… listening on http://ADDR`).
    pub fn follow_after_first(&self, from: impl std::io::Read + Send + 'static) -> String {
        let mut reader = BufReader::new(from);
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        self.follow(reader);
        first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("listening line")
            .to_owned()
    }

    /// Waits until `n` JSON lines have been written (a stream's line comes
    /// when it ends, just after the client has read it).
    pub fn wait_json(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let v = self.json();
            if v.len() >= n {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.json()
    }
}

/// Starts the gateway with `yaml`, and environment variables, reading
/// its output.
pub fn start_logged(yaml: &str, mock: String, env: &[(&str, &str)]) -> (Gateway, Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latticelm"))
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--threads", "2"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start latticelm");
    let output = Output::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let out = output.clone();
    std::thread::spawn(move || {
        for (i, line) in BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .enumerate()
        {
            if i == 0 {
                let _ = tx.send(line.clone());
            }
            out.0.lock().unwrap().push(line);
        }
    });
    let stderr = child.stderr.take().unwrap();
    let out = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            out.0.lock().unwrap().push(line);
        }
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the listening line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("listening line")
        .to_owned();
    (
        Gateway {
            child,
            url: format!("http://{addr}"),
            mock,
            _dir: dir,
            group: false,
        },
        output,
    )
}

/// The test's OTLP/HTTP receiver (tests/otlp/receiver.py, decoding with
/// PyPI's opentelemetry-proto): its port and the spans it got.
pub struct Receiver {
    child: std::process::Child,
    pub port: u16,
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spans.jsonl");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(&file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("the receiver's port (is opentelemetry-proto installed? .ci/run installs it): {line:?}")
        });
        Receiver {
            child,
            port,
            file,
            _dir: dir,
        }
    }

    /// The spans of `trace` (hex), once there are at least `n`.
    pub fn spans(&self, trace: &str, n: usize) -> Vec<serde_json::Value> {
        let mut got = Vec::new();
        for _ in 0..300 {
            got = std::fs::read_to_string(&self.file)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|s| s["traceId"] == trace)
                .collect();
            if got.len() >= n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        got
    }
}

/// What every host does for observability: a JSON log line per request
/// (no secrets) and spans at the receiver under the caller's trace.
pub fn edge_observability(gw: &Gateway, out: &Output, receiver: &Receiver, secrets: &[&str]) {
    use serde_json::json;
    let trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    let (status, resp) = gw.post_with(
        &json!({"model": "claude-test", "input": "hello edge"}),
        &[("traceparent", &parent), ("x-request-id", "edge-1")],
    );
    assert_eq!(status, 200, "{resp}");
    let spans = receiver.spans(trace, 2);
    let server = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_SERVER")
        .unwrap_or_else(|| panic!("a server span: {spans:#?}"));
    assert_eq!(server["parentSpanId"], "00f067aa0ba902b7");
    let client = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_CLIENT")
        .expect("a client span");
    assert_eq!(client["parentSpanId"], server["spanId"]);
    assert_eq!(client["attributes"]["gen_ai.provider.name"], "anthropic");
    assert_eq!(
        client["attributes"]["gen_ai.usage.output_tokens"],
        resp["usage"]["output_tokens"].to_string()
    );
    let mut line = None;
    for _ in 0..200 {
        line = out.json().into_iter().find(|l| l["request_id"] == "edge-1");
        if line.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let line = line.unwrap_or_else(|| panic!("a JSON log line: {:#?}", out.lines()));
    assert_eq!(line["trace_id"], trace);
    assert_eq!(line["model"], "claude-test");
    assert_eq!(line["attempts"][0]["provider"], "claude");
    for l in out.lines() {
        for s in secrets {
            assert!(!l.contains(s), "{s} in: {l}");
        }
    }
}
