//! One upstream request on one candidate: the request built for the
//! target's protocol (the client's own body where it speaks it, sealed
//! reasoning opened, tools adapted), sent within the header timeout, and
//! read up to its first output (the first-byte hold) or whole.

use std::time::Duration;

use bytes::Bytes;

use crate::builder::ResponseBuilder;
use crate::config::Config;
use crate::error::UpstreamError;
use crate::host::Host;
use crate::providers::{self, Protocol, StreamTranslator};
use crate::routing::{self, Candidate, Failure};

use super::answer::{answered, failed, fault_error, read_all, status_error, AttemptError};
use super::live::Live;
use super::{Job, ServedBody};
use crate::pipeline::clock::{now_ms, unix_secs, within};

/// One upstream request on one candidate, up to its first output
/// (streaming) or its whole answer.
pub(super) async fn attempt<H: Host>(
    config: &Config,
    host: &H,
    job: &Job<'_>,
    c: &Candidate<'_>,
    span_id: &[u8; 8],
) -> Result<(ServedBody, Vec<String>), AttemptError> {
    let route = &c.route;
    let provider = route.provider_name;
    let protocol = Protocol::of(route.provider);
    let remaining = Duration::from_millis(job.deadline.saturating_sub(now_ms(host)));
    let header_timeout = config.server.upstream_timeout.min(remaining);
    let cannot = |e: crate::error::RequestError| AttemptError {
        error: e.into(),
        failure: None,
        retry_after: None,
    };
    if route.provider.kind != crate::config::ProviderKind::Mock {
        if H::PUBLIC_BY_DEFAULT && config.guards_open_proxy() && route.provider.key().is_some() {
            return Err(cannot(crate::error::RequestError::NotAllowed {
                param: "model".into(),
                message: format!(
                    "this gateway runs its embedded default configuration without authentication, so it does not spend provider '{provider}' keys for anyone who asks; its operator can turn on auth, or set LATTICELM_PUBLIC=true (server.public) to serve it to everyone"
                ),
            }));
        }
        providers::passthrough::check(job.body, provider, route.provider, job.caller_passthrough)
            .map_err(cannot)?;
    }
    // Reasoning state sealed for this provider, opened; others dropped.
    let sealer = providers::seal::Sealer::for_route(config, route);
    let opened = providers::seal::open_input(&sealer, config, protocol, job.body);
    // Namespaced and hosted tools, for protocols without them.
    let (body, map) = providers::tool_map::adapt(
        &opened,
        protocol,
        provider,
        route.provider,
        job.caller_passthrough,
    )
    .map_err(cannot)?;
    let body: &crate::types::CreateResponseBody = &body;
    let mut dropped = map.dropped.clone();
    // The client's own body, when it speaks this protocol and no tool of
    // it is held back here: checked as it will be sent.
    let verbatim = match job
        .verbatim
        .filter(|v| v.protocol == protocol && dropped.is_empty())
    {
        Some(v) => {
            let limits = &config.server.limits;
            let (v, left_out) = v
                .checked(provider, route.provider, job.caller_passthrough, limits)
                .map_err(cannot)?;
            dropped.extend(left_out);
            Some(v)
        }
        None => None,
    };
    if job.compact {
        return crate::pipeline::attempt::compact::send(config, host, job, c, body, header_timeout)
            .await
            .map(|b| (ServedBody::Compacted(b), dropped));
    }
    let mut request = match verbatim.as_deref() {
        Some(v) => providers::envelope(
            route,
            v.body(
                route.upstream_model,
                job.stream,
                &sealer,
                body.max_output_tokens,
                route
                    .provider
                    .max_tokens_field
                    .as_deref()
                    .unwrap_or("max_tokens"),
            ),
            v.headers.clone(),
            job.stream,
            header_timeout,
        ),
        None => providers::build_request(route, body, job.stream, header_timeout),
    }
    .map_err(cannot)?;
    if let Some(mode) = job.resume {
        crate::pipeline::resume::request::adjust(mode, &mut request);
    }
    // The upstream request is a child span of this request's trace.
    if let Some(t) = job.rec.trace() {
        request
            .headers
            .push(("traceparent".into(), t.child_header(span_id)));
        if let Some(state) = t.tracestate {
            request.headers.push(("tracestate".into(), state));
        }
    }
    let sent = if route.provider.kind == crate::config::ProviderKind::Mock {
        Some(Ok(providers::mock::serve(
            &request,
            job.id_seed ^ 0x6d6f636b,
            unix_secs(host),
        )))
    } else {
        within(host, header_timeout, host.send(request)).await
    };
    let resp = answered(provider, sent, header_timeout)?;
    let idle = config.server.upstream_idle_timeout;
    if !(200..300).contains(&resp.status) {
        return Err(status_error(host, protocol, provider, resp, idle, job.deadline).await);
    }
    let mut b = ResponseBuilder::new(job.skeleton.clone(), job.id_seed, job.stream);
    b.map_tools(map);
    b.seal_with(sealer);
    if !job.stream {
        let raw = read_all(host, resp.body, idle, job.deadline)
            .await
            .map_err(|message| {
                failed(
                    UpstreamError::Transport {
                        provider: provider.into(),
                        message,
                    }
                    .into(),
                    Failure::Connect,
                )
            })?;
        let outcome =
            providers::parse_response(protocol, provider, body, &raw, &mut b).map_err(|e| {
                let status = e.status;
                failed(e, Failure::Status(status))
            })?;
        if let Some(why) = b.take_inconsistency() {
            let error = UpstreamError::Inconsistent {
                provider: provider.into(),
                what: "response",
                why,
            }
            .into();
            return Err(failed(error, Failure::Status(502)));
        }
        b.settle(outcome, unix_secs(host));
        return Ok((ServedBody::Whole(Box::new(b)), dropped));
    }
    b.start();
    let translator = StreamTranslator::new(protocol, provider, body);
    let max = config.server.max_upstream_stream_bytes;
    let mut live = Live::new(resp.body, translator, b, max);
    // The first-byte hold: nothing reaches the client until the upstream
    // has produced output, so a failure before that can fail over.
    loop {
        if live.has_output() {
            return Ok((ServedBody::Stream(Box::new(live)), dropped));
        }
        if live.b.is_finished() {
            let Some(err) = live.b.failure() else {
                return Ok((ServedBody::Stream(Box::new(live)), dropped));
            };
            let status = routing::status_of_error(err);
            let error = UpstreamError::Status {
                provider: provider.into(),
                status,
                message: err.message.clone(),
                code: err.code.clone(),
                param: err.param.clone(),
                retry_after: None,
                raw: Bytes::new(),
            };
            return Err(failed(error.into(), Failure::Status(status)));
        }
        if let Err(fault) = live.pump(host, provider, idle, job.deadline).await {
            return Err(fault_error(provider, fault));
        }
    }
}
