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
