//! `ResponseResource` and its parts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Extra, Item, ReasoningParam, TextParam, Tool, ToolChoice};

/// The lifecycle state of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Generation is running.
    InProgress,
    /// Finished normally.
    Completed,
    /// Stopped early (token limit, content filter).
    Incomplete,
    /// Failed with an error.
    Failed,
    /// Cancelled.
    Cancelled,
    /// Waiting to start.
    Queued,
}

impl ResponseStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::InProgress => "in_progress",
            ResponseStatus::Completed => "completed",
            ResponseStatus::Incomplete => "incomplete",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Cancelled => "cancelled",
            ResponseStatus::Queued => "queued",
        }
    }
}

/// A response, with every field that the spec marks as required. Optional
/// values are written as `null`, never omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseResource {
    /// `resp_…`.
    pub id: String,
    /// Always `response`.
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds, once finished.
    pub completed_at: Option<u64>,
    /// Lifecycle state.
    pub status: ResponseStatus,
    /// Why the response is incomplete.
    pub incomplete_details: Option<IncompleteDetails>,
    /// The model that answered.
    pub model: String,
    /// The response this one continued.
    pub previous_response_id: Option<String>,
    /// The request's instructions.
    pub instructions: Option<String>,
    /// Output items.
    pub output: Vec<Item>,
    /// The error, when failed.
    pub error: Option<ResponseError>,
    /// The request's tools.
    pub tools: Vec<Tool>,
    /// The request's tool choice.
    pub tool_choice: ToolChoice,
    /// `auto` or `disabled`.
    pub truncation: String,
    /// Whether parallel tool calls were allowed.
    pub parallel_tool_calls: bool,
    /// The output format that was used.
    pub text: TextParam,
    /// Nucleus sampling used.
    pub top_p: f64,
    /// Presence penalty used.
    pub presence_penalty: f64,
    /// Frequency penalty used.
    pub frequency_penalty: f64,
    /// Top log probabilities returned.
    pub top_logprobs: u64,
    /// Temperature used.
    pub temperature: f64,
    /// Reasoning configuration used.
    pub reasoning: Option<ReasoningParam>,
    /// Token usage.
    pub usage: Option<Usage>,
    /// The output token limit.
    pub max_output_tokens: Option<u64>,
    /// The tool call limit.
    pub max_tool_calls: Option<u64>,
    /// Whether the response is stored.
    pub store: bool,
    /// Whether it ran in the background.
    pub background: bool,
    /// The service tier used.
    pub service_tier: String,
    /// The request's metadata.
    pub metadata: Value,
    /// The request's safety identifier.
    pub safety_identifier: Option<String>,
    /// The request's prompt cache key.
    pub prompt_cache_key: Option<String>,
    /// Fields this crate does not interpret.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why a response is incomplete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens`, `content_filter`, …
    pub reason: String,
}

/// The error of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// Token usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Their sum, as the provider reports it.
    pub total_tokens: u64,
    /// Input breakdown.
    pub input_tokens_details: InputTokensDetails,
    /// Output breakdown.
    pub output_tokens_details: OutputTokensDetails,
}

impl Usage {
    /// The usage of two attempts together (a continued stream).
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage::from_counts(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.input_tokens_details.cached_tokens + other.input_tokens_details.cached_tokens,
            self.output_tokens_details.reasoning_tokens
                + other.output_tokens_details.reasoning_tokens,
        )
    }

    /// Usage from its counts.
    pub fn from_counts(input: u64, output: u64, total: u64, cached: u64, reasoning: u64) -> Self {
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: total,
            input_tokens_details: InputTokensDetails {
                cached_tokens: cached,
            },
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: reasoning,
            },
        }
    }
}

/// Input token breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Tokens served from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

/// Output token breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}
