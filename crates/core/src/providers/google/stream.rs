//! Gemini `GenerateContentResponse` chunks → the builder.

use serde_json::{json, Value};

use super::{outcome_of, usage_of, SLUG};
use crate::builder::{Outcome, ResponseBuilder};
use crate::error::TranslateError;
use crate::providers::common::parse_event;
use crate::sse::SseEvent;
use crate::types::ErrorPayload;

/// A function call whose arguments are still streaming (`partialArgs`).
#[derive(Debug)]
struct PartialCall {
    item: usize,
    args: Value,
}

/// Translates one Gemini stream (candidate 0). Every chunk is a whole
/// `GenerateContentResponse`; the non-streaming parser feeds its single
/// response through the same path.
#[derive(Debug)]
pub struct GoogleStream {
    provider: String,
    message: Option<usize>,
    thought: Option<usize>,
    call: Option<PartialCall>,
    finish_reason: Option<String>,
    error: Option<ErrorPayload>,
    /// `groundingMetadata` so far (Google Search grounding).
    grounding: serde_json::Map<String, Value>,
}

impl GoogleStream {
    /// A translator for the named provider.
    pub fn new(provider: &str) -> Self {
        GoogleStream {
            provider: provider.to_owned(),
            message: None,
            thought: None,
            call: None,
            finish_reason: None,
            error: None,
            grounding: Default::default(),
        }
    }

    /// Whether a finish reason or an error has been seen.
    pub fn is_terminal(&self) -> bool {
        self.finish_reason.is_some() || self.error.is_some()
    }

    /// Feeds one chunk.
    pub fn on_event(
        &mut self,
        ev: &SseEvent,
        b: &mut ResponseBuilder,
    ) -> Result<(), TranslateError> {
        let v = parse_event(&self.provider, ev, "chunk")?;
        self.on_value(&v, b);
        Ok(())
    }

    /// The error of a prompt Gemini refused to answer, if this response is one.
    pub(crate) fn blocked(&self, v: &Value) -> Option<ErrorPayload> {
        let reason = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)?;
        Some(ErrorPayload {
            kind: "invalid_request_error".into(),
            code: Some("content_filter".into()),
            message: format!("upstream '{}' blocked the prompt ({reason})", self.provider),
            param: Some("input".into()),
        })
    }

    /// Feeds one parsed chunk.
    pub(crate) fn on_value(&mut self, v: &Value, b: &mut ResponseBuilder) {
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            self.error = Some(super::error_payload(&self.provider, err));
            return;
        }
        if let Some(u) = v
            .get("usageMetadata")
            .filter(|u| u.get("promptTokenCount").is_some())
        {
            b.usage(usage_of(u));
        }
        let Some(candidate) = v.get("candidates").and_then(|c| c.get(0)) else {
            if let Some(err) = self.blocked(v) {
                self.error = Some(err);
            }
            return;
        };
        for part in candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.part(part, b);
        }
        if let Some(g) = candidate.get("groundingMetadata") {
            super::grounding::merge(&mut self.grounding, g);
        }
        if let Some(r) = candidate.get("finishReason").and_then(Value::as_str) {
            self.end_call(b);
            self.finish_reason = Some(r.to_owned());
        }
    }

    fn part(&mut self, part: &Value, b: &mut ResponseBuilder) {
        let signature = part
            .get("thoughtSignature")
            .and_then(Value::as_str)
            .map(|s| format!("{SLUG}{s}"));
        let text = part.get("text").and_then(Value::as_str);
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            self.end(b, Which::Message);
            let i = *self
                .thought
                .get_or_insert_with(|| b.start_reasoning(None, None));
            b.summary_delta(i, text.unwrap_or_default());
            if let Some(sig) = signature {
                if let Some(crate::types::Item::Reasoning(r)) = b.item_mut(i) {
                    r.encrypted_content = Some(sig);
                }
            }
            return;
        }
        if let Some(fc) = part.get("functionCall") {
            self.function_call(fc, signature, b);
            return;
        }
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            self.end(b, Which::Thought);
            let m = *self
                .message
                .get_or_insert_with(|| b.start_message(None, None));
            b.text_delta(m, t);
        }
        if let Some(sig) = signature {
            // A signature on text (often an empty part) closes what came
            // before it: keep it in that position.
            self.end(b, Which::Both);
            self.signature_item(sig, b);
        }
    }

    fn function_call(&mut self, fc: &Value, signature: Option<String>, b: &mut ResponseBuilder) {
        let s = |k: &str| fc.get(k).and_then(Value::as_str);
        let continues = fc.get("willContinue").and_then(Value::as_bool) == Some(true);
        if let Some(name) = s("name") {
            self.end_call(b);
            self.end(b, Which::Both);
            if let Some(sig) = signature {
                self.signature_item(sig, b);
            }
            let call_id = s("id")
                .map(str::to_owned)
                .unwrap_or_else(|| b.new_id("call_"));
            let item = b.start_function_call(None, call_id, name.to_owned());
            let args = fc.get("args").cloned().unwrap_or_else(|| json!({}));
            if continues {
                self.call = Some(PartialCall { item, args });
            } else {
                b.arguments_delta(item, &args.to_string());
                b.end_item(item);
            }
            return;
        }
        if let (Some(call), Some(partials)) = (
            self.call.as_mut(),
            fc.get("partialArgs").and_then(Value::as_array),
        ) {
            for p in partials {
                apply_partial(&mut call.args, p);
            }
        }
        if !continues {
            self.end_call(b);
        }
    }

    fn end_call(&mut self, b: &mut ResponseBuilder) {
        if let Some(call) = self.call.take() {
            b.arguments_delta(call.item, &call.args.to_string());
            b.end_item(call.item);
        }
    }

    fn signature_item(&mut self, sig: String, b: &mut ResponseBuilder) {
        let i = b.start_reasoning(None, Some(sig));
        b.end_item(i);
    }

    fn end(&mut self, b: &mut ResponseBuilder, which: Which) {
        if matches!(which, Which::Message | Which::Both) {
            if let Some(m) = self.message.take() {
                b.end_item(m);
            }
        }
        if matches!(which, Which::Thought | Which::Both) {
            if let Some(t) = self.thought.take() {
                b.end_item(t);
            }
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self, b: &mut ResponseBuilder) -> Outcome {
        self.end_call(b);
        if let Some(err) = self.error.take() {
            return Outcome::Failed(err);
        }
        let grounding = std::mem::take(&mut self.grounding);
        if let (false, Some(m)) = (grounding.is_empty(), self.message) {
            super::grounding::annotate(&grounding, m, b);
        }
        self.end(b, Which::Both);
        if !grounding.is_empty() {
            b.add_item(super::grounding::item(grounding));
        }
        if self.finish_reason.is_none() {
            return Outcome::Failed(ErrorPayload {
                kind: "server_error".into(),
                code: Some("upstream_stream_truncated".into()),
                message: format!(
                    "upstream '{}' ended the stream without a finishReason",
                    self.provider
                ),
                param: None,
            });
        }
        if self.finish_reason.as_deref() == Some("MALFORMED_FUNCTION_CALL") {
            return Outcome::Failed(ErrorPayload {
                kind: "model_error".into(),
                code: Some("malformed_function_call".into()),
                message: format!(
                    "upstream '{}': the model produced a malformed function call",
                    self.provider
                ),
                param: None,
            });
        }
        outcome_of(self.finish_reason.as_deref())
    }
}

#[derive(Clone, Copy)]
enum Which {
    Message,
    Thought,
    Both,
}

/// Deepest `jsonPath` a partial argument may have.
const MAX_PARTIAL_DEPTH: usize = 64;

/// Applies one `partialArgs` entry (`jsonPath` `$.a.b[0]` and a typed
/// value) to the arguments; a string continues the string already there.
/// The upstream chooses the path: one deeper than [`MAX_PARTIAL_DEPTH`],
/// or an index past the end of its array (arrays grow one element at a
/// time), is ignored, so a path cannot make the gateway allocate more
/// than the stream's own size.
fn apply_partial(args: &mut Value, p: &Value) {
    let Some(path) = p.get("jsonPath").and_then(Value::as_str) else {
        return;
    };
    let value = if let Some(s) = p.get("stringValue") {
        s.clone()
    } else if let Some(n) = p.get("numberValue") {
        n.clone()
    } else if let Some(b) = p.get("boolValue") {
        b.clone()
    } else {
        Value::Null
    };
    let mut target = args;
    let steps: Vec<&str> = path
        .trim_start_matches('$')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    if steps.len() > MAX_PARTIAL_DEPTH {
        return;
    }
    for step in steps {
        let (key, index) = match step.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (step, None),
        };
        if !key.is_empty() {
            if !target.is_object() {
                *target = json!({});
            }
            let Value::Object(obj) = target else { return };
            target = obj.entry(key.to_owned()).or_insert(Value::Null);
        }
        if let Some(i) = index {
            if !target.is_array() {
                *target = json!([]);
            }
            let Value::Array(arr) = target else { return };
            if i > arr.len() {
                return;
            }
            if i == arr.len() {
                arr.push(Value::Null);
            }
            target = &mut arr[i];
        }
    }
    match (target, value) {
        (Value::String(old), Value::String(more)) => old.push_str(&more),
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_paths_are_bounded() {
        let mut args = json!({});
        apply_partial(
            &mut args,
            &json!({"jsonPath": "$.a[999999999]", "numberValue": 1}),
        );
        assert_eq!(args, json!({"a": []}), "no billion nulls");
        apply_partial(&mut args, &json!({"jsonPath": "$.a[0]", "numberValue": 1}));
        apply_partial(&mut args, &json!({"jsonPath": "$.a[1]", "numberValue": 2}));
        assert_eq!(args, json!({"a": [1, 2]}));
        let deep = format!("${}", ".x".repeat(10_000));
        let mut args = json!({});
        apply_partial(&mut args, &json!({"jsonPath": deep, "stringValue": "v"}));
        assert_eq!(args, json!({}));
    }
}
