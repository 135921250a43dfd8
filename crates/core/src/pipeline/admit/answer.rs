//! What the limit stage says to the client: OpenAI's `x-ratelimit-*`
//! headers on every answer, and a 429 in the spec's envelope when a
//! request does not fit, with `retry-after` (and `retry-after-ms`) so the
//! official SDKs wait the right time, and `x-should-retry: false` when
//! waiting will not help.

use crate::error::ApiError;
use crate::host::HttpResponse;
use crate::quota::{Refusal, RefusalKind, Reply, ScopeOp};

use crate::pipeline::respond::error_response;

/// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`,
/// `1s`, `6m0s`, `1h2m3s`.
pub(crate) fn reset(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms.div_ceil(1000);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// The `x-ratelimit-*` headers after a reservation: for requests and for
/// tokens, the scope with the least room left.
pub(crate) fn headers(scopes: &[ScopeOp], reply: &Reply) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let tightest = |limit: fn(&ScopeOp) -> Option<u64>,
                    used: fn(&crate::quota::ScopeStatus) -> (u64, u64)| {
        scopes
            .iter()
            .zip(&reply.scopes)
            .filter_map(|(s, st)| {
                let l = limit(s)?;
                let (u, reset) = used(st);
                Some((l, l.saturating_sub(u), reset))
            })
            .min_by_key(|(_, left, _)| *left)
    };
    let requests = tightest(|s| s.rpm, |st| (st.requests, st.reset_requests_ms));
    let tokens = tightest(|s| s.tpm, |st| (st.tokens, st.reset_tokens_ms));
    for (kind, t) in [("requests", requests), ("tokens", tokens)] {
        if let Some((limit, left, ms)) = t {
            out.push((format!("x-ratelimit-limit-{kind}"), limit.to_string()));
            out.push((format!("x-ratelimit-remaining-{kind}"), left.to_string()));
            out.push((format!("x-ratelimit-reset-{kind}"), reset(ms)));
        }
    }
    out
}

/// The envelope of the 429 for a request that does not fit.
pub(crate) fn refusal_error(r: &Refusal) -> ApiError {
    let scope = scope_name(r);
    let (code, message) = match r.kind {
        RefusalKind::Budget if r.retry_after_ms.is_none() && r.need > r.limit => (
            "budget_exceeded",
            format!("this request's worst-case cost (${:.6}) is more than {scope}'s whole budget (${:.2}); lower max_output_tokens", r.need, r.limit),
        ),
        RefusalKind::Budget => (
            "budget_exceeded",
            match (r.spent, r.held) {
                (Some(spent), Some(held)) => format!(
                    "{scope}'s budget is ${:.2} this period: ${spent:.6} is spent, ${held:.6} is held by requests in flight (at their worst case until they end), and this request may cost up to ${:.6}; set max_output_tokens lower to ask for less",
                    r.limit, r.need
                ),
                _ => format!("{scope} has spent its budget of ${:.2} for this period (in-flight requests count at their worst case until they end)", r.limit),
            },
        ),
        RefusalKind::Tokens if r.retry_after_ms.is_none() => (
            "rate_limit_exceeded",
            format!("this request needs {} tokens (its input estimate plus max_output_tokens), more than {scope}'s limit of {} tokens per minute; lower max_output_tokens", r.need, r.limit),
        ),
        RefusalKind::Tokens => (
            "rate_limit_exceeded",
            format!("{scope} has reached its limit of {} tokens per minute", r.limit),
        ),
        RefusalKind::Concurrent => (
            "rate_limit_exceeded",
            format!("{scope} has {} requests in flight, its limit", r.limit),
        ),
        RefusalKind::Requests => (
            "rate_limit_exceeded",
            format!("{scope} has reached its limit of {} requests per minute", r.limit),
        ),
    };
    let mut err = ApiError::new(429, "rate_limit_error", Some(code), None, message);
    // Whole seconds, rounded up: never sooner than it will fit.
    err.retry_after = r
        .retry_after_ms
        .map(|ms| ms.div_ceil(1000).max(1).to_string());
    err
}

/// The 429 for a request that does not fit, with the headers that tell
/// the SDKs when (and whether) to try again.
pub(crate) fn refusal(r: &Refusal) -> HttpResponse {
    let mut resp = error_response(&refusal_error(r));
    if let Some(ms) = r.retry_after_ms {
        resp.headers.push(("retry-after-ms".into(), ms.to_string()));
    }
    // The SDKs retry a 429 unless told not to: a spent budget, or a
    // request larger than the limit, will not fit in a few seconds.
    let soon = r.retry_after_ms.is_some_and(|ms| ms <= 60_000);
    resp.headers
        .push(("x-should-retry".into(), soon.to_string()));
    let (kind, limit) = match r.kind {
        RefusalKind::Requests => ("requests", Some(r.limit)),
        RefusalKind::Tokens => ("tokens", Some(r.limit)),
        RefusalKind::Concurrent | RefusalKind::Budget => ("", None),
    };
    if let Some(limit) = limit {
        resp.headers
            .push((format!("x-ratelimit-limit-{kind}"), format!("{limit}")));
        resp.headers
            .push((format!("x-ratelimit-remaining-{kind}"), "0".into()));
        resp.headers.push((
            format!("x-ratelimit-reset-{kind}"),
            reset(r.retry_after_ms.unwrap_or(0)),
        ));
    }
    resp
}

/// `key 'svc-a'`, `team 'alpha'`, with the model when the scope is one.
fn scope_name(r: &Refusal) -> String {
    let who = match r.shard.split_once(':') {
        Some(("team", t)) => format!("team '{t}'"),
        Some(("key", k)) => format!("key '{k}'"),
        _ => format!("'{}'", r.shard),
    };
    match r.name.strip_prefix("m:") {
        Some(m) => format!("{who} (model '{m}')"),
        None => who,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn resets_read_like_openai_s() {
        let r = super::reset;
        assert_eq!(
            [r(20), r(1000), r(1001), r(59_000), r(360_000), r(3_723_000)],
            ["20ms", "1s", "2s", "59s", "6m0s", "1h2m3s"]
        );
    }
}
