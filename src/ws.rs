//! The native host's WebSocket transport on `/v1/responses`: hyper's
//! upgrade and tokio-tungstenite's framing. The core decides everything
//! (`Gateway::ws_open`, `Gateway::ws_message`); this moves frames, one
//! turn at a time, and ends the connection at its time limit.

use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use latticelm_core::{Gateway, HttpRequest, WsSession};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::body::{GuardedBody, NativeBody};
use crate::conn::ActiveGuard;
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

/// Answers an upgrade request: 101 and a task serving the connection, or
/// the core's refusal (auth, host name) as an HTTP answer. `guard` keeps
/// the connection out of its idle deadline while the socket lives.
pub async fn upgrade(
    gateway: &Gateway,
    host: &NativeHost,
    req: hyper::Request<Incoming>,
    guard: ActiveGuard,
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
        crate::server::to_hyper(resp).map(|b| GuardedBody::new(b, guard))
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
    let session = match gateway.ws_open(host, &core_req).await {
        Ok(s) => s,
        Err(resp) => return refuse(resp, body_guard),
    };
    let on = hyper::upgrade::on(req);
    let (gateway, host) = (gateway.clone(), host.clone());
    tokio::task::spawn_local(async move {
        let _guard = guard;
        let Ok(upgraded) = on.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        serve(&gateway, &host, &session, ws).await;
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

async fn serve<S>(gateway: &Gateway, host: &NativeHost, session: &WsSession, ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let left = std::time::Duration::from_millis(session.deadline_ms().saturating_sub(now));
    let limit = tokio::time::sleep(left);
    tokio::pin!(limit);
    loop {
        let msg = tokio::select! {
            m = rx.next() => m,
            _ = &mut limit => {
                let _ = tx.send(Message::text(WsSession::limit_frame())).await;
                let _ = tx.send(Message::Close(None)).await;
                return;
            }
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Binary(_))) => {
                let frame = WsSession::binary_frame();
                if tx.send(Message::text(frame)).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Ok(Message::Ping(p))) => {
                let _ = tx.send(Message::Pong(p)).await;
                continue;
            }
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        };
        // One turn at a time: the next frame is read after this reply.
        let reply = gateway.ws_message(host, session, &text).await;
        let mut frames = reply.frames;
        while let Some(f) = frames.next().await {
            if tx.send(Message::text(f)).await.is_err() {
                return;
            }
        }
        if reply.close {
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
    }
}
