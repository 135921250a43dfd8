//! The recorded provider streams and bodies of `../shared/fixtures`, as
//! the upstream sent them.

use serde_json::Value;

/// The provider type that speaks a fixture folder's protocol.
pub fn kind_of(path: &std::path::Path) -> &'static str {
    match path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some("openai-chat") => "openai-chat",
        Some("azure-openai-responses") => "azureopenai",
        Some("anthropic") => "anthropic",
        Some("google") => "google",
        _ => "openai",
    }
}

/// The SSE bytes an upstream sent, rebuilt from a `.chunks.txt` file.
pub fn sse_of(kind: &str, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if kind != "openai-chat" && kind != "google" {
            // Some recorded lines are truncated JSON: read the type by hand.
            let kind = line
                .split("\"type\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            out.extend_from_slice(format!("event: {kind}\n").as_bytes());
        }
        out.extend_from_slice(format!("data: {line}\n\n").as_bytes());
    }
    if kind == "openai-chat" {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}

/// The function-call arguments a recording carries, in order, as JSON.
/// Gemini's streamed `partialArgs` are left to the snapshot.
pub fn recorded_args(kind: &str, recording: &str) -> Vec<Value> {
    let lines: Vec<Value> = recording
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let parse =
        |s: &str| serde_json::from_str::<Value>(if s.is_empty() { "{}" } else { s }).unwrap();
    match kind {
        "openai-chat" => {
            let mut by_index: std::collections::BTreeMap<u64, String> = Default::default();
            for l in &lines {
                for c in l
                    .pointer("/choices/0/delta/tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let arg = c
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    by_index
                        .entry(c["index"].as_u64().unwrap_or(0))
                        .or_default()
                        .push_str(arg);
                }
            }
            by_index.values().map(|a| parse(a)).collect()
        }
        "anthropic" => {
            let mut by_index: std::collections::BTreeMap<u64, String> = Default::default();
            for l in &lines {
                if l.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") {
                    by_index.insert(l["index"].as_u64().unwrap(), String::new());
                }
                if let (Some(s), Some(pj)) = (
                    by_index.get_mut(&l["index"].as_u64().unwrap_or(u64::MAX)),
                    l.pointer("/delta/partial_json").and_then(Value::as_str),
                ) {
                    s.push_str(pj);
                }
            }
            by_index.values().map(|a| parse(a)).collect()
        }
        "google" => lines
            .iter()
            .flat_map(|l| {
                l.pointer("/candidates/0/content/parts")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.pointer("/functionCall/args").cloned())
            .collect(),
        _ => lines
            .iter()
            .filter(|l| {
                l["type"] == "response.output_item.done"
                    && l.pointer("/item/type").and_then(Value::as_str) == Some("function_call")
            })
            .map(|l| {
                parse(
                    l.pointer("/item/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// Splits a recording at each `response.created`.
pub fn split_responses(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("{\"type\":\"response.created\"") || out.is_empty() {
            out.push(String::new());
        }
        let last = out.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    out
}

/// The HTTP status an upstream answered a recorded body with: Gemini puts
/// it in the body; OpenAI's quota and rate errors are 429s; other error
/// bodies 400s.
pub fn recorded_status(upstream: &Value) -> u16 {
    match (
        upstream.pointer("/error/code").and_then(Value::as_u64),
        upstream.pointer("/error/type").and_then(Value::as_str),
    ) {
        (Some(code), _) => code as u16,
        (_, Some("insufficient_quota" | "rate_limit_exceeded")) => 429,
        (_, Some(_)) => 400,
        _ if upstream.get("error").is_some_and(Value::is_object) => 400,
        _ => 200,
    }
}

/// One snapshot for a recording: its only response, or all of them.
pub fn one_or_all(mut snapshots: Vec<Value>) -> Value {
    if snapshots.len() == 1 {
        snapshots.pop().unwrap_or_default()
    } else {
        Value::Array(snapshots)
    }
}
