//! What the extra front doors share: the JSON body of their request, the
//! Open Responses request made from it, the headers passed on from the
//! pipeline's answer, and its SSE events re-encoded in their protocol.

use bytes::Bytes;
use futures::stream::{self, LocalBoxStream, StreamExt};
use serde_json::Value;

use crate::config::Config;
use crate::error::{ApiError, RequestError};
use crate::host::{HttpRequest, HttpResponse};
use crate::sse::{SseDecoder, SseEvent};

/// The request's JSON body: `application/json` only, within
/// `server.max_request_bytes`.
pub(super) fn json_body(config: &Config, req: &HttpRequest) -> Result<Value, ApiError> {
    let mime = req.header("content-type").unwrap_or_default();
    let mime = mime.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
    }
    if req.body.len() > config.server.max_request_bytes {
        return Err(RequestError::TooLarge(config.server.max_request_bytes).into());
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        RequestError::InvalidBody {
            path: ".".into(),
            message: e.to_string(),
        }
        .into()
    })
}

/// `POST /v1/responses` with a decoded body, for the pipeline.
pub(super) fn responses_request(body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    }
}

/// The gateway's own headers (`x-latticelm-*`) and `retry-after`, to pass
/// on with the translated answer.
pub(super) fn passed_headers(resp: &HttpResponse) -> Vec<(String, String)> {
    resp.headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-latticelm-") || k == "retry-after")
        .cloned()
        .collect()
}

/// The pipeline's SSE, each event turned into bytes by `encode` (state
/// `E`), then `tail` when the stream ends.
pub(super) fn reencode<E: 'static>(
    body: LocalBoxStream<'static, Bytes>,
    encoder: E,
    encode: fn(&mut E, &Value, &mut String),
    tail: &'static str,
) -> LocalBoxStream<'static, Bytes> {
    let state = (body, SseDecoder::new(), encoder, false);
    stream::unfold(
        state,
        move |(mut body, mut dec, mut enc, done)| async move {
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
                    // `[DONE]` is not an event: the protocol's own ending is
                    // `tail`.
                    if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
                        encode(&mut enc, &v, &mut out);
                    }
                }
                if last {
                    out.push_str(tail);
                }
                if last || !out.is_empty() {
                    return Some((Bytes::from(out), (body, dec, enc, last)));
                }
            }
        },
    )
    .boxed_local()
}
