//! `POST /mcp`: the gateway as an MCP server for MCP clients (Claude
//! Code, Codex, IDEs, the SDKs), over the servers the caller's key and
//! team allow. The protocol is `crate::mcp::server`'s; this door only
//! says who the caller may reach.

use crate::auth::Principal;
use crate::gateway::Gateway;
use crate::host::{Host, HttpRequest, HttpResponse};

impl Gateway {
    /// Answers one MCP message for `principal`.
    pub(crate) async fn mcp<H: Host>(
        &self,
        host: &H,
        req: &HttpRequest,
        principal: &Principal,
    ) -> HttpResponse {
        let team = self.config.team_mcp(principal.team.as_deref());
        let allowed = |label: &str| principal.may_use_mcp(label, team);
        crate::mcp::server::answer(host, &self.config.mcp, &allowed, req).await
    }
}
