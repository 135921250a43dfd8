//! The gateway as an MCP server (`POST /mcp`): one Streamable HTTP
//! endpoint over the configured servers, for MCP clients. Each caller
//! sees the tools of the servers its key and team allow, within each
//! server's `allowed_tools`, named `<label>__<tool>`; a call goes to its
//! server with that server's credentials.
//!
//! Both protocol generations on one endpoint, chosen per request: a
//! request whose `MCP-Protocol-Version` is 2026-07-28 is answered
//! statelessly (its `_meta` checked, `server/discover` served); anything
//! else gets the handshake generation, without a session: the gateway
//! assigns no `Mcp-Session-Id`, so every replica answers every request.

use serde_json::{json, Value};

use super::client::{Client, Endpoint};
use super::wire::{self, ToolDef};
use super::{names, McpError};
use crate::config::mcp::{McpConfig, McpServerConfig};
use crate::host::{Host, HttpRequest, HttpResponse};

/// Versions this endpoint speaks, newest first.
pub const SUPPORTED: [&str; 5] = [
    wire::MODERN,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// A JSON-RPC error and the HTTP status it goes with.
struct RpcError {
    status: u16,
    code: i64,
    message: String,
}

impl RpcError {
    fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        RpcError {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Answers one `POST /mcp`. `allowed` says whether the caller may use a
/// server (by label).
pub async fn answer<H: Host>(
    host: &H,
    config: &McpConfig,
    allowed: &dyn Fn(&str) -> bool,
    req: &HttpRequest,
) -> HttpResponse {
    let sse = accepts_only_sse(req);
    let message: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            let e = RpcError::new(
                400,
                -32600,
                "send one JSON-RPC message (batches are not taken)",
            );
            return reply(sse, &Value::Null, Err(e));
        }
        Err(e) => {
            let e = RpcError::new(400, -32700, format!("not JSON: {e}"));
            return reply(sse, &Value::Null, Err(e));
        }
    };
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response to a request this server never sends.
        return accepted();
    };
    if message.get("id").is_none() {
        // A notification (`notifications/initialized`, a cancellation).
        return accepted();
    }
    let params = message.get("params").cloned().unwrap_or(json!({}));
    let modern = req.header("mcp-protocol-version") == Some(wire::MODERN);
    let result = if modern {
        modern_checks(req, method, &params)
    } else {
        Ok(())
    };
    let result = match result {
        Ok(()) => serve(host, config, allowed, method, &params, modern).await,
        Err(e) => Err(e),
    };
    let result = result.map(|mut r| {
        if modern {
            if let Value::Object(o) = &mut r {
                o.entry("resultType").or_insert(json!("complete"));
                o.insert(
                    "_meta".into(),
                    json!({"io.modelcontextprotocol/serverInfo": server_info()}),
                );
            }
        }
        r
    });
    reply(sse, &id, result)
}

fn server_info() -> Value {
    json!({"name": "latticelm", "version": env!("CARGO_PKG_VERSION")})
}

/// The stateless generation's rules: the version and capabilities in
/// `_meta`, and `Mcp-Method` (and `Mcp-Name`) matching the body.
fn modern_checks(req: &HttpRequest, method: &str, params: &Value) -> Result<(), RpcError> {
    let meta = params.get("_meta");
    let version = meta
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(Value::as_str);
    let capabilities = meta.and_then(|m| m.get("io.modelcontextprotocol/clientCapabilities"));
    if version.is_none() || capabilities.is_none() {
        return Err(RpcError::new(
            400,
            -32602,
            "params._meta must carry io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities",
        ));
    }
    if version != Some(wire::MODERN) {
        return Err(RpcError::new(
            400,
            -32020,
            "the MCP-Protocol-Version header does not match params._meta",
        ));
    }
    if req.header("mcp-method") != Some(method) {
        return Err(RpcError::new(
            400,
            -32020,
            format!("the Mcp-Method header does not match the body's method `{method}`"),
        ));
    }
    if method == "tools/call" {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if req.header("mcp-name").map(decode_header) != Some(name.to_owned()) {
            return Err(RpcError::new(
                400,
                -32020,
                "the Mcp-Name header does not match params.name",
            ));
        }
    }
    Ok(())
}

/// A header value, `=?base64?…?=` decoded.
fn decode_header(v: &str) -> String {
    use base64::Engine;
    v.strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_owned())
}

async fn serve<H: Host>(
    host: &H,
    config: &McpConfig,
    allowed: &dyn Fn(&str) -> bool,
    method: &str,
    params: &Value,
    modern: bool,
) -> Result<Value, RpcError> {
    match method {
        "initialize" if !modern => {
            let asked = params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or(wire::LEGACY);
            let version = if wire::LEGACY_VERSIONS.contains(&asked) {
                asked
            } else {
                wire::LEGACY
            };
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": server_info(),
                "instructions": "The tools of the MCP servers this gateway runs for your key, named <server>__<tool>.",
            }))
        }
        "ping" => Ok(json!({})),
        "server/discover" => Ok(json!({
            "supportedVersions": SUPPORTED,
            "capabilities": {"tools": {"listChanged": false}},
            "ttlMs": 0,
            "cacheScope": "private",
        })),
        "tools/list" => {
            let mut tools = Vec::new();
            for server in config.servers.iter().filter(|s| allowed(&s.label)) {
                // A server that cannot list its tools is left out.
                if let Ok(defs) = list(host, config, server).await {
                    tools.extend(defs.iter().map(|d| entry(server, d)));
                }
            }
            let mut out = json!({"tools": tools});
            if modern {
                out["ttlMs"] = json!(0);
                out["cacheScope"] = json!("private");
            }
            Ok(out)
        }
        "tools/call" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::new(200, -32602, "params.name is required"))?;
            let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
            let unknown = || RpcError::new(200, -32602, format!("unknown tool: {name}"));
            let (label, _) = name.split_once("__").ok_or_else(unknown)?;
            let server = config
                .server(label)
                .filter(|s| allowed(&s.label))
                .ok_or_else(unknown)?;
            let defs = list(host, config, server).await.map_err(|e| upstream(&e))?;
            let def = defs
                .iter()
                .find(|d| names::exposed(&server.label, &d.name) == name)
                .ok_or_else(unknown)?;
            let mut c = connect(host, config, server)
                .await
                .map_err(|e| upstream(&e))?;
            c.call_tool_raw(&def.name, arguments)
                .await
                .map_err(|e| upstream(&e))
        }
        _ => Err(RpcError::new(
            if modern { 404 } else { 200 },
            -32601,
            format!("method not found: {method}"),
        )),
    }
}

/// A server's failure, as this endpoint's client reads it: its own
/// JSON-RPC error as it was, anything else an internal error.
fn upstream(e: &McpError) -> RpcError {
    match e {
        McpError::Rpc { code, message } => RpcError::new(200, *code, message.clone()),
        other => RpcError::new(200, -32603, other.to_string()),
    }
}

fn endpoint(server: &McpServerConfig) -> Endpoint {
    Endpoint {
        label: server.label.clone(),
        url: server.url.clone(),
        headers: server
            .headers
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect(),
    }
}

async fn connect<'h, H: Host>(
    host: &'h H,
    config: &McpConfig,
    server: &McpServerConfig,
) -> Result<Client<'h, H>, McpError> {
    Client::connect(
        host,
        endpoint(server),
        config.call_timeout,
        config.max_result_bytes,
    )
    .await
}

/// A server's tools within its `allowed_tools`.
async fn list<H: Host>(
    host: &H,
    config: &McpConfig,
    server: &McpServerConfig,
) -> Result<Vec<ToolDef>, McpError> {
    let endpoint = endpoint(server);
    let defs = super::client::list_cached(host, &endpoint, config).await?;
    Ok(defs
        .into_iter()
        .filter(|d| {
            server
                .allowed_tools
                .as_ref()
                .is_none_or(|a| a.contains(&d.name))
        })
        .collect())
}

/// A tool as this endpoint lists it.
fn entry(server: &McpServerConfig, d: &ToolDef) -> Value {
    let mut v = json!({
        "name": names::exposed(&server.label, &d.name),
        "title": format!("{} ({})", d.name, server.label),
        "inputSchema": d.input_schema,
    });
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    if let Some(a) = &d.annotations {
        v["annotations"] = a.clone();
    }
    v
}

fn accepts_only_sse(req: &HttpRequest) -> bool {
    let accept = req.header("accept").unwrap_or_default();
    accept.contains("text/event-stream") && !accept.contains("application/json")
}

fn accepted() -> HttpResponse {
    HttpResponse {
        status: 202,
        headers: Vec::new(),
        body: crate::host::Body::Full(bytes::Bytes::new()),
        detail: None,
    }
}

/// The JSON-RPC response, as JSON or as one SSE event.
fn reply(sse: bool, id: &Value, result: Result<Value, RpcError>) -> HttpResponse {
    let (status, message) = match result {
        Ok(r) => (200, json!({"jsonrpc": "2.0", "id": id, "result": r})),
        Err(e) => (
            e.status,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}}),
        ),
    };
    let (content_type, body) = if sse {
        (
            "text/event-stream",
            format!("event: message\ndata: {message}\n\n").into_bytes(),
        )
    } else {
        ("application/json", message.to_string().into_bytes())
    };
    HttpResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: crate::host::Body::Full(bytes::Bytes::from(body)),
        detail: None,
    }
}
