//! `POST /v1/messages`: the Anthropic Messages front door onto the same
//! pipeline. The request is decoded into an Open Responses body
//! (`super::messages::decode`), and the answer encoded back: a
//! `message`, or the Messages event sequence. Errors, wherever they
//! arise, take Messages' shape (`reshape`).

use bytes::Bytes;
use serde_json::Value;

use crate::auth::Principal;
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::ingress::messages;
use crate::observe::Recorder;
use crate::providers::Protocol;

use crate::gateway::Gateway;
use crate::pipeline::error::StageError;
use crate::pipeline::respond::Answered;
use crate::pipeline::run;
use crate::pipeline::stream::egress::EventSink;
use crate::types::StreamEvent;

impl Gateway {
    /// `POST /v1/messages`.
    pub(crate) async fn messages<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> Result<HttpResponse, StageError> {
        let v = super::json_body(&self.config, req)?;
        let body = crate::validate::body_from_value(&messages::decode(&v)?)?;
        let encoder = Box::new(messages::EventEncoder::default());
        let turn =
            self.decoded_turn(req, principal, rec, (v, body), Protocol::Anthropic, encoder)?;
        // A `message`, or Messages events: written by the encoder.
        let mut answer = super::passed_on(run::respond(&self.cx(host), turn).await?);
        if let Answered::Stream(s) = answer.body {
            // Pings fill long silences.
            let keepalive = super::Keepalive {
                host: host.clone(),
                every: self.config.server.stream_ping_interval,
                frame: "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            };
            answer.body = Answered::Stream(super::with_keepalive(s, keepalive));
        }
        Ok(answer.into_response())
    }
}

/// An error answer in Messages' shape (`{"type":"error","error":{…}}`).
pub(crate) fn reshape(resp: &mut HttpResponse) {
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

impl EventSink for messages::EventEncoder {
    fn write_event(&mut self, event: &StreamEvent, out: &mut String) {
        let Ok(event) = serde_json::to_value(event) else {
            return;
        };
        for (name, data) in self.event(&event) {
            out.push_str("event: ");
            out.push_str(&name);
            out.push_str("\ndata: ");
            out.push_str(&data.to_string());
            out.push_str("\n\n");
        }
    }
    fn tail(&self) -> &'static str {
        ""
    }
    fn wants(&self, kind: &str) -> bool {
        super::read_by_both(kind) || kind == "response.output_item.done"
    }
    fn whole(&self, response: &Value) -> Value {
        messages::message(response)
    }
}
