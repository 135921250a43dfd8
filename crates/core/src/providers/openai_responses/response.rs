//! OpenAI Responses body → the builder.

use serde_json::Value;

use super::wire::item_from_upstream;
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{parse_json, responses_usage, stream_error, translate_error};

/// Reads a non-streaming response.
pub fn parse(
    provider: &str,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, TranslateError> {
    let v = parse_json(provider, body)?;
    let Some(output) = v.get("output").and_then(Value::as_array) else {
        return Err(translate_error(
            provider,
            "the response has no `output` array",
            body,
        ));
    };
    for raw in output {
        b.add_item(item_from_upstream(raw.clone()));
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        b.usage(responses_usage(u));
    }
    Ok(outcome(provider, &v))
}

/// The outcome a final upstream response object reports.
pub(super) fn outcome(provider: &str, response: &Value) -> Outcome {
    match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => Outcome::Incomplete(
            response
                .pointer("/incomplete_details/reason")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
        ),
        Some("failed") => {
            let err = response
                .get("error")
                .filter(|e| e.is_object())
                .cloned()
                .unwrap_or_default();
            Outcome::Failed(stream_error(provider, &err))
        }
        _ => Outcome::Completed,
    }
}
