//! The body of `POST /v1/responses`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tagged::{string_or_list, tagged_union};
use super::{Extra, Item};

/// `CreateResponseBody`. Fields the gateway does not know are kept in
/// `extra` and forwarded to OpenAI-protocol upstreams unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateResponseBody {
    /// The model name, as configured or as the provider knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A string (one user message) or a list of items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    /// A system prompt for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool, if any, the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Output format (`text`, `json_object`, `json_schema`) and verbosity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextParam>,
    /// Reasoning effort and summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParam>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Tool call limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u64>,
    /// Number of top log probabilities per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u64>,
    /// Whether several tool calls may come in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Stream server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
    /// Store the response for `previous_response_id` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Run in the background (not supported by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// Continue from this stored response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// Up to 16 string pairs echoed on the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Extra output to include (`reasoning.encrypted_content`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// `auto` or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<String>,
    /// Service tier hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Safety identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
    /// Prompt cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// latticelm extension: pin the provider (a configured provider name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: the string shorthand or a list of items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Items in order.
    Items(Vec<Item>),
}

string_or_list!(Input, Items, Item, "a string or an array of items");

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Tool {
    /// A function the client executes.
    #[serde(rename = "function")]
    Function(FunctionTool),
    /// Any other tool (hosted tools, provider extensions), kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

tagged_union!(Tool { "function" => Function });

/// A `function` tool. On output `description`, `parameters` and `strict`
/// are written even when null, as the spec requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// The function's name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON schema of its arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default)]
    pub strict: Option<bool>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(ToolChoiceMode),
    /// `{"type":"function","name":…}` or `{"type":"allowed_tools",…}`.
    Object(ToolChoiceObject),
}

/// The string forms of `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// No tool calls.
    None,
    /// The model decides.
    Auto,
    /// At least one tool call.
    Required,
}

/// The object forms of `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoiceObject {
    /// Call this function.
    Function {
        /// The function's name.
        name: String,
    },
    /// Restrict calls to these tools.
    AllowedTools {
        /// The permitted tools.
        tools: Vec<NamedTool>,
        /// How to choose among them (default `auto`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<ToolChoiceMode>,
    },
}

/// A tool named in `allowed_tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTool {
    /// Always `function` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool's name.
    pub name: String,
}

/// `text`: output format and verbosity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TextParam {
    /// The output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    /// `low`, `medium` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `text.format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    /// Plain text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// Schema name.
        name: String,
        /// What the format is for.
        #[serde(default)]
        description: Option<String>,
        /// The JSON schema.
        #[serde(default)]
        schema: Option<Value>,
        /// Strict adherence.
        #[serde(default)]
        strict: Option<bool>,
    },
}

/// `reasoning`: effort and summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReasoningParam {
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `auto`, `concise`, `detailed`.
    #[serde(default)]
    pub summary: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}
