//! `POST /v1/chat/completions`: the Chat Completions front door onto the
//! same pipeline (routing, failover, auth, observability, every upstream).
//! The request is decoded into an Open Responses body
//! (`super::chat::decode`), and the answer encoded back: a
//! `chat.completion`, or `chat.completion.chunk`s ending with `[DONE]`
//! (written by the pipeline's stream with `ChunkEncoder`).

use serde_json::Value;

use crate::auth::Principal;
use crate::host::{Host, HttpRequest, HttpResponse};
use crate::ingress::chat;
use crate::observe::Recorder;
use crate::providers::Protocol;

use crate::gateway::Gateway;
use crate::pipeline::error::StageError;
use crate::pipeline::run;
use crate::pipeline::stream::egress::EventSink;
use crate::types::StreamEvent;

impl Gateway {
    /// `POST /v1/chat/completions`.
    pub(crate) async fn chat_completions<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, StageError> {
        let v = super::json_body(&self.config, req)?;
        let include_usage = chat::include_usage(&v);
        let body = crate::validate::body_from_value(&chat::decode(&v)?)?;
        let encoder = Box::new(chat::ChunkEncoder::new(include_usage));
        let turn = self.decoded_turn(req, principal, rec, (v, body), Protocol::Chat, encoder)?;
        // A `chat.completion`, or chunks: written by the encoder.
        let answer = run::respond(&self.cx(host), turn).await?;
        Ok(super::passed_on(answer).into_response())
    }
}

impl EventSink for chat::ChunkEncoder {
    fn write_event(&mut self, event: &StreamEvent, out: &mut String) {
        let chunks = match self.typed(event) {
            Some(chunks) => chunks,
            None => match serde_json::to_value(event) {
                Ok(v) => self.event(&v),
                Err(_) => return,
            },
        };
        for c in chunks {
            out.push_str("data: ");
            out.push_str(&c);
            out.push_str("\n\n");
        }
    }
    fn tail(&self) -> &'static str {
        "data: [DONE]\n\n"
    }
    fn wants(&self, kind: &str) -> bool {
        super::read_by_both(kind) || kind == "response.refusal.delta"
    }
    fn whole(&self, response: &Value) -> Value {
        chat::completion(response)
    }
}
