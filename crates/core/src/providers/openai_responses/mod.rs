//! OpenAI Responses API (`POST {endpoint}/v1/responses`): a near
//! passthrough whose output is normalized to the spec. Items and events
//! OpenAI has beyond the spec keep their data under the `openai:` slug
//! (`custom_tool_call` → `openai:custom_tool_call`), and lose it again on
//! the way back upstream.

pub mod request;
pub mod response;
pub mod stream;
mod wire;
pub(crate) use wire::SLUG;
