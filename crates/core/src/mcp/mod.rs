//! MCP: the client that runs hosted `mcp` tools for any model
//! ([`client`], over the host's `send`), the wire of both protocol
//! generations ([`wire`]), and the names tools go by when several
//! servers meet in one request or at `/mcp` ([`names`]).

pub mod client;
pub mod names;
pub mod server;
pub mod wire;

/// Why an MCP exchange failed. Each becomes an `mcp_call` (or
/// `mcp_list_tools`) `error`, never a failed response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
    /// The server could not be reached.
    #[error("the MCP server could not be reached: {0}")]
    Transport(String),
    /// It answered with an HTTP error and no JSON-RPC error.
    #[error("the MCP server answered HTTP {status}: {message}")]
    Http {
        /// The status.
        status: u16,
        /// The start of its body.
        message: String,
    },
    /// It answered with a JSON-RPC error.
    #[error("the MCP server answered error {code}: {message}")]
    Rpc {
        /// The JSON-RPC code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// It took longer than `mcp.call_timeout`.
    #[error("the MCP server did not answer within mcp.call_timeout")]
    Timeout,
    /// Its answer passed `mcp.max_result_bytes`.
    #[error("the MCP server's answer passed mcp.max_result_bytes ({0} bytes)")]
    TooLarge(u64),
    /// Its answer was not MCP.
    #[error("the MCP server's answer was not MCP: {0}")]
    Malformed(String),
}

impl McpError {
    /// The `error` of an `mcp_call` item: `mcp_protocol_error` for a
    /// JSON-RPC error, `http_error` for the rest.
    pub fn item_error(&self) -> serde_json::Value {
        match self {
            McpError::Rpc { code, message } => serde_json::json!({
                "type": "mcp_protocol_error", "code": code, "message": message,
            }),
            McpError::Http { status, .. } => serde_json::json!({
                "type": "http_error", "code": status, "message": self.to_string(),
            }),
            McpError::Timeout => serde_json::json!({
                "type": "http_error", "code": 504, "message": self.to_string(),
            }),
            McpError::TooLarge(_) => serde_json::json!({
                "type": "http_error", "code": 413, "message": self.to_string(),
            }),
            McpError::Transport(_) | McpError::Malformed(_) => serde_json::json!({
                "type": "http_error", "code": 502, "message": self.to_string(),
            }),
        }
    }
}
