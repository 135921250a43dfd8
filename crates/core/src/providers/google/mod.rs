//! Google Gemini API (`POST {endpoint}/v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent?alt=sse`).
//!
//! Mapping notes (lossy points are listed here, nowhere else):
//! - `instructions` and system/developer messages become
//!   `systemInstruction`, in order.
//! - Thought signatures round-trip exactly. Each one becomes a `reasoning`
//!   item whose `encrypted_content` is `google:` + the signature, placed
//!   where the signature appeared: just before the function call it signs,
//!   or after the text it closes. Sent back, a signature item before a
//!   function call is put on that `functionCall` part, and any other one
//!   becomes an empty text part carrying it, as Gemini streams them.
//!   Thought summaries (`thought: true` parts) become the reasoning item's
//!   `summary`.
//! - Function call ids: Gemini's `id` when it sends one, otherwise a
//!   generated `call_…`. A `function_call_output` is matched to its call by
//!   `call_id` to recover the function name Gemini needs.
//! - Streamed function arguments (`partialArgs`) are assembled and emitted
//!   as one arguments delta when the call completes.
//! - `web_search` becomes Google Search grounding (`google_search`). The
//!   `groundingMetadata` (merged over the stream's chunks) comes back as a
//!   `google:grounding` item after the message, and its supports as
//!   `url_citation` annotations on the message text (Gemini counts UTF-8
//!   bytes; the annotations count characters).
//! - A prompt blocked for safety is an error (400, `content_filter`); an
//!   answer stopped for safety is `incomplete` (`content_filter`).

mod grounding;
pub mod request;
pub mod response;
pub mod stream;

use serde_json::Value;

use crate::builder::Outcome;
use crate::providers::common::u64_at;
use crate::types::{ErrorPayload, Usage};

/// The slug on signatures this provider issued.
pub(crate) use crate::providers::seal::GOOGLE_SLUG as SLUG;

/// `finishReason` → how the response ended.
pub(crate) fn outcome_of(reason: Option<&str>) -> Outcome {
    match reason {
        Some("MAX_TOKENS") => Outcome::Incomplete("max_output_tokens".into()),
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
            | "LANGUAGE",
        ) => Outcome::Incomplete("content_filter".into()),
        _ => Outcome::Completed,
    }
}

/// `usageMetadata` → spec usage. Thoughts count as output, and as
/// reasoning tokens.
pub(crate) fn usage_of(u: &Value) -> Usage {
    let input = u64_at(u, &["promptTokenCount"]);
    let thoughts = u64_at(u, &["thoughtsTokenCount"]);
    let output = u64_at(u, &["candidatesTokenCount"]).saturating_add(thoughts);
    let total = u
        .get("totalTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(input.saturating_add(output));
    Usage::from_counts(
        input,
        output,
        total,
        u64_at(u, &["cachedContentTokenCount"]),
        thoughts,
    )
}

/// An in-body Gemini error (`{"code","message","status"}`) as a payload.
pub(crate) fn error_payload(provider: &str, err: &Value) -> ErrorPayload {
    let status = err
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN");
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    ErrorPayload {
        kind: if status == "RESOURCE_EXHAUSTED" {
            "too_many_requests"
        } else {
            "server_error"
        }
        .into(),
        code: Some(status.to_ascii_lowercase()),
        message: format!("upstream '{provider}' reported an error: {message}"),
        param: None,
    }
}
