//! Which MCP server a request's `mcp` tool names, whether its caller may
//! use it, with which credentials, and which of its tools and calls
//! need the client's approval.

use serde_json::Value;

use crate::auth::Principal;
use crate::config::{mcp::ApprovalMode, Config};
use crate::error::{ApiError, GatewayError, RequestError};
use crate::mcp::client::Endpoint;
use crate::mcp::wire::ToolDef;

/// One server of the request, resolved and allowed.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// Where it is, and its credentials.
    pub endpoint: Endpoint,
    /// The tool names the configuration lets through (`None`: all).
    config_tools: Option<Vec<String>>,
    /// The request's `allowed_tools` (`None`: all).
    request_tools: Option<ToolFilter>,
    /// Calls that wait for approval.
    approval: Approval,
}

/// `allowed_tools` or an approval filter: names, and/or read-only tools.
#[derive(Debug, Clone, Default)]
struct ToolFilter {
    names: Option<Vec<String>>,
    read_only: Option<bool>,
}

impl ToolFilter {
    fn parse(v: &Value) -> Option<ToolFilter> {
        match v {
            Value::Array(a) => Some(ToolFilter {
                names: Some(
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect(),
                ),
                read_only: None,
            }),
            Value::Object(o) => Some(ToolFilter {
                names: o.get("tool_names").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                }),
                read_only: o.get("read_only").and_then(Value::as_bool),
            }),
            _ => None,
        }
    }

    fn matches(&self, tool: &ToolDef) -> bool {
        self.names.as_ref().is_none_or(|n| n.contains(&tool.name))
            && self.read_only.is_none_or(|r| r == tool.read_only())
    }
}

/// `require_approval`, the request's and the configuration's together:
/// a call waits when either asks it to.
#[derive(Debug, Clone, Default)]
struct Approval {
    /// The configuration says `always`.
    config_always: bool,
    /// The request's rule.
    request: RequestApproval,
}

#[derive(Debug, Clone, Default)]
enum RequestApproval {
    /// Not given: a configured server's default applies; a server named
    /// by URL waits (OpenAI's default).
    #[default]
    Unset,
    Always,
    Never,
    /// `{always: filter, never: filter}`: listed tools as said, the rest
    /// wait.
    Filter {
        always: Option<ToolFilter>,
        never: Option<ToolFilter>,
    },
}

impl Server {
    /// Whether `tool` is offered to the model.
    pub fn offers(&self, tool: &ToolDef) -> bool {
        self.config_tools
            .as_ref()
            .is_none_or(|n| n.contains(&tool.name))
            && self.request_tools.as_ref().is_none_or(|f| f.matches(tool))
    }

    /// Whether a call of `tool` waits for the client's approval.
    pub fn needs_approval(&self, tool: &ToolDef, configured: bool) -> bool {
        if self.approval.config_always {
            return true;
        }
        match &self.approval.request {
            RequestApproval::Unset => !configured,
            RequestApproval::Always => true,
            RequestApproval::Never => false,
            RequestApproval::Filter { always, never } => {
                if always.as_ref().is_some_and(|f| f.matches(tool)) {
                    true
                } else {
                    !never.as_ref().is_some_and(|f| f.matches(tool))
                }
            }
        }
    }
}

fn invalid(i: usize, field: &str, message: impl Into<String>) -> ApiError {
    RequestError::InvalidValue {
        param: format!("tools[{i}].{field}"),
        message: message.into(),
    }
    .into()
}

/// The server that the `mcp` tool `spec` (`tools[i]`) names, if its
/// caller may use it: a configured server by `server_label`, or (with
/// `mcp.allow_request_urls`) the request's own `server_url`.
pub(crate) fn resolve(
    config: &Config,
    principal: &Principal,
    team_mcp: Option<&[String]>,
    i: usize,
    spec: &Value,
) -> Result<(Server, bool), ApiError> {
    let label = spec
        .get("server_label")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid(i, "server_label", "is required for an `mcp` tool"))?;
    let url = spec.get("server_url").and_then(Value::as_str);
    let request_tools = match spec.get("allowed_tools") {
        None | Some(Value::Null) => None,
        Some(v) => Some(ToolFilter::parse(v).ok_or_else(|| {
            invalid(
                i,
                "allowed_tools",
                "must be a list of tool names or {tool_names, read_only}",
            )
        })?),
    };
    let request = match spec.get("require_approval") {
        None | Some(Value::Null) => RequestApproval::Unset,
        Some(Value::String(s)) if s == "always" => RequestApproval::Always,
        Some(Value::String(s)) if s == "never" => RequestApproval::Never,
        Some(Value::Object(o)) => RequestApproval::Filter {
            always: o.get("always").and_then(ToolFilter::parse),
            never: o.get("never").and_then(ToolFilter::parse),
        },
        Some(_) => {
            return Err(invalid(
                i,
                "require_approval",
                "must be `always`, `never` or {always, never}",
            ))
        }
    };
    let may = |label: &str| principal.may_use_mcp(label, team_mcp);
    if let Some(s) = config.mcp.server(label) {
        if url.is_some_and(|u| u != s.url) {
            return Err(invalid(
                i,
                "server_url",
                format!("`{label}` is a server configured on this gateway: leave out server_url"),
            ));
        }
        if !may(label) {
            return Err(GatewayError::McpServerNotAllowed(label.to_owned()).into());
        }
        let server = Server {
            endpoint: Endpoint {
                label: label.to_owned(),
                url: s.url.clone(),
                headers: s
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_lowercase(), v.clone()))
                    .collect(),
            },
            config_tools: s.allowed_tools.clone(),
            request_tools,
            approval: Approval {
                config_always: s.require_approval == ApprovalMode::Always,
                request,
            },
        };
        return Ok((server, true));
    }
    let Some(url) = url else {
        return Err(invalid(
            i,
            "server_label",
            format!("no MCP server labelled `{label}` is configured on this gateway"),
        ));
    };
    if !config.mcp.allow_request_urls {
        return Err(invalid(
            i,
            "server_url",
            "this gateway runs only its configured MCP servers (mcp.allow_request_urls is off): name one by server_label",
        ));
    }
    // A caller limited to named servers cannot name its own.
    if principal.mcp.is_some() || team_mcp.is_some() {
        return Err(GatewayError::McpServerNotAllowed(label.to_owned()).into());
    }
    check_public_url(url).map_err(|m| invalid(i, "server_url", m))?;
    let headers = spec
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.to_lowercase(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        Server {
            endpoint: Endpoint {
                label: label.to_owned(),
                url: url.to_owned(),
                headers,
            },
            config_tools: None,
            request_tools,
            approval: Approval {
                config_always: false,
                request,
            },
        },
        false,
    ))
}

/// A URL a request may name: https, and not a private, loopback or
/// link-local address written as such (names are the resolver's: see
/// SECURITY.md).
fn check_public_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("must be an https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    let lower = host.to_ascii_lowercase();
    if lower.is_empty()
        || lower == "localhost"
        || lower.ends_with(".localhost")
        || lower.ends_with(".internal")
        || lower.ends_with(".local")
    {
        return Err(format!("`{host}` is not a public host"));
    }
    if let Ok(ip) = lower.parse::<std::net::IpAddr>() {
        let private = match ip {
            std::net::IpAddr::V4(v4) => {
                v4.is_private()
                    || v4.is_loopback()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
            }
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6.to_ipv4_mapped().is_some()
            }
        };
        if private {
            return Err(format!("`{host}` is not a public address"));
        }
    }
    Ok(())
}
