//! How the mock continues a cut answer, as real models do: a prefilled
//! final assistant turn (Anthropic, Gemini, and Chat servers asked with
//! `continue_final_message` or `prefix`) is continued from where it
//! stops; a best-effort request (the partial answer, then a user turn
//! asking to continue) is answered by repeating the partial answer's
//! last 12 characters, then the rest, so that the gateway must drop the
//! overlap.

use serde_json::Value;

use super::{text_of, Protocol};

/// The start of the gateway's best-effort instruction.
const INSTRUCTION: &str = "Your previous reply was cut off.";

/// The conversation's turns: (role, text), `assistant` for Gemini's
/// `model`.
fn turns(protocol: Protocol, body: &Value) -> Vec<(String, String)> {
    let list = |k: &str| body[k].as_array().cloned().unwrap_or_default();
    match protocol {
        Protocol::Google => list("contents")
            .iter()
            .map(|c| {
                let role = if c["role"] == "model" {
                    "assistant"
                } else {
                    "user"
                };
                let text: Vec<&str> = c["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .collect();
                (role.to_owned(), text.join(" "))
            })
            .collect(),
        Protocol::Responses => list("input")
            .iter()
            .filter(|m| m["type"] == "message" || m.get("role").is_some())
            .map(|m| {
                (
                    m["role"].as_str().unwrap_or_default().to_owned(),
                    text_of(&m["content"]),
                )
            })
            .collect(),
        Protocol::Anthropic | Protocol::Chat => list("messages")
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap_or_default().to_owned(),
                    text_of(&m["content"]),
                )
            })
            .collect(),
    }
}

/// A continuation of `full` (what the mock would answer from scratch),
/// when the request asks for one.
pub(crate) fn continuation(protocol: Protocol, body: &Value, user: &str) -> Option<String> {
    let turns = turns(protocol, body);
    let (role, text) = turns.last()?;
    let prefilled = match protocol {
        Protocol::Anthropic | Protocol::Google => role == "assistant",
        Protocol::Chat => {
            let last = body["messages"].as_array()?.last()?;
            role == "assistant"
                && (body["continue_final_message"] == true || last["prefix"] == true)
        }
        Protocol::Responses => false,
    };
    if prefilled {
        let full = format!("echo: {user}");
        return full.strip_prefix(text.as_str()).map(str::to_owned);
    }
    if role == "user" && text.starts_with(INSTRUCTION) && turns.len() >= 3 {
        let (_, partial) = &turns[turns.len() - 2];
        let (_, earlier) = turns[..turns.len() - 2]
            .iter()
            .rev()
            .find(|(r, _)| r == "user")?;
        let full = format!("echo: {earlier}");
        let rest = full.strip_prefix(partial.as_str())?;
        let start = partial.char_indices().rev().nth(11).map_or(0, |(i, _)| i);
        return Some(format!("{}{rest}", &partial[start..]));
    }
    None
}
