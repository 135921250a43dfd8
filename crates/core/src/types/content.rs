//! Content parts of messages, reasoning items and tool outputs.

use serde::Serialize;
use serde_json::Value;

use super::tagged::tagged_union;
use super::Extra;

/// One content part. Input and output parts share one union, as in the
/// spec's `Message.content`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ContentPart {
    /// `input_text`: text supplied by the client.
    #[serde(rename = "input_text")]
    InputText(TextPart),
    /// `output_text`: text produced by the model.
    #[serde(rename = "output_text")]
    OutputText(OutputText),
    /// `text`: plain text content.
    #[serde(rename = "text")]
    Text(TextPart),
    /// `summary_text`: a reasoning summary.
    #[serde(rename = "summary_text")]
    SummaryText(TextPart),
    /// `reasoning_text`: raw reasoning.
    #[serde(rename = "reasoning_text")]
    ReasoningText(TextPart),
    /// `refusal`: the model declined.
    #[serde(rename = "refusal")]
    Refusal(Refusal),
    /// `input_image`: an image by URL or data URL.
    #[serde(rename = "input_image")]
    InputImage(InputImage),
    /// `input_file`: a file by URL or inline base64 data.
    #[serde(rename = "input_file")]
    InputFile(InputFile),
    /// Any other part, kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

tagged_union!(ContentPart {
    "input_text" => InputText,
    "output_text" => OutputText,
    "text" => Text,
    "summary_text" => SummaryText,
    "reasoning_text" => ReasoningText,
    "refusal" => Refusal,
    "input_image" => InputImage,
    "input_file" => InputFile,
});

impl ContentPart {
    /// The text of a textual part (input, output, plain, summary, reasoning or refusal).
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText(t)
            | ContentPart::Text(t)
            | ContentPart::SummaryText(t)
            | ContentPart::ReasoningText(t) => Some(&t.text),
            ContentPart::OutputText(t) => Some(&t.text),
            ContentPart::Refusal(r) => Some(&r.refusal),
            _ => None,
        }
    }

    /// The `type` tag of this part.
    pub fn type_name(&self) -> &str {
        match self {
            ContentPart::InputText(_) => "input_text",
            ContentPart::OutputText(_) => "output_text",
            ContentPart::Text(_) => "text",
            ContentPart::SummaryText(_) => "summary_text",
            ContentPart::ReasoningText(_) => "reasoning_text",
            ContentPart::Refusal(_) => "refusal",
            ContentPart::InputImage(_) => "input_image",
            ContentPart::InputFile(_) => "input_file",
            ContentPart::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("(none)"),
        }
    }
}

/// A part that is only text.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TextPart {
    /// A part with this text and nothing else.
    pub fn new(text: impl Into<String>) -> Self {
        TextPart {
            text: text.into(),
            extra: Extra::new(),
        }
    }
}

/// `output_text`: model text with annotations.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct OutputText {
    /// The text.
    pub text: String,
    /// Citations and other annotations; always present on output.
    #[serde(default)]
    pub annotations: Vec<Value>,
    /// Token log probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `refusal` content.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// The refusal explanation.
    pub refusal: String,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input_image` content.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct InputImage {
    /// An `https:` URL or a `data:` URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Fields this crate does not interpret (for example `file_id`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input_file` content.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    /// The file name shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Base64 data, or a `data:` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// A URL to fetch the file from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// Fields this crate does not interpret (for example `file_id`).
    #[serde(flatten)]
    pub extra: Extra,
}
