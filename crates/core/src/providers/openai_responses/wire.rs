//! Mapping between OpenAI's item types and the spec's, and the borrowed
//! shape of the stream's hot events.

use serde::Deserialize;
use serde_json::Value;

use crate::providers::openai_chat::wire::Text;
use crate::types::Item;

/// The first read of every stream event: its type, output index and
/// delta, borrowed from the event's text; everything else is skipped
/// without being built. Deltas (most of a stream) and the lifecycle
/// events need no more than this.
#[derive(Debug, Deserialize)]
pub(super) struct Head<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Text<'a>,
    #[serde(default)]
    pub output_index: Option<Value>,
    #[serde(default, borrow)]
    pub delta: Text<'a>,
    /// `output_text.done`'s whole text.
    #[serde(default, borrow)]
    pub text: Text<'a>,
    /// `function_call_arguments.done`'s whole arguments.
    #[serde(default, borrow)]
    pub arguments: Text<'a>,
    /// `content_part.added`'s part (its type is all that is read).
    #[serde(default, borrow)]
    pub part: Option<PartHead<'a>>,
    /// `output_item.added`'s and `.done`'s item, as far as it opens one.
    #[serde(default, borrow)]
    pub item: Option<ItemHead<'a>>,
    /// The lifecycle and terminal events' response, as far as the
    /// outcome and usage need it (its output is skipped, not built).
    #[serde(default)]
    pub response: Option<Final>,
}

/// What opening an item needs of it.
#[derive(Debug, Deserialize)]
pub(super) struct ItemHead<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Text<'a>,
    #[serde(default, borrow)]
    pub id: Text<'a>,
    #[serde(default, borrow)]
    pub call_id: Text<'a>,
    #[serde(default, borrow)]
    pub name: Text<'a>,
    #[serde(default, borrow)]
    pub phase: Text<'a>,
    #[serde(default, borrow)]
    pub encrypted_content: Text<'a>,
}

/// `output_item.done` of a spec item type, read straight into the item.
#[derive(Debug, Deserialize)]
pub(super) struct ItemDone {
    pub item: Item,
}

/// Whether an upstream item type is one the spec defines.
pub(super) fn is_spec_item(kind: &str) -> bool {
    SPEC_ITEM_TYPES.contains(&kind)
}

/// The type of a content part.
#[derive(Debug, Deserialize)]
pub(super) struct PartHead<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Text<'a>,
}

/// The response object of a lifecycle or terminal event
/// (`response.completed`, `.incomplete`, `.failed`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Final {
    #[serde(default)]
    pub status: Value,
    #[serde(default)]
    pub usage: Value,
    #[serde(default)]
    pub incomplete_details: Value,
    #[serde(default)]
    pub error: Value,
}

impl Final {
    /// As the JSON object [`super::response::outcome`] reads.
    pub fn into_value(self) -> Value {
        serde_json::json!({
            "status": self.status,
            "incomplete_details": self.incomplete_details,
            "error": self.error,
        })
    }
}

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
        if let Ok(item) = Item::deserialize(&raw) {
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
