//! The front doors: each decodes its protocol into the pipeline's typed
//! turn and writes the pipeline's typed answer and events back in that
//! protocol, never through a request made up for another door or text
//! parsed back. Here, what they share: the JSON body of their request,
//! the headers passed on with a translated answer, and the keepalive of
//! Messages streams.

pub(crate) mod chat;
pub(crate) mod compact;
pub(crate) mod mcp;
pub(crate) mod messages;
pub(crate) mod responses;
pub(crate) mod stored;
pub(crate) mod ws;

use bytes::Bytes;
use std::time::Duration;

use futures::future::{self, Either};
use futures::stream::{self, LocalBoxStream, StreamExt};
use serde_json::Value;

use crate::auth::Principal;
use crate::config::Config;
use crate::error::{ApiError, RequestError};
use crate::gateway::Gateway;
use crate::host::{Host, HttpRequest};
use crate::observe::Recorder;
use crate::pipeline::error::StageError;
use crate::pipeline::parse;
use crate::pipeline::respond::Answer;
use crate::pipeline::stream::egress::{Egress, EventSink};
use crate::pipeline::turn::{Front, Turn};
use crate::providers::verbatim::Verbatim;
use crate::providers::Protocol;
use crate::types::CreateResponseBody;

/// The request's JSON body: `application/json` only, within
/// `server.max_request_bytes`.
pub(crate) fn json_body(config: &Config, req: &HttpRequest) -> Result<Value, ApiError> {
    let mime = req.header("content-type").unwrap_or_default();
    let mime = mime.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
    }
    if req.body.len() > config.server.max_request_bytes {
        return Err(RequestError::TooLarge(config.server.max_request_bytes).into());
    }
    // The same caps as `/v1/responses`, before any JSON tree is built:
    // this body may go upstream as written.
    crate::caps::scan(&req.body, &config.server.limits)?;
    serde_json::from_slice(&req.body).map_err(|e| {
        RequestError::InvalidBody {
            path: ".".into(),
            message: e.to_string(),
        }
        .into()
    })
}

impl Gateway {
    /// The turn of a request another protocol's door decoded: `decoded`
    /// is the client's JSON and the Open Responses body made from it. The
    /// body is held to the checks of `/v1/responses`; the client's own
    /// JSON goes as written to targets of `protocol`; `encoder` writes
    /// the answer back.
    pub(crate) fn decoded_turn(
        &self,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
        decoded: (Value, CreateResponseBody),
        protocol: Protocol,
        encoder: Box<dyn EventSink>,
    ) -> Result<Turn, StageError> {
        let (v, body) = decoded;
        let body = parse::checked(&self.config, body, principal)?;
        let front = Front {
            verbatim: Some(Verbatim {
                protocol,
                headers: Verbatim::passed_headers(protocol, &req.headers),
                body: v,
            }),
            egress: Egress::Other(encoder),
        };
        let size = req.body.len();
        let turn = Turn::new(
            &self.config,
            principal.clone(),
            rec.clone(),
            body,
            front,
            size,
            &req.headers,
        )?;
        Ok(turn)
    }
}

/// The gateway's own headers (`x-latticelm-*`) and `retry-after` go on
/// with an answer translated for another protocol; `x-ratelimit-*` are
/// Open Responses' own.
pub(crate) fn passed_on(mut answer: Answer) -> Answer {
    answer
        .headers
        .retain(|(k, _)| k.starts_with("x-latticelm-") || k == "retry-after");
    answer
}

/// The event types both front doors' encoders read.
pub(crate) fn read_by_both(kind: &str) -> bool {
    matches!(
        kind,
        "response.created"
            | "response.output_item.added"
            | "response.output_text.delta"
            | "response.reasoning.delta"
            | "response.reasoning_summary_text.delta"
            | "response.function_call_arguments.delta"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
    )
}

/// A keepalive for a stream: after `every` with nothing to send, `frame`
/// goes out (Messages' `ping` event).
pub(crate) struct Keepalive<H> {
    pub host: H,
    pub every: Duration,
    pub frame: &'static str,
}

/// `body`, with `keepalive.frame` sent whenever it is silent for
/// `keepalive.every`.
pub(crate) fn with_keepalive<H: Host + 'static>(
    body: LocalBoxStream<'static, Bytes>,
    keepalive: Keepalive<H>,
) -> LocalBoxStream<'static, Bytes> {
    stream::unfold((body, keepalive), |(mut body, k)| async move {
        let next = {
            let sleep = k.host.sleep(k.every);
            futures::pin_mut!(sleep);
            match future::select(body.next(), sleep).await {
                Either::Left((next, _)) => next?,
                Either::Right(_) => Bytes::from_static(k.frame.as_bytes()),
            }
        };
        Some((next, (body, k)))
    })
    .boxed_local()
}
