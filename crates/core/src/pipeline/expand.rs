//! The expand stage: `previous_response_id` becomes the full input, from
//! the conversation store, once and before the plan.

use crate::auth::Principal;
use crate::conversation;
use crate::error::{ApiError, RequestError};
use crate::host::Host;
use crate::stored;
use crate::types::{CreateResponseBody, Input};

use super::clock::unix_secs;
use super::Cx;

/// Expands `previous_response_id` into the full input; returns the ids
/// of the chain it continues, oldest first.
pub(crate) async fn expand<H: Host>(
    cx: &Cx<'_, H>,
    principal: &Principal,
    body: &mut CreateResponseBody,
) -> Result<Vec<String>, ApiError> {
    let Some(prev_id) = &body.previous_response_id else {
        return Ok(Vec::new());
    };
    let now = unix_secs(cx.host);
    let conversations = &cx.config.conversations;
    let Some(chain) =
        stored::load_chain(cx.host, prev_id, &principal.id, now, conversations).await?
    else {
        return Err(RequestError::NotFound {
            what: "previous response",
            id: prev_id.clone(),
            param: Some("previous_response_id"),
            code: "previous_response_not_found",
        }
        .into());
    };
    if chain.len() >= conversations.max_depth {
        return Err(RequestError::InvalidValue {
            param: "previous_response_id".into(),
            message: format!(
                "this conversation has reached {} responses (conversations.max_depth); continue it in a new one, sending the context as input",
                conversations.max_depth
            ),
        }
        .into());
    }
    let items = conversation::expand(&chain, body.input.as_ref());
    crate::caps::check_items(&items, &cx.config.server.limits)?;
    body.input = Some(Input::Items(items));
    Ok(chain.iter().map(|r| r.response.id.clone()).collect())
}
