//! The parse stage of `POST /v1/responses`: content type, size, the
//! body's shape and values, and the caller's model allow-list.

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
    if let Some(ct) = req.header("content-type") {
        let mime = ct.split(';').next().unwrap_or_default().trim();
        let json = mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json");
        // `curl -d '{…}'` sends a form content type with a JSON body.
        let looks_json = req.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !json
            && !(looks_json
                && (mime == "application/x-www-form-urlencoded" || mime == "text/plain"))
        {
            return Err(RequestError::UnsupportedMediaType(mime.to_owned()).into());
        }
    }
    if req.body.len() > config.server.max_request_bytes {
        return Err(RequestError::TooLarge(config.server.max_request_bytes).into());
    }
    let limits = &config.server.limits;
    crate::limits::scan(&req.body, limits)?;
    let body = validate::parse_body(&req.body)?;
    crate::limits::check(&body, limits)?;
    validate::validate(&body)?;
    if let Some(model) = body.model.as_deref().filter(|m| !principal.may_use(m)) {
        return Err(AuthError::ModelForbidden {
            principal: principal.id.clone(),
            model: model.to_owned(),
        }
        .into());
    }
    Ok(body)
}
