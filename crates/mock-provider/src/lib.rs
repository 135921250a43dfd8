//! A mock LLM provider that speaks the OpenAI Responses and Chat
//! Completions (at OpenAI's and Azure's paths), Anthropic Messages and
//! Gemini wire formats as recorded in `shared/fixtures`: the same
//! status codes, headers, SSE framing and error bodies.
//!
//! What it answers is chosen by the request's `model`:
//! - `fixture:<folder>/<case>`: replays `<folder>/<case>.chunks.txt`
//!   (streaming) or `<case>.json` (not streaming), byte for byte;
//! - `error:<status>`: the protocol's error body with that status
//!   (`retry-after: 3` on 429);
//! - `slow:<ms>`: the synthesized answer, with a pause between events;
//! - `sleep:<ms>`: the synthesized answer after a pause before the headers;
//! - anything else: a synthesized answer. It echoes the last user text
//!   (`echo: …`), reports a tool result (`tool said: …`), or calls the
//!   first offered tool whose name the user text mentions (with
//!   `… run: <text>`, passing just `<text>`: a command for an agent's shell).
//!
//! Every request is recorded; `GET /_mock/requests` lists them and
//! `DELETE /_mock/requests` forgets them.
//!
//! ## Faults
//!
//! A provider path may start with `/_fault/<spec>`, so that a gateway
//! configured with the endpoint `http://127.0.0.1:PORT/_fault/<spec>`
//! meets a failing provider. The mock strips the prefix, serves the rest
//! of the path as above (the `model` prefixes still work) and applies the
//! faults of `<spec>`, a comma-separated list of `key` or `key=value`:
//! - `status=N`: the protocol's error body, with HTTP status N;
//! - `retry_after=S`: with `status` or `open_error`, a `retry-after: S`
//!   header on the error status answer;
//! - `drop`: the connection is closed without any response;
//! - `slow_headers=MS`: a pause of MS milliseconds before the response
//!   headers (then the other faults, or the normal answer);
//! - `stop_after=N`: a streamed answer is aborted after N SSE frames: no
//!   terminal event, no clean end of the chunked body;
//! - `stall_after=N`: a streamed answer goes silent after N SSE frames
//!   (for a minute, then it is aborted);
//! - `open_error`: a streamed answer is a 200 `text/event-stream` whose
//!   first event is the protocol's error event (Anthropic `event: error`
//!   `overloaded_error`; Chat Completions a `data: {"error":{…,"code":503}}`
//!   chunk as vLLM sends; Responses `event: error` then
//!   `event: response.failed`; Gemini `data: {"error":{"code":503,…,
//!   "status":"UNAVAILABLE"}}`), then the body ends; a non-streamed
//!   answer is a 503 with the protocol's error body;
//! - `mid_error=N`: a streamed answer sends its first N frames (at most
//!   all but its last), then that error event, then ends;
//! - `first=K`: the faults apply to the first K requests with this exact
//!   `<spec>` only; later ones are served normally;
//! - `refuse_prefill`: a Messages request whose final turn is the
//!   assistant's is a 400, as newer Claude models answer a prefill.
//!
//! `stop_after` and `mid_error` leave non-streamed answers alone. An
//! unknown key or a bad value is a 400 that names it. Requests are
//! recorded with their full path, prefix included. `GET /_mock/counts`
//! maps each `<spec>` to the number of requests seen with it (not cleared
//! by `DELETE /_mock/requests`); `DELETE /_mock/counts` clears it, which
//! also re-arms `first`. How each streamed answer ended (`completed`,
//! `cancelled` by the client, `aborted` by `stop_after`) is listed at
//! `GET /_mock/streams`.
//!
//! It is also a minimal OIDC issuer for auth tests: `{base}/oidc` serves
//! `/.well-known/openid-configuration` and `/jwks`, whose key set a test
//! puts with `PUT /_mock/oidc/jwks`.

mod faults;
mod synth;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use faults::Faults;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

pub use synth::Protocol;

/// Shared state: where the fixtures are, and what was received.
pub struct State {
    fixtures: PathBuf,
    requests: Mutex<Vec<Value>>,
    /// How each streamed answer ended: `completed`, or `cancelled` when
    /// the client (the gateway) went away first.
    streams: Arc<Mutex<Vec<&'static str>>>,
    /// The OIDC issuer's JWKS.
    jwks: Mutex<Value>,
    /// How many requests arrived with each fault spec.
    counts: Mutex<BTreeMap<String, u64>>,
}

impl State {
    /// State over a fixtures folder.
    pub fn new(fixtures: PathBuf) -> Arc<State> {
        Arc::new(State {
            fixtures,
            requests: Mutex::new(Vec::new()),
            streams: Arc::default(),
            jwks: Mutex::new(json!({"keys": []})),
            counts: Mutex::default(),
        })
    }

    /// Counts a request with this fault spec; returns its rank (1-based).
    fn seen(&self, spec: &str) -> u64 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(spec.to_owned()).or_default();
        *n += 1;
        *n
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The service's error for `drop`: hyper then closes the connection
/// without writing a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock fault: connection dropped")
    }
}

impl std::error::Error for Dropped {}

/// Serves until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { handle(&state, req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Starts the mock on a background thread at a free loopback port;
/// returns its base URL.
pub fn spawn(fixtures: PathBuf) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            serve(listener, State::new(fixtures)).await;
        });
    });
    format!("http://{}", rx.recv().expect("mock started"))
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-request-id", "req_mock")
        .body(Full::new(body.into()).map_err(|e| match e {}).boxed())
        .unwrap_or_default()
}

const JSON: &str = "application/json";

async fn handle(
    state: &State,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().to_owned();
    if let Some(resp) = control(state, &parts, &raw) {
        return Ok(resp);
    }
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if raw == "/_mock/oidc/jwks" {
        *state.jwks.lock().unwrap_or_else(|e| e.into_inner()) = body;
        return Ok(full(204, JSON, Bytes::new()));
    }
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_owned(),
                Value::String(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    state.requests.lock().unwrap_or_else(|e| e.into_inner()).push(json!({
        "method": parts.method.as_str(), "path": raw, "query": parts.uri.query(), "headers": headers, "body": body,
    }));
    let (spec, path) = faults::split(&raw);
    let protocol = protocol_of(path);
    let faults = match spec {
        None => Faults::default(),
        Some(spec) => {
            let nth = state.seen(spec);
            match faults::parse(spec) {
                Ok(f) if f.applies(nth) => f,
                Ok(_) => Faults::default(),
                Err(msg) => {
                    let protocol = protocol.unwrap_or(Protocol::Chat);
                    let body = error_body(protocol, 400, "invalid_request_error", &msg);
                    return Ok(full(400, JSON, body));
                }
            }
        }
    };
    let Some(protocol) = protocol else {
        let msg = format!("no route for {path}");
        let body = error_body(Protocol::Chat, 404, "not_found_error", &msg);
        return Ok(full(404, JSON, body));
    };
    if let Some(ms) = faults.slow_headers {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if faults.drop {
        return Err(Dropped);
    }
    if let Some(status) = faults.status {
        return Ok(status_error(protocol, status, faults.retry_after));
    }
    let last_role = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["role"].clone());
    if faults.refuse_prefill && last_role.is_some_and(|r| r == "assistant") {
        let msg = "This model does not support assistant message prefill. The conversation must end with a user message.";
        let body = error_body(protocol, 400, "invalid_request_error", msg);
        return Ok(full(400, JSON, body));
    }
    if path.ends_with("/responses/compact") {
        return Ok(full(200, JSON, synth::compacted(&body).to_string()));
    }
    Ok(provider(state, protocol, path, &body, &faults).await)
}

/// The wire protocol served at a path, if any.
fn protocol_of(path: &str) -> Option<Protocol> {
    match path {
        "/v1/responses" | "/openai/v1/responses" => Some(Protocol::Responses),
        "/v1/responses/compact" | "/openai/v1/responses/compact" => Some(Protocol::Responses),
        "/v1/chat/completions" => Some(Protocol::Chat),
        "/v1/messages" => Some(Protocol::Anthropic),
        p if p.starts_with("/v1beta/models/") => Some(Protocol::Google),
        p if p.starts_with("/openai/deployments/") && p.ends_with("/chat/completions") => {
            Some(Protocol::Chat)
        }
        _ => None,
    }
}

/// The mock's own endpoints: the OIDC issuer, and what was received.
fn control(
    state: &State,
    parts: &hyper::http::request::Parts,
    path: &str,
) -> Option<Response<Body>> {
    if let Some(resp) = oidc(state, parts, path) {
        return Some(resp);
    }
    let delete = parts.method == hyper::Method::DELETE;
    let listed = match path {
        "/_mock/streams" => {
            let streams = state.streams.lock().unwrap_or_else(|e| e.into_inner());
            serde_json::to_vec(&*streams)
        }
        "/_mock/requests" => {
            let mut reqs = state.requests.lock().unwrap_or_else(|e| e.into_inner());
            let listed = serde_json::to_vec(&*reqs);
            if delete {
                reqs.clear();
            }
            listed
        }
        "/_mock/counts" => {
            let mut counts = state.counts.lock().unwrap_or_else(|e| e.into_inner());
            let listed = serde_json::to_vec(&*counts);
            if delete {
                counts.clear();
            }
            listed
        }
        _ => return None,
    };
    Some(full(200, JSON, listed.unwrap_or_default()))
}

/// The protocol's error answer with this status (and `retry-after`).
fn status_error(protocol: Protocol, status: u16, retry_after: Option<u64>) -> Response<Body> {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    };
    let message = format!("mock error {status}");
    let mut resp = full(status, JSON, error_body(protocol, status, kind, &message));
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from(secs));
    }
    resp
}

/// The provider's answer to a request on a known route.
async fn provider(
    state: &State,
    protocol: Protocol,
    path: &str,
    body: &Value,
    faults: &Faults,
) -> Response<Body> {
    if body.is_null() {
        return full(
            400,
            JSON,
            error_body(
                protocol,
                400,
                "invalid_request_error",
                "We could not parse the JSON body of your request.",
            ),
        );
    }
    // Gemini names the model and the streaming mode in the path.
    let (model, stream) = match protocol {
        Protocol::Google => {
            let rest = path.trim_start_matches("/v1beta/models/");
            let (model, method) = rest.rsplit_once(':').unwrap_or((rest, ""));
            (percent_decode(model), method == "streamGenerateContent")
        }
        _ => (
            body["model"].as_str().unwrap_or_default().to_owned(),
            body["stream"].as_bool().unwrap_or(false),
        ),
    };
    if faults.open_error {
        if !stream {
            return status_error(protocol, 503, faults.retry_after);
        }
        return sse(
            faults::error_events(protocol, &model, 0),
            None,
            None,
            None,
            None,
        );
    }
    if let Some(code) = model.strip_prefix("error:") {
        let status = code
            .parse()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .unwrap_or(500);
        return status_error(protocol, status, (status == 429).then_some(3));
    }
    if let Some(case) = model.strip_prefix("fixture:") {
        return replay(state, protocol, case, stream, faults, &model);
    }
    if let Some(ms) = model.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let delay = model
        .strip_prefix("slow:")
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    if let Some(message) = synth::check(protocol, &model, body) {
        return full(
            400,
            JSON,
            error_body(protocol, 400, "invalid_request_error", &message),
        );
    }
    let answer = synth::answer(protocol, body);
    if !stream {
        return full(200, JSON, answer.body(protocol, &model, body).to_string());
    }
    let frames = faults.frames(protocol, &model, answer.events(protocol, &model, body));
    sse(
        frames,
        delay,
        Some(state.streams.clone()),
        faults.stop_after,
        faults.stall_after,
    )
}

/// A path segment with `%XX` escapes decoded, as a real server reads it.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Records how a streamed answer ended when the body is dropped:
/// `completed`, `aborted` (`stop_after`), or else `cancelled`.
struct StreamEnd {
    log: Option<Arc<Mutex<Vec<&'static str>>>>,
    outcome: &'static str,
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if let Some(log) = &self.log {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.outcome);
        }
    }
}

fn error_body(protocol: Protocol, status: u16, kind: &str, message: &str) -> String {
    synth::error_body(protocol, status, kind, message).to_string()
}

/// A `text/event-stream` response, written frame by frame; with
/// `abort_after`, the body fails after that many frames, which makes
/// hyper abort the connection mid-body.
fn sse(
    frames: Vec<String>,
    delay: Option<Duration>,
    log: Option<Arc<Mutex<Vec<&'static str>>>>,
    abort_after: Option<usize>,
    stall_after: Option<usize>,
) -> Response<Body> {
    let end = StreamEnd {
        log,
        outcome: "cancelled",
    };
    let stream = futures::stream::unfold(
        (frames.into_iter(), end, 0usize),
        move |(mut frames, mut end, sent)| async move {
            if end.outcome == "aborted" {
                return None;
            }
            let stall = stall_after.is_some_and(|n| sent >= n);
            if stall {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            if stall || abort_after.is_some_and(|n| sent >= n) {
                // hyper drops its unflushed buffer on a body error: give it
                // a pending poll to write the frames already sent.
                tokio::time::sleep(Duration::from_millis(20)).await;
                end.outcome = "aborted";
                let err: BoxError = "mock fault: stream stopped (stop_after)".into();
                return Some((Err(err), (frames, end, sent)));
            }
            let Some(f) = frames.next() else {
                end.outcome = "completed";
                drop(end);
                return None;
            };
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            Some((Ok(Frame::data(Bytes::from(f))), (frames, end, sent + 1)))
        },
    );
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-request-id", "req_mock")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap_or_default()
}

fn replay(
    state: &State,
    protocol: Protocol,
    case: &str,
    stream: bool,
    faults: &Faults,
    model: &str,
) -> Response<Body> {
    if case.contains("..") {
        return full(
            400,
            "application/json",
            error_body(protocol, 400, "invalid_request_error", "bad fixture name"),
        );
    }
    let ext = if stream { "chunks.txt" } else { "json" };
    let path = state.fixtures.join(format!("{case}.{ext}"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return full(
            404,
            "application/json",
            error_body(
                protocol,
                404,
                "not_found_error",
                &format!("no fixture {}", path.display()),
            ),
        );
    };
    if !stream {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let status = match v.pointer("/error/type").and_then(Value::as_str) {
            Some("insufficient_quota" | "rate_limit_exceeded") => 429,
            Some(_) => 400,
            None => 200,
        };
        return full(status, "application/json", text);
    }
    let mut frames: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match protocol {
            Protocol::Responses | Protocol::Anthropic => {
                let kind = line
                    .split("\"type\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("message");
                format!("event: {kind}\ndata: {line}\n\n")
            }
            Protocol::Chat | Protocol::Google => format!("data: {line}\n\n"),
        })
        .collect();
    if protocol == Protocol::Chat {
        frames.push("data: [DONE]\n\n".into());
    }
    let frames = faults.frames(protocol, model, frames);
    sse(frames, None, None, faults.stop_after, faults.stall_after)
}

/// The OIDC issuer endpoints (discovery, JWKS) and the test's JWKS setter.
fn oidc(state: &State, parts: &hyper::http::request::Parts, path: &str) -> Option<Response<Body>> {
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let issuer = format!("http://{host}/oidc");
    match (parts.method.as_str(), path) {
        ("GET", "/oidc/.well-known/openid-configuration") => {
            let doc = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"), "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"]});
            Some(full(200, "application/json", doc.to_string()))
        }
        ("GET", "/oidc/jwks") => {
            let jwks = state.jwks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Some(full(200, "application/json", jwks.to_string()))
        }
        _ => None,
    }
}
