//! Gemini `generateContent` body → the builder; Gemini error bodies.

use bytes::Bytes;
use serde_json::Value;

use super::stream::GoogleStream;
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::{ApiError, UpstreamError};
use crate::providers::common::parse_json;

/// Reads a non-streaming response. A prompt Gemini refused to answer is
/// an error (400, `content_filter`), not an empty response.
pub fn parse(provider: &str, body: &[u8], b: &mut ResponseBuilder) -> Result<Outcome, ApiError> {
    let v = parse_json(provider, body)?;
    let mut t = GoogleStream::new(provider);
    if v.get("candidates").is_none() {
        if let Some(err) = t.blocked(&v) {
            let mut e = ApiError::new(
                400,
                &err.kind,
                err.code.as_deref(),
                err.param.as_deref(),
                err.message,
            );
            e.retry_after = None;
            return Err(e);
        }
    }
    t.on_value(&v, b);
    Ok(t.finish(b))
}

/// A Gemini error response. `retry-after` comes from the header or, when
/// absent, from the body's `RetryInfo.retryDelay` (rounded up).
pub(crate) fn upstream_error(
    provider: &str,
    status: u16,
    retry_after: Option<String>,
    raw: Bytes,
) -> UpstreamError {
    let v: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let err = v.get("error").unwrap_or(&v);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&raw).chars().take(300).collect());
    let delay = err
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|d| {
            let secs: f64 = d
                .get("retryDelay")?
                .as_str()?
                .trim_end_matches('s')
                .parse()
                .ok()?;
            Some(format!("{}", secs.ceil() as u64))
        });
    UpstreamError::Status {
        provider: provider.to_owned(),
        status,
        message,
        code: err
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase),
        param: None,
        retry_after: retry_after.or(delay),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_becomes_retry_after() {
        let body = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}"#;
        let e = upstream_error("g", 429, None, Bytes::from_static(body));
        let api = ApiError::from(e);
        assert_eq!((api.status, api.retry_after.as_deref()), (429, Some("35")));
        assert_eq!(api.payload.code.as_deref(), Some("resource_exhausted"));
        let e = upstream_error("g", 429, Some("3".into()), Bytes::from_static(body));
        assert_eq!(
            ApiError::from(e).retry_after.as_deref(),
            Some("3"),
            "the header wins"
        );
    }
}
