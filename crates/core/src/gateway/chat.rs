//! `POST /v1/chat/completions`: the Chat Completions front door onto the
//! same pipeline (routing, failover, auth, observability, every upstream).
//! The request is decoded into an Open Responses body
//! (`ingress::chat::decode`), and the answer encoded back: a
//! `chat.completion`, or `chat.completion.chunk`s ending with `[DONE]`.

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, RequestError};
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::ingress::chat;
use crate::observe::Recorder;
use crate::sse::{SseDecoder, SseEvent};

use super::Gateway;

impl Gateway {
    /// `POST /v1/chat/completions`.
    pub(super) async fn chat_completions<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, ApiError> {
        let mime = req.header("content-type").unwrap_or_default();
        if !mime
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
        {
            return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
        }
        if req.body.len() > self.config.server.max_request_bytes {
            return Err(RequestError::TooLarge(self.config.server.max_request_bytes).into());
        }
        let v: Value =
            serde_json::from_slice(&req.body).map_err(|e| RequestError::InvalidBody {
                path: ".".into(),
                message: e.to_string(),
            })?;
        let include_usage = chat::include_usage(&v);
        let body = chat::decode(&v)?;
        let inner = HttpRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        };
        let resp = self.create_response(host, &inner, principal, rec).await?;
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-latticelm-") || k == "retry-after")
            .cloned()
            .collect();
        let mut out = match resp.body {
            Body::Full(b) if resp.status == 200 => {
                let r: Value = serde_json::from_slice(&b).unwrap_or_default();
                HttpResponse::json(200, Bytes::from(chat::completion(&r).to_string()))
            }
            // Errors are already in OpenAI's shape.
            Body::Full(_) => return Ok(resp),
            Body::Stream(s) => super::sse_response(chunks(s, include_usage)),
        };
        out.headers.extend(headers);
        Ok(out)
    }
}

/// The pipeline's SSE as Chat chunks, then `[DONE]`.
fn chunks(
    body: futures::stream::LocalBoxStream<'static, Bytes>,
    include_usage: bool,
) -> futures::stream::LocalBoxStream<'static, Bytes> {
    let state = (
        body,
        SseDecoder::new(),
        chat::ChunkEncoder::new(include_usage),
        false,
    );
    stream::unfold(state, |(mut body, mut dec, mut enc, done)| async move {
        if done {
            return None;
        }
        loop {
            let mut events: Vec<SseEvent> = Vec::new();
            let last = match body.next().await {
                Some(chunk) => {
                    dec.push(&chunk, &mut events);
                    false
                }
                None => {
                    dec.finish(&mut events);
                    true
                }
            };
            let mut out = String::new();
            for ev in events {
                let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                    continue; // `[DONE]`: ours comes last
                };
                for c in enc.event(&v) {
                    out.push_str("data: ");
                    out.push_str(&c);
                    out.push_str("\n\n");
                }
            }
            if last {
                out.push_str("data: [DONE]\n\n");
                return Some((Bytes::from(out), (body, dec, enc, true)));
            }
            if !out.is_empty() {
                return Some((Bytes::from(out), (body, dec, enc, false)));
            }
        }
    })
    .boxed_local()
}
