//! The built-in offline provider (`type: mock`): it answers from the
//! request alone, with no network, so that a fresh install works and the
//! whole pipeline can be exercised anywhere. It is a fake upstream that
//! speaks the OpenAI Responses protocol ([`serve`]), so its answers go
//! through the same attempt loop and translation as any provider's.
//!
//! - After a `function_call_output`, it reports the tool's result.
//! - With tools offered (and `tool_choice` not `none`), it calls the first
//!   tool whose name appears in the last user message, or the forced one,
//!   passing the message as the tool's first string parameter.
//! - Otherwise it echoes the last user message, word by word.
//!
//! Its work is linear in the request and its answer is bounded: it echoes
//! at most [`MAX_ECHO_BYTES`] of the message and matches tool names against
//! the message's words (a set), and the stream is handed over in chunks.

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::builder::{Outcome, ResponseBuilder};
use crate::error::HostError;
use crate::host::{UpstreamRequest, UpstreamResponse};
use crate::types::{
    ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent, Role, Tool,
    ToolChoice, ToolChoiceMode, ToolChoiceObject, Usage,
};

/// The most of the user's message the mock repeats.
pub const MAX_ECHO_BYTES: usize = 16 * 1024;

/// Events per chunk of the streamed answer.
const EVENTS_PER_CHUNK: usize = 64;

/// Answers an OpenAI Responses request, as OpenAI would: a JSON body, or
/// an SSE stream of the spec's events. `seed` makes its ids.
pub fn serve(req: &UpstreamRequest, seed: u64, now_secs: u64) -> UpstreamResponse {
    let body = match crate::validate::parse_body(&req.body) {
        Ok(b) => b,
        Err(e) => {
            let err = json!({"error": {"message": e.to_string(), "type": "invalid_request_error", "param": null, "code": null}});
            return answer(400, "application/json", Bytes::from(err.to_string()));
        }
    };
    let model = body.model.clone().unwrap_or_default();
    let id = crate::ids::IdGen::new(seed).next("resp_");
    let skeleton = crate::validate::skeleton(&body, id, &model, now_secs);
    let mut b = ResponseBuilder::new(skeleton, seed.rotate_left(17), req.stream);
    b.start();
    let outcome = respond(&body, &mut b);
    b.finish(outcome, now_secs);
    if req.stream {
        let events: Vec<_> = b.drain().collect();
        let chunks: Vec<Result<Bytes, HostError>> = events
            .chunks(EVENTS_PER_CHUNK)
            .map(|c| Ok(crate::sse::encode_all(c.iter().cloned())))
            .collect();
        return UpstreamResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: futures::stream::iter(chunks).boxed_local(),
        };
    }
    let json = serde_json::to_vec(&b.into_response()).unwrap_or_default();
    answer(200, "application/json", Bytes::from(json))
}

fn answer(status: u16, content_type: &str, body: Bytes) -> UpstreamResponse {
    UpstreamResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: futures::stream::iter([Ok::<_, HostError>(body)]).boxed_local(),
    }
}

/// Produces the whole answer into the builder.
pub fn respond(body: &CreateResponseBody, b: &mut ResponseBuilder) -> Outcome {
    let items = match &body.input {
        Some(Input::Items(items)) => items.as_slice(),
        _ => &[],
    };
    let last_user = match &body.input {
        Some(Input::Text(t)) => t.clone(),
        _ => items.iter().rev().find_map(user_text).unwrap_or_default(),
    };
    let input_words = words(&last_user) + body.instructions.as_deref().map_or(0, words);
    let answer = match items.last() {
        Some(Item::FunctionCallOutput(o)) => {
            let out = match &o.output {
                FunctionOutput::Text(t) => t.clone(),
                FunctionOutput::Parts(p) => p
                    .iter()
                    .filter_map(ContentPart::text)
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            Some(format!("The tool returned: {out}"))
        }
        _ => None,
    };
    let output_words;
    if let Some(text) = answer {
        output_words = stream_text(b, &text);
    } else if let Some((name, args)) = pick_tool(body, &last_user) {
        let call_id = b.new_id("call_");
        let i = b.start_function_call(None, call_id, name);
        b.arguments_delta(i, &args);
        b.end_item(i);
        output_words = 1;
    } else {
        let text = if last_user.is_empty() {
            "Hello from the latticelm mock provider.".to_owned()
        } else {
            format!("You said: {}", truncate(&last_user, MAX_ECHO_BYTES))
        };
        output_words = stream_text(b, &text);
    }
    let max = body.max_output_tokens.unwrap_or(u64::MAX);
    b.usage(Usage {
        input_tokens: input_words,
        output_tokens: output_words.min(max),
        total_tokens: input_words + output_words.min(max),
        ..Default::default()
    });
    if output_words > max {
        return Outcome::Incomplete("max_output_tokens".into());
    }
    Outcome::Completed
}

fn user_text(item: &Item) -> Option<String> {
    let Item::Message(m) = item else { return None };
    if m.role != Role::User {
        return None;
    }
    Some(match &m.content {
        MessageContent::Text(t) => t.clone(),
        MessageContent::Parts(p) => p
            .iter()
            .map(|part| match part {
                ContentPart::InputImage(_) => "[image]".to_owned(),
                ContentPart::InputFile(_) => "[file]".to_owned(),
                other => other.text().unwrap_or_default().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn stream_text(b: &mut ResponseBuilder, text: &str) -> u64 {
    let i = b.start_message(None, None);
    let mut n = 0;
    for piece in text.split_inclusive(' ') {
        b.text_delta(i, piece);
        n += 1;
    }
    b.end_item(i);
    n
}

fn pick_tool(body: &CreateResponseBody, user: &str) -> Option<(String, String)> {
    let tools: Vec<_> = body
        .tools
        .iter()
        .flatten()
        .filter_map(|t| match t {
            Tool::Function(f) => Some(f),
            Tool::Other(_) => None,
        })
        .collect();
    let forced = match &body.tool_choice {
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => return None,
        Some(ToolChoice::Object(ToolChoiceObject::Function { name })) => Some(name.as_str()),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => tools.first().map(|f| f.name.as_str()),
        _ => None,
    };
    let tool = match forced {
        Some(name) => tools.iter().find(|f| f.name == name)?,
        None => {
            // Tool names are words of [A-Za-z0-9_-]: one pass over the
            // message, one lookup per tool.
            let words: std::collections::HashSet<String> = user
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            tools
                .iter()
                .find(|f| words.contains(&f.name.to_ascii_lowercase()))?
        }
    };
    let param = tool
        .parameters
        .as_ref()
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
        .and_then(|props| {
            props
                .iter()
                .find(|(_, s)| s.get("type").and_then(Value::as_str) == Some("string"))
        })
        .map(|(k, _)| k.clone());
    let args = match param {
        Some(k) => json!({ k: user }),
        None => json!({}),
    };
    Some((tool.name.clone(), args.to_string()))
}
