//! OpenAI Chat Completions (`POST {endpoint}/v1/chat/completions`) and
//! the many servers that speak it (vLLM, Ollama, Groq, OpenRouter, xAI…).
//! Full translation both ways. Lossy points, by necessity of the protocol:
//! reasoning items in the input are not sent (Chat has no field for
//! them), `reasoning.summary` and `truncation` have no equivalent.

pub mod request;
pub mod response;
pub mod stream;
pub(crate) mod wire;

use crate::builder::Outcome;

/// `finish_reason` → how the response ended.
pub(crate) fn outcome_of(finish_reason: Option<&str>) -> Outcome {
    match finish_reason {
        Some("length") => Outcome::Incomplete("max_output_tokens".into()),
        Some("content_filter") => Outcome::Incomplete("content_filter".into()),
        _ => Outcome::Completed,
    }
}
