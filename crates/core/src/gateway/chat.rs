//! `POST /v1/chat/completions`: the Chat Completions front door onto the
//! same pipeline (routing, failover, auth, observability, every upstream).
//! The request is decoded into an Open Responses body
//! (`ingress::chat::decode`), and the answer encoded back: a
//! `chat.completion`, or `chat.completion.chunk`s ending with `[DONE]`.

use bytes::Bytes;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::ingress::chat;
use crate::observe::Recorder;

use super::{ingress, Gateway};

impl Gateway {
    /// `POST /v1/chat/completions`.
    pub(super) async fn chat_completions<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, ApiError> {
        let v = ingress::json_body(&self.config, req)?;
        let include_usage = chat::include_usage(&v);
        let inner = ingress::responses_request(&chat::decode(&v)?);
        let resp = self.create_response(host, &inner, principal, rec).await?;
        let headers = ingress::passed_headers(&resp);
        let mut out = match resp.body {
            Body::Full(b) if resp.status == 200 => {
                let r: Value = serde_json::from_slice(&b).unwrap_or_default();
                HttpResponse::json(200, Bytes::from(chat::completion(&r).to_string()))
            }
            // Errors are already in OpenAI's shape.
            Body::Full(_) => return Ok(resp),
            Body::Stream(s) => super::sse_response(ingress::reencode(
                s,
                chat::ChunkEncoder::new(include_usage),
                |enc, v, out| {
                    for c in enc.event(v) {
                        out.push_str("data: ");
                        out.push_str(&c);
                        out.push_str("\n\n");
                    }
                },
                "data: [DONE]\n\n",
            )),
        };
        out.headers.extend(headers);
        Ok(out)
    }
}
