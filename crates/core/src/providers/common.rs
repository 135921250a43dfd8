//! Helpers shared by the OpenAI-style protocols.

use bytes::Bytes;
use serde_json::Value;

use crate::error::{RequestError, TranslateError, UpstreamError};
use crate::types::{ErrorPayload, Item, Usage};

/// Joins a base URL and an API path, without doubling a `/v1` the
/// operator already put in the endpoint.
pub fn join_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path.strip_prefix("/v1") {
        Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}

/// A model or deployment name as one URL path segment: percent-encoded
/// (everything but `A-Z a-z 0-9 - . _ ~`), so that nothing a client sends
/// can change the upstream path or query; `.` and `..` are refused.
pub(crate) fn path_segment(name: &str) -> Result<String, RequestError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(RequestError::InvalidValue {
            param: "model".into(),
            message: format!("`{name}` cannot name an upstream model"),
        });
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// The request's fields the gateway does not know (`top_k`,
/// `repetition_penalty`, …), copied into a non-Responses upstream body
/// only when the operator lists them in `providers.<name>.passthrough`: a
/// Responses-only field (`client_metadata`, `conversation`, `user`, …)
/// copied verbatim would make a real Anthropic or Gemini API refuse the
/// request.
pub(crate) fn copy_allowed_extras(
    body: &crate::types::CreateResponseBody,
    provider: &crate::config::ProviderConfig,
    out: &mut serde_json::Map<String, Value>,
) {
    for (k, v) in &body.extra {
        if k != "stop" && provider.passthrough.iter().any(|p| p == k) {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// A request feature a protocol cannot express: rejected, never dropped.
pub(crate) fn unsupported(
    param: impl Into<String>,
    provider: &str,
    protocol: &str,
    what: impl std::fmt::Display,
) -> RequestError {
    RequestError::Unsupported {
        param: param.into(),
        message: format!("{what} is not supported by provider '{provider}' ({protocol})"),
    }
}

/// The error for input item `i` when the protocol has no form for it
/// (`item_reference`, provider extension items).
pub(crate) fn unsupported_item(
    i: usize,
    item: &Item,
    provider: &str,
    protocol: &str,
) -> RequestError {
    match item {
        Item::ItemReference(_) => unsupported(
            format!("input[{i}]"),
            provider,
            protocol,
            "`item_reference`",
        ),
        other => unsupported(
            format!("input[{i}].type"),
            provider,
            protocol,
            format_args!("item type `{}`", other.type_name()),
        ),
    }
}

/// The error for tool `i` when it is not a function.
pub(crate) fn unsupported_tool(
    i: usize,
    tool: &Value,
    provider: &str,
    protocol: &str,
) -> RequestError {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("?");
    unsupported(
        format!("tools[{i}].type"),
        provider,
        protocol,
        format_args!("tool type `{kind}`"),
    )
}

/// Function-call arguments (a JSON string) as a JSON value, for protocols
/// that carry them as objects; empty arguments are `{}`.
pub(crate) fn parse_arguments(
    arguments: &str,
    i: usize,
    provider: &str,
) -> Result<Value, RequestError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(arguments).map_err(|e| RequestError::InvalidValue {
        param: format!("input[{i}].arguments"),
        message: format!("must be a JSON object for provider '{provider}': {e}"),
    })
}

/// A base64 `data:` URL's media type and payload.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

/// Appends `items` under `key` to the last turn when it has the same role,
/// or starts a new turn: the protocols that want consecutive same-role
/// turns merged (parallel tool calls in one assistant turn, their results
/// in one user turn).
pub(crate) fn push_merged(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut().filter(|t| t["role"] == role) {
        if let Some(list) = last[key].as_array_mut() {
            list.extend(items);
            return;
        }
    }
    let mut turn = serde_json::Map::new();
    turn.insert("role".into(), Value::String(role.to_owned()));
    turn.insert(key.to_owned(), Value::Array(items));
    turns.push(Value::Object(turn));
}

/// `{"error":{"message","type","param","code"}}`, or anything else.
pub(crate) fn parse_openai_style_error(
    provider: &str,
    status: u16,
    retry_after: Option<String>,
    raw: Bytes,
) -> UpstreamError {
    let v: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let err = v.get("error").unwrap_or(&v);
    let str_of = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    let message = str_of("message")
        .or_else(|| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&raw);
            let text: String = text.chars().take(300).collect();
            if text.trim().is_empty() {
                "(empty body)".to_owned()
            } else {
                text
            }
        });
    let code = str_of("code").or_else(|| str_of("type"));
    UpstreamError::Status {
        provider: provider.to_owned(),
        status,
        message,
        code,
        param: str_of("param"),
        retry_after,
        raw,
    }
}

/// An error payload from an in-stream OpenAI-style error object.
pub(crate) fn stream_error(provider: &str, err: &Value) -> ErrorPayload {
    let s = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    ErrorPayload {
        kind: s("type").unwrap_or_else(|| "server_error".into()),
        code: s("code").or_else(|| s("type")),
        message: format!(
            "upstream '{provider}' reported an error: {}",
            s("message").unwrap_or_else(|| err.to_string())
        ),
        param: s("param"),
    }
}

/// The payload for an upstream body that could not be read.
pub(crate) fn translate_error(
    provider: &str,
    message: impl Into<String>,
    raw: &[u8],
) -> TranslateError {
    TranslateError {
        provider: provider.to_owned(),
        message: message.into(),
        raw: Bytes::copy_from_slice(raw),
    }
}

/// Parses one upstream SSE event's JSON (`what` names it in the error).
pub(crate) fn parse_event(
    provider: &str,
    ev: &crate::sse::SseEvent,
    what: &str,
) -> Result<Value, TranslateError> {
    serde_json::from_str(&ev.data).map_err(|e| {
        translate_error(
            provider,
            format!("invalid {what} JSON: {e}"),
            ev.data.as_bytes(),
        )
    })
}

/// Parses an upstream JSON body.
pub(crate) fn parse_json(provider: &str, body: &[u8]) -> Result<Value, TranslateError> {
    serde_json::from_slice(body)
        .map_err(|e| translate_error(provider, format!("invalid JSON: {e}"), body))
}

/// Reads a `u64` at a path of keys.
pub(crate) fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Usage in the Responses shape (`input_tokens`, …).
pub(crate) fn responses_usage(u: &Value) -> Usage {
    Usage::from_counts(
        u64_at(u, &["input_tokens"]),
        u64_at(u, &["output_tokens"]),
        u64_at(u, &["total_tokens"]),
        u64_at(u, &["input_tokens_details", "cached_tokens"]),
        u64_at(u, &["output_tokens_details", "reasoning_tokens"]),
    )
}

/// Usage in the Chat Completions shape (`prompt_tokens`, …).
pub(crate) fn chat_usage(u: &Value) -> Usage {
    let input = u64_at(u, &["prompt_tokens"]);
    let output = u64_at(u, &["completion_tokens"]);
    let total = u
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(input.saturating_add(output));
    Usage::from_counts(
        input,
        output,
        total,
        u64_at(u, &["prompt_tokens_details", "cached_tokens"]),
        u64_at(u, &["completion_tokens_details", "reasoning_tokens"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_url_does_not_double_v1() {
        assert_eq!(
            join_url("https://api.openai.com", "/v1/responses"),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            join_url("https://api.openai.com/v1/", "/v1/responses"),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            join_url("https://api.groq.com/openai", "/v1/chat/completions"),
            "https://api.groq.com/openai/v1/chat/completions"
        );
    }
}
