//! Open Responses request → OpenAI Responses request.

use serde_json::Value;

use super::wire::strip_slug;
use crate::error::RequestError;
use crate::routing::Route;
use crate::types::CreateResponseBody;

/// Whether encrypted reasoning carries another provider's slug.
fn foreign(encrypted: &str) -> bool {
    encrypted.starts_with(crate::providers::anthropic::SLUG)
        || encrypted.starts_with(crate::providers::google::SLUG)
}

/// The JSON body. Unknown fields pass through unchanged; the
/// gateway's own fields (`provider`, and `previous_response_id`, which
/// the gateway has already expanded) do not.
pub fn build(
    route: &Route<'_>,
    body: &CreateResponseBody,
    stream: bool,
) -> Result<Value, RequestError> {
    let mut json = serde_json::to_value(body).map_err(|e| RequestError::InvalidValue {
        param: "input".into(),
        message: format!("cannot encode request: {e}"),
    })?;
    if let Some(obj) = json.as_object_mut() {
        obj.remove("provider");
        obj.remove("previous_response_id");
        obj.insert(
            "model".into(),
            Value::String(route.upstream_model.to_owned()),
        );
        obj.insert("stream".into(), Value::Bool(stream));
        if let Some(Value::Array(items)) = obj.get_mut("input") {
            // Reasoning another provider signed means nothing to OpenAI.
            items.retain(|i| {
                !(i["type"] == "reasoning" && i["encrypted_content"].as_str().is_some_and(foreign))
            });
            items.iter_mut().for_each(strip_slug);
        }
        if let Some(Value::Array(tools)) = obj.get_mut("tools") {
            tools.iter_mut().for_each(strip_slug);
        }
    }
    Ok(json)
}
