//! Retry policy: which failures move on to another attempt, how long to
//! back off, and what status an error event stands for.

use std::time::Duration;

use crate::config::{RetryOn, RoutingConfig};
use crate::types::ErrorPayload;

use super::plan::SplitMix;

/// How an attempt failed, in the terms of `routing.retry_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An HTTP status, or the status an upstream error event stands for.
    Status(u16),
    /// The connection failed, or dropped before any output.
    Connect,
    /// No headers, or no first event, in time.
    Timeout,
}

impl Failure {
    /// The status reported for it (and recorded by the breaker).
    pub fn status(self) -> u16 {
        match self {
            Failure::Status(s) => s,
            Failure::Connect => 502,
            Failure::Timeout => 504,
        }
    }
}

/// Whether `routing.retry_on` lists this failure.
pub fn is_retryable(config: &RoutingConfig, failure: Failure) -> bool {
    config.retry_on.iter().any(|r| match (r, failure) {
        (RetryOn::Status(a), Failure::Status(b)) => *a == b,
        (RetryOn::Connect, Failure::Connect) | (RetryOn::Timeout, Failure::Timeout) => true,
        _ => false,
    })
}

/// The wait before the `n`th retry of the same target (n ≥ 1):
/// exponential from `backoff`, capped at `max_backoff`, with equal jitter
/// (half fixed, half random) so that clients do not retry in lockstep.
pub fn backoff(config: &RoutingConfig, n: u32, seed: u64) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    let full = config
        .backoff
        .checked_mul(factor)
        .unwrap_or(config.max_backoff)
        .min(config.max_backoff);
    let half = full / 2;
    half + half.mul_f64(SplitMix(seed).unit())
}

/// `retry-after` in seconds (the HTTP-date form is not honoured).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (0.0..1e9)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

/// The HTTP status an upstream error event stands for, so that a stream
/// that opens with an error fails over like the same error as a status.
pub fn status_of_error(e: &ErrorPayload) -> u16 {
    let text = format!("{} {}", e.kind, e.code.as_deref().unwrap_or("")).to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["overload", "unavailable", "capacity"]) {
        503
    } else if has(&["rate_limit", "too_many", "resource_exhausted", "quota"]) {
        429
    } else if has(&["truncated", "stream_error"]) {
        502
    } else if has(&["timeout", "deadline"]) {
        504
    } else if has(&["authentication", "unauthenticated"]) {
        401
    } else if has(&["permission"]) {
        403
    } else if has(&["not_found"]) {
        404
    } else if has(&[
        "invalid",
        "bad_request",
        "badrequest",
        "context_length",
        "content_filter",
        "safety",
    ]) {
        400
    } else {
        500
    }
}
