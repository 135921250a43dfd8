//! Open Responses wire types (spec version 2026-04-24).
//!
//! Every struct keeps the fields it does not know in an `extra` map and
//! every tagged union has an `Other` variant holding the raw JSON, so that
//! nothing a client or provider sends is dropped without a word. Which
//! layer then rejects or forwards such data is decided by the translators.

mod content;
mod event;
mod item;
mod request;
mod response;
mod tagged;

pub use content::{ContentPart, InputFile, InputImage, OutputText, Refusal, TextPart};
pub use event::{ErrorPayload, StreamEvent};
pub use item::{
    FunctionCall, FunctionCallOutput, FunctionOutput, Item, ItemReference, Message, MessageContent,
    Reasoning, Role,
};
pub use request::{
    CreateResponseBody, FunctionTool, Input, NamedTool, ReasoningParam, TextFormat, TextParam,
    Tool, ToolChoice, ToolChoiceMode, ToolChoiceObject,
};
pub use response::{
    IncompleteDetails, InputTokensDetails, OutputTokensDetails, ResponseError, ResponseResource,
    ResponseStatus, Usage,
};

/// A JSON object whose keys this crate does not interpret.
pub type Extra = serde_json::Map<String, serde_json::Value>;
