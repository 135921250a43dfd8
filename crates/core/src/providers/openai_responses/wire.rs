//! Mapping between OpenAI's item types and the spec's.

use serde_json::Value;

use crate::types::Item;

/// The provider slug for OpenAI extensions.
pub(crate) const SLUG: &str = "openai:";

const SPEC_ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "compaction",
];

/// An upstream output item as a spec item: known types parsed, the rest
/// kept under the `openai:` slug with `id` and `status` present.
pub(super) fn item_from_upstream(mut raw: Value) -> Item {
    let kind = raw
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if SPEC_ITEM_TYPES.contains(&kind.as_str()) {
        if let Ok(item) = serde_json::from_value::<Item>(raw.clone()) {
            return item;
        }
    }
    if let Some(obj) = raw.as_object_mut() {
        if !kind.contains(':') {
            obj.insert("type".into(), Value::String(format!("{SLUG}{kind}")));
        }
        obj.entry("status")
            .or_insert_with(|| Value::String("completed".into()));
    }
    Item::Other(raw)
}

/// The reverse: an `openai:` item as OpenAI knows it.
pub(super) fn strip_slug(item: &mut Value) {
    let Some(kind) = item.get("type").and_then(Value::as_str) else {
        return;
    };
    if let Some(bare) = kind.strip_prefix(SLUG) {
        let bare = bare.to_owned();
        item["type"] = Value::String(bare);
    }
}
