//! Ingress protocols other than Open Responses: each decodes its request
//! into a `CreateResponseBody` for the one pipeline, and encodes the
//! pipeline's response and events back into its own shapes.

pub mod chat;
pub mod messages;

use serde_json::{Map, Value};

/// How a finished response ended, in the terms both front doors map
/// onto their own (`finish_reason`, `stop_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `max_output_tokens` ran out.
    MaxTokens,
    /// A content filter stopped it.
    ContentFilter,
    /// It called tools.
    ToolCalls,
    /// It finished.
    Stop,
}

/// How `resp` (a response resource as JSON) ended.
pub(crate) fn ending(resp: &Value) -> Ending {
    let calls = resp["output"]
        .as_array()
        .is_some_and(|o| o.iter().any(|i| i["type"] == "function_call"));
    match resp["incomplete_details"]["reason"].as_str() {
        Some("max_output_tokens") => Ending::MaxTokens,
        Some("content_filter") => Ending::ContentFilter,
        _ if calls => Ending::ToolCalls,
        _ => Ending::Stop,
    }
}

/// The fields of a response the front doors' encoders read (`id`,
/// `created_at`, `model`, `output`, `usage`, `incomplete_details`) as
/// JSON. A tree of the whole response (some thirty fields, each a hashed
/// map entry) was a third of a Chat request's instructions.
pub(crate) fn slim(r: &crate::types::ResponseResource) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(r.id.as_str()));
    m.insert("created_at".into(), Value::from(r.created_at));
    m.insert("model".into(), Value::from(r.model.as_str()));
    m.insert(
        "output".into(),
        serde_json::to_value(&r.output).unwrap_or_default(),
    );
    m.insert(
        "usage".into(),
        serde_json::to_value(r.usage).unwrap_or_default(),
    );
    m.insert(
        "incomplete_details".into(),
        serde_json::to_value(&r.incomplete_details).unwrap_or_default(),
    );
    Value::Object(m)
}

/// What every decoded request ends with: nothing is stored (these APIs
/// have no conversation state), and `stream` as the client asked.
pub(crate) fn stateless(out: &mut Map<String, Value>, client: &Map<String, Value>) {
    out.insert("store".into(), Value::Bool(false));
    out.insert(
        "stream".into(),
        Value::Bool(client.get("stream") == Some(&Value::Bool(true))),
    );
}
