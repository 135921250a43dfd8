//! MCP on the wire: JSON-RPC bodies, the Streamable HTTP headers of both
//! protocol generations, and replies read from JSON or SSE.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::McpError;

/// The stateless revision: no handshake; each request says its version
/// and capabilities in `_meta`.
pub const MODERN: &str = "2026-07-28";
/// The handshake generation this client offers to older servers.
pub const LEGACY: &str = "2025-11-25";
/// Versions of the handshake generation a server may answer with.
pub const LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The client this gateway says it is.
pub fn client_info() -> Value {
    json!({"name": "latticelm", "version": env!("CARGO_PKG_VERSION")})
}

/// A JSON-RPC request. In the modern generation its `params._meta`
/// carries the version, the (empty) capabilities and the client.
pub fn request(id: u64, method: &str, params: Value, modern: bool) -> Value {
    let mut params = match params {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if modern {
        let meta = params
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(
                "io.modelcontextprotocol/protocolVersion".into(),
                json!(MODERN),
            );
            meta.insert(
                "io.modelcontextprotocol/clientCapabilities".into(),
                json!({}),
            );
            meta.insert("io.modelcontextprotocol/clientInfo".into(), client_info());
        }
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A JSON-RPC notification (no id).
pub fn notification(method: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": method})
}

/// A header value as MCP carries it: plain when it is safe ASCII, else
/// `=?base64?…?=`.
pub fn header_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && v.trim() == v
        && !(v.starts_with("=?base64?") && v.ends_with("?="));
    if plain {
        v.to_owned()
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
        format!("=?base64?{b64}?=")
    }
}

/// The HTTP headers of one POST: content negotiation, the version, and
/// in the modern generation `Mcp-Method` (and `Mcp-Name`); the session
/// of a handshake, if the server gave one.
pub fn headers(
    version: &str,
    method: Option<&str>,
    name: Option<&str>,
    session: Option<&str>,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "accept".to_owned(),
            "application/json, text/event-stream".to_owned(),
        ),
        ("mcp-protocol-version".to_owned(), version.to_owned()),
    ];
    if version == MODERN {
        if let Some(m) = method {
            h.push(("mcp-method".into(), m.to_owned()));
        }
        if let Some(n) = name {
            h.push(("mcp-name".into(), header_value(n)));
        }
    }
    if let Some(s) = session {
        h.push(("mcp-session-id".into(), s.to_owned()));
    }
    h
}

/// The `result` of the reply to request `id`, from a JSON body or from
/// the SSE events of a `text/event-stream` one (notifications before it
/// are skipped). A JSON-RPC error is [`McpError::Rpc`].
pub fn reply(content_type: &str, body: &[u8], id: u64) -> Result<Value, McpError> {
    let messages: Vec<Value> = if content_type.starts_with("text/event-stream") {
        let mut decoder = crate::sse::SseDecoder::new();
        let mut events = Vec::new();
        decoder.push(body, &mut events);
        decoder.finish(&mut events);
        events
            .iter()
            .filter_map(|e| serde_json::from_str(&e.data).ok())
            .collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(batch)) => batch,
            Ok(v) => vec![v],
            Err(e) => return Err(McpError::Malformed(format!("not JSON: {e}"))),
        }
    };
    let mine = messages
        .into_iter()
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
        .ok_or_else(|| McpError::Malformed("no reply to the request".into()))?;
    if let Some(err) = mine.get("error") {
        return Err(McpError::Rpc {
            code: err.get("code").and_then(Value::as_i64).unwrap_or(-32603),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .chars()
                .take(500)
                .collect(),
        });
    }
    mine.get("result")
        .cloned()
        .ok_or_else(|| McpError::Malformed("a reply with neither result nor error".into()))
}

/// A tool as a server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// Its name on its server.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    pub input_schema: Value,
    /// Hints (`readOnlyHint`, …).
    pub annotations: Option<Value>,
}

impl ToolDef {
    /// From one entry of `tools/list`'s `tools`; `None` without a name.
    pub fn from_listed(v: &Value) -> Option<ToolDef> {
        let name = v.get("name")?.as_str()?.to_owned();
        Some(ToolDef {
            name,
            description: v
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            input_schema: v
                .get("inputSchema")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            annotations: v.get("annotations").cloned().filter(Value::is_object),
        })
    }

    /// As `tools/list` lists it (what [`ToolDef::from_listed`] reads).
    pub fn to_listed(&self) -> Value {
        let mut v = json!({"name": self.name, "inputSchema": self.input_schema});
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        if let Some(a) = &self.annotations {
            v["annotations"] = a.clone();
        }
        v
    }

    /// Whether the server marks it as only reading.
    pub fn read_only(&self) -> bool {
        self.annotations
            .as_ref()
            .and_then(|a| a.get("readOnlyHint"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// What a `tools/call` gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// Its text content, joined; other content as JSON.
    pub text: String,
    /// The content blocks as the server sent them.
    pub content: Value,
    /// The server says the tool failed (`isError`).
    pub is_error: bool,
}

impl CallOutput {
    /// From a `tools/call` result.
    pub fn from_result(result: &Value) -> CallOutput {
        let content = result.get("content").cloned().unwrap_or(json!([]));
        let mut text = String::new();
        for block in content.as_array().into_iter().flatten() {
            if !text.is_empty() {
                text.push('\n');
            }
            match block.get("text").and_then(Value::as_str) {
                Some(t) if block.get("type").and_then(Value::as_str) == Some("text") => {
                    text.push_str(t)
                }
                _ => text.push_str(&block.to_string()),
            }
        }
        if text.is_empty() {
            if let Some(s) = result.get("structuredContent") {
                text = s.to_string();
            }
        }
        CallOutput {
            text,
            content,
            is_error: result
                .get("isError")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}
