//! Anthropic Messages API (`POST {endpoint}/v1/messages`).
//!
//! Mapping notes (lossy points are listed here, nowhere else):
//! - `instructions` and every system/developer message become the
//!   top-level `system`, in order: Messages has no mid-conversation system
//!   turns.
//! - Reasoning round-trips exactly: a `thinking` block becomes a
//!   `reasoning` item whose `reasoning_text` is the thinking, and a
//!   `redacted_thinking` block one with no text. Either block, whole and
//!   byte for byte, is sealed into `encrypted_content` (`providers::seal`)
//!   and rebuilt from it when sent back. Reasoning from other providers is
//!   not sent: Anthropic would reject its signature.
//! - `text.format` (json_schema / json_object) uses a tool named after the
//!   schema (`json` for json_object), forced when it is the only tool;
//!   beside other tools, `tool_choice` becomes `any` (the model calls its
//!   tools, then answers through this one). Its input comes back as
//!   `output_text`. That tool name is reserved for the request.
//! - An assistant `refusal` part is sent as text (Messages has no refusal
//!   input). A `refusal` stop becomes a refusal part and status
//!   `incomplete` (`content_filter`).
//! - Text citations are not mapped to annotations yet.
//! - `max_output_tokens` is required upstream: it defaults to the
//!   provider's `default_max_tokens` (4096).

pub mod request;
pub mod response;
pub mod stream;

use crate::types::{CreateResponseBody, TextFormat};

/// The slug on signatures this provider issued.
pub(crate) use crate::providers::seal::ANTHROPIC_SLUG as SLUG;

/// The API version header value.
pub const VERSION: &str = "2023-06-01";

/// The name of the tool that carries structured output, if the request
/// asks for JSON.
pub(crate) fn json_tool(body: &CreateResponseBody) -> Option<String> {
    match body.text.as_ref().and_then(|t| t.format.as_ref())? {
        TextFormat::JsonSchema { name, .. } => Some(name.clone()),
        TextFormat::JsonObject => Some("json".into()),
        TextFormat::Text => None,
    }
}

/// `stop_reason` → how the response ended.
pub(crate) fn outcome_of(stop_reason: Option<&str>) -> crate::Outcome {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => {
            crate::Outcome::Incomplete("max_output_tokens".into())
        }
        Some("refusal") => crate::Outcome::Incomplete("content_filter".into()),
        _ => crate::Outcome::Completed,
    }
}

/// The refusal text to show for a `refusal` stop.
pub(crate) fn refusal_text(stop_details: &serde_json::Value) -> String {
    stop_details
        .get("explanation")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("The model declined to respond.")
        .to_owned()
}

/// Anthropic usage → spec usage. Input counts cache reads and writes, as
/// the spec's `input_tokens` means every prompt token.
pub(crate) fn usage_of(
    u: &serde_json::Value,
    previous: Option<crate::types::Usage>,
) -> crate::types::Usage {
    use crate::providers::common::u64_at;
    let prev = previous.unwrap_or_default();
    let has = |k: &str| u.get(k).is_some_and(|v| v.is_u64());
    let cache_read = if has("cache_read_input_tokens") {
        u64_at(u, &["cache_read_input_tokens"])
    } else {
        prev.input_tokens_details.cached_tokens
    };
    let input = if has("input_tokens") {
        u64_at(u, &["input_tokens"])
            .saturating_add(u64_at(u, &["cache_creation_input_tokens"]))
            .saturating_add(cache_read)
    } else {
        prev.input_tokens
    };
    let output = if has("output_tokens") {
        u64_at(u, &["output_tokens"])
    } else {
        prev.output_tokens
    };
    // Anthropic reports no reasoning token count.
    crate::types::Usage::from_counts(input, output, input.saturating_add(output), cache_read, 0)
}
