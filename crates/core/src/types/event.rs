//! Streaming events, as the gateway emits them.

use serde::Serialize;
use serde_json::Value;

use super::{ContentPart, Item, ResponseResource};

/// One server-sent event. `sequence_number` is assigned by the
/// [`ResponseBuilder`](crate::ResponseBuilder) in emission order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
#[allow(missing_docs)] // fields are the spec's, documented there
pub enum StreamEvent {
    #[serde(rename = "response.created")]
    Created {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.queued")]
    Queued {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.in_progress")]
    InProgress {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.completed")]
    Completed {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.incomplete")]
    Incomplete {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.failed")]
    Failed {
        sequence_number: u64,
        response: Box<ResponseResource>,
    },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        sequence_number: u64,
        output_index: usize,
        item: Item,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        sequence_number: u64,
        output_index: usize,
        item: Item,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.output_text.annotation.added")]
    AnnotationAdded {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        annotation_index: usize,
        annotation: Value,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        refusal: String,
    },
    #[serde(rename = "response.reasoning.delta")]
    ReasoningDelta {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning.done")]
    ReasoningDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        summary_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        summary_index: usize,
        text: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        sequence_number: u64,
        item_id: String,
        output_index: usize,
        arguments: String,
    },
    #[serde(rename = "error")]
    Error {
        sequence_number: u64,
        error: ErrorPayload,
    },
    /// A provider-specific event, its `type` prefixed with the provider
    /// slug (`openai:…`) and its `sequence_number` set by the builder.
    #[serde(untagged)]
    Extension(Value),
}

impl StreamEvent {
    /// The event's `type`, which is also its SSE `event:` name.
    pub fn type_name(&self) -> &str {
        match self {
            StreamEvent::Created { .. } => "response.created",
            StreamEvent::Queued { .. } => "response.queued",
            StreamEvent::InProgress { .. } => "response.in_progress",
            StreamEvent::Completed { .. } => "response.completed",
            StreamEvent::Incomplete { .. } => "response.incomplete",
            StreamEvent::Failed { .. } => "response.failed",
            StreamEvent::OutputItemAdded { .. } => "response.output_item.added",
            StreamEvent::OutputItemDone { .. } => "response.output_item.done",
            StreamEvent::ContentPartAdded { .. } => "response.content_part.added",
            StreamEvent::ContentPartDone { .. } => "response.content_part.done",
            StreamEvent::OutputTextDelta { .. } => "response.output_text.delta",
            StreamEvent::OutputTextDone { .. } => "response.output_text.done",
            StreamEvent::AnnotationAdded { .. } => "response.output_text.annotation.added",
            StreamEvent::RefusalDelta { .. } => "response.refusal.delta",
            StreamEvent::RefusalDone { .. } => "response.refusal.done",
            StreamEvent::ReasoningDelta { .. } => "response.reasoning.delta",
            StreamEvent::ReasoningDone { .. } => "response.reasoning.done",
            StreamEvent::ReasoningSummaryPartAdded { .. } => {
                "response.reasoning_summary_part.added"
            }
            StreamEvent::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
            StreamEvent::ReasoningSummaryTextDelta { .. } => {
                "response.reasoning_summary_text.delta"
            }
            StreamEvent::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            StreamEvent::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            StreamEvent::FunctionCallArgumentsDone { .. } => {
                "response.function_call_arguments.done"
            }
            StreamEvent::Error { .. } => "error",
            StreamEvent::Extension(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

/// The payload of an `error` event. The same shape as the body of the
/// HTTP error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ErrorPayload {
    /// `invalid_request_error`, `server_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Machine-readable code.
    pub code: Option<String>,
    /// Human-readable message.
    pub message: String,
    /// The request parameter at fault.
    pub param: Option<String>,
}
