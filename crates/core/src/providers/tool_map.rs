//! Responses tool kinds that Chat, Anthropic and Gemini do not have, made
//! into what they do have, and mapped back on the way out:
//!
//! - a `namespace` tool (Codex groups MCP tools so) becomes one function
//!   tool per child, named `<namespace>__<name>` (cut to the 64 characters
//!   of `[A-Za-z0-9_-]` every provider accepts, with a digest when cut);
//!   the model's calls come back as `function_call` items with the
//!   child's `name` and a `namespace` field, as the client sent them, and
//!   such items in the input go upstream under the flat name again;
//! - a `custom` (freeform) tool becomes a function tool with one string
//!   argument, `input`; the model's calls come back as `custom_tool_call`
//!   items with that text as `input`, and `custom_tool_call` and
//!   `custom_tool_call_output` input items go upstream as a function call
//!   and its output;
//! - `web_search` becomes the provider's own search, where the operator
//!   allows it (`web_search` in the provider's or the API key's
//!   `passthrough`: searches are billed to the gateway's account, as on
//!   an OpenAI upstream): Anthropic's `web_search` server tool, and
//!   Gemini's Google Search grounding when the request has no function
//!   tools (Gemini 2.x refuses the two together, and Gemini 3 needs a
//!   tool-call circulation that is not mapped yet). The results come back
//!   as `anthropic:` items, a `google:grounding` item and `url_citation`
//!   annotations; see each provider's module;
//! - a hosted tool the protocol cannot express (`web_search` elsewhere,
//!   `file_search`, `local_shell`, `tool_search`, …) is dropped, and named
//!   in `x-latticelm-dropped-tools`, unless the provider says
//!   `unsupported_tools: reject` (a 400, as before);
//! - input items that belong to another provider (extension items with
//!   its slug, such as `anthropic:web_search_tool_result`) or to a hosted
//!   tool the protocol does not run (`web_search_call`) are left out: the
//!   text that followed them carries what they found.
//!
//! An OpenAI Responses upstream gets the hosted tools that the operator
//! allows as sent; the others are dropped and named the same way (the
//! ones that reach stored resources, `file_search` and containers, are
//! refused with 403 before this, by `passthrough::check`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::Protocol;
use crate::config::ProviderConfig;
use crate::error::RequestError;
use crate::types::{CreateResponseBody, FunctionTool, Input, Item, Tool};

/// What the flattened names stand for, and what was dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolMap {
    /// Flat upstream name → (namespace, name) as the client knows it.
    namespaced: HashMap<String, (String, String)>,
    /// Function names that stand for `custom` tools.
    custom: HashSet<String>,
    /// The hosted tool types left out of the upstream request.
    pub dropped: Vec<String>,
}

impl ToolMap {
    /// The client's (namespace, name) for an upstream function name.
    pub fn namespaced(&self, upstream_name: &str) -> Option<&(String, String)> {
        self.namespaced.get(upstream_name)
    }

    /// Whether an upstream function name stands for a `custom` tool.
    pub fn is_custom(&self, upstream_name: &str) -> bool {
        self.custom.contains(upstream_name)
    }
}

/// Longest function name every provider accepts.
const MAX_NAME: usize = 64;

/// The flat function name of a namespaced tool.
pub fn flat_name(namespace: &str, name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let full = format!("{}__{}", clean(namespace), clean(name));
    if full.len() <= MAX_NAME {
        return full;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{namespace}\u{0}{name}").as_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}_{tag}", &full[..MAX_NAME - 9])
}

/// The request as a protocol without namespaces and hosted tools can take
/// it, and the map back.
/// Hosted tools the protocol cannot run are dropped (named in the map),
/// or refused when the provider says `unsupported_tools: reject`.
pub fn adapt<'b>(
    body: &'b CreateResponseBody,
    protocol: Protocol,
    provider_name: &str,
    provider: &ProviderConfig,
    caller_passthrough: &[String],
) -> Result<(Cow<'b, CreateResponseBody>, ToolMap), RequestError> {
    let mut map = ToolMap::default();
    let reject = provider.unsupported_tools.as_deref() == Some("reject");
    let allowed = |kind: &str| super::passthrough::allows(provider, caller_passthrough, kind);
    if protocol == Protocol::Responses {
        // Hosted tools run on the operator's account: the allowed ones go
        // as sent; the rest are left out (named), or refused with
        // `unsupported_tools: reject`, as on every other protocol.
        let unallowed = |t: &Tool| match t {
            Tool::Function(_) => false,
            Tool::Other(v) => {
                let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
                !super::passthrough::client_side(v) && !allowed(kind)
            }
        };
        let tools = body.tools.as_deref().unwrap_or_default();
        let drop_tools = tools.iter().any(unallowed);
        let drop_items = match &body.input {
            Some(Input::Items(items)) => items.iter().any(|i| foreign(i, protocol)),
            _ => false,
        };
        if !drop_tools && !drop_items {
            return Ok((Cow::Borrowed(body), map));
        }
        let mut out = body.clone();
        if drop_tools {
            let mut kept = Vec::with_capacity(tools.len());
            for (i, t) in tools.iter().enumerate() {
                match t {
                    Tool::Other(v) if unallowed(t) => {
                        if reject {
                            return Err(super::common::unsupported_tool(
                                i,
                                v,
                                provider_name,
                                protocol.name(),
                            ));
                        }
                        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
                        map.dropped.push(kind.to_owned());
                    }
                    _ => kept.push(t.clone()),
                }
            }
            out.tools = Some(kept);
        }
        if let Some(Input::Items(items)) = &mut out.input {
            items.retain(|i| !foreign(i, protocol));
        }
        return Ok((Cow::Owned(out), map));
    }
    let needs_tools = body
        .tools
        .iter()
        .flatten()
        .any(|t| matches!(t, Tool::Other(_)));
    let needs_items = match &body.input {
        Some(Input::Items(items)) => items
            .iter()
            .any(|i| namespace_of(i).is_some() || custom_item(i).is_some() || foreign(i, protocol)),
        _ => false,
    };
    if !needs_tools && !needs_items {
        return Ok((Cow::Borrowed(body), map));
    }
    let search_allowed = allowed("web_search");
    let mut out = body.clone();
    if let Some(tools) = &body.tools {
        let mut flat = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let Tool::Other(v) = tool else {
                flat.push(tool.clone());
                continue;
            };
            let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind == "namespace" {
                let ns = v.get("name").and_then(Value::as_str).unwrap_or_default();
                for child in v
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(name) = child.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    let upstream = flat_name(ns, name);
                    map.namespaced
                        .insert(upstream.clone(), (ns.to_owned(), name.to_owned()));
                    flat.push(Tool::Function(FunctionTool {
                        name: upstream,
                        description: child
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        parameters: child.get("parameters").cloned(),
                        strict: None,
                        extra: Default::default(),
                    }));
                }
            } else if kind == "custom" {
                let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
                map.custom.insert(name.to_owned());
                flat.push(Tool::Function(custom_as_function(name, v)));
            } else if is_web_search(v) && searches(protocol, tools) && search_allowed {
                flat.push(tool.clone());
            } else if reject {
                return Err(super::common::unsupported_tool(
                    i,
                    v,
                    provider_name,
                    protocol.name(),
                ));
            } else {
                map.dropped.push(kind.to_owned());
            }
        }
        out.tools = Some(flat);
    }
    if let Some(Input::Items(items)) = &mut out.input {
        items.retain(|i| !foreign(i, protocol));
        for item in items.iter_mut() {
            if let Some(plain) = custom_item(item) {
                *item = plain;
                continue;
            }
            if let Some(ns) = namespace_of(item) {
                if let Item::FunctionCall(f) = item {
                    f.name = flat_name(&ns, &f.name);
                    f.extra.remove("namespace");
                }
            }
        }
    }
    Ok((Cow::Owned(out), map))
}

/// Whether a hosted tool is OpenAI's web search, in any of its versions.
pub(crate) fn is_web_search(tool: &Value) -> bool {
    matches!(
        tool.get("type").and_then(Value::as_str),
        Some(
            "web_search"
                | "web_search_preview"
                | "web_search_2025_08_26"
                | "web_search_preview_2025_03_11"
        )
    )
}

/// Whether the protocol runs a web search for this request's tools.
fn searches(protocol: Protocol, tools: &[Tool]) -> bool {
    match protocol {
        Protocol::Anthropic => true,
        Protocol::Google => tools.iter().all(|t| match t {
            Tool::Function(_) => false,
            Tool::Other(v) => is_web_search(v),
        }),
        Protocol::Chat | Protocol::Responses => false,
    }
}

/// Whether an input item is another provider's (or a hosted call this
/// protocol does not run): left out of the upstream request.
fn foreign(item: &Item, protocol: Protocol) -> bool {
    let Item::Other(v) = item else {
        return false;
    };
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let own = match protocol {
        Protocol::Anthropic => Some(super::anthropic::SLUG),
        Protocol::Responses => Some(super::openai_responses::SLUG),
        _ => None,
    };
    match kind.split_once(':') {
        Some(_) => own.is_none_or(|slug| !kind.starts_with(slug)),
        None => kind == "web_search_call" && protocol != Protocol::Responses,
    }
}

/// The namespace of a `function_call` input item, if it has one.
fn namespace_of(item: &Item) -> Option<String> {
    let Item::FunctionCall(f) = item else {
        return None;
    };
    f.extra
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A `custom` tool as a function taking its freeform text as `input`.
fn custom_as_function(name: &str, tool: &Value) -> FunctionTool {
    let mut description = tool
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    description.push_str("\n\nPut the whole freeform input, unchanged, in the string `input`.");
    if let Some(format) = tool.get("format").filter(|f| f["type"] == "grammar") {
        let syntax = format["syntax"].as_str().unwrap_or("grammar");
        let definition = format["definition"].as_str().unwrap_or_default();
        description.push_str(&format!(
            " It must match this {syntax} grammar:\n{definition}"
        ));
    }
    FunctionTool {
        name: name.to_owned(),
        description: Some(description),
        parameters: Some(
            json!({"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}),
        ),
        strict: None,
        extra: Default::default(),
    }
}

/// A `custom_tool_call` or `custom_tool_call_output` input item as the
/// function call or output it went upstream as.
fn custom_item(item: &Item) -> Option<Item> {
    let Item::Other(v) = item else {
        return None;
    };
    let plain = match v.get("type").and_then(Value::as_str)? {
        "custom_tool_call" => json!({
            "type": "function_call",
            "call_id": v.get("call_id")?,
            "name": v.get("name")?,
            "arguments": json!({"input": v.get("input").and_then(Value::as_str).unwrap_or_default()}).to_string(),
        }),
        "custom_tool_call_output" => json!({
            "type": "function_call_output",
            "call_id": v.get("call_id")?,
            "output": v.get("output")?,
        }),
        _ => return None,
    };
    serde_json::from_value(plain).ok()
}
