//! Chat Completions body → the builder.

use serde_json::Value;

use super::outcome_of;
use super::wire::{Completion, Text};
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::{chat_usage, stream_error, translate_error};

/// Reads a non-streaming response: reasoning first, then the message,
/// then the function calls, as a stream would order them.
pub fn parse(
    provider: &str,
    body: &[u8],
    b: &mut ResponseBuilder,
) -> Result<Outcome, TranslateError> {
    let no_choice = || translate_error(provider, "the response has no `choices[0]`", body);
    let v: Completion<'_> = match serde_json::from_slice(body) {
        Ok(v) => v,
        // JSON, but not a completion's shape.
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
            return Err(no_choice())
        }
        Err(e) => {
            return Err(translate_error(
                provider,
                format!("invalid JSON: {e}"),
                body,
            ))
        }
    };
    if let Some(err) = v.error.as_ref().filter(|e| e.is_object()) {
        return Ok(Outcome::Failed(stream_error(provider, err)));
    }
    let Some(choice) = v.choices.as_ref().and_then(|c| c.first()) else {
        return Err(no_choice());
    };
    let msg = choice.message.as_ref();
    let s = |t: Option<&Text<'_>>| -> Option<String> {
        t.and_then(|t| t.0.as_deref())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let reasoning = s(msg.map(|m| &m.reasoning_content)).or_else(|| s(msg.map(|m| &m.reasoning)));
    if let Some(reasoning) = reasoning {
        let i = b.start_reasoning(None, None);
        b.reasoning_delta(i, &reasoning);
        b.end_item(i);
    }
    let content = s(msg.map(|m| &m.content));
    let refusal = s(msg.map(|m| &m.refusal));
    if content.is_some() || refusal.is_some() {
        let i = b.start_message(None, None);
        if let Some(text) = &content {
            b.text_delta(i, text);
            for a in msg
                .and_then(|m| m.annotations.as_ref())
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                b.annotation(i, annotation(a));
            }
        }
        if let Some(r) = &refusal {
            b.refusal_delta(i, r);
        }
        b.end_item(i);
    }
    for call in msg
        .and_then(|m| m.tool_calls.as_ref())
        .into_iter()
        .flatten()
    {
        let f = call.function.as_ref();
        let call_id = call
            .id
            .0
            .as_deref()
            .map(str::to_owned)
            .unwrap_or_else(|| b.new_id("call_"));
        let name = f.and_then(|f| f.name.0.as_deref()).unwrap_or_default();
        let i = b.start_function_call(None, call_id, name.to_owned());
        b.arguments_delta(
            i,
            f.and_then(|f| f.arguments.0.as_deref()).unwrap_or_default(),
        );
        b.end_item(i);
    }
    if let Some(u) = v.usage.as_ref().filter(|u| u.is_object()) {
        b.usage(chat_usage(u));
    }
    Ok(outcome_of(choice.finish_reason.0.as_deref()))
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
