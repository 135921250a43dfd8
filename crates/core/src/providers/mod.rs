//! Provider protocols. Each module holds its wire handling: a request
//! builder, a response parser and a stateful stream translator that feeds
//! the shared [`ResponseBuilder`](crate::ResponseBuilder).

pub mod mock;
pub mod openai_chat;
pub mod openai_responses;

mod common;

use crate::builder::{Outcome, ResponseBuilder};
use crate::config::ProviderKind;
use crate::error::{RequestError, TranslateError, UpstreamError};
use crate::host::UpstreamRequest;
use crate::routing::Route;
use crate::sse::SseEvent;
use crate::types::CreateResponseBody;

pub use common::join_url;

/// Builds the upstream request for a validated (and context-expanded) body.
pub fn build_request(
    route: &Route<'_>,
    body: &CreateResponseBody,
    stream: bool,
    timeout: std::time::Duration,
) -> Result<UpstreamRequest, RequestError> {
    let (url, json) = match route.provider.kind {
        ProviderKind::OpenAi => openai_responses::request::build(route, body, stream)?,
        ProviderKind::OpenAiChat => openai_chat::request::build(route, body, stream)?,
        kind => {
            return Err(RequestError::Unsupported {
                param: "model".into(),
                message: format!(
                    "provider type `{}` cannot make upstream requests",
                    kind.as_str()
                ),
            })
        }
    };
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if stream {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    if let Some(key) = route.provider.key() {
        headers.push(("authorization".into(), format!("Bearer {key}")));
    }
    for (k, v) in &route.provider.headers {
        headers.push((k.to_ascii_lowercase(), v.clone()));
    }
    let body = serde_json::to_vec(&json).map_err(|e| RequestError::InvalidValue {
        param: "input".into(),
        message: format!("cannot encode upstream request: {e}"),
    })?;
    Ok(UpstreamRequest {
        method: "POST",
        url,
        headers,
        body: body.into(),
        stream,
        provider: route.provider_name.to_owned(),
        timeout,
    })
}

/// Reads a non-streaming upstream body into the builder.
pub fn parse_response(
    kind: ProviderKind,
    provider: &str,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, TranslateError> {
    match kind {
        ProviderKind::OpenAi => openai_responses::response::parse(provider, body, b),
        _ => openai_chat::response::parse(provider, body, b),
    }
}

/// Turns an upstream error status and body into an [`UpstreamError`].
pub fn parse_error(
    provider: &str,
    status: u16,
    retry_after: Option<String>,
    body: bytes::Bytes,
) -> UpstreamError {
    common::parse_openai_style_error(provider, status, retry_after, body)
}

/// The stream translator for one upstream response.
#[derive(Debug)]
pub enum StreamTranslator {
    /// OpenAI Responses events.
    OpenAi(openai_responses::stream::OpenAiResponsesStream),
    /// Chat Completions chunks.
    Chat(openai_chat::stream::ChatStream),
}

impl StreamTranslator {
    /// The translator for a provider type.
    pub fn new(kind: ProviderKind, provider: &str) -> Self {
        match kind {
            ProviderKind::OpenAi => StreamTranslator::OpenAi(
                openai_responses::stream::OpenAiResponsesStream::new(provider),
            ),
            _ => StreamTranslator::Chat(openai_chat::stream::ChatStream::new(provider)),
        }
    }

    /// Feeds one upstream event.
    pub fn on_event(
        &mut self,
        ev: &SseEvent,
        b: &mut ResponseBuilder,
    ) -> Result<(), TranslateError> {
        match self {
            StreamTranslator::OpenAi(t) => t.on_event(ev, b),
            StreamTranslator::Chat(t) => t.on_event(ev, b),
        }
    }

    /// Whether the upstream has sent its terminal event; the rest of its
    /// body need not be read.
    pub fn is_terminal(&self) -> bool {
        match self {
            StreamTranslator::OpenAi(t) => t.is_terminal(),
            StreamTranslator::Chat(t) => t.is_terminal(),
        }
    }

    /// The upstream body has ended: closes what is open and says how the
    /// response ended.
    pub fn finish(&mut self, b: &mut ResponseBuilder) -> Outcome {
        match self {
            StreamTranslator::OpenAi(t) => t.finish(b),
            StreamTranslator::Chat(t) => t.finish(b),
        }
    }
}
