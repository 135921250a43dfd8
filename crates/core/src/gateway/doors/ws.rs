//! The Responses API over a WebSocket (spec 2026-04-24, "WebSocket
//! Transport"): frames in, frames out, no I/O. The host accepts the
//! upgrade after [`Gateway::ws_open`] and moves text frames; everything
//! else is here:
//!
//! - each `response.create` frame is one turn, run through the same
//!   pipeline as `POST /v1/responses` with `stream: true`; its events go
//!   out one JSON message each, without `[DONE]` (`stream` and
//!   `stream_options` in the frame are ignored), and a turn that fails
//!   ends with exactly one terminal frame (`response.failed`, or an
//!   `error` frame when it fails before its stream starts);
//! - turns on a connection run one after another (the host awaits each
//!   reply before reading the next frame);
//! - the connection keeps its latest turn (input and output) so that a
//!   `store: false` turn continues from it; other ids come from the store,
//!   and anything else is `previous_response_not_found`;
//! - a continuation that fails evicts the turn it continued;
//! - the connection lasts at most [`MAX_CONNECTION`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use futures::stream::{self, LocalBoxStream, StreamExt};
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, GatewayError, RequestError};
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::types::StreamEvent;
use crate::validate;

use crate::gateway::telemetry;
use crate::gateway::Gateway;
use crate::pipeline::clock::now_ms;
use crate::pipeline::respond::{error_response, Answer, Answered};
use crate::pipeline::stream::egress::{Egress, EventSink};
use crate::pipeline::turn::{Front, Turn};
use crate::pipeline::{expand, parse, run};

/// How long a connection may last (the spec's limit).
pub const MAX_CONNECTION: Duration = Duration::from_secs(60 * 60);

/// One WebSocket connection's state. Cheap to clone (shared).
#[derive(Clone)]
pub struct WsSession(Rc<RefCell<State>>);

struct State {
    opened_ms: u64,
    /// The upgrade's credentials (its headers): checked again at every
    /// turn, so that a key disabled, deleted or moved to another team,
    /// and changed limits, hold on an open connection as on a request.
    credentials: HttpRequest,
    principal: Principal,
    /// The latest turn: its response id, and its whole input and output.
    last: Option<(String, Vec<Value>)>,
    /// A turn's reply is still being sent.
    busy: bool,
}

/// Marks the connection busy for as long as a turn's reply lives.
struct Busy(WsSession);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0 .0.borrow_mut().busy = false;
    }
}

/// What to send back for one client frame.
pub struct WsReply {
    /// Text frames, in order.
    pub frames: LocalBoxStream<'static, String>,
    /// Close the connection after them, with this code and reason.
    pub close: Option<WsClose>,
}

/// A close frame the gateway sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsClose {
    /// The close code (RFC 6455 §7.4).
    pub code: u16,
    /// Why, for people.
    pub reason: &'static str,
}

impl WsClose {
    /// The connection reached [`MAX_CONNECTION`] (1000).
    pub const LIMIT: WsClose = WsClose {
        code: 1000,
        reason: "connection limit",
    };
    /// The caller's credentials no longer hold: its key was disabled,
    /// deleted or expired (1008, policy violation).
    pub const CREDENTIALS: WsClose = WsClose {
        code: 1008,
        reason: "credentials no longer valid",
    };
}

impl WsSession {
    /// When the connection must end, in ms since the epoch.
    pub fn deadline_ms(&self) -> u64 {
        let s = self.0.borrow();
        s.opened_ms
            .saturating_add(MAX_CONNECTION.as_millis() as u64)
    }

    /// The answer to a binary frame (turns are JSON text frames).
    pub fn binary_frame() -> String {
        error_frame(
            400,
            "invalid_request_error",
            "invalid_frame",
            None,
            "send JSON text frames",
        )
    }

    /// The frame for a message past `server.max_request_bytes`, sent
    /// before the connection closes (1009).
    pub fn too_large_frame(max: usize) -> String {
        error_frame_of(&RequestError::TooLarge(max).into())
    }

    /// The frame for a connection closed after `server.websocket_idle_timeout`
    /// without a frame from the client.
    pub fn idle_frame() -> String {
        error_frame(
            408,
            "invalid_request_error",
            "websocket_idle_timeout",
            None,
            "this WebSocket connection was idle too long (server.websocket_idle_timeout); open a new one",
        )
    }

    /// The frame that ends a connection at its time limit.
    pub fn limit_frame() -> String {
        error_frame(
            400,
            "invalid_request_error",
            "websocket_connection_limit_reached",
            None,
            "this WebSocket connection reached its 60-minute limit; open a new one",
        )
    }
}

fn error_frame(status: u16, kind: &str, code: &str, param: Option<&str>, message: &str) -> String {
    json!({"type": "error", "status": status,
        "error": {"type": kind, "code": code, "message": message, "param": param}})
    .to_string()
}

/// An error as a WebSocket error frame.
fn error_frame_of(e: &ApiError) -> String {
    let p = &e.payload;
    let code = p.code.as_deref().unwrap_or(&p.kind);
    error_frame(e.status, &p.kind, code, p.param.as_deref(), &p.message)
}

fn one(frame: String) -> WsReply {
    WsReply {
        frames: stream::iter([frame]).boxed_local(),
        close: None,
    }
}

/// A turn's input as items.
fn items_of(input: &Value) -> Vec<Value> {
    match input {
        Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

impl Gateway {
    /// Checks an upgrade request to `/v1/responses`: the host name and the
    /// caller's credentials. The session, or the HTTP answer refusing it.
    pub async fn ws_open<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
    ) -> Result<WsSession, HttpResponse> {
        let checked = async {
            if req.path.trim_end_matches('/') != "/v1/responses" {
                return Err(RequestError::NoRoute {
                    method: "GET (WebSocket upgrade)".into(),
                    path: req.path.clone(),
                }
                .into());
            }
            self.check_host(req)?;
            self.check_origin(req)?;
            self.authenticate(host, req).await
        };
        match checked.await {
            Ok(principal) => Ok(WsSession(Rc::new(RefCell::new(State {
                opened_ms: now_ms(host),
                credentials: HttpRequest {
                    method: req.method.clone(),
                    path: req.path.clone(),
                    query: String::new(),
                    headers: req.headers.clone(),
                    body: Default::default(),
                },
                principal,
                last: None,
                busy: false,
            })))),
            Err(e) => Err(error_response(&e)),
        }
    }

    /// A browser's upgrade must come from the gateway's own origin or one
    /// of `server.allowed_origins`, auth on or off: a WebSocket is not
    /// subject to CORS, so without this any page a user visits could run
    /// turns on a gateway the user can reach (cross-site WebSocket
    /// hijacking). Clients that are not browsers send no `Origin`.
    fn check_origin(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some(origin) = req.header("origin").map(str::trim) else {
            return Ok(());
        };
        let origin = origin.trim_end_matches('/');
        let allowed = &self.config.server.allowed_origins;
        let listed = allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin));
        // Same origin: the authority after the scheme is the Host header.
        let authority = origin
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .map(|(_, rest)| rest);
        let host = req.header("host").unwrap_or_default().trim();
        let same = authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host));
        if listed || same {
            return Ok(());
        }
        Err(GatewayError::OriginNotAllowed.into())
    }

    /// One text frame from the client: the frames that answer it.
    pub async fn ws_message<H: Host + Clone + 'static>(
        &self,
        host: &H,
        session: &WsSession,
        text: &str,
    ) -> WsReply {
        if now_ms(host) >= session.deadline_ms() {
            let mut r = one(WsSession::limit_frame());
            r.close = Some(WsClose::LIMIT);
            return r;
        }
        let bad = |code: &str, param: Option<&str>, message: &str| {
            one(error_frame(
                400,
                "invalid_request_error",
                code,
                param,
                message,
            ))
        };
        if session.0.borrow().busy {
            // The spec allows one response in flight per connection.
            return one(error_frame(
                409,
                "invalid_request_error",
                "response_in_progress",
                None,
                "a response is still in progress on this connection; send the next response.create after its terminal event",
            ));
        }
        // The caps of an HTTP body, before any JSON tree is built (a host
        // should refuse a message past `max_request_bytes` as it arrives;
        // this holds where it cannot).
        let max = self.config.server.max_request_bytes;
        if text.len() > max {
            return one(error_frame_of(&RequestError::TooLarge(max).into()));
        }
        if let Err(e) = crate::caps::scan(text.as_bytes(), &self.config.server.limits) {
            return one(error_frame_of(&e.into()));
        }
        session.0.borrow_mut().busy = true;
        let busy = Busy(session.clone());
        let Ok(Value::Object(mut v)) = serde_json::from_str::<Value>(text) else {
            return bad("invalid_json", None, "a frame must be a JSON object");
        };
        if v.get("type").and_then(Value::as_str) != Some("response.create") {
            return bad(
                "unknown_event_type",
                Some("type"),
                "send {\"type\": \"response.create\", …} to start a turn",
            );
        }
        // The spec says clients must not send the HTTP-only fields; some
        // (Codex) send `stream: true` and `background: false` anyway, which
        // change nothing here. Background mode itself is refused.
        if v.get("background").and_then(Value::as_bool) == Some(true) {
            return bad(
                "unsupported_parameter",
                Some("background"),
                "background mode is not available over a WebSocket",
            );
        }
        for field in ["stream", "stream_options", "background"] {
            v.remove(field);
        }
        v.remove("type");
        v.insert("stream".into(), Value::Bool(true));
        let store = v.get("store") != Some(&Value::Bool(false));
        let prev = v
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Each turn is admitted like a request: the caller is checked
        // again (through the key cache, so a disabled key stops within
        // its lapse).
        let credentials = session.0.borrow().credentials.clone();
        let principal = match self.authenticate(host, &credentials).await {
            Ok(p) => p,
            Err(e) => {
                let gone = matches!(e.status, 401 | 403);
                let mut r = one(error_frame_of(&e));
                if gone {
                    r.close = Some(WsClose::CREDENTIALS);
                }
                return r;
            }
        };
        session.0.borrow_mut().principal = principal.clone();
        // The turn's whole input, when it is known here (for the cache).
        let mut full: Option<Vec<Value>> = None;
        match &prev {
            Some(p) => {
                let cached = session.0.borrow().last.clone().filter(|(id, _)| id == p);
                if let Some((_, mut items)) = cached {
                    items.extend(items_of(v.get("input").unwrap_or(&Value::Null)));
                    v.insert("input".into(), Value::Array(items.clone()));
                    v.remove("previous_response_id");
                    full = Some(items);
                } else if !store {
                    // Not on this connection: the store's, if it has it.
                    let bytes = serde_json::to_vec(&v).unwrap_or_default();
                    let expanded = match validate::parse_body(&bytes) {
                        Ok(mut body) => expand::expand(&self.cx(host), &principal, &mut body)
                            .await
                            .map(|_| body),
                        Err(e) => Err(e.into()),
                    };
                    match expanded {
                        Ok(body) => {
                            let items: Vec<Value> = body
                                .input
                                .as_ref()
                                .and_then(|i| serde_json::to_value(i).ok())
                                .map(|i| items_of(&i))
                                .unwrap_or_default();
                            v.insert("input".into(), Value::Array(items.clone()));
                            v.remove("previous_response_id");
                            full = Some(items);
                        }
                        Err(e) => return one(error_frame_of(&e)),
                    }
                }
            }
            None => full = Some(items_of(v.get("input").unwrap_or(&Value::Null))),
        }
        let rec = telemetry::begin(&self.config, &self.metrics, &self.spans, host, &TURN);
        rec.with(|r| {
            r.principal = Some(principal.id.clone());
            r.team = principal.team.clone();
        });
        let evict = Evict {
            session: session.clone(),
            prev,
        };
        // The turn's body passes the same checks as one sent to
        // `/v1/responses`.
        let bytes = serde_json::to_vec(&Value::Object(v)).unwrap_or_default();
        let front = Front {
            verbatim: None,
            egress: Egress::Other(Box::new(Frames {
                session: session.clone(),
                full,
                evict: evict.clone(),
            })),
        };
        let answered = async {
            let body = parse::json(&self.config, &bytes, &principal)?;
            let turn = Turn::new(
                &self.config,
                principal.clone(),
                rec.clone(),
                body,
                front,
                bytes.len(),
                &[],
            )?;
            run::respond(&self.cx(host), turn).await
        };
        let body = match answered.await {
            Ok(Answer {
                body: Answered::Stream(body),
                ..
            }) => {
                telemetry::turn(&rec, host, 200, None);
                body
            }
            Ok(_) => {
                let e = ApiError::internal("no stream");
                telemetry::turn(&rec, host, e.status, Some(&e));
                evict.now();
                return one(error_frame_of(&e));
            }
            Err(e) => {
                let e = e.error();
                telemetry::turn(&rec, host, e.status, Some(&e));
                evict.now();
                return one(error_frame_of(&e));
            }
        };
        // One message per line the encoder wrote.
        let frames = stream::unfold(
            (body, VecDeque::<String>::new(), (rec, busy)),
            |(mut body, mut pending, held)| async move {
                loop {
                    if let Some(frame) = pending.pop_front() {
                        return Some((frame, (body, pending, held)));
                    }
                    let chunk = body.next().await?;
                    let lines = chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty());
                    pending.extend(lines.map(|l| String::from_utf8_lossy(l).into_owned()));
                }
            },
        );
        WsReply {
            frames: frames.boxed_local(),
            close: None,
        }
    }
}

/// The record's view of a turn: a `WS` request to `/v1/responses`, with
/// no headers of its own (the upgrade's were checked when it opened).
const TURN: telemetry::Arrival<'static> = telemetry::Arrival {
    method: "WS",
    path: "/v1/responses",
    headers: &[],
};

/// Forgets the connection's latest turn when the turn that continued it
/// fails.
#[derive(Clone)]
struct Evict {
    session: WsSession,
    prev: Option<String>,
}

impl Evict {
    fn now(&self) {
        let mut s = self.session.0.borrow_mut();
        if s.last
            .as_ref()
            .map(|(id, _)| Some(id) == self.prev.as_ref())
            == Some(true)
        {
            s.last = None;
        }
    }
}

/// A turn's events as WebSocket messages: each event's JSON on a line of
/// its own (JSON never holds a raw newline), without `[DONE]`, and
/// without `error` events (the `response.failed` after one carries the
/// error). A turn that completes becomes the connection's latest; one
/// that fails evicts the turn it continued.
struct Frames {
    session: WsSession,
    /// The turn's whole input, when it is known here.
    full: Option<Vec<Value>>,
    evict: Evict,
}

impl EventSink for Frames {
    fn write_event(&mut self, event: &StreamEvent, out: &mut String) {
        match event {
            StreamEvent::Completed { response, .. } | StreamEvent::Incomplete { response, .. } => {
                let mut s = self.session.0.borrow_mut();
                s.last = self.full.as_ref().map(|items| {
                    let mut items = items.clone();
                    items.extend(
                        response
                            .output
                            .iter()
                            .filter_map(|i| serde_json::to_value(i).ok()),
                    );
                    (response.id.clone(), items)
                });
            }
            StreamEvent::Failed { .. } => self.evict.now(),
            _ => {}
        }
        if let Ok(json) = serde_json::to_string(event) {
            out.push_str(&json);
            out.push('\n');
        }
    }
    fn tail(&self) -> &'static str {
        ""
    }
    fn wants(&self, kind: &str) -> bool {
        kind != "error"
    }
    fn whole(&self, response: &Value) -> Value {
        response.clone()
    }
}
