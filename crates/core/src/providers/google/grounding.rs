//! Google Search grounding: `groundingMetadata` → a `google:grounding`
//! item and `url_citation` annotations.

use serde_json::{json, Map, Value};

use crate::builder::ResponseBuilder;
use crate::types::{ContentPart, Item, MessageContent};

/// Merges one chunk's `groundingMetadata` into what came before: Gemini
/// sends it whole on the last chunk as a rule, but some streams send parts
/// of it early (or an empty object); the last non-empty value of each
/// field wins.
pub(super) fn merge(acc: &mut Map<String, Value>, chunk: &Value) {
    let Some(fields) = chunk.as_object() else {
        return;
    };
    for (k, v) in fields {
        let empty = match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            acc.insert(k.clone(), v.clone());
        }
    }
}

/// Annotates the open text part of `message` with the grounding supports.
pub(super) fn annotate(meta: &Map<String, Value>, message: usize, b: &mut ResponseBuilder) {
    let text = match b.response().output.get(message) {
        Some(Item::Message(m)) => match &m.content {
            MessageContent::Parts(parts) => match parts.last() {
                Some(ContentPart::OutputText(t)) => t.text.clone(),
                _ => return,
            },
            _ => return,
        },
        _ => return,
    };
    let chunks = meta.get("groundingChunks").and_then(Value::as_array);
    let supports = meta.get("groundingSupports").and_then(Value::as_array);
    // UTF-8 byte offset → character offset; None off a char boundary.
    let chars = |byte: u64| -> Option<usize> {
        let byte = usize::try_from(byte).ok()?;
        text.get(..byte).map(|s| s.chars().count())
    };
    for support in supports.into_iter().flatten() {
        let segment = &support["segment"];
        // A start of 0 is left out of the JSON.
        let start = segment["startIndex"].as_u64().unwrap_or(0);
        let (Some(end), Some(start)) = (segment["endIndex"].as_u64().and_then(chars), chars(start))
        else {
            continue;
        };
        for i in support["groundingChunkIndices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
        {
            let web = chunks
                .and_then(|c| c.get(usize::try_from(i).ok()?))
                .map(|c| &c["web"]);
            let Some(url) = web.and_then(|w| w["uri"].as_str()) else {
                continue;
            };
            let title = web.and_then(|w| w["title"].as_str()).unwrap_or_default();
            b.annotation(
                message,
                json!({"type": "url_citation", "url": url, "title": title, "start_index": start, "end_index": end}),
            );
        }
    }
}

/// The metadata as an output item of its own.
pub(super) fn item(meta: Map<String, Value>) -> Item {
    let mut v = meta;
    v.insert("type".into(), json!("google:grounding"));
    Item::Other(Value::Object(v))
}
