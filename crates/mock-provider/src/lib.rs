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
//!   first offered tool whose name the user text mentions.
//!
//! Every request is recorded; `GET /_mock/requests` lists them and
//! `DELETE /_mock/requests` forgets them.
//!
//! It is also a minimal OIDC issuer for auth tests: `{base}/oidc` serves
//! `/.well-known/openid-configuration` and `/jwks`, whose key set a test
//! puts with `PUT /_mock/oidc/jwks`.

mod synth;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
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
}

impl State {
    /// State over a fixtures folder.
    pub fn new(fixtures: PathBuf) -> Arc<State> {
        Arc::new(State {
            fixtures,
            requests: Mutex::new(Vec::new()),
            streams: Arc::default(),
            jwks: Mutex::new(json!({"keys": []})),
        })
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

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
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
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
        .body(Full::new(body.into()).boxed())
        .unwrap_or_default()
}

async fn handle(state: &State, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if let Some(resp) = oidc(state, &parts, &path) {
        return resp;
    }
    if path == "/_mock/streams" {
        let streams = state
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        return full(
            200,
            "application/json",
            serde_json::to_vec(&streams).unwrap_or_default(),
        );
    }
    if path == "/_mock/requests" {
        let mut reqs = state.requests.lock().unwrap_or_else(|e| e.into_inner());
        let listed = serde_json::to_vec(&*reqs).unwrap_or_default();
        if parts.method == hyper::Method::DELETE {
            reqs.clear();
        }
        return full(200, "application/json", listed);
    }
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if path == "/_mock/oidc/jwks" {
        *state.jwks.lock().unwrap_or_else(|e| e.into_inner()) = body;
        return full(204, "application/json", Bytes::new());
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
        "method": parts.method.as_str(), "path": path, "query": parts.uri.query(), "headers": headers, "body": body,
    }));
    let protocol = match path.as_str() {
        "/v1/responses" | "/openai/v1/responses" => Protocol::Responses,
        "/v1/chat/completions" => Protocol::Chat,
        "/v1/messages" => Protocol::Anthropic,
        p if p.starts_with("/v1beta/models/") => Protocol::Google,
        p if p.starts_with("/openai/deployments/") && p.ends_with("/chat/completions") => {
            Protocol::Chat
        }
        _ => {
            return full(
                404,
                "application/json",
                error_body(
                    Protocol::Chat,
                    404,
                    "not_found_error",
                    &format!("no route for {path}"),
                ),
            )
        }
    };
    if body.is_null() {
        return full(
            400,
            "application/json",
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
            (model.to_owned(), method == "streamGenerateContent")
        }
        _ => (
            body["model"].as_str().unwrap_or_default().to_owned(),
            body["stream"].as_bool().unwrap_or(false),
        ),
    };
    if let Some(code) = model.strip_prefix("error:") {
        let status: u16 = code.parse().unwrap_or(500);
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_exceeded",
            _ => "server_error",
        };
        let mut resp = full(
            status,
            "application/json",
            error_body(protocol, status, kind, &format!("mock error {status}")),
        );
        if status == 429 {
            resp.headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("3"));
        }
        return resp;
    }
    if let Some(case) = model.strip_prefix("fixture:") {
        return replay(state, protocol, case, stream);
    }
    if let Some(ms) = model.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let delay = model
        .strip_prefix("slow:")
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let answer = synth::answer(protocol, &body);
    if !stream {
        return full(
            200,
            "application/json",
            answer.body(protocol, &model).to_string(),
        );
    }
    sse(
        answer.events(protocol, &model),
        delay,
        Some(state.streams.clone()),
    )
}

/// Records how a streamed answer ended when the body is dropped.
struct StreamEnd {
    log: Option<Arc<Mutex<Vec<&'static str>>>>,
    completed: bool,
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if let Some(log) = &self.log {
            let outcome = if self.completed {
                "completed"
            } else {
                "cancelled"
            };
            log.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
        }
    }
}

fn error_body(protocol: Protocol, status: u16, kind: &str, message: &str) -> String {
    synth::error_body(protocol, status, kind, message).to_string()
}

/// A `text/event-stream` response, written frame by frame.
fn sse(
    frames: Vec<String>,
    delay: Option<Duration>,
    log: Option<Arc<Mutex<Vec<&'static str>>>>,
) -> Response<Body> {
    let end = StreamEnd {
        log,
        completed: false,
    };
    let stream = futures::stream::unfold(
        (frames.into_iter(), end),
        move |(mut frames, mut end)| async move {
            let Some(f) = frames.next() else {
                end.completed = true;
                drop(end);
                return None;
            };
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(f))),
                (frames, end),
            ))
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

fn replay(state: &State, protocol: Protocol, case: &str, stream: bool) -> Response<Body> {
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
    sse(frames, None, None)
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
