//! Provider protocols. Each module holds its wire handling: a request
//! builder, a response parser and a stateful stream translator that feeds
//! the shared [`ResponseBuilder`](crate::ResponseBuilder).

pub mod anthropic;
pub mod google;
pub mod mock;
pub mod openai_chat;
pub mod openai_responses;

mod common;
pub(crate) mod passthrough;
pub mod seal;
pub mod tool_map;
pub mod verbatim;
mod verbatim_policy;

use crate::builder::{Outcome, ResponseBuilder};
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{ApiError, RequestError, TranslateError, UpstreamError};
use crate::host::UpstreamRequest;
use crate::routing::Route;
use crate::sse::SseEvent;
use crate::types::CreateResponseBody;

pub use common::join_url;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI Responses (OpenAI, Azure `api: responses`).
    Responses,
    /// Chat Completions (compatible servers, Azure `api: chat`).
    Chat,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Google,
}

impl Protocol {
    /// The protocol of a configured provider (the built-in mock speaks
    /// OpenAI Responses).
    pub fn of(provider: &ProviderConfig) -> Protocol {
        match provider.kind {
            ProviderKind::OpenAi | ProviderKind::Mock => Protocol::Responses,
            ProviderKind::OpenAiChat => Protocol::Chat,
            ProviderKind::AzureOpenAi if provider.api.as_deref() == Some("chat") => Protocol::Chat,
            ProviderKind::AzureOpenAi => Protocol::Responses,
            ProviderKind::Anthropic => Protocol::Anthropic,
            ProviderKind::Google => Protocol::Google,
        }
    }

    /// The name errors give it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Responses => "openai",
            Protocol::Chat => "openai-chat",
            Protocol::Anthropic => "anthropic",
            Protocol::Google => "google",
        }
    }
}

/// The Azure API version used for the deployments path when none is set.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// The upstream URL and the credential header for a route.
fn url_and_auth(
    route: &Route<'_>,
    protocol: Protocol,
    stream: bool,
) -> Result<(String, Option<(String, String)>), RequestError> {
    let p = route.provider;
    let base = p.base_url();
    let key = p.key();
    if p.kind == ProviderKind::AzureOpenAi {
        // Accept the resource URL with or without a trailing /openai[/v1].
        let base = base.trim_end_matches("/v1").trim_end_matches("/openai");
        let auth = key.map(|k| ("api-key".to_owned(), k.to_owned()));
        let url = match protocol {
            Protocol::Chat => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                common::path_segment(route.upstream_model)?,
                p.api_version
                    .as_deref()
                    .unwrap_or(AZURE_DEFAULT_API_VERSION)
            ),
            // Azure speaks only the two OpenAI protocols.
            Protocol::Responses | Protocol::Anthropic | Protocol::Google => {
                match p.api_version.as_deref() {
                    Some(v) => format!("{base}/openai/v1/responses?api-version={v}"),
                    None => format!("{base}/openai/v1/responses"),
                }
            }
        };
        return Ok((url, auth));
    }
    let bearer = key.map(|k| ("authorization".to_owned(), format!("Bearer {k}")));
    Ok(match protocol {
        Protocol::Responses => (join_url(base, "/v1/responses"), bearer),
        Protocol::Chat => (join_url(base, "/v1/chat/completions"), bearer),
        Protocol::Anthropic => (
            join_url(base, "/v1/messages"),
            key.map(|k| ("x-api-key".to_owned(), k.to_owned())),
        ),
        Protocol::Google => {
            let base = base.trim_end_matches("/v1beta");
            let model = common::path_segment(route.upstream_model.trim_start_matches("models/"))?;
            let url = if stream {
                format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("{base}/v1beta/models/{model}:generateContent")
            };
            (
                url,
                key.map(|k| ("x-goog-api-key".to_owned(), k.to_owned())),
            )
        }
    })
}

/// Builds the upstream request for a validated (and context-expanded) body.
pub fn build_request(
    route: &Route<'_>,
    body: &CreateResponseBody,
    stream: bool,
    timeout: std::time::Duration,
) -> Result<UpstreamRequest, RequestError> {
    let protocol = Protocol::of(route.provider);
    let json = match protocol {
        Protocol::Responses => openai_responses::request::build(route, body, stream)?,
        Protocol::Chat => openai_chat::request::build(route, body, stream)?,
        Protocol::Anthropic => anthropic::request::build(route, body, stream)?,
        Protocol::Google => google::request::build(route, body)?,
    };
    envelope(route, json, Vec::new(), stream, timeout)
}

/// The most output tokens `route` may generate (and bill) for `body`:
/// what goes upstream as its cap, reasoning or thinking included (Claude's
/// `max_tokens` holds the thinking budget; the others count reasoning
/// inside the cap). `None` when no cap goes upstream: the model's own
/// maximum, which the gateway does not know.
pub fn output_cap(route: &Route<'_>, body: &CreateResponseBody) -> Option<u64> {
    match Protocol::of(route.provider) {
        Protocol::Anthropic => Some(anthropic::request::max_tokens(route, body).0),
        _ => body.max_output_tokens,
    }
}

/// The upstream request for a body already in the route's protocol (the
/// client's own, see [`verbatim`]), with `extra` headers.
pub fn envelope(
    route: &Route<'_>,
    json: serde_json::Value,
    extra: Vec<(String, String)>,
    stream: bool,
    timeout: std::time::Duration,
) -> Result<UpstreamRequest, RequestError> {
    let protocol = Protocol::of(route.provider);
    let (url, auth) = url_and_auth(route, protocol, stream)?;
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if stream {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    headers.extend(auth);
    if protocol == Protocol::Anthropic {
        headers.push(("anthropic-version".into(), anthropic::VERSION.into()));
    }
    headers.extend(extra);
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
    protocol: Protocol,
    provider: &str,
    request: &CreateResponseBody,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, ApiError> {
    Ok(match protocol {
        Protocol::Responses => openai_responses::response::parse(provider, body, b)?,
        Protocol::Chat => openai_chat::response::parse(provider, body, b)?,
        Protocol::Anthropic => {
            anthropic::response::parse(provider, anthropic::json_tool(request), body, b)?
        }
        Protocol::Google => google::response::parse(provider, body, b)?,
    })
}

/// Turns an upstream error status and body into an [`UpstreamError`].
pub fn parse_error(
    protocol: Protocol,
    provider: &str,
    status: u16,
    retry_after: Option<String>,
    body: bytes::Bytes,
) -> UpstreamError {
    match protocol {
        Protocol::Google => google::response::upstream_error(provider, status, retry_after, body),
        _ => common::parse_openai_style_error(provider, status, retry_after, body),
    }
}

/// The stream translator for one upstream response.
#[derive(Debug)]
pub enum StreamTranslator {
    /// OpenAI Responses events.
    OpenAi(openai_responses::stream::OpenAiResponsesStream),
    /// Chat Completions chunks.
    Chat(openai_chat::stream::ChatStream),
    /// Anthropic Messages events.
    Anthropic(anthropic::stream::AnthropicStream),
    /// Gemini chunks.
    Google(google::stream::GoogleStream),
}

impl StreamTranslator {
    /// The translator for a provider type.
    pub fn new(protocol: Protocol, provider: &str, request: &CreateResponseBody) -> Self {
        match protocol {
            Protocol::Responses => StreamTranslator::OpenAi(
                openai_responses::stream::OpenAiResponsesStream::new(provider),
            ),
            Protocol::Chat => {
                StreamTranslator::Chat(openai_chat::stream::ChatStream::new(provider))
            }
            Protocol::Anthropic => StreamTranslator::Anthropic(
                anthropic::stream::AnthropicStream::new(provider, anthropic::json_tool(request)),
            ),
            Protocol::Google => {
                StreamTranslator::Google(google::stream::GoogleStream::new(provider))
            }
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
            StreamTranslator::Anthropic(t) => t.on_event(ev, b),
            StreamTranslator::Google(t) => t.on_event(ev, b),
        }
    }

    /// Whether the upstream has sent its terminal event; the rest of its
    /// body need not be read.
    pub fn is_terminal(&self) -> bool {
        match self {
            StreamTranslator::OpenAi(t) => t.is_terminal(),
            StreamTranslator::Chat(t) => t.is_terminal(),
            StreamTranslator::Anthropic(t) => t.is_terminal(),
            StreamTranslator::Google(t) => t.is_terminal(),
        }
    }

    /// The upstream body has ended: closes what is open and says how the
    /// response ended.
    pub fn finish(&mut self, b: &mut ResponseBuilder) -> Outcome {
        match self {
            StreamTranslator::OpenAi(t) => t.finish(b),
            StreamTranslator::Chat(t) => t.finish(b),
            StreamTranslator::Anthropic(t) => t.finish(b),
            StreamTranslator::Google(t) => t.finish(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::routing::resolve;

    fn url(yaml: &str, model: &str) -> (String, Option<(String, String)>) {
        let c = Config::from_yaml(yaml, &|_| None).unwrap();
        let r = resolve(&c, model, None).unwrap();
        url_and_auth(&r, Protocol::of(r.provider), false).unwrap()
    }

    #[test]
    fn azure_url_shapes() {
        let (u, auth) = url(
            "providers: { az: { type: azureopenai, endpoint: \"https://res.openai.azure.com/\", api_key: k } }\nmodels: [ { name: m, provider: az, provider_model_id: dep-1 } ]",
            "m",
        );
        assert_eq!(u, "https://res.openai.azure.com/openai/v1/responses");
        assert_eq!(auth, Some(("api-key".into(), "k".into())));
        let (u, _) = url(
            "providers: { az: { type: azureopenai, api: chat, endpoint: \"https://res.openai.azure.com/openai\" } }\nmodels: [ { name: m, provider: az, provider_model_id: dep-1 } ]",
            "m",
        );
        assert_eq!(u, "https://res.openai.azure.com/openai/deployments/dep-1/chat/completions?api-version=2024-10-21");
        let (u, _) = url(
            "providers: { az: { type: azureopenai, api: chat, api_version: 2025-04-01-preview, endpoint: \"https://res.openai.azure.com\" } }\nmodels: [ { name: m, provider: az } ]",
            "m",
        );
        assert_eq!(u, "https://res.openai.azure.com/openai/deployments/m/chat/completions?api-version=2025-04-01-preview");
        let (u, auth) = url("providers: { o: { type: openai, api_key: k } }", "gpt-4o");
        assert_eq!(u, "https://api.openai.com/v1/responses");
        assert_eq!(auth, Some(("authorization".into(), "Bearer k".into())));
    }

    #[test]
    fn client_model_names_cannot_change_upstream_urls() {
        let gemini = "providers: { g: { type: google, api_key: k } }";
        for (model, expected) in [
            (
                "gemini-x/../../v1/files?key=1#f",
                "/v1beta/models/gemini-x%2F..%2F..%2Fv1%2Ffiles%3Fkey%3D1%23f:generateContent",
            ),
            (
                "gemini-%2e%2e",
                "/v1beta/models/gemini-%252e%252e:generateContent",
            ),
        ] {
            let (u, _) = url(gemini, model);
            assert_eq!(
                u,
                format!("https://generativelanguage.googleapis.com{expected}")
            );
        }
        let azure = "providers: { az: { type: azureopenai, api: chat, endpoint: \"https://res.openai.azure.com\" } }";
        let (u, _) = url(azure, "az/dep?api-version=x&evil=1");
        assert_eq!(u, "https://res.openai.azure.com/openai/deployments/dep%3Fapi-version%3Dx%26evil%3D1/chat/completions?api-version=2024-10-21");
        let c = Config::from_yaml(azure, &|_| None).unwrap();
        let r = resolve(&c, "az/..", None).unwrap();
        assert!(url_and_auth(&r, Protocol::Chat, false).is_err());
    }
}
