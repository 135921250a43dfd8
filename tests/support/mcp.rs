//! The real MCP server the tests run: `tests/mcp/server.py` on the
//! official Python SDK (`mcp` 2.x), on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running MCP server (killed on drop) and what it recorded.
pub struct McpServer {
    child: Child,
    /// Its Streamable HTTP endpoint.
    pub url: String,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl McpServer {
    /// Every line it recorded: HTTP requests (`http`, `headers`) and
    /// tool calls (`tool`, `arguments`).
    pub fn recorded(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The tool calls it ran, in order.
    pub fn calls(&self) -> Vec<Value> {
        self.recorded()
            .into_iter()
            .filter(|r| r.get("tool").is_some())
            .collect()
    }
}

/// Starts the test MCP server. `None` when the Python SDK is not
/// installed, which CI does not allow.
pub fn mcp_server() -> Option<McpServer> {
    mcp_server_with(&[])
}

/// [`mcp_server`] with more arguments (`--legacy-only`, `--json`).
pub fn mcp_server_with(extra: &[&str]) -> Option<McpServer> {
    // The official SDK (`pip install "mcp>=2.3,<3"`; it brings uvicorn).
    if !super::python_has("mcp.server.mcpserver") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.jsonl");
    let port = super::free_port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/server.py");
    // Its log (the tracebacks of the failing tools) goes to a file,
    // shown only when it does not start.
    let log = dir.path().join("server.log");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--record"])
        .arg(&record)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the MCP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("listening"),
        "the MCP server did not start: {line}{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Some(McpServer {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
        record,
        _dir: dir,
    })
}

/// The test config with the `weather` MCP server at `url` (only its
/// `get_weather`).
pub fn config_with_mcp(mock: &str, url: &str) -> String {
    super::config(mock)
        + &format!(
            "mcp:\n  servers:\n    - {{ label: weather, url: \"{url}\", allowed_tools: [get_weather] }}\n"
        )
}

/// One hosted-tool loop on any host: the tool listed, called and its
/// result answered on.
pub fn hosted_tool_loop(gw: &super::Gateway, server: &McpServer) {
    let body = serde_json::json!({
        "model": "claude-test",
        "input": "What is the weather? run: Quito",
        "tools": [{"type": "mcp", "server_label": "weather"}],
    });
    let (status, resp) = gw.post(&body);
    assert_eq!(status, 200, "{resp}");
    let types: Vec<&str> = resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(types, ["mcp_list_tools", "mcp_call", "message"], "{resp}");
    assert_eq!(
        resp["output"][1]["output"], "Sunny, 21 C in Quito",
        "{resp}"
    );
    assert_eq!(
        resp["output"][2]["content"][0]["text"], "tool said: Sunny, 21 C in Quito",
        "{resp}"
    );
    assert!(
        server
            .calls()
            .iter()
            .any(|c| c["arguments"]["city"] == "Quito"),
        "{:?}",
        server.calls()
    );
}

/// One JSON-RPC message to a gateway's `/mcp` with `key`: the status and
/// the JSON answer.
pub fn mcp_rpc(
    gw: &super::Gateway,
    key: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut r = super::client()
        .post(format!("{}/mcp", gw.url))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.json(body).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// A stateless (2026-07-28) `tools/call` of `weather__get_weather` on any
/// host's `/mcp`.
pub fn mcp_endpoint_call(gw: &super::Gateway, key: &str, city: &str) {
    let meta = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}});
    let (s, v) = mcp_rpc(gw, key, &headers, &list);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["result"]["tools"][0]["name"], "weather__get_weather",
        "{v}"
    );
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "weather__get_weather"),
    ];
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "weather__get_weather", "arguments": {"city": city}, "_meta": meta}});
    let (s, v) = mcp_rpc(gw, key, &headers, &call);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["result"]["content"][0]["text"],
        format!("Sunny, 21 C in {city}"),
        "{v}"
    );
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
}
