//! `POST /mcp`: the gateway as an MCP server for MCP clients (Claude
//! Code, Codex, IDEs, the SDKs), over the servers the caller's key and
//! team allow. The protocol is `crate::mcp::server`'s; this door says
//! who the caller may reach, and admits each `tools/call` as a request
//! against the caller's requests per minute and concurrency.

use serde_json::{json, Value};

use crate::auth::Principal;
use crate::gateway::Gateway;
use crate::host::{Body, Host, HttpRequest, HttpResponse};
use crate::observe::Recorder;
use crate::pipeline::admit::{self, Used};

impl Gateway {
    /// Answers one MCP message for `principal`.
    pub(crate) async fn mcp<H: Host + Clone + 'static>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
        rec: &Recorder,
    ) -> HttpResponse {
        let team = self.config.team_mcp(principal.team.as_deref());
        let allowed = |label: &str| principal.may_use_mcp(label, team);
        let message: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let call = message.get("method").and_then(Value::as_str) == Some("tools/call")
            && message.get("id").is_some();
        if !call {
            return crate::mcp::server::answer(host, &self.config.mcp, &allowed, req).await;
        }
        let mut admission = match admit::admit_call(&self.cx(host), principal, rec).await {
            Ok(a) => a,
            Err(refused) => {
                // The limit's status and headers, with the message as a
                // JSON-RPC error an MCP client reads.
                let why = refused.error().payload.message;
                let mut resp = refused.into_response();
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                let body = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32000, "message": why}});
                resp.body = Body::Full(bytes::Bytes::from(body.to_string()));
                return resp;
            }
        };
        admission.reached();
        let mut resp = crate::mcp::server::answer(host, &self.config.mcp, &allowed, req).await;
        admission.settle_later(Used::default());
        resp.headers.append(&mut admission.headers);
        resp
    }
}
