//! Errors of every layer, and their one mapping to the spec's error
//! envelope and HTTP status.

use bytes::Bytes;
use serde_json::json;

use crate::types::ErrorPayload;

/// A request that the gateway rejects before any upstream call.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not valid JSON, or a field has the wrong type.
    #[error("invalid request body at `{path}`: {message}")]
    InvalidBody {
        /// JSON path of the offending value (`.` for the root).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A required parameter is absent.
    #[error("missing required parameter: `{0}`")]
    Missing(&'static str),
    /// A parameter has a value outside its domain.
    #[error("invalid value for `{param}`: {message}")]
    InvalidValue {
        /// The parameter.
        param: String,
        /// What was wrong.
        message: String,
    },
    /// A parameter or value the chosen upstream cannot honour.
    #[error("{message}")]
    Unsupported {
        /// The parameter.
        param: String,
        /// What was unsupported, and where.
        message: String,
    },
    /// A parameter the operator has not allowed this caller to send.
    #[error("{message}")]
    NotAllowed {
        /// The parameter.
        param: String,
        /// What is not allowed, and how the operator would allow it.
        message: String,
    },
    /// The body exceeds the configured limit.
    #[error("request body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// A count or size in the body exceeds a cap of `server.limits`.
    #[error("the request exceeds server.limits.{limit} ({max})")]
    LimitExceeded {
        /// The cap's name under `server.limits`.
        limit: &'static str,
        /// Its value.
        max: usize,
        /// Where in the body, when known.
        param: Option<String>,
    },
    /// Not `application/json`.
    #[error("unsupported content type `{0}`: send `application/json`")]
    UnsupportedMediaType(String),
    /// Unknown path.
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// Known path, wrong method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// A stored response that does not exist (or is not visible).
    #[error("{what} '{id}' not found")]
    NotFound {
        /// `response` or `previous response`.
        what: &'static str,
        /// The id asked for.
        id: String,
        /// The param to report.
        param: Option<&'static str>,
        /// The code to report.
        code: &'static str,
    },
}

/// A model or provider that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No configured model, prefix or inference matched.
    #[error("The requested model '{0}' does not exist.")]
    UnknownModel(String),
    /// The model's family is known, but no provider of that type is configured.
    #[error(
        "The requested model '{model}' needs a provider of type `{kind}`, and none is configured."
    )]
    NoProviderForFamily {
        /// The model.
        model: String,
        /// The provider type(s) that would serve it.
        kind: &'static str,
    },
    /// The request pins a provider that is not configured.
    #[error("unknown provider '{0}': it is not in the gateway's configuration")]
    UnknownProvider(String),
    /// The request pins a provider that is not one of the configured
    /// model's targets.
    #[error("provider '{provider}' is not a target of model '{model}': a pin chooses among the model's own targets")]
    NotATarget {
        /// The configured model.
        model: String,
        /// The pinned provider.
        provider: String,
    },
    /// Every target of the model has an open circuit or is cooling down.
    #[error("every target of model '{model}' is unavailable (circuit open or cooling down after retry-after); retry in {retry_after_secs} s")]
    Unavailable {
        /// The requested model.
        model: String,
        /// Seconds until the first target is back.
        retry_after_secs: u64,
        /// 429 when they are all rate-limited, 503 otherwise.
        status: u16,
    },
}

/// A failure reported by, or while talking to, an upstream provider.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered with an error status.
    #[error("upstream '{provider}' returned HTTP {status}: {message}")]
    Status {
        /// Configured provider name.
        provider: String,
        /// Upstream HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// The provider's error code, if any.
        code: Option<String>,
        /// The provider's param, if any.
        param: Option<String>,
        /// `retry-after`, kept for the client.
        retry_after: Option<String>,
        /// The raw body, for debug logs only.
        raw: Bytes,
    },
    /// Connection or transport failure.
    #[error("upstream '{provider}' could not be reached: {message}")]
    Transport {
        /// Configured provider name.
        provider: String,
        /// What failed.
        message: String,
    },
    /// No answer in time.
    #[error("upstream '{provider}' timed out: {message}")]
    Timeout {
        /// Configured provider name.
        provider: String,
        /// What timed out.
        message: String,
    },
    /// The upstream contradicted itself (a final item that disagrees
    /// with the deltas it streamed).
    #[error("upstream '{provider}' sent an inconsistent {what}: {why}")]
    Inconsistent {
        /// Configured provider name.
        provider: String,
        /// `response` or `stream`.
        what: &'static str,
        /// What disagreed.
        why: String,
    },
    /// A stream that cannot go on (too large, unreadable, past the
    /// deadline), with its own code.
    #[error("{message}")]
    Stream {
        /// The error code for the client.
        code: &'static str,
        /// What happened.
        message: String,
    },
}

/// What the gateway itself refuses or cannot do, whatever the request's
/// shape: its own policies (hosts, origins, the admin API), the state of
/// its stores, and its deadline.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The `host` header is not one of `server.allowed_hosts`.
    #[error("this gateway does not answer to that host name (server.allowed_hosts)")]
    HostNotAllowed,
    /// A browser's WebSocket upgrade from another origin.
    #[error("WebSocket connections from this origin are not allowed (server.allowed_origins)")]
    OriginNotAllowed,
    /// `POST /v1/messages/count_tokens`.
    #[error("latticelm cannot count tokens honestly for every upstream model, so it does not estimate them")]
    CountTokens,
    /// The admin API without an admin credential.
    #[error("the admin API needs an admin credential (auth.admin_keys or auth.admin_claim)")]
    AdminRequired,
    /// A change that conflicts with a record as it is.
    #[error("{message}")]
    Conflict {
        /// The error code (`team_exists`, `team_in_use`).
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// The request deadline passed before any upstream answered.
    #[error("the request deadline ({0:?}, routing.deadline) passed before any upstream answered")]
    Deadline(std::time::Duration),
    /// A caller under a budget asked for a route with no prices, which
    /// the budget could not count (`limits.unpriced: refuse`).
    #[error("model '{0}' has no prices (input_cost and output_cost) on the gateway, so a budget cannot count it; ask for a priced model, or the operator sets prices or limits.unpriced: allow")]
    NotPriced(String),
    /// The request names an MCP server its key or team may not use.
    #[error("this key may not use the MCP server '{0}'")]
    McpServerNotAllowed(String),
    /// The caller's team (named by its token) is a disabled runtime team.
    #[error("your team is disabled on this gateway")]
    TeamDisabled,
    /// The key and team store cannot be reached.
    #[error("the key store cannot be reached; try again shortly")]
    KeyStore(HostError),
    /// The counter store of limits and budgets cannot be reached, and the
    /// configuration fails closed.
    #[error("the gateway cannot check this key's limits or budget right now (its counter store is unreachable); try again shortly")]
    LimitsStore(HostError),
    /// The conversation store failed.
    #[error("the conversation store failed: {0}")]
    ConversationStore(HostError),
    /// A turn too large for the conversation store.
    #[error("this turn is {size} bytes, more than a stored response may hold ({max}, conversations.max_entry_bytes); send it with `store: false`")]
    StoredTooLarge {
        /// The turn's size.
        size: usize,
        /// `conversations.max_entry_bytes`.
        max: usize,
    },
}

/// An upstream body the translator cannot read.
#[derive(Debug, thiserror::Error)]
#[error("upstream '{provider}' sent a response the gateway cannot read: {message}")]
pub struct TranslateError {
    /// Configured provider name.
    pub provider: String,
    /// What was wrong.
    pub message: String,
    /// The offending bytes, for debug logs only.
    pub raw: Bytes,
}

/// A failure of a host capability.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    /// Could not connect or send.
    #[error("{0}")]
    Transport(String),
    /// A host timeout fired.
    #[error("{0}")]
    Timeout(String),
    /// The key-value store failed.
    #[error("store: {0}")]
    Store(String),
}

/// An error as the client sees it: status, envelope, and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The envelope's body (boxed: errors travel in `Result`s everywhere).
    pub payload: Box<ErrorPayload>,
    /// `retry-after` to pass on.
    pub retry_after: Option<String>,
    /// `WWW-Authenticate` for 401 and 403 answers.
    pub challenge: Option<String>,
    /// What the operator's log gets and the client does not.
    pub detail: Option<String>,
}

impl ApiError {
    /// A new error.
    pub fn new(
        status: u16,
        kind: &str,
        code: Option<&str>,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            payload: Box::new(ErrorPayload {
                kind: kind.to_owned(),
                code: code.map(str::to_owned),
                message: message.into(),
                param: param.map(str::to_owned),
            }),
            retry_after: None,
            challenge: None,
            detail: None,
        }
    }

    /// An internal failure.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "server_error", Some("internal_error"), None, message)
    }

    /// `{"error":{"message","type","param","code"}}`.
    pub fn to_json(&self) -> Bytes {
        let p = &self.payload;
        let v = json!({"error": {"message": p.message, "type": p.kind, "param": p.param, "code": p.code}});
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let msg = e.to_string();
        match &e {
            RequestError::InvalidBody { path, .. } => {
                let param = (path != ".").then_some(path.as_str());
                ApiError::new(
                    400,
                    "invalid_request_error",
                    Some("invalid_body"),
                    param,
                    msg,
                )
            }
            RequestError::Missing(p) => ApiError::new(
                400,
                "invalid_request_error",
                Some("missing_required_parameter"),
                Some(p),
                msg,
            ),
            RequestError::InvalidValue { param, .. } => ApiError::new(
                400,
                "invalid_request_error",
                Some("invalid_value"),
                Some(param),
                msg,
            ),
            RequestError::Unsupported { param, .. } => ApiError::new(
                400,
                "invalid_request_error",
                Some("unsupported_parameter"),
                Some(param),
                msg,
            ),
            RequestError::NotAllowed { param, .. } => ApiError::new(
                403,
                "permission_error",
                Some("not_allowed"),
                Some(param),
                msg,
            ),
            RequestError::LimitExceeded { param, .. } => ApiError::new(
                400,
                "invalid_request_error",
                Some("limit_exceeded"),
                param.as_deref(),
                msg,
            ),
            RequestError::TooLarge(_) => ApiError::new(
                413,
                "invalid_request_error",
                Some("request_too_large"),
                None,
                msg,
            ),
            RequestError::UnsupportedMediaType(_) => ApiError::new(
                415,
                "invalid_request_error",
                Some("unsupported_media_type"),
                None,
                msg,
            ),
            RequestError::NoRoute { .. } => {
                ApiError::new(404, "not_found", Some("not_found"), None, msg)
            }
            RequestError::MethodNotAllowed { .. } => ApiError::new(
                405,
                "invalid_request_error",
                Some("method_not_allowed"),
                None,
                msg,
            ),
            RequestError::NotFound { param, code, .. } => {
                ApiError::new(404, "not_found", Some(code), *param, msg)
            }
        }
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        let msg = e.to_string();
        match e {
            RouteError::UnknownModel(_) | RouteError::NoProviderForFamily { .. } => ApiError::new(
                404,
                "invalid_request_error",
                Some("model_not_found"),
                Some("model"),
                msg,
            ),
            RouteError::UnknownProvider(_) => ApiError::new(
                400,
                "invalid_request_error",
                Some("unknown_provider"),
                Some("provider"),
                msg,
            ),
            RouteError::NotATarget { .. } => ApiError::new(
                400,
                "invalid_request_error",
                Some("provider_not_a_target"),
                Some("provider"),
                msg,
            ),
            RouteError::Unavailable {
                retry_after_secs,
                status,
                ..
            } => {
                let mut e = if status == 429 {
                    ApiError::new(
                        429,
                        "too_many_requests",
                        Some("rate_limit_exceeded"),
                        None,
                        msg,
                    )
                } else {
                    ApiError::new(503, "server_error", Some("no_available_target"), None, msg)
                };
                e.retry_after = Some(retry_after_secs.to_string());
                e
            }
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let msg = e.to_string();
        match e {
            UpstreamError::Status {
                status: status @ (401 | 403),
                ref provider,
                ..
            } => {
                // The operator's credentials, not the client's: the
                // provider's message can hold a masked key or an org id,
                // so it goes to the log only.
                let mut err = ApiError::new(
                    502,
                    "server_error",
                    Some("upstream_auth_error"),
                    None,
                    format!(
                        "upstream '{provider}' refused the gateway's credentials (HTTP {status}); the gateway's operator must check them"
                    ),
                );
                err.detail = Some(msg);
                err
            }
            UpstreamError::Status {
                status,
                code,
                param,
                retry_after,
                ..
            } => {
                // Client-side errors keep their status: the request (or its
                // quota) is what the client must change. Upstream 5xx and
                // anything unexpected become 502, because the gateway is
                // the client's server and the fault lies behind it.
                let (st, kind, default_code) = match status {
                    400 | 404 | 409 | 413 | 422 => {
                        (status, "invalid_request_error", "upstream_invalid_request")
                    }
                    429 => (429, "too_many_requests", "rate_limit_exceeded"),
                    408 | 504 => (504, "server_error", "upstream_timeout"),
                    // Anthropic's 529 "overloaded" and plain 503: retryable.
                    503 | 529 => (503, "server_error", "upstream_overloaded"),
                    _ => (502, "server_error", "upstream_error"),
                };
                let mut err = ApiError::new(
                    st,
                    kind,
                    Some(code.as_deref().unwrap_or(default_code)),
                    param.as_deref(),
                    msg,
                );
                err.retry_after = retry_after;
                err
            }
            UpstreamError::Transport { .. } => {
                ApiError::new(502, "server_error", Some("upstream_unreachable"), None, msg)
            }
            UpstreamError::Timeout { .. } => {
                ApiError::new(504, "server_error", Some("upstream_timeout"), None, msg)
            }
            UpstreamError::Inconsistent { .. } => ApiError::new(
                502,
                "server_error",
                Some("upstream_invalid_response"),
                None,
                msg,
            ),
            UpstreamError::Stream { code, .. } => {
                ApiError::new(502, "server_error", Some(code), None, msg)
            }
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let msg = e.to_string();
        let (status, kind, code) = match &e {
            GatewayError::HostNotAllowed => (421, "invalid_request_error", "host_not_allowed"),
            GatewayError::OriginNotAllowed => (403, "permission_error", "origin_not_allowed"),
            GatewayError::CountTokens => (501, "invalid_request_error", "not_implemented"),
            GatewayError::AdminRequired => (403, "permission_error", "admin_required"),
            GatewayError::Conflict { code, .. } => (409, "invalid_request_error", *code),
            GatewayError::Deadline(_) => (504, "server_error", "deadline_exceeded"),
            GatewayError::NotPriced(_) => (403, "permission_error", "model_not_priced"),
            GatewayError::TeamDisabled => (403, "permission_error", "team_disabled"),
            GatewayError::McpServerNotAllowed(_) => {
                (403, "permission_error", "mcp_server_not_allowed")
            }
            GatewayError::KeyStore(_) => (503, "server_error", "store_unavailable"),
            GatewayError::LimitsStore(_) => (503, "server_error", "limits_unavailable"),
            GatewayError::ConversationStore(_) => (503, "server_error", "store_unavailable"),
            GatewayError::StoredTooLarge { .. } => {
                (413, "invalid_request_error", "stored_response_too_large")
            }
        };
        let mut err = ApiError::new(status, kind, Some(code), None, msg);
        match e {
            // What went wrong is the operator's; the client is told to
            // try again.
            GatewayError::KeyStore(h) => err.detail = Some(h.to_string()),
            GatewayError::LimitsStore(h) => {
                err.retry_after = Some("1".into());
                err.detail = Some(h.to_string());
            }
            _ => {}
        }
        err
    }
}

impl From<TranslateError> for ApiError {
    fn from(e: TranslateError) -> Self {
        ApiError::new(
            502,
            "server_error",
            Some("upstream_invalid_response"),
            None,
            e.to_string(),
        )
    }
}
