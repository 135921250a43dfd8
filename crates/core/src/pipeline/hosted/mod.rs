//! The hosted tools stage: a request's `mcp` tools, run by the gateway
//! for any model on any host.
//!
//! ```text
//! prepare (resolve, allow, tools/list) ─ turn ─ calls ─ turn ─ … ─ the model answers
//! ```
//!
//! [`prepare`] resolves each `mcp` tool to a server its caller may use,
//! lists the server's tools (an `mcp_list_tools` item each) and offers
//! them to the model as function tools named `<label>__<tool>`. After a
//! turn, [`Hosted::run_calls`] runs the calls the model made to them
//! (an `mcp_call` item each) and hands their results to the next turn;
//! a call that needs approval ends the response with an
//! `mcp_approval_request` instead, which the client answers with
//! `previous_response_id` and an `mcp_approval_response`.

mod history;
mod servers;
pub(crate) mod turns;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::auth::Principal;
use crate::host::Host;
use crate::ids::IdGen;
use crate::mcp::client::Client;
use crate::mcp::names;
use crate::mcp::wire::ToolDef;
use crate::types::{CreateResponseBody, FunctionTool, Input, Item, Tool};

use super::error::StageError;
use super::Cx;
use servers::Server;

/// A request's hosted MCP tools, while its turns run.
pub(crate) struct Hosted {
    servers: Vec<(Server, bool)>,
    /// Exposed name → (server, its tool).
    tools: BTreeMap<String, (usize, ToolDef)>,
    /// What the response shows before the model's own output: list
    /// items, calls, approval requests.
    pub items: Vec<Value>,
    /// Calls the response may still run.
    calls_left: u64,
    ids: IdGen,
}

/// What a turn's calls came to.
pub(crate) enum Next {
    /// The model answered without calling a hosted tool: the response
    /// is its answer.
    Done,
    /// Calls ran: their results go to the model in another turn.
    Again,
    /// A call waits for the client's approval: the response ends here.
    Approval,
}

/// Takes the request's `mcp` tools (unless its caller may send them to
/// OpenAI as they are: `passthrough: [mcp]`), checks each server,
/// lists their tools and offers them as function tools. `None` when the
/// request has none.
pub(crate) async fn prepare<H: Host>(
    cx: &Cx<'_, H>,
    principal: &Principal,
    team_mcp: Option<&[String]>,
    body: &mut CreateResponseBody,
    seed: u64,
) -> Result<Option<Hosted>, StageError> {
    if principal.passthrough.iter().any(|p| p == "mcp") {
        return Ok(None);
    }
    // Tools listed earlier in the conversation are not listed again.
    let listed = history::listed(body);
    let Some(tools) = body.tools.as_mut() else {
        return Ok(None);
    };
    let is_mcp = |t: &Tool| matches!(t, Tool::Other(v) if v.get("type").and_then(Value::as_str) == Some("mcp"));
    if !tools.iter().any(is_mcp) {
        return Ok(None);
    }
    let mut servers = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        if let Tool::Other(spec) = t {
            if is_mcp(t) {
                servers.push(servers::resolve(cx.config, principal, team_mcp, i, spec)?);
            }
        }
    }
    tools.retain(|t| !is_mcp(t));
    let mut hosted = Hosted {
        servers,
        tools: BTreeMap::new(),
        items: Vec::new(),
        calls_left: body
            .max_tool_calls
            .unwrap_or(u64::from(cx.config.mcp.max_calls)),
        ids: IdGen::new(seed),
    };
    for s in 0..hosted.servers.len() {
        let label = hosted.servers[s].0.endpoint.label.clone();
        let (defs, error) = match listed.get(&label) {
            Some(defs) => (defs.clone(), None),
            None => match list(cx, &hosted.servers[s].0).await {
                Ok(defs) => (defs, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
        };
        let offered: Vec<ToolDef> = defs
            .into_iter()
            .filter(|d| hosted.servers[s].0.offers(d))
            .collect();
        if !listed.contains_key(&label) {
            let id = hosted.ids.next("mcpl_");
            let mut item = json!({
                "type": "mcp_list_tools", "id": id, "server_label": label,
                "tools": offered.iter().map(list_entry).collect::<Vec<_>>(),
            });
            if let Some(e) = error {
                item["error"] = json!(e);
            }
            hosted.items.push(item);
        }
        for def in offered {
            let name = names::exposed(&label, &def.name);
            tools.push(Tool::Function(FunctionTool {
                name: name.clone(),
                description: def.description.clone(),
                parameters: Some(def.input_schema.clone()),
                strict: None,
                extra: Default::default(),
            }));
            hosted.tools.insert(name, (s, def));
        }
    }
    let answered = history::lower(body)?;
    hosted.run_approved(cx, body, answered).await;
    Ok(Some(hosted))
}

async fn list<H: Host>(
    cx: &Cx<'_, H>,
    server: &Server,
) -> Result<Vec<ToolDef>, crate::mcp::McpError> {
    crate::mcp::client::list_cached(cx.host, &server.endpoint, &cx.config.mcp).await
}

/// A tool as `mcp_list_tools` shows it.
fn list_entry(d: &ToolDef) -> Value {
    json!({
        "name": d.name,
        "description": d.description,
        "input_schema": d.input_schema,
        "annotations": d.annotations,
    })
}

impl Hosted {
    /// Whether `name` is one of the hosted tools offered.
    pub fn is_hosted(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Runs the calls a turn's `output` made to hosted tools, in order,
    /// and lays the turn out: `shown` gets what the response shows (the
    /// model's own items, an `mcp_call` for each call run, an
    /// `mcp_approval_request` for a call that waits), and `input` what
    /// the next turn reads (the model's items, each call with its
    /// result). A call that needs approval stops the turn there; calls
    /// past `max_tool_calls` are not run, and the model is told so.
    pub async fn run_calls<H: Host>(
        &mut self,
        cx: &Cx<'_, H>,
        output: Vec<Item>,
        input: &mut Vec<Item>,
        shown: &mut Vec<Item>,
    ) -> Next {
        let mut next = Next::Done;
        for item in output {
            let call = match item {
                Item::FunctionCall(c) if self.tools.contains_key(&c.name) => c,
                other => {
                    input.push(other.clone());
                    shown.push(other);
                    continue;
                }
            };
            if matches!(next, Next::Approval) {
                // Not run: the response stops at the first that waits.
                continue;
            }
            let Some((s, def)) = self.tools.get(&call.name).cloned() else {
                continue;
            };
            let (server, configured) = &self.servers[s];
            if server.needs_approval(&def, *configured) {
                let id = self.ids.next("mcpr_");
                shown.push(Item::Other(json!({
                    "type": "mcp_approval_request", "id": id,
                    "server_label": server.endpoint.label, "name": def.name,
                    "arguments": call.arguments,
                })));
                next = Next::Approval;
                continue;
            }
            let item = self.call(cx, s, &def, &call.arguments, None).await;
            history::push_result(input, &call, &item);
            shown.push(Item::Other(item));
            next = Next::Again;
        }
        next
    }

    /// Runs the calls the client approved (and tells the model of those
    /// it refused), each where its request stood in the conversation.
    async fn run_approved<H: Host>(
        &mut self,
        cx: &Cx<'_, H>,
        body: &mut CreateResponseBody,
        answered: Vec<history::Answered>,
    ) {
        let mut placed: Vec<(usize, [Item; 2])> = Vec::new();
        for a in answered {
            let call = history::function_call(
                a.request_id.clone(),
                &a.server_label,
                &a.name,
                a.arguments.clone(),
            );
            let name = call.name.clone();
            let result = match self.tools.get(&name).cloned() {
                Some((s, def)) if a.approve => {
                    let item = self
                        .call(cx, s, &def, &a.arguments, Some(&a.request_id))
                        .await;
                    let pair = history::result_item(&call, &item);
                    self.items.push(item);
                    pair
                }
                Some(_) => history::denied(&call, a.reason.as_deref()),
                None => history::denied(&call, Some("the tool is not offered in this request")),
            };
            placed.push((a.at, [Item::FunctionCall(call), result]));
        }
        if let Some(Input::Items(items)) = body.input.as_mut() {
            for (at, pair) in placed.into_iter().rev() {
                let at = at.min(items.len());
                items.splice(at..at, pair);
            }
        }
    }

    /// Runs one call (`approval`: the request it answers) and returns its
    /// `mcp_call` item.
    pub async fn call<H: Host>(
        &mut self,
        cx: &Cx<'_, H>,
        s: usize,
        def: &ToolDef,
        arguments: &str,
        approval: Option<&str>,
    ) -> Value {
        let id = self.ids.next("mcp_");
        let server = &self.servers[s].0;
        let mut item = json!({
            "type": "mcp_call", "id": id, "server_label": server.endpoint.label,
            "name": def.name, "arguments": arguments, "approval_request_id": approval,
            "output": null, "error": null, "status": "completed",
        });
        if self.calls_left == 0 {
            item["status"] = json!("incomplete");
            item["error"] = json!({"type": "mcp_protocol_error", "code": -32000,
                "message": "max_tool_calls reached: the gateway did not run this call"});
            return item;
        }
        self.calls_left -= 1;
        let args: Value = match serde_json::from_str(arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                item["status"] = json!("failed");
                item["error"] = json!({"type": "mcp_protocol_error", "code": -32602,
                    "message": "the model's arguments are not a JSON object"});
                return item;
            }
        };
        let mcp = &cx.config.mcp;
        let result = async {
            let mut c = Client::connect(
                cx.host,
                server.endpoint.clone(),
                mcp.call_timeout,
                mcp.max_result_bytes,
            )
            .await?;
            c.call_tool(&def.name, args).await
        }
        .await;
        match result {
            Ok(out) if out.is_error => {
                item["status"] = json!("failed");
                item["error"] = json!({"type": "mcp_tool_execution_error", "content": out.content});
            }
            Ok(out) => item["output"] = json!(out.text),
            Err(e) => {
                item["status"] = json!("failed");
                item["error"] = e.item_error();
            }
        }
        item
    }
}
