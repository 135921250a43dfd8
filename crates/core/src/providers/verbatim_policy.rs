//! The passthrough policy and the request caps, applied to a front door's
//! body that goes upstream as the client wrote it
//! ([`super::verbatim::Verbatim`]). The checks that `/v1/responses` makes
//! run on the translated body; this runs them on the body actually sent,
//! under the same names, so that no door reaches more of the operator's
//! account than another:
//!
//! - refused (403), as on `/v1/responses`: Chat `store: true` (`store`:
//!   completions kept in the operator's account), Messages `mcp_servers`
//!   (`mcp`) and `container` (`container`), and a `service_tier` other
//!   than `auto`/`default` (Chat) or `auto`/`standard_only` (Messages);
//! - dropped and named in `x-latticelm-dropped-tools`, as hosted tools are
//!   on every provider: Chat `web_search_options` (`web_search`), and
//!   Messages server tools, deferred ones included (`web_search_*` →
//!   `web_search`, `web_fetch_*` → `web_fetch`, `code_execution_*` →
//!   `code_execution`, `mcp_toolset` → `mcp`); the tools the client runs
//!   itself (custom, `bash_*`, `text_editor_*`, `computer_*`, `memory_*`,
//!   `tool_search_tool_*`) need nothing;
//! - both: `server.limits.max_tools` over every tool sent, and
//!   `max_metadata_entries`;
//! - `anthropic-beta`: values outside [`SAFE_BETAS`] are taken out of the
//!   header unless allowed as `anthropic-beta:<value>` (or `<value>`), and
//!   named in `x-latticelm-dropped-tools` as `anthropic-beta:<value>`.
//!
//! The depth, string and value caps ran on the raw body before it was
//! parsed (`caps::scan`).

use std::borrow::Cow;

use serde_json::Value;

use super::verbatim::Verbatim;
use super::Protocol;
use crate::caps::Caps;
use crate::config::ProviderConfig;
use crate::error::RequestError;

/// `anthropic-beta` values passed on without an allowance: features of
/// the model and the request that reach nothing of the account, by their
/// name without the date.
pub const SAFE_BETAS: [&str; 21] = [
    "prompt-caching",
    "extended-cache-ttl",
    "interleaved-thinking",
    "fine-grained-tool-streaming",
    "output-128k",
    "token-efficient-tools",
    "context-management",
    "context-1m",
    "computer-use",
    "claude-code",
    "effort",
    "structured-outputs",
    "advanced-tool-use",
    "tool-search-tool",
    "max-tokens-3-5-sonnet",
    "pdfs",
    "token-counting",
    "model-context-window-exceeded",
    "search-results",
    "redact-thinking",
    "tool-examples",
];

impl Verbatim {
    /// The body to send as checked: refuses what neither the provider
    /// nor the caller allows and what passes a cap; leaves out hosted
    /// tools and `anthropic-beta` values that are not allowed, and names
    /// them (`anthropic-beta:<value>` for a beta). Borrowed when nothing
    /// had to be left out (the common case).
    pub fn checked(
        &self,
        provider_name: &str,
        provider: &ProviderConfig,
        caller: &[String],
        limits: &Caps,
    ) -> Result<(Cow<'_, Verbatim>, Vec<String>), RequestError> {
        let allowed = |name: &str| super::passthrough::allows(provider, caller, name);
        let refuse =
            |param: String, name: &str| super::passthrough::refusal(provider_name, param, name);
        let Some(o) = self.body.as_object() else {
            return Ok((Cow::Borrowed(self), Vec::new()));
        };
        let tools = o.get("tools").and_then(Value::as_array);
        if tools.is_some_and(|t| t.len() > limits.max_tools) {
            return Err(RequestError::LimitExceeded {
                limit: "max_tools",
                max: limits.max_tools,
                param: Some("tools".into()),
            });
        }
        let meta = o.get("metadata").and_then(Value::as_object);
        if meta.is_some_and(|m| m.len() > limits.max_metadata_entries) {
            return Err(RequestError::LimitExceeded {
                limit: "max_metadata_entries",
                max: limits.max_metadata_entries,
                param: Some("metadata".into()),
            });
        }
        let tier = o.get("service_tier").and_then(Value::as_str);
        // The tools to leave out, by index.
        let mut drop_tools = vec![false; tools.map_or(0, Vec::len)];
        let mut drop_search_options = false;
        let mut dropped = Vec::new();
        match self.protocol {
            Protocol::Chat => {
                if tier.is_some_and(|t| t != "auto" && t != "default") && !allowed("service_tier") {
                    return Err(refuse("service_tier".into(), "service_tier"));
                }
                if o.get("store") == Some(&Value::Bool(true)) && !allowed("store") {
                    return Err(refuse("store".into(), "store"));
                }
                let search = o.get("web_search_options").is_some_and(|v| !v.is_null());
                if search && !allowed("web_search") {
                    drop_search_options = true;
                    dropped.push("web_search".to_owned());
                }
            }
            Protocol::Anthropic => {
                if tier.is_some_and(|t| t != "auto" && t != "standard_only")
                    && !allowed("service_tier")
                {
                    return Err(refuse("service_tier".into(), "service_tier"));
                }
                let listed = |k: &str| match o.get(k) {
                    None | Some(Value::Null) => false,
                    Some(Value::Array(a)) => !a.is_empty(),
                    Some(_) => true,
                };
                if listed("mcp_servers") && !allowed("mcp") {
                    return Err(refuse("mcp_servers".into(), "mcp"));
                }
                if listed("container") && !allowed("container") {
                    return Err(refuse("container".into(), "container"));
                }
                for (i, t) in tools.into_iter().flatten().enumerate() {
                    let kind = t.get("type").and_then(Value::as_str).unwrap_or("custom");
                    if let Some(need) = messages_tool_allowance(kind) {
                        if !allowed(need) {
                            drop_tools[i] = true;
                            dropped.push(need.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
        let betas = self.unsafe_betas(&allowed);
        let any_tool = drop_tools.contains(&true);
        if !any_tool && !drop_search_options && betas.is_empty() {
            return Ok((Cow::Borrowed(self), dropped));
        }
        let mut out = self.clone();
        if let Some(o) = out.body.as_object_mut() {
            if drop_search_options {
                o.remove("web_search_options");
            }
            if let Some(tools) = o.get_mut("tools").and_then(Value::as_array_mut) {
                let mut keep = drop_tools.iter().map(|d| !d);
                tools.retain(|_| keep.next().unwrap_or(true));
            }
        }
        for (k, v) in out.headers.iter_mut() {
            if k == "anthropic-beta" {
                *v = v
                    .split(',')
                    .map(str::trim)
                    .filter(|b| !b.is_empty() && !betas.iter().any(|d| d == b))
                    .collect::<Vec<_>>()
                    .join(",");
            }
        }
        out.headers
            .retain(|(k, v)| k != "anthropic-beta" || !v.is_empty());
        dropped.extend(betas.iter().map(|b| format!("anthropic-beta:{b}")));
        Ok((Cow::Owned(out), dropped))
    }

    /// The `anthropic-beta` values that are neither safe nor allowed.
    fn unsafe_betas(&self, allowed: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "anthropic-beta")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .filter(|b| !(safe_beta(b) || allowed(b) || allowed(&format!("anthropic-beta:{b}"))))
            .map(str::to_owned)
            .collect()
    }
}

/// Whether a beta value names a feature in [`SAFE_BETAS`] (its date aside).
fn safe_beta(value: &str) -> bool {
    let name = value.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    SAFE_BETAS.contains(&name)
}

/// The allowance a Messages tool type needs, if any: server tools run on
/// the operator's account; the tools the client runs itself need none.
fn messages_tool_allowance(kind: &str) -> Option<&str> {
    let client_side = ["custom", "bash_", "text_editor_", "computer_", "memory_"];
    if kind == "custom" || client_side.iter().any(|p| kind.starts_with(p)) {
        return None;
    }
    if kind.starts_with("tool_search_tool_") {
        return None;
    }
    for (prefix, need) in [
        ("web_search_", "web_search"),
        ("web_fetch_", "web_fetch"),
        ("code_execution_", "code_execution"),
        ("mcp_toolset", "mcp"),
    ] {
        if kind.starts_with(prefix) {
            return Some(need);
        }
    }
    Some(kind)
}
