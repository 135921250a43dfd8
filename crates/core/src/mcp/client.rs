//! The MCP client: one conversation with one server for one response,
//! over the host's `send`. It speaks the stateless generation
//! (2026-07-28) when the server does, and the `initialize` handshake
//! (2025-11-25 and older) otherwise; nothing outlives the response, so
//! no replica holds a session.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::wire::{self, CallOutput, ToolDef};
use super::McpError;
use crate::host::{within, Host, UpstreamRequest};

/// Where a server is and what goes with every call to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its label (`server_label`).
    pub label: String,
    /// Its Streamable HTTP URL.
    pub url: String,
    /// Headers sent to it (its credentials).
    pub headers: Vec<(String, String)>,
}

/// A conversation with one server.
pub struct Client<'h, H: Host> {
    host: &'h H,
    endpoint: Endpoint,
    /// The version both speak: [`wire::MODERN`] or a handshake one.
    version: String,
    session: Option<String>,
    next_id: u64,
    timeout: Duration,
    max_bytes: u64,
}

/// How many pages of `tools/list` are read at most.
const MAX_PAGES: usize = 20;

impl<'h, H: Host> Client<'h, H> {
    /// Finds out which generation the server speaks: `server/discover`
    /// first; a server that does not know it (any answer but a modern
    /// one) gets the `initialize` handshake.
    pub async fn connect(
        host: &'h H,
        endpoint: Endpoint,
        timeout: Duration,
        max_bytes: u64,
    ) -> Result<Client<'h, H>, McpError> {
        let mut c = Client {
            host,
            endpoint,
            version: wire::MODERN.to_owned(),
            session: None,
            next_id: 1,
            timeout,
            max_bytes,
        };
        match c.call("server/discover", json!({}), None).await {
            Ok(found) => {
                let modern = found
                    .get("supportedVersions")
                    .and_then(Value::as_array)
                    .is_none_or(|v| v.iter().any(|s| s == wire::MODERN));
                if modern {
                    return Ok(c);
                }
            }
            // A modern server that does not like this request: it said
            // so in the modern way. Anything else is an older server.
            Err(McpError::Rpc { code, message }) if (-32022..=-32020).contains(&code) => {
                if code != -32022 {
                    return Err(McpError::Rpc { code, message });
                }
            }
            Err(McpError::Timeout) => return Err(McpError::Timeout),
            Err(_) => {}
        }
        c.handshake().await?;
        Ok(c)
    }

    /// `initialize`, then `notifications/initialized`.
    async fn handshake(&mut self) -> Result<(), McpError> {
        self.version = wire::LEGACY.to_owned();
        let params = json!({
            "protocolVersion": wire::LEGACY,
            "capabilities": {},
            "clientInfo": wire::client_info(),
        });
        let result = self.call("initialize", params, None).await?;
        let agreed = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(wire::LEGACY);
        if !wire::LEGACY_VERSIONS.contains(&agreed) {
            return Err(McpError::Malformed(format!(
                "the server offered protocol version `{agreed}`, which this gateway does not speak"
            )));
        }
        self.version = agreed.to_owned();
        let note = wire::notification("notifications/initialized");
        let resp = self.post(&note, None, None).await?;
        if !(200..300).contains(&resp.0) {
            return Err(McpError::Http {
                status: resp.0,
                message: "the server refused `notifications/initialized`".into(),
            });
        }
        Ok(())
    }

    /// Every tool the server lists (following `nextCursor`).
    pub async fn list_tools(&mut self) -> Result<Vec<ToolDef>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.call("tools/list", params, None).await?;
            tools.extend(
                page.get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(ToolDef::from_listed),
            );
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        Ok(tools)
    }

    /// Runs one tool.
    pub async fn call_tool(
        &mut self,
        name: &str,
        arguments: Value,
    ) -> Result<CallOutput, McpError> {
        let result = self.call_tool_raw(name, arguments).await?;
        Ok(CallOutput::from_result(&result))
    }

    /// Runs one tool, and returns its result as the server sent it
    /// (`content`, `isError`, `structuredContent`).
    pub async fn call_tool_raw(&mut self, name: &str, arguments: Value) -> Result<Value, McpError> {
        let params = json!({"name": name, "arguments": arguments});
        self.call("tools/call", params, Some(name)).await
    }

    /// One request and its result.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
        name: Option<&str>,
    ) -> Result<Value, McpError> {
        let id = self.next_id;
        self.next_id += 1;
        let modern = self.version == wire::MODERN;
        let body = wire::request(id, method, params, modern);
        let (status, content_type, bytes, session) = self.post(&body, Some(method), name).await?;
        if let Some(s) = session {
            self.session = Some(s);
        }
        let parsed = wire::reply(&content_type, &bytes, id);
        match parsed {
            Err(McpError::Malformed(_)) if !(200..300).contains(&status) => Err(McpError::Http {
                status,
                message: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            }),
            other => other,
        }
    }

    /// POSTs one message: status, content type, body, and the session
    /// id the server gave, within the call timeout and the size cap.
    async fn post(
        &self,
        message: &Value,
        method: Option<&str>,
        name: Option<&str>,
    ) -> Result<(u16, String, Bytes, Option<String>), McpError> {
        let mut headers = wire::headers(&self.version, method, name, self.session.as_deref());
        headers.extend(self.endpoint.headers.iter().cloned());
        let req = UpstreamRequest {
            method: "POST",
            url: self.endpoint.url.clone(),
            headers,
            body: Bytes::from(serde_json::to_vec(message).unwrap_or_default()),
            stream: false,
            provider: format!("mcp:{}", self.endpoint.label),
            timeout: self.timeout,
        };
        let max = self.max_bytes;
        let exchange = async move {
            let resp = self
                .host
                .send(req)
                .await
                .map_err(|e| McpError::Transport(e.to_string()))?;
            let header = |k: &str| {
                resp.headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            let content_type = header("content-type").unwrap_or_default();
            let session = header("mcp-session-id");
            let status = resp.status;
            let mut body = resp.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| McpError::Transport(e.to_string()))?;
                if (bytes.len() + chunk.len()) as u64 > max {
                    return Err(McpError::TooLarge(max));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, content_type, Bytes::from(bytes), session))
        };
        within(self.host, self.timeout, exchange)
            .await
            .unwrap_or(Err(McpError::Timeout))
    }
}

/// A server's tools, from the key-value store when another request
/// listed them within `config.list_ttl` (shared by every replica that
/// shares the store), else listed now and kept. The key names the URL
/// and the credentials' hash, so a change of either lists again.
pub async fn list_cached<H: Host>(
    host: &H,
    endpoint: &Endpoint,
    config: &crate::config::mcp::McpConfig,
) -> Result<Vec<ToolDef>, McpError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(endpoint.url.as_bytes());
    for (k, v) in &endpoint.headers {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
    }
    let key = format!(
        "mcp/tools/{}",
        crate::observe::trace::hex(&h.finalize()[..16])
    );
    if !config.list_ttl.is_zero() {
        if let Ok(Some(bytes)) = host.kv_get(&key).await {
            if let Ok(Value::Array(listed)) = serde_json::from_slice::<Value>(&bytes) {
                return Ok(listed.iter().filter_map(ToolDef::from_listed).collect());
            }
        }
    }
    let mut c = Client::connect(
        host,
        endpoint.clone(),
        config.call_timeout,
        config.max_result_bytes,
    )
    .await?;
    let tools = c.list_tools().await?;
    if !config.list_ttl.is_zero() {
        let listed: Vec<Value> = tools.iter().map(ToolDef::to_listed).collect();
        let bytes = serde_json::to_vec(&listed).unwrap_or_default();
        // A store that fails only costs the next request a listing.
        let _ = host.kv_put(&key, bytes, config.list_ttl).await;
    }
    Ok(tools)
}
