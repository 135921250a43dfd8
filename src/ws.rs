//! The native host's WebSocket transport on `/v1/responses`: hyper's
//! upgrade and tokio-tungstenite's framing. The core decides everything
//! (`Gateway::ws_open`, `Gateway::ws_message`); this moves frames, one
//! turn at a time, and holds the connection to its limits:
//!
//! - it counts against `server.max_connections` until it closes;
//! - a message past `server.max_request_bytes` is refused as its frames
//!   arrive (an error frame, then close 1009), never buffered whole;
//! - the read buffer starts small and grows only as a message needs;
//! - no frame from the client for `server.websocket_idle_timeout`, with no
//!   turn in progress, closes it (1000);
//! - during a turn the client's frames are still read: pings are answered
//!   (tungstenite queues the pong and the next read sends it), and another
//!   `response.create` gets `response_in_progress`;
//! - the 60-minute limit ends it even mid-turn (the turn's upstream is
//!   released);
//! - on SIGTERM a turn in progress finishes (within `shutdown_grace`),
//!   then the connection gets close 1001;
//! - a client that takes nothing for `server.upstream_idle_timeout` loses
//!   the connection (`conn::TimedIo`).

use std::rc::Rc;

use futures::stream::{self, LocalBoxStream};
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use latticelm_core::{Gateway, HttpRequest, WsSession};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::body::{GuardedBody, NativeBody};
use crate::conn::{ActiveGuard, Slot};
use crate::host::NativeHost;

/// Whether a request asks to upgrade to a WebSocket.
pub fn is_upgrade(req: &hyper::Request<Incoming>) -> bool {
    let has = |name: &str, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    req.method() == hyper::Method::GET
        && has("connection", "upgrade")
        && has("upgrade", "websocket")
}

/// What an upgraded connection holds for as long as its socket lives.
pub struct Held {
    /// Keeps the connection out of its HTTP idle deadline.
    pub socket: ActiveGuard,
    /// Its place under `server.max_connections`.
    pub slot: Rc<Slot>,
    /// Turns true on SIGTERM or SIGINT.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Answers an upgrade request: 101 and a task serving the connection, or
/// the core's refusal (path, origin, host name, auth) as an HTTP answer.
pub async fn upgrade(
    gateway: &Gateway,
    host: &NativeHost,
    req: hyper::Request<Incoming>,
    held: Held,
    body_guard: ActiveGuard,
) -> hyper::Response<GuardedBody> {
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let core_req = HttpRequest {
        method: "GET".into(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers,
        body: Default::default(),
    };
    let refuse = |resp: latticelm_core::HttpResponse, guard: ActiveGuard| {
        crate::body::to_hyper(resp).map(|b| GuardedBody::new(b, guard))
    };
    // The core first (path, origin, host, auth): a refusal there is the
    // answer whatever the handshake looks like.
    let session = match gateway.ws_open(host, &core_req).await {
        Ok(s) => s,
        Err(resp) => return refuse(resp, body_guard),
    };
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()));
    let version_ok = req
        .headers()
        .get("sec-websocket-version")
        .is_some_and(|v| v == "13");
    let (Some(accept), true) = (key, version_ok) else {
        let e = latticelm_core::ApiError::new(
            400,
            "invalid_request_error",
            Some("bad_websocket_handshake"),
            None,
            "a WebSocket upgrade needs sec-websocket-key and sec-websocket-version: 13",
        );
        return refuse(latticelm_core::error_response(&e), body_guard);
    };
    let on = hyper::upgrade::on(req);
    let (gateway, host) = (gateway.clone(), host.clone());
    tokio::task::spawn_local(async move {
        let Ok(upgraded) = on.await else { return };
        let max = gateway.config().server.max_request_bytes;
        let config = WebSocketConfig::default()
            // Small, growing only as a message needs (128 KiB eagerly by
            // default: 2,000 idle sockets took 280 MB).
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        serve(&gateway, &host, &session, ws, held).await;
    });
    let mut resp = hyper::Response::new(GuardedBody::new(NativeBody::Full(None), body_guard));
    *resp.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("upgrade"),
    );
    h.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    resp
}

/// What a turn sends: a frame, or the close that ends the connection.
enum Out {
    Frame(String),
    Close(u16, &'static str),
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Milliseconds from now until `deadline_ms` (since the epoch).
fn until(deadline_ms: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    std::time::Duration::from_millis(deadline_ms.saturating_sub(now))
}

/// One turn: the core's reply to a text frame, as a stream of what to send.
fn turn(
    gateway: &Gateway,
    host: &NativeHost,
    session: &WsSession,
    text: String,
) -> LocalBoxStream<'static, Out> {
    let (gateway, host, session) = (gateway.clone(), host.clone(), session.clone());
    stream::once(async move { gateway.ws_message(&host, &session, &text).await })
        .flat_map(|reply| {
            let closing = reply.close.map(|c| Out::Close(c.code, c.reason));
            reply.frames.map(Out::Frame).chain(stream::iter(closing))
        })
        .boxed_local()
}

async fn serve<S>(
    gateway: &Gateway,
    host: &NativeHost,
    session: &WsSession,
    ws: WebSocketStream<S>,
    held: Held,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Held {
        socket: _socket,
        slot: _slot,
        mut shutdown,
    } = held;
    let server = &gateway.config().server;
    let (mut tx, mut rx) = ws.split();
    let limit = tokio::time::sleep(until(session.deadline_ms()));
    tokio::pin!(limit);
    let idle = tokio::time::sleep(server.websocket_idle_timeout);
    tokio::pin!(idle);
    let mut current: Option<LocalBoxStream<'static, Out>> = None;
    let mut stopping = *shutdown.borrow();
    loop {
        if stopping && current.is_none() {
            let _ = tx
                .send(close(CloseCode::Away, "server shutting down"))
                .await;
            return;
        }
        // The turn first: it marks the session busy before the next frame
        // is read, so a frame sent mid-turn gets `response_in_progress`.
        tokio::select! {
            biased;
            out = async { current.as_mut()?.next().await }, if current.is_some() => match out {
                Some(Out::Frame(f)) => {
                    if tx.send(Message::text(f)).await.is_err() {
                        return;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let _ = tx.send(close(CloseCode::from(code), reason)).await;
                    return;
                }
                None => {
                    current = None;
                    idle.as_mut().reset(tokio::time::Instant::now() + server.websocket_idle_timeout);
                }
            },
            msg = rx.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + server.websocket_idle_timeout);
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        if tx.send(Message::text(WsSession::binary_frame())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Pings are answered by tungstenite on the next read.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_))) => {
                        let frame = WsSession::too_large_frame(server.max_request_bytes);
                        let _ = tx.send(Message::text(frame)).await;
                        let _ = tx.send(close(CloseCode::Size, "message too large")).await;
                        return;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                };
                match &current {
                    // The core answers a frame sent mid-turn at once
                    // (`response_in_progress`).
                    Some(_) => {
                        let mut reply = turn(gateway, host, session, text);
                        while let Some(Out::Frame(f)) = reply.next().await {
                            if tx.send(Message::text(f)).await.is_err() {
                                return;
                            }
                        }
                    }
                    None => current = Some(turn(gateway, host, session, text)),
                }
            }
            _ = &mut limit => {
                // Mid-turn too: dropping the turn releases its upstream.
                drop(current.take());
                let _ = tx.send(Message::text(WsSession::limit_frame())).await;
                let _ = tx.send(Message::Close(None)).await;
                return;
            }
            _ = &mut idle, if current.is_none() => {
                let _ = tx.send(Message::text(WsSession::idle_frame())).await;
                let _ = tx.send(close(CloseCode::Normal, "idle timeout")).await;
                return;
            }
            _ = shutdown.changed(), if !stopping => stopping = true,
        }
    }
}
