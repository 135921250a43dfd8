//! Observability: one [`Record`] per request, filled in by every stage,
//! becomes the request's log line and its metric updates (and, with
//! OTLP configured, its spans). Plain data and pure functions: the hosts
//! only write the lines and serve the text.

pub mod log;
pub mod metrics;
pub mod otlp;
pub mod record;
mod series;
pub mod trace;

pub use log::{LogFormat, LogLevel};
pub use metrics::{Metrics, MAX_SERIES};
pub use record::{
    Attempt, AuditRecord, CacheRecord, ContinuationRecord, LimitsRecord, Record, Recorder,
};
pub use trace::TraceContext;

use crate::config::ProviderKind;

/// The provider's name in the GenAI semantic conventions
/// (`gen_ai.provider.name`).
pub fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenAi => "openai",
        ProviderKind::AzureOpenAi => "azure.ai.openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Google => "gcp.gemini",
        // An OpenAI-compatible server: the protocol is all we know.
        ProviderKind::OpenAiChat => "openai",
        ProviderKind::Mock => "latticelm.mock",
    }
}

/// The route label of a path (bounded, unlike paths).
pub fn route_of(path: &str) -> &'static str {
    match path.trim_end_matches('/') {
        "/v1/responses" => "responses",
        "/v1/responses/compact" => "compact",
        p if p.starts_with("/v1/responses/") => "responses_by_id",
        "/v1/chat/completions" => "chat_completions",
        "/v1/messages" => "messages",
        "/v1/messages/count_tokens" => "count_tokens",
        "/v1/models" => "models",
        "/health" => "health",
        "/ready" => "ready",
        "/metrics" => "metrics",
        "/v1/dashboard" => "dashboard",
        "" | "/playground" | "/dashboard" => "ui",
        p if p.starts_with("/ui/") => "ui",
        _ => "other",
    }
}

/// The protocol a generation request came in by (`responses`,
/// `websocket`, `chat_completions`, `messages`), for its logs, metrics
/// and spans; `None` for the other routes.
pub fn ingress_of(r: &Record) -> Option<&'static str> {
    ingress_of_route(route_of(&r.path), &r.method)
}

/// [`ingress_of`] for a route label and method.
pub fn ingress_of_route(route: &str, method: &str) -> Option<&'static str> {
    match route {
        "responses" if method == "WS" => Some("websocket"),
        "responses" => Some("responses"),
        "chat_completions" => Some("chat_completions"),
        "messages" => Some("messages"),
        _ => None,
    }
}
