//! An upstream's answer as the attempt loop reads it: the response (or
//! why none came before its headers were due), an error status with its
//! body read into the envelope, a whole body within the idle timeout and
//! the deadline, and each failure as an [`AttemptError`] for the breaker
//! and the retry policy.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::{ApiError, HostError, UpstreamError};
use crate::host::{ByteStream, Host, UpstreamResponse};
use crate::providers::{self, Protocol};
use crate::routing::{self, Failure};

use crate::pipeline::attempt::live::StreamFault;
use crate::pipeline::clock::{now_ms, within};

/// One failed attempt.
pub(crate) struct AttemptError {
    pub error: ApiError,
    /// `None`: the request cannot be built for this target.
    pub failure: Option<Failure>,
    pub retry_after: Option<Duration>,
}

/// The upstream's answer, or why there was none before `header_timeout`
/// (the host's own timer or the core's: the same failure).
pub(crate) fn answered(
    provider: &str,
    sent: Option<Result<UpstreamResponse, HostError>>,
    header_timeout: Duration,
) -> Result<UpstreamResponse, AttemptError> {
    match sent {
        Some(Ok(r)) => Ok(r),
        Some(Err(HostError::Transport(message) | HostError::Store(message))) => {
            let error = UpstreamError::Transport {
                provider: provider.into(),
                message,
            };
            Err(failed(error.into(), Failure::Connect))
        }
        timed_out => {
            let message = match timed_out {
                Some(Err(HostError::Timeout(m))) => m,
                _ => format!("no response headers within {header_timeout:?}"),
            };
            let error = UpstreamError::Timeout {
                provider: provider.into(),
                message,
            };
            Err(failed(error.into(), Failure::Timeout))
        }
    }
}

pub(crate) fn failed(error: ApiError, failure: Failure) -> AttemptError {
    AttemptError {
        error,
        failure: Some(failure),
        retry_after: None,
    }
}

pub(crate) fn fault_error(provider: &str, fault: StreamFault) -> AttemptError {
    let error = match fault.failure {
        Failure::Timeout => UpstreamError::Timeout {
            provider: provider.into(),
            message: fault.message,
        }
        .into(),
        Failure::Connect => UpstreamError::Transport {
            provider: provider.into(),
            message: fault.message,
        }
        .into(),
        Failure::Status(_) => UpstreamError::Stream {
            code: fault.code,
            message: fault.message,
        }
        .into(),
    };
    failed(error, fault.failure)
}

/// An upstream error status, its body read into the envelope.
pub(crate) async fn status_error<H: Host>(
    host: &H,
    protocol: Protocol,
    provider: &str,
    resp: UpstreamResponse,
    idle: Duration,
    deadline: u64,
) -> AttemptError {
    let header = resp.header("retry-after").map(str::to_owned);
    let retry_after = header.as_deref().and_then(routing::parse_retry_after);
    let status = resp.status;
    let raw = read_all(host, resp.body, idle, deadline)
        .await
        .unwrap_or_default();
    let error = providers::parse_error(protocol, provider, status, header, raw);
    AttemptError {
        error: error.into(),
        failure: Some(Failure::Status(status)),
        retry_after,
    }
}

/// Largest upstream body read whole (non-streaming or error bodies).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A whole upstream body, each chunk within the idle timeout and all of
/// it before the deadline.
pub(crate) async fn read_all<H: Host>(
    host: &H,
    mut body: ByteStream,
    idle: Duration,
    deadline: u64,
) -> Result<Bytes, String> {
    let mut out = Vec::new();
    loop {
        let remaining = Duration::from_millis(deadline.saturating_sub(now_ms(host)));
        let Some(next) = within(host, idle.min(remaining), body.next()).await else {
            return Err(format!("the body stalled for {:?}", idle.min(remaining)));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| e.to_string())?;
        if out.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(format!("upstream body exceeds {MAX_UPSTREAM_BODY} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}
