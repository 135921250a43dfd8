//! The attempt loop: send the request to the plan's candidates in turn,
//! within `routing.retries` and the deadline, until one produces output.
//! A failure the policy retries moves on (backing off before a target is
//! tried again); any other is returned at once. Every outcome goes into
//! the routing state.

pub(crate) mod answer;
pub(crate) mod compact;
pub(crate) mod live;
mod one;

use std::time::Duration;

use bytes::Bytes;

use crate::builder::ResponseBuilder;
use crate::config::Config;
use crate::error::{ApiError, GatewayError};
use crate::host::Host;
use crate::providers;
use crate::routing::{self, Availability, Caller, Candidate, Failure, TargetOutcome};
use crate::types::{CreateResponseBody, ResponseResource};

use super::clock::now_ms;
use answer::AttemptError;
use live::Live;

/// What every attempt of one request shares.
pub(crate) struct Job<'a> {
    /// The validated, expanded request.
    pub body: &'a CreateResponseBody,
    /// Whether the client streams.
    pub stream: bool,
    /// The response every attempt starts from.
    pub skeleton: &'a ResponseResource,
    /// Seeds the builder's ids.
    pub id_seed: u64,
    /// Randomness for backoff jitter.
    pub seed: u64,
    /// The request deadline, in ms since the epoch.
    pub deadline: u64,
    /// The passthrough fields the caller's key allows.
    pub caller_passthrough: &'a [String],
    /// The caller (breakers count failures per principal).
    pub principal: &'a str,
    /// The request's record: each attempt goes in, and its trace context
    /// goes upstream.
    pub rec: &'a crate::observe::Recorder,
    /// The client's own request, when it came by another front door: sent
    /// as written to targets of its protocol.
    pub verbatim: Option<&'a providers::verbatim::Verbatim>,
    /// `POST /v1/responses/compact` on the upstream's own endpoint: only
    /// Responses targets take it, and their answer is passed on as it is.
    pub compact: bool,
    /// A continuation (`resume`): how the target takes the partial answer.
    pub resume: Option<crate::pipeline::resume::request::Mode>,
}

/// The attempt that produced output.
pub(crate) struct Served {
    /// Who served it.
    pub target: Target,
    /// Upstream requests made, this one included.
    pub attempts: u32,
    /// The response so far.
    pub body: ServedBody,
    /// Hosted tools left out for this target's protocol.
    pub dropped_tools: Vec<String>,
    /// Attempts before it that reached an upstream and timed out: the
    /// provider may have generated (and billed) an answer nobody saw.
    pub billed: u32,
}

/// A target as the response headers and the breaker name it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The configured provider name.
    pub provider: String,
    /// The upstream model id.
    pub model: String,
    /// The routing state key.
    pub key: String,
    /// The configured model that listed it (the requested one or a
    /// fallback): its prices price the response.
    pub listed_by: String,
    /// A target of `models:` (with routing state).
    pub configured: bool,
}

/// A served response: settled (not streaming), or streaming on.
pub(crate) enum ServedBody {
    /// Not streaming: the builder, settled.
    Whole(Box<ResponseBuilder>),
    /// Streaming: the first output is in the builder, the rest upstream.
    Stream(Box<Live>),
    /// An upstream's own compaction, as it answered.
    Compacted(Bytes),
}

/// Why the loop gave up: the error for the client, the attempts made and
/// the last target tried.
pub(crate) struct GaveUp {
    pub error: ApiError,
    pub attempts: u32,
    pub last: Option<Target>,
    /// Attempts that reached an upstream and timed out (see
    /// [`Served::billed`]).
    pub billed: u32,
}

/// Runs the attempt loop over `candidates`.
pub(crate) async fn run<H: Host>(
    config: &Config,
    host: &H,
    job: &Job<'_>,
    candidates: &[Candidate<'_>],
) -> Result<Served, GaveUp> {
    let policy = &config.routing;
    let max_attempts = policy.retries.saturating_add(1);
    let mut tried = vec![0u32; candidates.len()];
    // Targets that cannot take this request at all.
    let mut excluded = vec![false; candidates.len()];
    let mut gave_up = GaveUp {
        error: ApiError::internal("no target could be tried"),
        attempts: 0,
        last: None,
        billed: 0,
    };
    let mut cursor = 0usize;
    let mut skipped = 0usize;
    while gave_up.attempts < max_attempts && skipped < candidates.len() {
        let i = cursor % candidates.len();
        cursor += 1;
        let c = &candidates[i];
        if excluded[i] {
            skipped += 1;
            continue;
        }
        let now = now_ms(host);
        if now >= job.deadline {
            break;
        }
        if tried[i] > 0 {
            // Trying a target again: back off, or wait out its cooldown
            // when that is short enough.
            let mut wait =
                routing::backoff(policy, tried[i], job.seed ^ u64::from(gave_up.attempts));
            let principal = job.principal;
            // A target the client named itself has no routing state.
            let blocked = c
                .configured
                .then(|| host.with_routing(|s| s.availability_for(&c.key, now, principal)));
            if let Some(Availability::Blocked { until, .. }) = blocked {
                wait = wait.max(Duration::from_millis(until - now));
            }
            if wait > policy.max_backoff
                || now.saturating_add(routing::millis(wait)) >= job.deadline
            {
                skipped += 1;
                continue;
            }
            host.sleep(wait).await;
        }
        let now = now_ms(host);
        let lease = policy.circuit_breaker.cooldown;
        let principal = job.principal;
        if c.configured && !host.with_routing(|s| s.acquire_for(&c.key, now, lease, principal)) {
            skipped += 1;
            continue;
        }
        skipped = 0;
        tried[i] += 1;
        gave_up.attempts += 1;
        gave_up.last = Some(target_of(c));
        let (result, started) = recorded(config, host, job, c).await;
        match result {
            Ok((body, dropped_tools)) => {
                let ttfb = Duration::from_millis(now_ms(host).saturating_sub(started));
                // A stream may already have failed right after its first
                // output: the client keeps that output, the breaker counts
                // the failure.
                let failed_after_output =
                    matches!(&body, ServedBody::Stream(live) if live.b.failure().is_some());
                let outcome = if failed_after_output {
                    TargetOutcome::Failure {
                        retry_after: None,
                        status: 502,
                    }
                } else {
                    TargetOutcome::Success { ttfb }
                };
                record(config, host, job, c, outcome);
                return Ok(Served {
                    target: target_of(c),
                    attempts: gave_up.attempts,
                    body,
                    dropped_tools,
                    billed: gave_up.billed,
                });
            }
            Err(e) => {
                let Some(failure) = e.failure else {
                    // This target cannot take the request (no upstream
                    // call was made): the first candidate's verdict
                    // stands; a later one is skipped.
                    gave_up.attempts -= 1;
                    excluded[i] = true;
                    skipped += 1;
                    if tried.iter().sum::<u32>() == 1 {
                        gave_up.error = e.error;
                        return Err(gave_up);
                    }
                    continue;
                };
                let retryable = routing::is_retryable(policy, failure);
                let outcome = if retryable || failure.status() >= 500 {
                    TargetOutcome::Failure {
                        // An upstream's word, capped: one answer must not
                        // take a target away for long.
                        retry_after: e.retry_after.map(|ra| ra.min(policy.max_retry_after)),
                        status: failure.status(),
                    }
                } else {
                    TargetOutcome::Answered
                };
                record(config, host, job, c, outcome);
                // A target that timed out is not tried again for this
                // request: a request that is slow for its own reasons
                // (a huge output) must not fail the same target over and
                // over.
                if failure == Failure::Timeout {
                    excluded[i] = true;
                    // The request went out; the provider may be
                    // generating its answer all the same.
                    gave_up.billed += 1;
                }
                gave_up.error = e.error;
                if !retryable {
                    return Err(gave_up);
                }
            }
        }
    }
    if now_ms(host) >= job.deadline && gave_up.attempts == 0 {
        gave_up.error = deadline_error(config);
    }
    Err(gave_up)
}

pub(crate) fn target_of(c: &Candidate<'_>) -> Target {
    Target {
        provider: c.route.provider_name.to_owned(),
        model: c.route.upstream_model.to_owned(),
        key: c.key.clone(),
        listed_by: c.model.to_owned(),
        configured: c.configured,
    }
}

/// One attempt on `c`, entered in the request's record as it starts (its
/// span, target and start) and completed when it ends (status, error,
/// first output); an attempt that could not be built for `c` is taken
/// out again. The loop's attempts and a continuation's alike. Returns
/// the result and when it started (ms).
pub(crate) async fn recorded<H: Host>(
    config: &Config,
    host: &H,
    job: &Job<'_>,
    c: &Candidate<'_>,
) -> (Result<(ServedBody, Vec<String>), AttemptError>, u64) {
    let started = now_ms(host);
    let mut span_id = [0u8; 8];
    host.random(&mut span_id);
    job.rec.with(|r| {
        r.attempts.push(crate::observe::Attempt {
            provider: c.route.provider_name.to_owned(),
            protocol: crate::observe::provider_name(c.route.provider.kind),
            model: c.route.upstream_model.to_owned(),
            span_id,
            start_ms: started,
            ..Default::default()
        })
    });
    let result = one::attempt(config, host, job, c, &span_id).await;
    let ended = now_ms(host);
    job.rec.with(|r| match &result {
        Ok(_) => {
            if let Some(a) = r.attempts.last_mut() {
                (a.first_ms, a.end_ms, a.status) = (Some(ended), ended, Some(200));
            }
        }
        Err(e) if e.failure.is_none() => {
            r.attempts.pop();
        }
        Err(e) => {
            if let Some(a) = r.attempts.last_mut() {
                let p = &e.error.payload;
                a.end_ms = ended;
                a.status = e.failure.map(|f| f.status());
                a.error = Some(p.code.clone().unwrap_or_else(|| p.kind.clone()));
            }
        }
    });
    (result, started)
}

/// Records an outcome of a candidate in the routing state.
fn record<H: Host>(
    config: &Config,
    host: &H,
    job: &Job<'_>,
    c: &Candidate<'_>,
    outcome: TargetOutcome,
) {
    let caller = Caller {
        request: &job.skeleton.id,
        principal: job.principal,
    };
    record_target(config, host, &target_of(c), caller, outcome);
}

/// Records an outcome of a configured target in the routing state (a
/// target the client named itself has none).
pub(crate) fn record_target<H: Host>(
    config: &Config,
    host: &H,
    target: &Target,
    caller: Caller<'_>,
    outcome: TargetOutcome,
) {
    if !target.configured {
        return;
    }
    let now = now_ms(host);
    let breaker = &config.routing.circuit_breaker;
    host.with_routing(|s| s.record_by(&target.key, outcome, now, breaker, caller));
}

fn deadline_error(config: &Config) -> ApiError {
    GatewayError::Deadline(config.routing.deadline).into()
}
