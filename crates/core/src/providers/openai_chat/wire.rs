//! Chat Completions chunk wire types, borrowed from the chunk's text:
//! only what the stream translator reads, parsed without building a JSON
//! tree (a tree per chunk was half the translation time). Unknown fields
//! are skipped; a field of an unexpected type reads as absent, as it did
//! through `Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// One `chat.completion.chunk` (or an error object in its place).
#[derive(Debug, Deserialize)]
pub(crate) struct Chunk<'a> {
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default, borrow)]
    pub id: Text<'a>,
    #[serde(default)]
    pub usage: Option<Value>,
    #[serde(default, borrow)]
    pub choices: Option<Vec<Choice<'a>>>,
}

/// One choice of a chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct Choice<'a> {
    #[serde(default)]
    pub index: Option<Value>,
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Text<'a>,
}

/// What a choice adds (a chunk's `delta`, a completion's `message`).
#[derive(Debug, Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Text<'a>,
    #[serde(default, borrow)]
    pub reasoning_content: Text<'a>,
    #[serde(default, borrow)]
    pub reasoning: Text<'a>,
    #[serde(default, borrow)]
    pub refusal: Text<'a>,
    #[serde(default)]
    pub annotations: Option<Value>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
}

/// A whole (non-streaming) `chat.completion`, or an error object.
#[derive(Debug, Deserialize)]
pub(crate) struct Completion<'a> {
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub usage: Option<Value>,
    #[serde(default, borrow)]
    pub choices: Option<Vec<WholeChoice<'a>>>,
}

/// One choice of a whole completion.
#[derive(Debug, Deserialize)]
pub(crate) struct WholeChoice<'a> {
    #[serde(default, borrow)]
    pub message: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Text<'a>,
}

/// A tool call's delta (or, in a whole completion, the call).
#[derive(Debug, Deserialize)]
pub(crate) struct ToolCall<'a> {
    #[serde(default)]
    pub index: Option<Value>,
    #[serde(default, borrow)]
    pub id: Text<'a>,
    #[serde(default, borrow)]
    pub function: Option<Function<'a>>,
}

/// A tool call's function delta.
#[derive(Debug, Deserialize)]
pub(crate) struct Function<'a> {
    #[serde(default, borrow)]
    pub name: Text<'a>,
    #[serde(default, borrow)]
    pub arguments: Text<'a>,
}

/// A string field, borrowed when it has no escapes; any other JSON type
/// (null, a number, an array…) reads as absent.
#[derive(Debug, Default)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_types_read_as_absent() {
        let c: Chunk<'_> = serde_json::from_str(
            r#"{"id": 7, "choices": [{"index": 0, "delta": {"content": ["x"], "refusal": {"a": 1}, "reasoning": null, "tool_calls": null}, "finish_reason": null}], "usage": null}"#,
        )
        .unwrap();
        assert!(c.id.0.is_none() && c.usage.is_none());
        let d = c.choices.unwrap().remove(0).delta.unwrap();
        assert!(d.content.0.is_none() && d.refusal.0.is_none() && d.tool_calls.is_none());
        let c: Chunk<'_> =
            serde_json::from_str(r#"{"choices": [{"delta": {"content": "a\nb"}}]}"#).unwrap();
        let d = c.choices.unwrap().remove(0).delta.unwrap();
        assert_eq!(d.content.0.as_deref(), Some("a\nb"));
    }
}
