//! Anthropic Messages body → the builder, by replaying the message as the
//! events a stream of it would carry.

use serde_json::{json, Value};

use super::stream::AnthropicStream;
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{parse_json, translate_error};

/// Reads a non-streaming response.
pub fn parse(
    provider: &str,
    json_tool: Option<String>,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, TranslateError> {
    let v = parse_json(provider, body)?;
    let Some(content) = v.get("content").and_then(Value::as_array) else {
        return Err(translate_error(
            provider,
            "the message has no `content` array",
            body,
        ));
    };
    let mut t = AnthropicStream::new(provider, json_tool);
    t.on_value(&json!({"type": "message_start", "message": {"usage": v.get("usage").cloned().unwrap_or_default()}}), b);
    for (i, block) in content.iter().enumerate() {
        t.on_value(
            &json!({"type": "content_block_start", "index": i, "content_block": block}),
            b,
        );
        t.on_value(&json!({"type": "content_block_stop", "index": i}), b);
    }
    t.on_value(
        &json!({"type": "message_delta", "delta": {"stop_reason": v.get("stop_reason"), "stop_details": v.get("stop_details")}}),
        b,
    );
    t.on_value(&json!({"type": "message_stop"}), b);
    Ok(t.finish(b))
}
