//! `POST /v1/messages`: the Anthropic Messages front door onto the same
//! pipeline. The request is decoded into an Open Responses body
//! (`ingress::messages::decode`), and the answer encoded back: a
//! `message`, or the Messages event sequence. Errors, wherever they
//! arise, take Messages' shape (`reshape`).

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, RequestError};
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::ingress::messages;
use crate::observe::Recorder;
use crate::sse::{SseDecoder, SseEvent};

use super::Gateway;

impl Gateway {
    /// `POST /v1/messages`.
    pub(super) async fn messages<H: Host + Clone + 'static>(
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
        let body = messages::decode(&v)?;
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
                HttpResponse::json(200, Bytes::from(messages::message(&r).to_string()))
            }
            Body::Full(_) => return Ok(resp),
            Body::Stream(s) => super::sse_response(events(s)),
        };
        out.headers.extend(headers);
        Ok(out)
    }
}

/// An error answer in Messages' shape (`{"type":"error","error":{…}}`).
pub(super) fn reshape(resp: &mut HttpResponse) {
    if resp.status < 400 {
        return;
    }
    let Body::Full(b) = &resp.body else { return };
    let v: Value = serde_json::from_slice(b).unwrap_or_default();
    if v["type"] == "error" {
        return;
    }
    let message = v["error"]["message"].as_str().unwrap_or("request failed");
    resp.body = Body::Full(Bytes::from(
        messages::error(resp.status, message).to_string(),
    ));
}

/// The pipeline's SSE as Messages events.
fn events(
    body: futures::stream::LocalBoxStream<'static, Bytes>,
) -> futures::stream::LocalBoxStream<'static, Bytes> {
    let state = (
        body,
        SseDecoder::new(),
        messages::EventEncoder::default(),
        false,
    );
    stream::unfold(state, |(mut body, mut dec, mut enc, done)| async move {
        if done {
            return None;
        }
        loop {
            let mut evs: Vec<SseEvent> = Vec::new();
            let last = match body.next().await {
                Some(chunk) => {
                    dec.push(&chunk, &mut evs);
                    false
                }
                None => {
                    dec.finish(&mut evs);
                    true
                }
            };
            let mut out = String::new();
            for ev in evs {
                let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                    continue;
                };
                for (name, data) in enc.event(&v) {
                    out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
                }
            }
            if last || !out.is_empty() {
                return Some((Bytes::from(out), (body, dec, enc, last)));
            }
        }
    })
    .boxed_local()
}
