//! Chat Completions body → the builder.

use serde_json::Value;

use super::outcome_of;
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{chat_usage, parse_json, stream_error, translate_error};

/// Reads a non-streaming response: reasoning first, then the message,
/// then the function calls, as a stream would order them.
pub fn parse(
    provider: &str,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, TranslateError> {
    let v = parse_json(provider, body)?;
    if let Some(err) = v.get("error").filter(|e| e.is_object()) {
        return Ok(Outcome::Failed(stream_error(provider, err)));
    }
    let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
        return Err(translate_error(
            provider,
            "the response has no `choices[0]`",
            body,
        ));
    };
    let msg = choice.get("message").cloned().unwrap_or_default();
    let s = |k: &str| msg.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
    if let Some(reasoning) = s("reasoning_content").or_else(|| s("reasoning")) {
        let i = b.start_reasoning(None, None);
        b.reasoning_delta(i, reasoning);
        b.end_item(i);
    }
    if s("content").is_some() || s("refusal").is_some() {
        let i = b.start_message(None, None);
        if let Some(text) = s("content") {
            b.text_delta(i, text);
            for a in msg
                .get("annotations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                b.annotation(i, annotation(a));
            }
        }
        if let Some(r) = s("refusal") {
            b.refusal_delta(i, r);
        }
        b.end_item(i);
    }
    for call in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = call.get("function").cloned().unwrap_or_default();
        let str_of = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| b.new_id("call_"));
        let i = b.start_function_call(None, call_id, str_of(&f, "name"));
        b.arguments_delta(i, &str_of(&f, "arguments"));
        b.end_item(i);
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        b.usage(chat_usage(u));
    }
    Ok(outcome_of(
        choice.get("finish_reason").and_then(Value::as_str),
    ))
}

/// A Chat annotation (`{"type":"url_citation","url_citation":{…}}`) in
/// the spec's flat shape.
pub(crate) fn annotation(a: &Value) -> Value {
    match a.get("url_citation") {
        Some(c) => {
            let mut flat = c.clone();
            flat["type"] = Value::String("url_citation".into());
            for k in ["start_index", "end_index"] {
                if flat.get(k).is_none() {
                    flat[k] = Value::from(0);
                }
            }
            if flat.get("title").is_none() {
                flat["title"] = Value::String(String::new());
            }
            flat
        }
        None => a.clone(),
    }
}
