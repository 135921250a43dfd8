//! The continuation request: the original input, the output so far, and
//! the partial assistant message as the final turn, handed over as a
//! prefill where the target's protocol has one, else with an instruction
//! to continue (best effort).

use bytes::Bytes;
use serde_json::Value;

use crate::config::{Prefill, ProviderConfig};
use crate::host::UpstreamRequest;
use crate::providers::Protocol;
use crate::types::{
    ContentPart, CreateResponseBody, Input, Item, Message, MessageContent, OutputText, Role,
};

/// What a best-effort continuation says after the partial answer.
pub const INSTRUCTION: &str = "Your previous reply was cut off. Continue it from the exact character where it stopped: do not repeat anything already written, do not start over, and do not comment on the interruption.";

/// How a target takes the partial answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// As the final assistant turn, which the model continues: Anthropic,
    /// Gemini, and Chat servers with `prefill` set.
    Prefill(Option<Prefill>),
    /// As an assistant message and an instruction to continue.
    BestEffort,
}

impl Mode {
    /// The mode of a provider.
    pub fn of(provider: &ProviderConfig) -> Mode {
        match Protocol::of(provider) {
            Protocol::Anthropic | Protocol::Google => Mode::Prefill(None),
            Protocol::Chat => match provider.prefill {
                Some(p @ (Prefill::ContinueFinalMessage | Prefill::Prefix)) => {
                    Mode::Prefill(Some(p))
                }
                _ => Mode::BestEffort,
            },
            Protocol::Responses => Mode::BestEffort,
        }
    }

    /// Its name in the record.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Prefill(_) => "prefill",
            Mode::BestEffort => "best_effort",
        }
    }
}

/// The continuation of `body` after `done` (complete output items) and
/// `partial` (the cut message's text so far).
pub(crate) fn body(
    body: &CreateResponseBody,
    done: &[Item],
    partial: &str,
    mode: Mode,
) -> CreateResponseBody {
    let mut items = crate::conversation::input_items(body.input.as_ref());
    items.extend(done.iter().cloned());
    // Anthropic refuses a final assistant turn that ends in whitespace:
    // the whitespace is already the client's, and an overlap of it is
    // dropped at the splice.
    let text = match mode {
        Mode::Prefill(_) => partial.trim_end(),
        Mode::BestEffort => partial,
    };
    items.push(Item::Message(Message {
        id: None,
        status: None,
        role: Role::Assistant,
        content: MessageContent::Parts(vec![ContentPart::OutputText(OutputText {
            text: text.to_owned(),
            ..Default::default()
        })]),
        phase: None,
        extra: Default::default(),
    }));
    if mode == Mode::BestEffort {
        items.push(Item::Message(Message::user_text(INSTRUCTION)));
    }
    let mut out = body.clone();
    out.input = Some(Input::Items(items));
    out.previous_response_id = None;
    out.stream = Some(true);
    out
}

/// A Chat server's prefill, written into the request as built.
pub(crate) fn adjust(mode: Mode, request: &mut UpstreamRequest) {
    let Mode::Prefill(Some(how)) = mode else {
        return;
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&request.body) else {
        return;
    };
    match how {
        Prefill::ContinueFinalMessage => {
            v["continue_final_message"] = Value::Bool(true);
            v["add_generation_prompt"] = Value::Bool(false);
        }
        Prefill::Prefix => {
            if let Some(last) = v["messages"].as_array_mut().and_then(|m| m.last_mut()) {
                last["prefix"] = Value::Bool(true);
            }
        }
        Prefill::None => return,
    }
    if let Ok(b) = serde_json::to_vec(&v) {
        request.body = Bytes::from(b);
    }
}
