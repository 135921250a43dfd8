//! The parse stage: content type, size, the body's shape and values,
//! and the caller's model allow-list, the same for every door.

use crate::auth::{AuthError, Principal};
use crate::config::Config;
use crate::error::{ApiError, RequestError};
use crate::host::HttpRequest;
use crate::types::CreateResponseBody;
use crate::validate;

/// A validated request body the caller may send.
pub(crate) fn parse(
    config: &Config,
    req: &HttpRequest,
    principal: &Principal,
) -> Result<CreateResponseBody, ApiError> {
    // JSON only, and said so: a web page can post a form, text or a body
    // with no type to any address without asking (no CORS preflight),
    // so anything else could be another site driving a gateway on
    // localhost or an intranet.
    let ct = req.header("content-type").unwrap_or_default();
    let mime = ct.split(';').next().unwrap_or_default().trim();
    let lower = mime.to_ascii_lowercase();
    let is_json = lower == "application/json"
        || (lower.starts_with("application/") && lower.ends_with("+json"));
    if !is_json {
        return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
    }
    json(config, &req.body, principal)
}

/// A validated body from JSON bytes that arrived by any door (an HTTP
/// body, a WebSocket message, a compaction's ask): within
/// `server.max_request_bytes`, scanned against the caps before any tree
/// is built, then [`checked`].
pub(crate) fn json(
    config: &Config,
    bytes: &[u8],
    principal: &Principal,
) -> Result<CreateResponseBody, ApiError> {
    if bytes.len() > config.server.max_request_bytes {
        return Err(RequestError::TooLarge(config.server.max_request_bytes).into());
    }
    crate::caps::scan(bytes, &config.server.limits)?;
    checked(config, validate::parse_body(bytes)?, principal)
}

/// A body another front door decoded (its JSON already read and scanned
/// against the same caps), held to the same checks as one parsed here:
/// the caps on the typed body, the values, the caller's models.
pub(crate) fn checked(
    config: &Config,
    body: CreateResponseBody,
    principal: &Principal,
) -> Result<CreateResponseBody, ApiError> {
    crate::caps::check(&body, &config.server.limits)?;
    validate::validate(&body)?;
    if let Some(model) = body.model.as_deref().filter(|m| !principal.may_use(m)) {
        return Err(AuthError::ModelForbidden {
            principal: principal.id.clone(),
            model: model.to_owned(),
        }
        .into());
    }
    // A key limited to some models reaches them only through their
    // configured targets: a `provider` pin must be one of those.
    if let (Some(_), Some(pin), Some(model)) = (&principal.models, &body.provider, &body.model) {
        let configured = config.models.iter().find(|m| &m.name == model);
        if !configured.is_some_and(|m| m.targets.iter().any(|t| &t.provider == pin)) {
            return Err(RequestError::NotAllowed {
                param: "provider".into(),
                message: format!(
                    "`{}` may use model `{model}` only through its configured targets, and provider `{pin}` is not one of them",
                    principal.id
                ),
            }
            .into());
        }
    }
    Ok(body)
}
