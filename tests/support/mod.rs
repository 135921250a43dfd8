//! End-to-end support: the mock provider in-process, and the real
//! `latticelm` binary started on a free loopback port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use spec_check::*;

mod routing;
#[allow(unused_imports)] // not every test binary routes
pub use routing::*;

mod claude_code;
#[allow(unused_imports)] // not every test binary runs Claude Code
pub use claude_code::*;

mod codex;
#[allow(unused_imports)] // not every test binary runs Codex
pub use codex::*;

mod compliance;
#[allow(unused_imports)] // not every test binary runs the suite
pub use compliance::*;

mod playground;
#[allow(unused_imports)] // not every test binary opens the page
pub use playground::*;

mod python;
#[allow(unused_imports)] // not every test binary runs the SDKs
pub use python::*;

mod logs;
#[allow(unused_imports)] // not every test binary reads the log
pub use logs::*;

mod limits;
#[allow(unused_imports)] // not every test binary limits
pub use limits::*;

mod admin;
mod cache;
mod mcp;
#[allow(unused_imports)] // not every test binary issues keys
pub use admin::*;
#[allow(unused_imports)] // not every test binary caches
pub use cache::*;
#[allow(unused_imports)] // not every test binary runs MCP servers
pub use mcp::*;

/// A running gateway process (killed on drop) and the mock behind it.
pub struct Gateway {
    child: Child,
    pub url: String,
    pub mock: String,
    _dir: tempfile::TempDir,
    /// The child leads a process group to stop as a whole (wrangler
    /// starts workerd).
    group: bool,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.child.id())])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test configuration: both OpenAI protocols at the mock, the
/// built-in mock, and a provider nobody listens for.
pub fn config(mock: &str) -> String {
    format!(
        r#"
server:
  address: "127.0.0.1:0"
  upstream_timeout: 5s
  max_request_bytes: 1048576
providers:
  oa: {{ type: openai, endpoint: "{mock}", api_key: "sk-oa" }}
  chat: {{ type: openai-chat, endpoint: "{mock}/v1", api_key: "${{CHAT_KEY:-sk-chat}}" }}
  builtin: {{ type: mock }}
  claude: {{ type: anthropic, endpoint: "{mock}", api_key: "sk-ant" }}
  gemini: {{ type: google, endpoint: "{mock}", api_key: "g-key" }}
  dead: {{ type: openai-chat, endpoint: "http://127.0.0.1:9" }}
  azure: {{ type: azureopenai, endpoint: "{mock}", api_key: "az-key" }}
  azure-chat: {{ type: azureopenai, api: chat, api_version: "2024-10-21", endpoint: "{mock}/openai", api_key: "az-key" }}
models:
  - {{ name: gpt-4o-mini, provider: oa }}
  - {{ name: llama, provider: chat, provider_model_id: "llama3.2:3b" }}
  - {{ name: offline, provider: builtin }}
  - {{ name: unreachable, provider: dead }}
  - {{ name: az-responses, provider: azure, provider_model_id: "my-deployment" }}
  - {{ name: az-chat, provider: azure-chat, provider_model_id: "my-deployment" }}
  - {{ name: claude-test, provider: claude, provider_model_id: "claude-haiku-4-5" }}
  - {{ name: gemini-test, provider: gemini, provider_model_id: "gemini-2.5-flash" }}
  - {{ name: gemini-3, provider: gemini, provider_model_id: "gemini-3-pro-preview" }}
"#
    )
}

/// Starts the mock and the gateway binary.
pub fn start() -> Gateway {
    let mock = latticelm_mock::spawn(shared_dir().join("fixtures"));
    start_with(&config(&mock), mock)
}

/// Starts the gateway with a given configuration.
pub fn start_with(yaml: &str, mock: String) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latticelm"))
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--threads", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start latticelm");
    let addr = listening_address(&mut child);
    Gateway {
        child,
        url: format!("http://{addr}"),
        mock,
        _dir: dir,
        group: false,
    }
}

/// The `host:port` from a server's first line (`… listening on http://…`).
fn listening_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("listening line")
        .to_owned()
}

/// Every model of the test config that answers (one per provider type).
pub const MODELS: [&str; 7] = [
    "gpt-4o-mini",
    "llama",
    "offline",
    "az-responses",
    "az-chat",
    "claude-test",
    "gemini-test",
];

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Gateway {
    /// Sends SIGTERM; returns how the process exited, within `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// POSTs a JSON body to /v1/responses; returns status and JSON.
    pub fn post(&self, body: &Value) -> (u16, Value) {
        self.post_with(body, &[])
    }

    /// [`post`](Self::post) with extra request headers.
    pub fn post_with(&self, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut r = client().post(format!("{}/v1/responses", self.url));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.json(body).send().unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null),
        )
    }

    /// POSTs raw bytes with a content type; returns status, headers and JSON.
    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = client()
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (
            status,
            headers,
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null),
        )
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = client().get(format!("{}{path}", self.url)).send().unwrap();
        (
            r.status().as_u16(),
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null),
        )
    }

    /// Streams a request; returns each SSE event with the time it arrived.
    pub fn stream(&self, body: &Value) -> (u16, Vec<(Duration, Value)>) {
        self.stream_with(body, &[])
    }

    /// [`stream`](Self::stream) with extra request headers.
    pub fn stream_with(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(Duration, Value)>) {
        let start = Instant::now();
        let mut r = client().post(format!("{}/v1/responses", self.url));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let mut r = r.json(body).send().unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            r.headers()["content-type"],
            "text/event-stream",
            "streaming content type"
        );
        let mut buf = Vec::new();
        let mut timed = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = r.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..end + 2).collect();
                timed.push((start.elapsed(), block));
            }
        }
        let all: Vec<u8> = timed.iter().flat_map(|(_, b)| b.clone()).collect();
        let events = parse_sse(&all);
        let times = timed.iter().map(|(t, _)| *t);
        (status, times.zip(events).collect())
    }

    /// The requests the mock provider received, and forgets them.
    pub fn upstream_requests(&self) -> Vec<Value> {
        let r = client()
            .delete(format!("{}/_mock/requests", self.mock))
            .send()
            .unwrap();
        serde_json::from_slice(&r.bytes().unwrap()).unwrap()
    }
}

/// The concatenated output text of a response.
pub fn output_text(resp: &Value) -> String {
    resp["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

/// A `redis-server` on a free loopback port, killed on drop.
pub struct Redis {
    child: Child,
    pub url: String,
    port: u16,
    args: Vec<String>,
    /// Where a durable server keeps its append-only file.
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// Kills the server (SIGKILL: a crash, not a shutdown), waits
    /// `down`, and starts it again on the same port: a durable one
    /// (see [`redis_durable`]) comes back with every acknowledged write.
    pub fn crash_and_restart(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = spawn_redis(self.port, &self.args);
    }
}

/// Says a suite was skipped because a tool it needs is missing: on
/// stderr, and appended to `$LATTICELM_SKIPPED` (a file `scripts/test.sh`
/// lists at the end, with the command that installs them all).
pub fn skipped(why: &str) {
    eprintln!("skipped: {why}");
    if let Some(path) = std::env::var_os("LATTICELM_SKIPPED") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{why}");
        }
    }
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_installed() -> bool {
    let installed = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install redis-server (.ci/run does)"
        );
        skipped("redis-server is not installed");
    }
    installed
}

/// Starts `redis-server` on `port` with `args`, and waits for its PONG.
/// The [`Redis`] that holds the child kills and waits for it on drop.
#[allow(clippy::zombie_processes)]
fn spawn_redis(port: u16, args: &[String]) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let mut buf = [0u8; 16];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read(&mut buf)
                    .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
            {
                return child;
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis_with(args: Vec<String>, dir: Option<tempfile::TempDir>) -> Option<Redis> {
    if !redis_installed() {
        return None;
    }
    let port = free_port();
    let child = spawn_redis(port, &args);
    Some(Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
        port,
        args,
        _dir: dir,
    })
}

/// Starts `redis-server` (Debian's package), keeping nothing on disk.
/// `None` when it is not installed, which CI does not allow.
pub fn redis() -> Option<Redis> {
    let args = ["--save", "", "--appendonly", "no"];
    redis_with(args.map(str::to_owned).to_vec(), None)
}

/// [`redis`] that writes every command to an append-only file before it
/// answers (`appendfsync always`), so that it survives
/// [`Redis::crash_and_restart`] with every acknowledged write.
#[allow(dead_code)] // the soak's
pub fn redis_durable() -> Option<Redis> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &d,
    ];
    redis_with(args.map(str::to_owned).to_vec(), Some(dir))
}

/// A `redis-server` that needs a password and speaks only TLS, with a
/// certificate from a CA made for it: its `rediss://` URL (password
/// included) and the CA's PEM file. `None` without redis-server or openssl.
pub fn redis_tls(password: &str) -> Option<(Redis, std::path::PathBuf, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |cmd: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let made = sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=latticelm-test-ca")
        && sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost")
        && sh("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf")
        && sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile ext.cnf");
    if !made || redis().is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have redis-server and openssl"
        );
        return None;
    }
    let port = free_port();
    let child = Command::new("redis-server")
        .current_dir(d)
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args([
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ca = d.join("ca.pem");
    Some((
        Redis {
            child,
            url: format!("rediss://:{password}@127.0.0.1:{port}"),
            port,
            args: Vec::new(),
            _dir: None,
        },
        ca,
        dir,
    ))
}

/// The test config with a conversations section.
pub fn config_with_conversations(mock: &str, conversations: &str) -> String {
    format!("{}\nconversations: {conversations}\n", config(mock)).replace(
        "server:\n",
        "server:\n  insecure_test_principal_header: x-test-principal\n",
    )
}

/// The project root: where cargo runs the test from (a build directory
/// shared between checkouts may hold a binary built in another).
pub fn root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        Into::into,
    )
}

/// Starts the Worker under `wrangler dev` (workerd) on a free loopback
/// port with this configuration. `None` when the Workers tooling is not
/// set up (scripts/setup-worker.sh), which CI does not allow.
pub fn start_worker(yaml: &str, mock: String) -> Option<Gateway> {
    start_worker_with(yaml, mock, &[])
}

/// [`start_worker`] with more Worker vars (`NAME`, value).
pub fn start_worker_with(yaml: &str, mock: String, vars: &[(&str, &str)]) -> Option<Gateway> {
    worker_inner(yaml, mock, vars, None)
}

/// [`start_worker`], keeping what wrangler prints (the Worker's
/// `console.log` lines among it).
pub fn start_worker_logged(yaml: &str, mock: String) -> Option<(Gateway, Output)> {
    let out = Output::default();
    worker_inner(yaml, mock, &[], Some(&out)).map(|gw| (gw, out))
}

fn worker_inner(
    yaml: &str,
    mock: String,
    vars: &[(&str, &str)],
    capture: Option<&Output>,
) -> Option<Gateway> {
    use std::os::unix::process::CommandExt;
    let wrangler = root().join("node_modules/.bin/wrangler");
    let built = Command::new("worker-build")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !wrangler.exists() || !built {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set up the Workers tooling (.ci/run does)"
        );
        skipped("run scripts/setup-worker.sh for the Workers tests");
        return None;
    }
    // One Worker build at a time: each `wrangler dev` runs the build into
    // the same directory.
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("npx")
        .current_dir(root())
        .args([
            "wrangler",
            "dev",
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .arg("--show-interactive-dev-session=false")
        .arg("--persist-to")
        .arg(dir.path())
        .arg("--var")
        .arg(format!("LATTICELM_CONFIG:{yaml}"))
        .args(
            vars.iter()
                .flat_map(|(k, v)| ["--var".to_owned(), format!("{k}:{v}")]),
        )
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(if capture.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start wrangler dev");
    let mut child = child;
    if let (Some(out), Some(stdout)) = (capture, child.stdout.take()) {
        out.follow(stdout);
    }
    let gw = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
        mock,
        _dir: dir,
        group: true,
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let probe = reqwest::blocking::Client::new()
            .get(format!("{}/health", gw.url))
            .timeout(Duration::from_secs(2))
            .send();
        // Up: healthy, or up and answering that its config is broken.
        let up = probe.is_ok_and(|r| {
            r.status().is_success() || r.text().is_ok_and(|t| t.contains("config_error"))
        });
        if up {
            return Some(gw);
        }
        assert!(
            Instant::now() < deadline,
            "wrangler dev did not become ready"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A signing key for the local OIDC issuer, its JWKS published on the mock.
pub struct Issuer {
    key: jwt_compact::alg::RsaPrivateKey,
    /// `{mock}/oidc`.
    pub url: String,
}

impl Issuer {
    /// Generates an RS256 key and publishes its JWKS (kid `k1`).
    pub fn start(mock: &str) -> Issuer {
        use jwt_compact::alg::{RsaPrivateKey, RsaPublicKey};
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let mut jwk = serde_json::to_value(jwt_compact::jwk::JsonWebKey::from(
            &RsaPublicKey::from(&key),
        ))
        .unwrap();
        jwk["kid"] = Value::from("k1");
        client()
            .put(format!("{mock}/_mock/oidc/jwks"))
            .json(&serde_json::json!({"keys": [jwk]}))
            .send()
            .unwrap();
        Issuer {
            key,
            url: format!("{mock}/oidc"),
        }
    }

    /// A token for `sub`, valid for `ttl_secs` (negative: already expired).
    pub fn token(&self, sub: &str, audience: &str, ttl_secs: i64) -> String {
        self.token_with(sub, audience, ttl_secs, serde_json::json!({}))
    }

    /// [`Issuer::token`] with more claims (`{"roles": [...]}`).
    pub fn token_with(&self, sub: &str, audience: &str, ttl_secs: i64, extra: Value) -> String {
        use jwt_compact::AlgorithmExt;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut custom = serde_json::json!({"iss": self.url, "sub": sub, "aud": audience});
        if let (Some(c), Some(e)) = (custom.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let mut claims = jwt_compact::Claims::new(custom);
        claims.expiration = chrono::DateTime::from_timestamp(now + ttl_secs, 0);
        claims.issued_at = chrono::DateTime::from_timestamp(now, 0);
        let header = jwt_compact::Header::empty().with_key_id("k1");
        jwt_compact::alg::Rsa::rs256()
            .token(&header, &claims, &self.key)
            .unwrap()
    }
}

/// The test config with OIDC (the local issuer) and two API keys.
pub fn config_with_auth(mock: &str, issuer: &str) -> String {
    format!(
        "{}\nauth:\n  enabled: true\n  issuer: \"{issuer}\"\n  audience: latticelm\n  api_keys:\n    - {{ name: team-a, key: \"${{TEAM_A_KEY:-key-a-123}}\", models: [llama, offline] }}\n    - {{ name: team-b, key: \"key-b-456\" }}\n",
        config(mock)
    )
}

impl Gateway {
    /// POSTs with headers; returns status, headers and JSON.
    pub fn post_as(
        &self,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut rb = client()
            .post(format!("{}/v1/responses", self.url))
            .json(body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        (
            status,
            h,
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null),
        )
    }
}

/// The auth checks, the same on every host.
pub fn auth_checks(gw: &Gateway, issuer: &Issuer) {
    use serde_json::json;
    let body = json!({"model": "llama", "input": "hello"});
    // Tokens the local issuer mints are accepted; bad ones are 401.
    let good = issuer.token("alice", "latticelm", 300);
    let bearer = format!("Bearer {good}");
    let (s, _, r) = gw.post_as(&[("authorization", &bearer)], &body);
    assert_eq!(s, 200, "{r}");
    let expired = format!("Bearer {}", issuer.token("alice", "latticelm", -3600));
    let (s, h, e) = gw.post_as(&[("authorization", &expired)], &body);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("token_expired"))
    );
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let wrong_aud = format!("Bearer {}", issuer.token("alice", "someone-else", 300));
    assert_eq!(gw.post_as(&[("authorization", &wrong_aud)], &body).0, 401);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let (s, _, e) = gw.post_as(&[("authorization", &format!("Bearer {tampered}"))], &body);
    assert_eq!(s, 401);
    assert!(
        !e.to_string().contains(&tampered),
        "the token is never echoed"
    );
    // No credentials; health stays open.
    let (s, h, _) = gw.post_as(&[], &body);
    assert_eq!(s, 401);
    assert_eq!(h["www-authenticate"], "Bearer realm=\"latticelm\"");
    assert_eq!(gw.get("/health").0, 200);
    assert_eq!(gw.get("/ready").0, 200);
    // API keys: Bearer and x-api-key; wrong key; the model allow-list.
    assert_eq!(
        gw.post_as(&[("authorization", "Bearer key-a-123")], &body)
            .0,
        200
    );
    assert_eq!(gw.post_as(&[("x-api-key", "key-b-456")], &body).0, 200);
    assert_eq!(gw.post_as(&[("x-api-key", "key-zzz")], &body).0, 401);
    let (s, _, e) = gw.post_as(
        &[("x-api-key", "key-a-123")],
        &json!({"model": "gpt-4o-mini", "input": "x"}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("model_not_allowed"))
    );
    // Ownership: team-a's response is invisible to team-b and to alice.
    let (_, _, mine) = gw.post_as(
        &[("x-api-key", "key-a-123")],
        &json!({"model": "llama", "input": "secret"}),
    );
    let follow = json!({"model": "llama", "input": "x", "previous_response_id": mine["id"]});
    let (s, _, e) = gw.post_as(&[("x-api-key", "key-b-456")], &follow);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
    assert_eq!(gw.post_as(&[("authorization", &bearer)], &follow).0, 404);
    assert_eq!(
        gw.post_as(&[("x-api-key", "key-a-123")], &follow).0,
        200,
        "the owner can continue"
    );
}

/// The build output directory (`target/` or `$CARGO_TARGET_DIR`).
fn target_dir() -> std::path::PathBuf {
    // This test binary lives in <target>/debug/deps/.
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Serves the Spin component with the wasmtime test harness on a free
/// loopback port, the configuration in `SPIN_VARIABLE_LATTICELM_CONFIG`.
/// `None` when the component or harness is not built (`scripts/test.sh`
/// builds both), which CI does not allow.
pub fn start_spin(yaml: &str, mock: String) -> Option<Gateway> {
    start_spin_with(yaml, mock, &[])
}

/// [`start_spin`] with more Spin variables (`NAME`, value).
pub fn start_spin_with(yaml: &str, mock: String, vars: &[(&str, &str)]) -> Option<Gateway> {
    spin_inner(yaml, mock, vars, None)
}

/// [`start_spin`], keeping the component's output (its log lines).
pub fn start_spin_logged(yaml: &str, mock: String) -> Option<(Gateway, Output)> {
    let out = Output::default();
    spin_inner(yaml, mock, &[], Some(&out)).map(|gw| (gw, out))
}

fn spin_inner(
    yaml: &str,
    mock: String,
    vars: &[(&str, &str)],
    capture: Option<&Output>,
) -> Option<Gateway> {
    let harness = target_dir().join("debug/spin-harness");
    let component = target_dir().join("wasm32-wasip2/release/latticelm_spin.wasm");
    if !harness.exists() || !component.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must build the Spin component and harness (scripts/test.sh does)"
        );
        skipped("build the Spin component and harness (see scripts/test.sh)");
        return None;
    }
    let mut child = Command::new(harness)
        .arg(&component)
        .envs(vars.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), *v)))
        .env("SPIN_VARIABLE_LATTICELM_CONFIG", yaml)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start spin-harness");
    // Read on to the end: the component writes its log there.
    let out = capture.cloned().unwrap_or_default();
    let addr = out.follow_after_first(child.stdout.take().unwrap());
    Some(Gateway {
        child,
        url: format!("http://{addr}"),
        mock,
        _dir: tempfile::tempdir().unwrap(),
        group: false,
    })
}

/// The end-to-end checks every host passes (the Worker and the Spin
/// component): health, every provider type, incremental streaming, tool
/// round trips, images, error envelopes, and conversations through the
/// host's store. The config must have the `slow` model (60 ms pacing).
pub fn edge_suite(gw: &Gateway) {
    use serde_json::json;
    // Health and models.
    assert_eq!(gw.get("/health"), (200, json!({"status": "ok"})));
    let (s, models) = gw.get("/v1/models");
    assert_eq!((s, models["object"].as_str()), (200, Some("list")));

    // The playground is served from the same embedded files, with its
    // policy; the dashboard's data has the breakers but no metrics (an
    // instance's counts are not the service's).
    let page = client().get(format!("{}/", gw.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(page.text().unwrap().contains("/ui/app.js"));
    let (s, dash) = gw.get("/v1/dashboard");
    assert_eq!(s, 200, "{dash}");
    assert!(
        dash["metrics"].is_null() && dash["circuits"].as_array().is_some_and(|c| !c.is_empty()),
        "{dash}"
    );

    // Text on every provider type, validated against the spec.
    let models = MODELS;
    for model in models {
        let (s, resp) = gw.post(&json!({"model": model, "input": "hello worker"}));
        assert_eq!(s, 200, "{model}: {resp}");
        assert_valid("ResponseResource", &resp);
        assert!(
            output_text(&resp).ends_with("hello worker"),
            "{model}: {resp}"
        );
    }
    let sent = gw.upstream_requests();
    assert_eq!(sent.len(), 6, "every upstream call went out through Fetch");
    assert_eq!(sent[5]["headers"]["x-goog-api-key"], "g-key");

    // Streaming validates, and arrives over time (60 ms between upstream events).
    for model in models {
        let (s, events) = gw.stream(&json!({"model": model, "input": "stream it", "stream": true}));
        assert_eq!(s, 200);
        let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
        assert_valid_stream(&events);
    }
    let (_, timed) = gw.stream(&json!({"model": "slow", "input": "one two three four five six seven eight", "stream": true}));
    let first = timed
        .iter()
        .find(|(_, e)| e["type"] == "response.output_text.delta")
        .unwrap()
        .0;
    let last = timed.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(300),
        "not incremental: first delta {first:?}, end {last:?}"
    );

    // Tool calling round trip, and image input.
    let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    for model in ["llama", "claude-test", "gemini-test", "gpt-4o-mini"] {
        let (s, resp) =
            gw.post(&json!({"model": model, "input": "use get_weather for Oslo", "tools": tools}));
        assert_eq!(s, 200, "{resp}");
        let call = resp["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .cloned()
            .unwrap();
        let (s, resp) = gw.post(&json!({"model": model, "tools": tools, "input": [
            {"role": "user", "content": "use get_weather for Oslo"}, call.clone(),
            {"type": "function_call_output", "call_id": call["call_id"], "output": "rainy"}]}));
        assert_eq!(s, 200);
        assert!(output_text(&resp).ends_with("rainy"), "{model}: {resp}");
    }
    gw.upstream_requests();
    let image = "data:image/png;base64,iVBORw0KGgo=";
    let (s, _) = gw.post(&json!({"model": "claude-test", "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": image}]}]}));
    assert_eq!(s, 200);
    let sent = gw.upstream_requests();
    assert_eq!(
        sent[0]["body"]["messages"][0]["content"][1]["source"]["data"],
        "iVBORw0KGgo="
    );

    // Error envelopes: the gateway's own, and an upstream's with retry-after.
    let (s, e) = gw.post(&json!({"model": "nope", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let (s, _, e) = gw.post_raw("/v1/responses", "application/json", b"{not json".to_vec());
    assert_eq!(
        (s, e["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let r = client()
        .post(format!("{}/v1/responses", gw.url))
        .json(&json!({"model": "error:429", "provider": "claude", "input": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());

    // Conversations through the Durable Object: a continuation right after
    // a response finds it; the whole context goes upstream in order.
    let (_, first) = gw.post(&json!({"model": "llama", "input": "first"}));
    let (s, second) =
        gw.post(&json!({"model": "llama", "input": "second", "previous_response_id": first["id"]}));
    assert_eq!(s, 200, "{second}");
    let last = gw.upstream_requests().pop().unwrap();
    assert_eq!(
        last["body"]["messages"][1],
        json!({"role": "assistant", "content": "echo: first"})
    );
    let (s, got) = gw.get(&format!("/v1/responses/{}", second["id"].as_str().unwrap()));
    assert_eq!((s, &got), (200, &second));
    let r = client()
        .delete(format!(
            "{}/v1/responses/{}",
            gw.url,
            second["id"].as_str().unwrap()
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, e) =
        gw.post(&json!({"model": "llama", "input": "x", "previous_response_id": second["id"]}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
}

/// The test config plus a `slow` model whose upstream pauses 60 ms between events.
pub fn config_with_slow(mock: &str) -> String {
    config(mock).replace(
        "- { name: llama,",
        "- { name: slow, provider: chat, provider_model_id: \"slow:60\" }\n  - { name: llama,",
    )
}

/// What a public edge deployment must not do with the embedded default
/// config and a provider key set: spend the key for anonymous callers. The
/// offline mock still answers.
pub fn edge_refuses_open_proxy(gw: &Gateway) {
    use serde_json::json;
    let (s, e) = gw.post(&json!({"model": "gpt-4o-mini", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("not_allowed")),
        "{e}"
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("LATTICELM_PUBLIC"));
    let (s, r) = gw.post(&json!({"model": "mock", "input": "x"}));
    assert_eq!(s, 200, "{r}");
}

/// A broken config is a 500 that names no value from it: values can be
/// secrets, and anyone can call.
pub fn edge_hides_config_errors(gw: &Gateway, secret: &str) {
    use serde_json::json;
    let (s, e) = gw.post(&json!({"model": "mock", "input": "x"}));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (500, Some("config_error")),
        "{e}"
    );
    assert!(!e.to_string().contains(secret), "{e}");
}

/// `redis-cli -u url args…`: its output lines.
pub fn redis_cli(url: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-u", url])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
