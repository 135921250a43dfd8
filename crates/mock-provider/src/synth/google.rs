//! Gemini `generateContent`, in the shape of the recordings.

use serde_json::{json, Value};

use super::Answer;

/// The last user text, a trailing function response, and the offered tools.
pub(crate) fn extract(body: &Value) -> (Option<String>, Option<String>, Vec<(String, Value)>) {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let text_of = |c: &Value| {
        c["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let user = contents
        .iter()
        .rev()
        .filter(|c| c["role"] == "user")
        .map(text_of)
        .find(|t| !t.is_empty());
    let tool = contents.last().and_then(|c| {
        let r = c["parts"]
            .as_array()?
            .iter()
            .rev()
            .find_map(|p| p.get("functionResponse"))?;
        Some(match r["response"].get("result").and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => r["response"].to_string(),
        })
    });
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|d| {
            let schema = d
                .get("parametersJsonSchema")
                .or(d.get("parameters"))
                .cloned()
                .unwrap_or_default();
            Some((d["name"].as_str()?.to_owned(), schema))
        })
        .collect();
    (user, tool, tools)
}

fn chunk(parts: Value, model: &str, last: Option<u64>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut v = json!({"candidates": [], "modelVersion": model, "responseId": "mock-response-1"});
    if let Some(output) = last {
        candidate["finishReason"] = json!("STOP");
        v["usageMetadata"] = json!({"promptTokenCount": 12, "candidatesTokenCount": output, "totalTokenCount": 12 + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]});
    }
    v["candidates"] = json!([candidate]);
    v
}

/// The signature the mock puts on its function calls.
const SIGNATURE: &str = "bW9jay1zaWduYXR1cmU=";

fn call_part(name: &str, arguments: &str) -> Value {
    let args: Value = serde_json::from_str(arguments).unwrap_or_default();
    // Gemini 3 signs function calls; the gateway must hand this back.
    json!({"functionCall": {"name": name, "args": args}, "thoughtSignature": SIGNATURE})
}

/// What Gemini 3 refuses: in the current turn (after the last user text),
/// a model turn whose first function call lacks the signature it was
/// given, or carries another.
pub(crate) fn check(model: &str, body: &Value) -> Option<String> {
    if !model.starts_with("gemini-3") {
        return None;
    }
    let contents = body["contents"].as_array()?;
    let start = contents
        .iter()
        .rposition(|c| {
            c["role"] == "user"
                && c["parts"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p.get("text").is_some()))
        })
        .unwrap_or(0);
    for (i, c) in contents.iter().enumerate().skip(start) {
        let parts = c["parts"].as_array().into_iter().flatten();
        if let Some((j, p)) = parts
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some())
        {
            if c["role"] == "model" && p["thoughtSignature"] != SIGNATURE {
                let name = p["functionCall"]["name"].as_str().unwrap_or_default();
                return Some(format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", i + j + 1));
            }
        }
    }
    None
}

/// The non-streaming body.
pub(crate) fn body(a: &Answer, model: &str, output: u64) -> Value {
    let parts = match a {
        Answer::Text(t) => json!([{"text": t}]),
        Answer::Call { name, arguments } => json!([call_part(name, arguments)]),
    };
    chunk(parts, model, Some(output))
}

/// The streamed body: `data:` frames of whole responses, usage and
/// finishReason on the last.
pub(crate) fn events(a: &Answer, model: &str, output: u64) -> Vec<String> {
    let frame = |v: Value| format!("data: {v}\r\n\r\n");
    match a {
        Answer::Text(t) => {
            let pieces = super::pieces(t);
            let n = pieces.len();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    frame(chunk(
                        json!([{"text": p}]),
                        model,
                        (i + 1 == n).then_some(output),
                    ))
                })
                .collect()
        }
        Answer::Call { name, arguments } => vec![frame(chunk(
            json!([call_part(name, arguments)]),
            model,
            Some(output),
        ))],
    }
}

/// Google's error body; a 429 carries `RetryInfo` instead of a header.
pub(crate) fn error(status: u16, message: &str) -> Value {
    let state = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut e = json!({"error": {"code": status, "message": message, "status": state}});
    if status == 429 {
        e["error"]["details"] =
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]);
    }
    e
}
