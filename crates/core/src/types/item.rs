//! Items: the unit of context, both as input and as output.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tagged::string_or_list;
use super::{ContentPart, Extra};

/// One item of input or output.
///
/// Input items may omit `id` and `status`; the response builder fills them
/// in on output. Item types this crate does not know (provider extensions
/// such as `openai:custom_tool_call`, or `compaction`) are kept in `Other`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Item {
    /// `message`.
    #[serde(rename = "message")]
    Message(Message),
    /// `function_call`.
    #[serde(rename = "function_call")]
    FunctionCall(FunctionCall),
    /// `function_call_output`.
    #[serde(rename = "function_call_output")]
    FunctionCallOutput(FunctionCallOutput),
    /// `reasoning`.
    #[serde(rename = "reasoning")]
    Reasoning(Reasoning),
    /// `item_reference`.
    #[serde(rename = "item_reference")]
    ItemReference(ItemReference),
    /// Any other item, kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut value = Value::deserialize(d)?;
        let Some(obj) = value.as_object_mut() else {
            return Err(D::Error::custom("an item must be a JSON object"));
        };
        // OpenAI's "easy" input message omits `type`; an item reference may
        // carry `type: null`.
        let tag = match obj.remove("type") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) if obj.contains_key("role") => "message".to_owned(),
            None | Some(Value::Null) if obj.contains_key("id") => "item_reference".to_owned(),
            None | Some(Value::Null) => {
                return Err(D::Error::custom(
                    "an item needs a `type` (or a `role` for a message)",
                ))
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`type` must be a string, got {other}"
                )))
            }
        };
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            v: Value,
            tag: &str,
        ) -> Result<T, E> {
            serde_json::from_value(v).map_err(|e| E::custom(format!("invalid `{tag}` item: {e}")))
        }
        match tag.as_str() {
            "message" => parse(value, &tag).map(Item::Message),
            "function_call" => parse(value, &tag).map(Item::FunctionCall),
            "function_call_output" => parse(value, &tag).map(Item::FunctionCallOutput),
            "reasoning" => parse(value, &tag).map(Item::Reasoning),
            "item_reference" => parse(value, &tag).map(Item::ItemReference),
            _ => {
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("type".into(), Value::String(tag));
                }
                Ok(Item::Other(value))
            }
        }
    }
}

impl Item {
    /// The item's `type` tag.
    pub fn type_name(&self) -> &str {
        match self {
            Item::Message(_) => "message",
            Item::FunctionCall(_) => "function_call",
            Item::FunctionCallOutput(_) => "function_call_output",
            Item::Reasoning(_) => "reasoning",
            Item::ItemReference(_) => "item_reference",
            Item::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("(none)"),
        }
    }

    /// The item's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message(m) => m.id.as_deref(),
            Item::FunctionCall(f) => f.id.as_deref(),
            Item::FunctionCallOutput(f) => f.id.as_deref(),
            Item::Reasoning(r) => r.id.as_deref(),
            Item::ItemReference(r) => Some(&r.id),
            Item::Other(v) => v.get("id").and_then(Value::as_str),
        }
    }
}

/// The author of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// System-level instructions.
    System,
    /// Developer-supplied instructions.
    Developer,
}

/// A `message` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Item id (always set on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `in_progress`, `completed` or `incomplete` (always set on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// A string (input shorthand) or content parts.
    pub content: MessageContent,
    /// `commentary` or `final_answer` on assistant messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// A user message holding `text`.
    pub fn user_text(text: &str) -> Message {
        Message {
            id: None,
            status: None,
            role: Role::User,
            content: MessageContent::Text(text.to_owned()),
            phase: None,
            extra: Default::default(),
        }
    }
}

/// Message content: the string shorthand or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// A single string.
    Text(String),
    /// Content parts.
    Parts(Vec<ContentPart>),
}

string_or_list!(
    MessageContent,
    Parts,
    ContentPart,
    "a string or an array of content parts"
);
string_or_list!(
    FunctionOutput,
    Parts,
    ContentPart,
    "a string or an array of content parts"
);

impl MessageContent {
    /// The parts, with the string shorthand read as one text part of the
    /// kind that suits `role` (`output_text` for the assistant).
    pub fn to_parts(&self, role: Role) -> Vec<ContentPart> {
        match self {
            MessageContent::Parts(p) => p.clone(),
            MessageContent::Text(t) if role == Role::Assistant => {
                vec![ContentPart::OutputText(super::OutputText {
                    text: t.clone(),
                    ..Default::default()
                })]
            }
            MessageContent::Text(t) => {
                vec![ContentPart::InputText(super::TextPart::new(t.clone()))]
            }
        }
    }
}

/// A `function_call` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Item id (always set on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id that the matching `function_call_output` refers to.
    pub call_id: String,
    /// The function's name.
    pub name: String,
    /// The arguments, as a JSON string.
    pub arguments: String,
    /// Item status (always set on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `function_call_output` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutput {
    /// Item id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The call this answers.
    pub call_id: String,
    /// The tool's result.
    pub output: FunctionOutput,
    /// Item status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool result: a string, or content parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FunctionOutput {
    /// Usually a JSON string.
    Text(String),
    /// Text, image or file parts.
    Parts(Vec<ContentPart>),
}

/// A `reasoning` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// Item id (always set on output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Summary parts (`summary_text`).
    #[serde(default)]
    pub summary: Vec<ContentPart>,
    /// Raw reasoning parts (`reasoning_text`), when the provider exposes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentPart>>,
    /// Opaque provider data that must be sent back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// Item status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `item_reference`: an earlier item named by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemReference {
    /// The referenced item's id.
    pub id: String,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}
