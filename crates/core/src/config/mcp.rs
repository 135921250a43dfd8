//! `mcp:`: the MCP servers the gateway runs hosted `mcp` tools on (and
//! serves at `/mcp`), and how far a request may reach on its own.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::cache::size_de;
use super::{duration, ConfigError};

/// `mcp:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// The servers requests name by `server_label`.
    #[serde(default)]
    pub servers: Vec<McpServerConfig>,
    /// Whether a request may name a server by its own `server_url`
    /// (https only, public addresses only, `server.allowed_hosts`
    /// aside); `false` by default: only configured servers are used.
    #[serde(default)]
    pub allow_request_urls: bool,
    /// How long one `tools/call` (or `tools/list`) may take (60 s).
    #[serde(default = "default_call_timeout", deserialize_with = "duration::de")]
    pub call_timeout: Duration,
    /// The largest tool result kept (1 MiB); past it the call is an
    /// error the model is told about.
    #[serde(default = "default_max_result_bytes", deserialize_with = "size_de")]
    pub max_result_bytes: u64,
    /// How long a server's `tools/list` is reused (60 s).
    #[serde(default = "default_list_ttl", deserialize_with = "duration::de")]
    pub list_ttl: Duration,
    /// The most tool calls one response runs, when the request does not
    /// say (`max_tool_calls`): 20.
    #[serde(default = "default_max_calls")]
    pub max_calls: u32,
}

fn default_call_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_result_bytes() -> u64 {
    1 << 20
}
fn default_list_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_max_calls() -> u32 {
    20
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            servers: Vec::new(),
            allow_request_urls: false,
            call_timeout: default_call_timeout(),
            max_result_bytes: default_max_result_bytes(),
            list_ttl: default_list_ttl(),
            max_calls: default_max_calls(),
        }
    }
}

/// One configured MCP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The `server_label` requests use, and the prefix of its tools'
    /// names at `/mcp`.
    pub label: String,
    /// Its Streamable HTTP endpoint.
    pub url: String,
    /// Sent to the server with every call (its credentials). The
    /// client's own `authorization` never is.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The only tools that reach a model or an MCP client; all when
    /// absent.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    /// Whether a call waits for the client's approval, for requests that
    /// do not ask for more (`never` by default for a configured server).
    #[serde(default)]
    pub require_approval: ApprovalMode,
}

/// `require_approval` in its simple form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Calls run at once.
    #[default]
    Never,
    /// Each call waits for an `mcp_approval_response`.
    Always,
}

impl McpConfig {
    /// The configured server of this label.
    pub fn server(&self, label: &str) -> Option<&McpServerConfig> {
        self.servers.iter().find(|s| s.label == label)
    }

    /// Checks labels (unique, `[A-Za-z0-9_-]`, at most 32 characters, so
    /// that `<label>__<tool>` names stay readable) and URLs.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, s) in self.servers.iter().enumerate() {
            let key = format!("mcp.servers[{i}]");
            let label_ok = !s.label.is_empty()
                && s.label.len() <= 32
                && s.label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !s.label.contains("__");
            if !label_ok {
                return Err(ConfigError::invalid(
                    format!("{key}.label"),
                    "must be 1 to 32 letters, digits, `-` or `_` (no `__`)",
                ));
            }
            if self.servers[..i].iter().any(|o| o.label == s.label) {
                return Err(ConfigError::invalid(
                    format!("{key}.label"),
                    format!("`{}` is used by an earlier server", s.label),
                ));
            }
            if !(s.url.starts_with("https://") || s.url.starts_with("http://")) {
                return Err(ConfigError::invalid(
                    format!("{key}.url"),
                    format!("`{}` is not an http:// or https:// URL", s.url),
                ));
            }
        }
        if self.call_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "mcp.call_timeout",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
