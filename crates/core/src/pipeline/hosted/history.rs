//! A conversation's MCP items as a model sees them: earlier calls as
//! function calls and their results, earlier tool lists reused rather
//! than listed again, and the client's answers to approval requests.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::{ApiError, RequestError};
use crate::mcp::{names, wire::ToolDef};
use crate::types::{
    CreateResponseBody, FunctionCall, FunctionCallOutput, FunctionOutput, Input, Item,
};

fn mcp_type(item: &Item) -> Option<&str> {
    match item {
        Item::Other(v) => v
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| t.starts_with("mcp_")),
        _ => None,
    }
}

fn items(body: &CreateResponseBody) -> &[Item] {
    match &body.input {
        Some(Input::Items(items)) => items,
        _ => &[],
    }
}

/// The tools each server listed earlier in the conversation (its
/// `mcp_list_tools` items), by label.
pub(super) fn listed(body: &CreateResponseBody) -> BTreeMap<String, Vec<ToolDef>> {
    let mut out = BTreeMap::new();
    for item in items(body) {
        let Item::Other(v) = item else { continue };
        if v.get("type").and_then(Value::as_str) != Some("mcp_list_tools")
            || v.get("error").is_some_and(|e| !e.is_null())
        {
            continue;
        }
        let Some(label) = v.get("server_label").and_then(Value::as_str) else {
            continue;
        };
        let defs = v
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                // Listed items say `input_schema`; MCP says `inputSchema`.
                let mut t = t.clone();
                if let Some(s) = t.get("input_schema").cloned() {
                    t["inputSchema"] = s;
                }
                ToolDef::from_listed(&t)
            })
            .collect();
        out.insert(label.to_owned(), defs);
    }
    out
}

/// An approval the client gave or refused, for a call the model asked
/// for in an earlier turn.
pub(super) struct Answered {
    /// Where the request stood in the input.
    pub at: usize,
    /// The approval request's id.
    pub request_id: String,
    /// Its server and tool, and the model's arguments.
    pub server_label: String,
    /// The tool.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
    /// Approved?
    pub approve: bool,
    /// Why not, if the client said.
    pub reason: Option<String>,
}

/// Rewrites the input for a model: `mcp_call` items become a function
/// call and its result, tool lists and approval items go (the answered
/// approvals are returned, to be run at their place). An answer to no
/// approval request of the conversation is a 400.
pub(super) fn lower(body: &mut CreateResponseBody) -> Result<Vec<Answered>, ApiError> {
    let Some(Input::Items(items)) = body.input.as_mut() else {
        return Ok(Vec::new());
    };
    if !items.iter().any(|i| mcp_type(i).is_some()) {
        return Ok(Vec::new());
    }
    let mut requests: BTreeMap<String, Value> = BTreeMap::new();
    let mut responses: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
    for item in items.iter() {
        let Item::Other(v) = item else { continue };
        match mcp_type(item) {
            Some("mcp_approval_request") => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    requests.insert(id.to_owned(), v.clone());
                }
            }
            Some("mcp_approval_response") => {
                let id = v
                    .get("approval_request_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let approve = v.get("approve").and_then(Value::as_bool).unwrap_or(false);
                let reason = v.get("reason").and_then(Value::as_str).map(str::to_owned);
                responses.insert(id.to_owned(), (approve, reason));
            }
            _ => {}
        }
    }
    if let Some(orphan) = responses.keys().find(|id| !requests.contains_key(*id)) {
        return Err(RequestError::InvalidValue {
            param: "input".into(),
            message: format!(
                "an mcp_approval_response answers `{orphan}`, which is no mcp_approval_request of this conversation"
            ),
        }
        .into());
    }
    let mut lowered = Vec::with_capacity(items.len());
    let mut answered = Vec::new();
    for item in std::mem::take(items) {
        match mcp_type(&item) {
            None => lowered.push(item),
            Some("mcp_call") => {
                let Item::Other(v) = &item else { continue };
                let s = |k: &str| field(v, k);
                let call = function_call(s("id"), &s("server_label"), &s("name"), s("arguments"));
                lowered.push(Item::FunctionCall(call.clone()));
                lowered.push(result_item(&call, v));
            }
            Some("mcp_approval_request") => {
                let Item::Other(v) = &item else { continue };
                let s = |k: &str| field(v, k);
                if let Some((approve, reason)) = responses.get(&s("id")) {
                    answered.push(Answered {
                        at: lowered.len(),
                        request_id: s("id"),
                        server_label: s("server_label"),
                        name: s("name"),
                        arguments: s("arguments"),
                        approve: *approve,
                        reason: reason.clone(),
                    });
                }
            }
            // Lists (reused by `listed`), answers (taken above), and
            // MCP items this gateway does not run.
            Some(_) => {}
        }
    }
    *items = lowered;
    Ok(answered)
}

/// A string field of an MCP item (empty when absent).
fn field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The function call a model made, or is told it made, to `tool` of
/// server `label`.
pub(super) fn function_call(
    call_id: String,
    label: &str,
    tool: &str,
    arguments: String,
) -> FunctionCall {
    FunctionCall {
        id: None,
        call_id,
        name: names::exposed(label, tool),
        arguments,
        status: Some("completed".into()),
        extra: Default::default(),
    }
}

/// The function call an `mcp_call` item (or a call the gateway ran)
/// stands for, and its result as the model reads it.
pub(super) fn result_item(call: &FunctionCall, mcp_call: &Value) -> Item {
    let output = match mcp_call.get("error") {
        Some(e) if !e.is_null() => format!("error: {e}"),
        _ => mcp_call
            .get("output")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    Item::FunctionCallOutput(FunctionCallOutput {
        id: None,
        call_id: call.call_id.clone(),
        output: FunctionOutput::Text(output),
        status: Some("completed".into()),
        extra: Default::default(),
    })
}

/// Adds a call the gateway ran, and its `mcp_call` item's result, to the
/// next turn's input.
pub(super) fn push_result(input: &mut Vec<Item>, call: &FunctionCall, mcp_call: &Value) {
    input.push(Item::FunctionCall(call.clone()));
    input.push(result_item(call, mcp_call));
}

/// What a model reads for a call the client refused.
pub(super) fn denied(call: &FunctionCall, reason: Option<&str>) -> Item {
    let text = match reason {
        Some(r) => format!("the user did not approve this call: {r}"),
        None => "the user did not approve this call".to_owned(),
    };
    result_item(call, &json!({"output": text}))
}
