//! OpenAI Chat Completions ingress (`POST /v1/chat/completions`): the
//! request becomes an Open Responses body; the response and its events
//! become `chat.completion` and `chat.completion.chunk` objects.

use serde_json::{json, Map, Value};

use crate::error::RequestError;

fn invalid(param: &str, message: impl Into<String>) -> RequestError {
    RequestError::InvalidValue {
        param: param.into(),
        message: message.into(),
    }
}

/// The fields whose shape Chat Completions fixes, checked under their
/// own names (before translation renames them).
fn check_fields(c: &Map<String, Value>) -> Result<(), RequestError> {
    for k in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
            if v.as_u64().is_none_or(|n| n == 0) {
                return Err(invalid(k, format!("`{k}` must be a positive integer")));
            }
        }
    }
    for (i, t) in c
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Besides Chat's functions: the gateway's hosted MCP tools, in
        // the Responses shape (`{"type": "mcp", "server_label": …}`).
        let mcp = t["type"] == "mcp" && t["server_label"].is_string();
        if !mcp && (t["type"] != "function" || !t["function"]["name"].is_string()) {
            return Err(invalid(
                &format!("tools[{i}]"),
                "each tool must be `{\"type\": \"function\", \"function\": {\"name\": …}}` (or a hosted `{\"type\": \"mcp\", \"server_label\": …}`)",
            ));
        }
    }
    if let Some(rf) = c.get("response_format").filter(|v| !v.is_null()) {
        match rf["type"].as_str() {
            Some("text" | "json_object") => {}
            Some("json_schema") if rf["json_schema"]["name"].is_string() => {}
            Some("json_schema") => {
                return Err(invalid(
                    "response_format.json_schema.name",
                    "a `json_schema` response format needs a `name`",
                ))
            }
            _ => {
                return Err(invalid(
                    "response_format.type",
                    "must be `text`, `json_object` or `json_schema`",
                ))
            }
        }
    }
    Ok(())
}

/// Whether the client asked for usage in the stream.
pub fn include_usage(chat: &Value) -> bool {
    chat.pointer("/stream_options/include_usage") == Some(&Value::Bool(true))
}

/// A Chat Completions request as an Open Responses request body.
pub fn decode(chat: &Value) -> Result<Value, RequestError> {
    let Some(c) = chat.as_object() else {
        return Err(invalid(".", "the body must be a JSON object"));
    };
    // Absent (or null) or exactly one: `2.0`, `"2"` and the like would
    // reach a Chat upstream as written and bill for more choices.
    if let Some(n) = c.get("n").filter(|n| !n.is_null()) {
        if n.as_f64() != Some(1.0) {
            return Err(invalid(
                "n",
                format!("n={n} is not supported: ask for one choice and send parallel requests"),
            ));
        }
    }
    let mut out = Map::new();
    if let Some(m) = c.get("model") {
        out.insert("model".into(), m.clone());
    }
    let messages = c
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "`messages` must be a list"))?;
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` must hold at least one message",
        ));
    }
    check_fields(c)?;
    let mut input = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = m.get("content").cloned().unwrap_or(Value::Null);
        match role {
            "system" | "developer" | "user" => {
                input.push(
                    json!({"type": "message", "role": role, "content": user_parts(&content, i)?}),
                );
            }
            "assistant" => {
                let text = text_of(&content);
                if !text.is_empty() {
                    input.push(json!({"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": text}]}));
                }
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let f = &call["function"];
                    if !f["name"].is_string() || !call["id"].is_string() {
                        return Err(invalid(
                            &format!("messages[{i}].tool_calls"),
                            "each tool call needs an `id` and a `function.name`",
                        ));
                    }
                    input.push(json!({"type": "function_call", "call_id": call["id"],
                        "name": f["name"], "arguments": f["arguments"].as_str().unwrap_or("{}")}));
                }
            }
            "tool" => {
                let Some(id) = m.get("tool_call_id").filter(|v| v.is_string()) else {
                    return Err(invalid(
                        &format!("messages[{i}].tool_call_id"),
                        "a `tool` message needs the `tool_call_id` it answers",
                    ));
                };
                input.push(json!({"type": "function_call_output",
                    "call_id": id,
                    "output": text_of(&content)}));
            }
            other => {
                return Err(invalid(
                    &format!("messages[{i}].role"),
                    format!("unknown role `{other}`"),
                ))
            }
        }
    }
    out.insert("input".into(), Value::Array(input));
    if let Some(tools) = c.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                if t["type"] == "mcp" {
                    return t.clone();
                }
                let f = &t["function"];
                json!({"type": "function", "name": f["name"], "description": f.get("description"),
                    "parameters": f.get("parameters"), "strict": f.get("strict")})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    match c.get("tool_choice") {
        Some(Value::String(s)) => {
            out.insert("tool_choice".into(), json!(s));
        }
        Some(Value::Object(o)) => {
            out.insert(
                "tool_choice".into(),
                json!({"type": "function", "name": o.get("function").and_then(|f| f.get("name"))}),
            );
        }
        _ => {}
    }
    if let Some(rf) = c.get("response_format") {
        let format = match rf["type"].as_str() {
            Some("json_schema") => {
                let s = &rf["json_schema"];
                json!({"type": "json_schema", "name": s["name"], "schema": s.get("schema"),
                    "strict": s.get("strict"), "description": s.get("description")})
            }
            Some("json_object") => json!({"type": "json_object"}),
            _ => json!({"type": "text"}),
        };
        out.insert("text".into(), json!({"format": format}));
    }
    if let Some(max) = c
        .get("max_completion_tokens")
        .or(c.get("max_tokens"))
        .filter(|v| !v.is_null())
    {
        out.insert("max_output_tokens".into(), max.clone());
    }
    for k in [
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "parallel_tool_calls",
        "metadata",
        "stop",
        "top_logprobs",
    ] {
        if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(e) = c.get("reasoning_effort").filter(|v| !v.is_null()) {
        out.insert("reasoning".into(), json!({"effort": e}));
    }
    if let Some(u) = c
        .get("user")
        .or(c.get("safety_identifier"))
        .filter(|v| v.is_string())
    {
        out.insert("safety_identifier".into(), u.clone());
    }
    super::stateless(&mut out, c);
    Ok(Value::Object(out))
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn user_parts(content: &Value, i: usize) -> Result<Value, RequestError> {
    match content {
        Value::String(s) => Ok(json!(s)),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match p["type"].as_str() {
                Some("text") => Ok(json!({"type": "input_text", "text": p["text"]})),
                Some("image_url") => Ok(
                    json!({"type": "input_image", "image_url": p["image_url"]["url"],
                    "detail": p["image_url"].get("detail").cloned().unwrap_or(json!("auto"))}),
                ),
                other => Err(invalid(
                    &format!("messages[{i}].content[{j}].type"),
                    format!("content part `{}` is not supported", other.unwrap_or("?")),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Ok(json!("")),
    }
}

/// How a response ended, as Chat says it.
fn finish_reason(resp: &Value) -> &'static str {
    match super::ending(resp) {
        super::Ending::MaxTokens => "length",
        super::Ending::ContentFilter => "content_filter",
        super::Ending::ToolCalls => "tool_calls",
        super::Ending::Stop => "stop",
    }
}

/// Open Responses usage as Chat usage.
pub fn usage(u: &Value) -> Value {
    json!({"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"],
        "total_tokens": u["total_tokens"],
        "prompt_tokens_details": {"cached_tokens": u["input_tokens_details"]["cached_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": u["output_tokens_details"]["reasoning_tokens"]}})
}

/// A finished response as a `chat.completion`.
pub fn completion(resp: &Value) -> Value {
    let mut text = String::new();
    let mut refusal: Option<String> = None;
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for item in resp["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for p in item["content"].as_array().into_iter().flatten() {
                    match p["type"].as_str() {
                        Some("output_text") => {
                            text.push_str(p["text"].as_str().unwrap_or_default())
                        }
                        Some("refusal") => refusal = p["refusal"].as_str().map(str::to_owned),
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                for p in item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(item["summary"].as_array().into_iter().flatten())
                {
                    reasoning.push_str(p["text"].as_str().unwrap_or_default());
                }
            }
            Some("function_call") => calls.push(json!({"id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]}})),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }, "refusal": refusal});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let mut out = json!({"id": chat_id(resp["id"].as_str().unwrap_or_default()), "object": "chat.completion", "created": resp["created_at"],
        "model": resp["model"], "choices": [{"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish_reason(resp)}]});
    if resp["usage"].is_object() {
        out["usage"] = usage(&resp["usage"]);
    }
    out
}

/// The Chat id of a response id: `resp_…` becomes `chatcmpl-…`.
fn chat_id(id: &str) -> String {
    format!("chatcmpl-{}", id.trim_start_matches("resp_"))
}

/// Open Responses events → `chat.completion.chunk`s, for one stream.
#[derive(Debug, Default)]
pub struct ChunkEncoder {
    id: String,
    model: Value,
    created: Value,
    /// Every chunk's opening up to its `delta`, written once per stream
    /// (empty until the first chunk or `response.created`).
    head: String,
    /// Output index of each function call → its Chat `tool_calls` index.
    calls: std::collections::HashMap<u64, usize>,
    include_usage: bool,
    started: bool,
}

impl ChunkEncoder {
    /// An encoder; `include_usage` adds the usage chunk at the end.
    pub fn new(include_usage: bool) -> Self {
        ChunkEncoder {
            include_usage,
            ..Default::default()
        }
    }

    fn chunk(&mut self, delta: Value, finish: Value) -> String {
        self.chunk_raw(&delta.to_string(), &finish.to_string())
    }

    /// A chunk from its `delta` and `finish_reason` as JSON text: the
    /// same bytes as the whole chunk written as one JSON value, without
    /// building it.
    fn chunk_raw(&mut self, delta: &str, finish: &str) -> String {
        if self.head.is_empty() {
            self.head = format!(
                r#"{{"id":{},"object":"chat.completion.chunk","created":{},"model":{},"choices":[{{"index":0,"delta":"#,
                Value::from(self.id.as_str()),
                self.created,
                self.model
            );
        }
        const TAIL: &str = r#","logprobs":null,"finish_reason":"#;
        let mut out =
            String::with_capacity(self.head.len() + delta.len() + TAIL.len() + finish.len() + 3);
        out.push_str(&self.head);
        out.push_str(delta);
        out.push_str(TAIL);
        out.push_str(finish);
        out.push_str("}]}");
        out
    }

    /// The chunks for the events every stream repeats, read from the
    /// typed event (`None`: read it as JSON with [`ChunkEncoder::event`]).
    pub fn typed(&mut self, e: &crate::types::StreamEvent) -> Option<Vec<String>> {
        use crate::types::StreamEvent;
        match e {
            StreamEvent::Created { response, .. } => {
                self.id = chat_id(&response.id);
                self.model = Value::from(response.model.as_str());
                self.created = Value::from(response.created_at);
                self.head.clear();
                Some(Vec::new())
            }
            StreamEvent::OutputTextDelta { delta, .. } => {
                let mut out = Vec::with_capacity(2);
                if !self.started {
                    self.started = true;
                    out.push(self.chunk_raw(r#"{"role":"assistant","content":""}"#, "null"));
                }
                let text = Value::from(delta.as_str()).to_string();
                out.push(self.chunk_raw(&format!(r#"{{"content":{text}}}"#), "null"));
                Some(out)
            }
            // Only its usage, output and ending are read: not a tree of
            // the whole response.
            StreamEvent::Completed { response, .. } => {
                Some(self.event(
                    &json!({"type": "response.completed", "response": super::slim(response)}),
                ))
            }
            StreamEvent::Incomplete { response, .. } => {
                Some(self.event(
                    &json!({"type": "response.incomplete", "response": super::slim(response)}),
                ))
            }
            _ => None,
        }
    }

    /// The chunks (SSE `data` payloads) for one event.
    pub fn event(&mut self, e: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let kind = e["type"].as_str().unwrap_or_default();
        if kind == "response.created" {
            let r = &e["response"];
            self.id = chat_id(r["id"].as_str().unwrap_or_default());
            self.model = r["model"].clone();
            self.created = r["created_at"].clone();
            self.head.clear();
        }
        if !self.started && kind != "response.created" && kind != "response.in_progress" {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        }
        match kind {
            "response.output_text.delta" => {
                out.push(self.chunk(json!({"content": e["delta"]}), Value::Null))
            }
            "response.refusal.delta" => {
                out.push(self.chunk(json!({"refusal": e["delta"]}), Value::Null))
            }
            "response.reasoning.delta" | "response.reasoning_summary_text.delta" => {
                out.push(self.chunk(json!({"reasoning_content": e["delta"]}), Value::Null))
            }
            "response.output_item.added" if e["item"]["type"] == "function_call" => {
                let index = self.calls.len();
                self.calls
                    .insert(e["output_index"].as_u64().unwrap_or_default(), index);
                let item = &e["item"];
                out.push(self.chunk(json!({"tool_calls": [{"index": index, "id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": ""}}]}), Value::Null));
            }
            "response.function_call_arguments.delta" => {
                if let Some(index) = self
                    .calls
                    .get(&e["output_index"].as_u64().unwrap_or_default())
                {
                    out.push(self.chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": e["delta"]}}]}), Value::Null));
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = &e["response"];
                out.push(self.chunk(json!({}), json!(finish_reason(r))));
                if self.include_usage && r["usage"].is_object() {
                    out.push(json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage(&r["usage"])}).to_string());
                }
            }
            "response.failed" => {
                let err = &e["response"]["error"];
                out.push(
                    json!({"error": {"message": err["message"], "type": "server_error",
                    "param": null, "code": err["code"]}})
                    .to_string(),
                );
            }
            _ => {}
        }
        out
    }
}
