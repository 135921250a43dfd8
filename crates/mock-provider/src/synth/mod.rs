//! Synthesized answers in each protocol's recorded shape.

mod anthropic;
mod google;
mod resume;

use serde_json::{json, Value};

/// The wire protocol of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// Chat Completions (`/v1/chat/completions`).
    Chat,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Gemini (`/v1beta/models/{model}:generateContent`).
    Google,
}

/// What the mock decided to say.
pub(crate) enum Answer {
    Text(String),
    Call { name: String, arguments: String },
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Decides the answer from the request body.
pub(crate) fn answer(protocol: Protocol, body: &Value) -> Answer {
    let (last_user, tool_result, tools) = match protocol {
        Protocol::Anthropic => anthropic::extract(body),
        Protocol::Google => google::extract(body),
        Protocol::Chat => {
            let msgs = body["messages"].as_array().cloned().unwrap_or_default();
            let user = msgs
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .map(|m| text_of(&m["content"]));
            let tool = msgs
                .last()
                .filter(|m| m["role"] == "tool")
                .map(|m| text_of(&m["content"]));
            let tools: Vec<(String, Value)> = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some((
                        t.pointer("/function/name")?.as_str()?.to_owned(),
                        t.pointer("/function/parameters")
                            .cloned()
                            .unwrap_or_default(),
                    ))
                })
                .collect();
            (user, tool, tools)
        }
        Protocol::Responses => {
            let items = match &body["input"] {
                Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
                Value::Array(a) => a.clone(),
                _ => vec![],
            };
            let user = items
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .map(|m| text_of(&m["content"]));
            let tool = items
                .last()
                .filter(|m| m["type"] == "function_call_output")
                .map(|m| text_of(&m["output"]));
            let tools: Vec<(String, Value)> = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| Some((t["name"].as_str()?.to_owned(), t["parameters"].clone())))
                .collect();
            (user, tool, tools)
        }
    };
    let structured = structured(protocol, body);
    if let Some(result) = tool_result {
        let text = format!("tool said: {result}");
        return match structured {
            Some(s) => s.answer(&text),
            None => Answer::Text(text),
        };
    }
    let user = last_user.unwrap_or_default();
    if let Some(text) = resume::continuation(protocol, body, &user) {
        return Answer::Text(text);
    }
    let lower = user.to_lowercase();
    if let Some(s) = structured.as_ref().filter(|s| s.forced) {
        return s.answer(&format!("echo: {user}"));
    }
    if body["tool_choice"] != "none" {
        // A tool named in the message, or one whose name has a long word
        // the message uses (`get_weather` for "the weather in Paris").
        let mentions = |n: &str| {
            let n = n.to_lowercase();
            lower.contains(&n) || n.split('_').any(|w| w.len() >= 5 && lower.contains(w))
        };
        if let Some((name, params)) = tools.iter().find(|(n, _)| mentions(n)) {
            let key = params["properties"]
                .as_object()
                .and_then(|p| p.keys().next().cloned())
                .unwrap_or_else(|| "input".into());
            // `… run: <text>` passes just the text (a command for an
            // agent's shell tool); otherwise the whole message.
            let arg = user
                .rsplit_once("run: ")
                .map_or(user.as_str(), |(_, t)| t.trim());
            return Answer::Call {
                name: name.clone(),
                arguments: json!({ key: arg }).to_string(),
            };
        }
    }
    let text = match images_in_last_turn(body) {
        0 => format!("echo: {user}"),
        1 => format!("echo [1 image]: {user}"),
        n => format!("echo [{n} images]: {user}"),
    };
    match structured {
        Some(s) => s.answer(&text),
        None => Answer::Text(text),
    }
}

/// Images in the request's last message (or content), in any protocol's
/// shape: an answer that counts them shows each translation kept them.
fn images_in_last_turn(body: &Value) -> usize {
    fn count(v: &Value) -> usize {
        match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => {
                let own = matches!(
                    o.get("type").and_then(Value::as_str),
                    Some("input_image" | "image_url" | "image")
                ) || o.contains_key("inlineData")
                    || o.contains_key("fileData");
                usize::from(own) + o.values().map(count).sum::<usize>()
            }
            _ => 0,
        }
    }
    let last = ["messages", "input", "contents"]
        .iter()
        .find_map(|k| body[*k].as_array().and_then(|a| a.last()));
    last.map_or(0, count)
}

/// A request for structured output: the schema, and the tool that
/// carries the answer where the protocol has no JSON mode (Anthropic).
struct Structured {
    schema: Value,
    tool: Option<String>,
    /// The tool is forced (`tool_choice: {type: tool}`).
    forced: bool,
}

impl Structured {
    /// The answer, as JSON that fills the schema with `text`.
    fn answer(&self, text: &str) -> Answer {
        let value = fill(&self.schema, text);
        match &self.tool {
            Some(name) => Answer::Call {
                name: name.clone(),
                arguments: value.to_string(),
            },
            None => Answer::Text(value.to_string()),
        }
    }
}

fn structured(protocol: Protocol, body: &Value) -> Option<Structured> {
    let text = |schema: Option<&Value>| {
        Some(Structured {
            schema: schema.cloned().unwrap_or_else(|| json!({"type": "object"})),
            tool: None,
            forced: false,
        })
    };
    match protocol {
        Protocol::Responses => match body.pointer("/text/format/type")?.as_str()? {
            "json_schema" => text(body.pointer("/text/format/schema")),
            "json_object" => text(None),
            _ => None,
        },
        Protocol::Chat => match body.pointer("/response_format/type")?.as_str()? {
            "json_schema" => text(body.pointer("/response_format/json_schema/schema")),
            "json_object" => text(None),
            _ => None,
        },
        Protocol::Google => {
            let g = &body["generationConfig"];
            if g["responseMimeType"] != "application/json" {
                return None;
            }
            text(g.get("responseJsonSchema").or(g.get("responseSchema")))
        }
        Protocol::Anthropic => {
            // The gateway's answer tool: forced, or last beside others
            // under `any`.
            let tools = body["tools"].as_array()?;
            let (tool, forced) = match body.pointer("/tool_choice/type")?.as_str()? {
                "tool" => {
                    let name = body.pointer("/tool_choice/name")?.as_str()?;
                    (tools.iter().find(|t| t["name"] == name)?, true)
                }
                "any" => (tools.last()?, false),
                _ => return None,
            };
            Some(Structured {
                schema: tool["input_schema"].clone(),
                tool: Some(tool["name"].as_str()?.to_owned()),
                forced,
            })
        }
    }
}

/// A value of the schema's shape: `text` for strings.
fn fill(schema: &Value, text: &str) -> Value {
    if let Some(first) = ["anyOf", "oneOf"]
        .iter()
        .find_map(|k| schema[*k].as_array().and_then(|a| a.first()))
    {
        return fill(first, text);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or_default(),
        k => k.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "string" => json!(text),
        "number" | "integer" => json!(1),
        "boolean" => json!(true),
        "array" => json!([]),
        "null" => Value::Null,
        _ => Value::Object(
            schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), fill(v, text)))
                .collect(),
        ),
    }
}

/// Splits into small pieces, as a model streams tokens.
pub(crate) fn pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

impl Answer {
    fn usage_tokens(&self) -> (u64, u64) {
        match self {
            Answer::Text(t) => (12, t.split_whitespace().count() as u64),
            Answer::Call { arguments, .. } => (12, (arguments.len() / 4) as u64),
        }
    }

    /// The non-streaming body.
    pub(crate) fn body(&self, protocol: Protocol, model: &str, request: &Value) -> Value {
        let (input, output) = self.usage_tokens();
        match protocol {
            Protocol::Anthropic => anthropic::body(
                self,
                model,
                output,
                anthropic::thinking_of(request),
                anthropic::cached_of(request),
            ),
            Protocol::Google => google::body(self, model, output),
            Protocol::Chat => {
                let (message, finish) = match self {
                    Answer::Text(t) => (
                        json!({"role": "assistant", "content": t, "refusal": null, "annotations": []}),
                        "stop",
                    ),
                    Answer::Call { name, arguments } => (
                        json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [{"id": "call_mock_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}),
                        "tool_calls",
                    ),
                };
                json!({
                    "id": "chatcmpl-mock", "object": "chat.completion", "created": 1770933883, "model": model,
                    "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
                    "usage": chat_usage(input, output), "service_tier": "default", "system_fingerprint": "fp_mock",
                })
            }
            Protocol::Responses => {
                let mut r = response_object(model, "completed");
                r["output"] = json!([self.item("completed")]);
                r["usage"] = responses_usage(input, output);
                r
            }
        }
    }

    fn item(&self, status: &str) -> Value {
        match self {
            Answer::Text(t) => {
                json!({"id": "msg_mock_1", "type": "message", "status": status, "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": if status == "completed" { t.as_str() } else { "" }}], "role": "assistant"})
            }
            Answer::Call { name, arguments } => {
                json!({"id": "fc_mock_1", "type": "function_call", "status": status, "arguments": if status == "completed" { arguments.as_str() } else { "" }, "call_id": "call_mock_1", "name": name})
            }
        }
    }

    /// The streamed body, one SSE frame per element.
    pub(crate) fn events(&self, protocol: Protocol, model: &str, request: &Value) -> Vec<String> {
        let (input, output) = self.usage_tokens();
        match protocol {
            Protocol::Anthropic => anthropic::events(
                self,
                model,
                output,
                anthropic::thinking_of(request),
                anthropic::cached_of(request),
            ),
            Protocol::Google => google::events(self, model, output),
            Protocol::Chat => {
                let chunk = |delta: Value, finish: Value| {
                    let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1770933892, "model": model, "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": null});
                    format!("data: {c}\n\n")
                };
                let mut frames = vec![chunk(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    Value::Null,
                )];
                let finish = match self {
                    Answer::Text(t) => {
                        frames.extend(
                            pieces(t)
                                .into_iter()
                                .map(|p| chunk(json!({"content": p}), Value::Null)),
                        );
                        "stop"
                    }
                    Answer::Call { name, arguments } => {
                        frames.push(chunk(json!({"tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null));
                        frames.extend(pieces(arguments).into_iter().map(|p| {
                            chunk(
                                json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                                Value::Null,
                            )
                        }));
                        "tool_calls"
                    }
                };
                frames.push(chunk(json!({}), json!(finish)));
                let usage = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1770933892, "model": model, "choices": [], "usage": chat_usage(input, output)});
                frames.push(format!("data: {usage}\n\n"));
                frames.push("data: [DONE]\n\n".into());
                frames
            }
            Protocol::Responses => {
                let mut seq = 0u64;
                let mut frames = Vec::new();
                let mut ev = |mut v: Value| {
                    v["sequence_number"] = json!(seq);
                    seq += 1;
                    frames.push(format!(
                        "event: {}\ndata: {v}\n\n",
                        v["type"].as_str().unwrap_or_default()
                    ));
                };
                ev(
                    json!({"type": "response.created", "response": response_object(model, "in_progress")}),
                );
                ev(
                    json!({"type": "response.in_progress", "response": response_object(model, "in_progress")}),
                );
                ev(
                    json!({"type": "response.output_item.added", "output_index": 0, "item": self.item("in_progress")}),
                );
                match self {
                    Answer::Text(t) => {
                        ev(
                            json!({"type": "response.content_part.added", "item_id": "msg_mock_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}}),
                        );
                        for p in pieces(t) {
                            ev(
                                json!({"type": "response.output_text.delta", "item_id": "msg_mock_1", "output_index": 0, "content_index": 0, "delta": p, "logprobs": []}),
                            );
                        }
                        ev(
                            json!({"type": "response.output_text.done", "item_id": "msg_mock_1", "output_index": 0, "content_index": 0, "text": t, "logprobs": []}),
                        );
                        ev(
                            json!({"type": "response.content_part.done", "item_id": "msg_mock_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": t}}),
                        );
                    }
                    Answer::Call { arguments, .. } => {
                        for p in pieces(arguments) {
                            ev(
                                json!({"type": "response.function_call_arguments.delta", "item_id": "fc_mock_1", "output_index": 0, "delta": p}),
                            );
                        }
                        ev(
                            json!({"type": "response.function_call_arguments.done", "item_id": "fc_mock_1", "output_index": 0, "arguments": arguments}),
                        );
                    }
                }
                ev(
                    json!({"type": "response.output_item.done", "output_index": 0, "item": self.item("completed")}),
                );
                let mut done = response_object(model, "completed");
                done["output"] = json!([self.item("completed")]);
                done["usage"] = responses_usage(input, output);
                ev(json!({"type": "response.completed", "response": done}));
                frames
            }
        }
    }
}

fn chat_usage(input: u64, output: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

fn responses_usage(input: u64, output: u64) -> Value {
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + output})
}

/// OpenAI's `/responses/compact` answer: the user's messages, then an
/// opaque compaction item of the upstream's own.
pub(crate) fn compacted(body: &Value) -> Value {
    let mut output: Vec<Value> = match &body["input"] {
        Value::String(s) => vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]}),
        ],
        Value::Array(items) => items
            .iter()
            .filter(|i| i["role"] == "user")
            .cloned()
            .collect(),
        _ => vec![],
    };
    for (i, item) in output.iter_mut().enumerate() {
        item["id"] = json!(format!("msg_mock_{i}"));
        item["status"] = json!("completed");
        item["type"] = json!("message");
        if let Some(text) = item["content"].as_str().map(str::to_owned) {
            item["content"] = json!([{"type": "input_text", "text": text}]);
        }
    }
    output.push(json!({"id": "cmp_mock_1", "type": "compaction", "encrypted_content": "gAAAAmock-compaction-of-the-upstream"}));
    json!({"id": "resp_mock_compact", "object": "response.compaction", "created_at": 1770803615,
        "output": output, "usage": responses_usage(40, 12)})
}

/// A Responses `response` object with this status and no output yet.
pub(crate) fn response_object(model: &str, status: &str) -> Value {
    json!({"id": "resp_mock_1", "object": "response", "created_at": 1770803615, "status": status, "background": false,
        "error": null, "incomplete_details": null, "instructions": null, "max_output_tokens": null, "model": model,
        "output": [], "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
        "store": true, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": null, "metadata": {}})
}

/// Why the real API would refuse this request's history (signatures that
/// do not match what it issued), as its 400 message.
pub(crate) fn check(protocol: Protocol, model: &str, body: &Value) -> Option<String> {
    match protocol {
        Protocol::Anthropic => anthropic::check(body),
        Protocol::Google => google::check(model, body),
        _ => None,
    }
}

/// The protocol's error body for a status.
pub(crate) fn error_body(protocol: Protocol, status: u16, kind: &str, message: &str) -> Value {
    match protocol {
        Protocol::Anthropic => anthropic::error(status, message),
        Protocol::Google => google::error(status, message),
        _ => json!({"error": {"message": message, "type": kind, "param": null,
            "code": if status == 429 { json!("rate_limit_exceeded") } else { Value::Null }}}),
    }
}
