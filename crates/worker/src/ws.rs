//! The Worker's WebSocket transport on `/v1/responses`: a `WebSocketPair`
//! whose server end the core drives (`Gateway::ws_open`,
//! `Gateway::ws_message`), one turn at a time.

use futures::StreamExt;
use latticelm_core::{Gateway, HttpRequest, WsSession};
use worker::{Request, Response, WebSocketPair, WebsocketEvent};

use crate::host::WorkerHost;

/// Whether a request asks to upgrade to a WebSocket.
pub fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get("upgrade")
        .ok()
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Accepts the upgrade (the core checks host and credentials first) and
/// serves the socket from a task of its own.
pub async fn upgrade(
    gateway: Gateway,
    host: WorkerHost,
    req: &Request,
) -> worker::Result<Response> {
    let url = req.url()?;
    let core_req = HttpRequest {
        method: "GET".into(),
        path: url.path().to_owned(),
        query: url.query().unwrap_or_default().to_owned(),
        headers: req
            .headers()
            .entries()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body: Default::default(),
    };
    let session = match gateway.ws_open(&host, &core_req).await {
        Ok(s) => s,
        Err(resp) => return crate::convert::to_worker(resp),
    };
    let pair = WebSocketPair::new()?;
    let server = pair.server;
    server.accept()?;
    wasm_bindgen_futures::spawn_local(async move {
        serve(&gateway, &host, &session, &server).await;
    });
    Response::from_websocket(pair.client)
}

async fn serve(gateway: &Gateway, host: &WorkerHost, session: &WsSession, ws: &worker::WebSocket) {
    let Ok(mut events) = ws.events() else { return };
    while let Some(event) = events.next().await {
        let text = match event {
            Ok(WebsocketEvent::Message(m)) => match m.text() {
                Some(t) => t,
                None => {
                    let _ = ws.send_with_str(WsSession::binary_frame());
                    continue;
                }
            },
            Ok(WebsocketEvent::Close(_)) | Err(_) => return,
        };
        // One turn at a time: the next message is read after this reply.
        let reply = gateway.ws_message(host, session, &text).await;
        let mut frames = reply.frames;
        while let Some(f) = frames.next().await {
            if ws.send_with_str(&f).is_err() {
                return;
            }
        }
        if let Some(c) = reply.close {
            let _ = ws.close(Some(c.code), Some(c.reason));
            return;
        }
    }
}
