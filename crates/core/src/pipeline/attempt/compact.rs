//! One attempt of `POST /v1/responses/compact` on an upstream's own
//! compaction endpoint (OpenAI Responses): called by the attempt loop in
//! place of an ordinary request, so that compaction gets the same
//! routing, breakers, retries, timeouts and error envelope.

use std::time::Duration;

use bytes::Bytes;

use crate::config::Config;
use crate::error::UpstreamError;
use crate::host::Host;
use crate::providers::{self, Protocol};
use crate::routing::{Candidate, Failure};
use crate::types::CreateResponseBody;

use crate::pipeline::attempt::answer::{answered, failed, read_all, status_error, AttemptError};
use crate::pipeline::attempt::Job;
use crate::pipeline::clock::within;

/// One `/responses/compact` request to a Responses upstream, answered
/// whole (within the idle timeout and the deadline).
pub(crate) async fn send<H: Host>(
    config: &Config,
    host: &H,
    job: &Job<'_>,
    c: &Candidate<'_>,
    body: &CreateResponseBody,
    header_timeout: Duration,
) -> Result<Bytes, AttemptError> {
    let route = &c.route;
    let provider = route.provider_name;
    if Protocol::of(route.provider) != Protocol::Responses {
        return Err(AttemptError {
            error: crate::error::RequestError::Unsupported {
                param: "model".into(),
                message: format!("provider '{provider}' has no compaction endpoint"),
            }
            .into(),
            failure: None,
            retry_after: None,
        });
    }
    let mut up =
        providers::build_request(route, body, false, header_timeout).map_err(|e| AttemptError {
            error: e.into(),
            failure: None,
            retry_after: None,
        })?;
    let (path, query) = up.url.split_once('?').unwrap_or((up.url.as_str(), ""));
    up.url = if query.is_empty() {
        format!("{path}/compact")
    } else {
        format!("{path}/compact?{query}")
    };
    let mut out = serde_json::Map::new();
    out.insert("model".into(), route.upstream_model.into());
    out.insert(
        "input".into(),
        serde_json::to_value(&body.input).unwrap_or_default(),
    );
    if let Some(i) = &body.instructions {
        out.insert("instructions".into(), i.clone().into());
    }
    if let Some(k) = &body.prompt_cache_key {
        out.insert("prompt_cache_key".into(), k.clone().into());
    }
    up.body = Bytes::from(serde_json::to_vec(&out).unwrap_or_default());
    let sent = within(host, header_timeout, host.send(up)).await;
    let resp = answered(provider, sent, header_timeout)?;
    let idle = config.server.upstream_idle_timeout;
    let protocol = Protocol::Responses;
    if !(200..300).contains(&resp.status) {
        return Err(status_error(host, protocol, provider, resp, idle, job.deadline).await);
    }
    read_all(host, resp.body, idle, job.deadline)
        .await
        .map_err(|message| {
            let error = UpstreamError::Transport {
                provider: provider.into(),
                message,
            };
            failed(error.into(), Failure::Connect)
        })
}
