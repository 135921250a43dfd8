//! Request fields and hosted tools that reach organisation-level resources
//! of the provider account behind the gateway: stored conversations and
//! prompts, files and vector stores, remote MCP servers, sandboxes, a more
//! expensive service tier. The operator's key pays for and exposes them,
//! so they are off unless the provider's `passthrough` or the caller's API
//! key lists them.

use serde_json::Value;

use crate::config::ProviderConfig;
use crate::error::RequestError;
use crate::types::{CreateResponseBody, Tool};

/// Body fields that need an allowance.
const FIELDS: [&str; 2] = ["conversation", "prompt"];

/// Refuses what neither the provider nor the caller allows.
pub(crate) fn check(
    body: &CreateResponseBody,
    provider_name: &str,
    provider: &ProviderConfig,
    caller: &[String],
) -> Result<(), RequestError> {
    let allowed = |name: &str| allows(provider, caller, name);
    let refuse = |param: String, name: &str| refusal(provider_name, param, name);
    // Elsewhere these fields are not sent at all (see
    // `common::copy_allowed_extras`).
    let responses = super::Protocol::of(provider) == super::Protocol::Responses;
    for field in FIELDS.iter().filter(|_| responses) {
        if body.extra.get(*field).is_some_and(|v| !v.is_null()) && !allowed(field) {
            return Err(refuse((*field).to_owned(), field));
        }
    }
    if let Some(tier) = body.service_tier.as_deref() {
        if tier != "auto" && tier != "default" && !allowed("service_tier") {
            return Err(refuse("service_tier".into(), "service_tier"));
        }
    }
    // Other protocols leave hosted tools out (see `tool_map`).
    if !responses {
        return Ok(());
    }
    for (i, tool) in body.tools.iter().flatten().enumerate() {
        let Tool::Other(v) = tool else { continue };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        // Other hosted tools are left out when not allowed, as on every
        // provider (`tool_map::adapt`); these reach what is stored there.
        if reaches_stored(v) && !allowed(kind) {
            return Err(refuse(format!("tools[{i}]"), kind));
        }
    }
    Ok(())
}

/// Whether the provider's or the caller's `passthrough` lists `name`.
pub(crate) fn allows(provider: &ProviderConfig, caller: &[String], name: &str) -> bool {
    provider.passthrough.iter().any(|p| p == name) || caller.iter().any(|p| p == name)
}

/// The 403 for `name`, which neither the provider nor the caller allows.
pub(crate) fn refusal(provider_name: &str, param: String, name: &str) -> RequestError {
    RequestError::NotAllowed {
        message: format!(
            "`{name}` reaches resources of the gateway's account at provider '{provider_name}' and is not allowed; the operator can allow it with providers.{provider_name}.passthrough or an API key's passthrough"
        ),
        param,
    }
}

/// Whether a hosted tool reaches resources stored in the provider
/// account: vector stores (`file_search`), containers (`code_interpreter`,
/// a `container` or `vector_store_ids` of any tool).
fn reaches_stored(tool: &Value) -> bool {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    matches!(kind, "file_search" | "code_interpreter")
        || tool.get("container").is_some_and(|c| !c.is_null())
        || tool.get("vector_store_ids").is_some_and(|c| !c.is_null())
}

/// Whether a Responses tool runs on the client's side, reaching nothing
/// of the provider account.
pub(crate) fn client_side(tool: &Value) -> bool {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    matches!(kind, "namespace" | "custom" | "local_shell" | "function")
        || (kind == "tool_search"
            && tool.get("execution").and_then(Value::as_str) == Some("client"))
}
