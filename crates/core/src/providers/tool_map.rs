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
//! - a hosted tool the protocol cannot express (`web_search`,
//!   `file_search`, `local_shell`, `tool_search`, …) is dropped, and named
//!   in `x-latticelm-dropped-tools`, unless the provider says
//!   `unsupported_tools: reject` (a 400, as before).
//!
//! An OpenAI Responses upstream gets the tools as sent.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::Protocol;
use crate::config::ProviderConfig;
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
pub fn adapt<'b>(
    body: &'b CreateResponseBody,
    protocol: Protocol,
    provider: &ProviderConfig,
) -> (Cow<'b, CreateResponseBody>, ToolMap) {
    let mut map = ToolMap::default();
    if protocol == Protocol::Responses {
        return (Cow::Borrowed(body), map);
    }
    let needs_tools = body
        .tools
        .iter()
        .flatten()
        .any(|t| matches!(t, Tool::Other(_)));
    let needs_items = match &body.input {
        Some(Input::Items(items)) => items
            .iter()
            .any(|i| namespace_of(i).is_some() || custom_item(i).is_some()),
        _ => false,
    };
    if !needs_tools && !needs_items {
        return (Cow::Borrowed(body), map);
    }
    let reject = provider.unsupported_tools.as_deref() == Some("reject");
    let mut out = body.clone();
    if let Some(tools) = &body.tools {
        let mut flat = Vec::with_capacity(tools.len());
        for tool in tools {
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
            } else if reject {
                flat.push(tool.clone());
            } else {
                map.dropped.push(kind.to_owned());
            }
        }
        out.tools = Some(flat);
    }
    if let Some(Input::Items(items)) = &mut out.input {
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
    (Cow::Owned(out), map)
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
