//! Request caps (`server.limits`), checked in time linear in the body's
//! size before anything else looks at it: a single request must not be
//! able to occupy a worker thread for long.

use serde::Deserialize;

use crate::error::RequestError;
use crate::types::{CreateResponseBody, Input, Item, MessageContent};

/// `server.limits`: the largest request shapes the gateway accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Entries in `tools`.
    #[serde(default = "default_tools")]
    pub max_tools: usize,
    /// Items in `input` (after `previous_response_id` expansion too).
    #[serde(default = "default_input_items")]
    pub max_input_items: usize,
    /// Content parts in one message.
    #[serde(default = "default_parts")]
    pub max_parts_per_message: usize,
    /// Entries in `metadata`.
    #[serde(default = "default_metadata")]
    pub max_metadata_entries: usize,
    /// Bytes in any one JSON string of the body (text, data URLs, ids).
    #[serde(default = "default_string_bytes")]
    pub max_string_bytes: usize,
    /// Nesting depth of the body's JSON.
    #[serde(default = "default_depth")]
    pub max_json_depth: usize,
    /// JSON values in one body or WebSocket message: every element of an
    /// array and every member of an object (a parsed value costs about
    /// [`PARSED_VALUE_BYTES`], so a body of `[0,0,…]` is bounded here, not
    /// by its byte size).
    #[serde(default = "default_values")]
    pub max_json_values: usize,
}

/// What one parsed JSON value may cost in memory, at most, for budgets
/// that account the parsed size of a body and not only its bytes.
pub const PARSED_VALUE_BYTES: usize = 160;

fn default_tools() -> usize {
    512
}
fn default_input_items() -> usize {
    10_000
}
fn default_parts() -> usize {
    1_000
}
fn default_metadata() -> usize {
    16
}
fn default_string_bytes() -> usize {
    20 * 1024 * 1024
}
fn default_depth() -> usize {
    64
}
fn default_values() -> usize {
    1_000_000
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_tools: default_tools(),
            max_input_items: default_input_items(),
            max_parts_per_message: default_parts(),
            max_metadata_entries: default_metadata(),
            max_string_bytes: default_string_bytes(),
            max_json_depth: default_depth(),
            max_json_values: default_values(),
        }
    }
}

fn exceeded(limit: &'static str, max: usize, param: Option<String>) -> RequestError {
    RequestError::LimitExceeded { limit, max, param }
}

/// One pass over the raw JSON: the longest string, the deepest nesting
/// and the number of values. Runs before the body is parsed, so that none
/// of them costs more than a scan. Returns the number of values.
pub fn scan(bytes: &[u8], limits: &Caps) -> Result<usize, RequestError> {
    let mut s = Scanner::default();
    s.push(bytes, limits)?;
    Ok(s.values())
}

/// [`scan`] over a body that arrives in pieces: a host feeds each piece
/// as it comes and refuses the body at the first piece past a limit,
/// before the rest is buffered.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
    len: usize,
    /// Values begun so far (strings, containers and scalars).
    values: usize,
    /// The previous byte outside a string began or continued a scalar.
    in_scalar: bool,
}

impl Scanner {
    /// The values seen so far.
    pub fn values(&self) -> usize {
        self.values
    }

    /// Scans the next piece of the body. After an error the scanner is
    /// spent (the body is refused).
    pub fn push(&mut self, bytes: &[u8], limits: &Caps) -> Result<(), RequestError> {
        // Locals in the loop, written back once: this runs on every byte.
        let (mut depth, mut in_string, mut escaped) = (self.depth, self.in_string, self.escaped);
        let (mut len, mut values, mut in_scalar) = (self.len, self.values, self.in_scalar);
        for &b in bytes {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    continue;
                }
                len += 1;
                if len > limits.max_string_bytes {
                    return Err(exceeded("max_string_bytes", limits.max_string_bytes, None));
                }
                continue;
            }
            // A scalar (number, true, false, null) is one value, however
            // many bytes it has; a string or container is one value at its
            // opening byte. Object keys count too: each is a member.
            let scalar = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
            if scalar && !in_scalar {
                values += 1;
            }
            in_scalar = scalar;
            match b {
                b'"' => {
                    in_string = true;
                    len = 0;
                    values += 1;
                }
                b'{' | b'[' => {
                    values += 1;
                    depth += 1;
                    if depth > limits.max_json_depth {
                        return Err(exceeded("max_json_depth", limits.max_json_depth, None));
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if values > limits.max_json_values {
                return Err(exceeded("max_json_values", limits.max_json_values, None));
            }
        }
        (self.depth, self.in_string, self.escaped) = (depth, in_string, escaped);
        (self.len, self.values, self.in_scalar) = (len, values, in_scalar);
        Ok(())
    }
}

/// The counts of a parsed body: tools, input items, parts per message,
/// metadata entries.
pub fn check(body: &CreateResponseBody, limits: &Caps) -> Result<(), RequestError> {
    if let Some(tools) = &body.tools {
        if tools.len() > limits.max_tools {
            return Err(exceeded(
                "max_tools",
                limits.max_tools,
                Some("tools".into()),
            ));
        }
    }
    if let Some(meta) = &body.metadata {
        if meta.len() > limits.max_metadata_entries {
            return Err(exceeded(
                "max_metadata_entries",
                limits.max_metadata_entries,
                Some("metadata".into()),
            ));
        }
    }
    if let Some(Input::Items(items)) = &body.input {
        check_items(items, limits)?;
    }
    Ok(())
}

/// The input items' count and each message's parts.
pub fn check_items(items: &[Item], limits: &Caps) -> Result<(), RequestError> {
    if items.len() > limits.max_input_items {
        return Err(exceeded(
            "max_input_items",
            limits.max_input_items,
            Some("input".into()),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if let Item::Message(m) = item {
            if let MessageContent::Parts(parts) = &m.content {
                if parts.len() > limits.max_parts_per_message {
                    return Err(exceeded(
                        "max_parts_per_message",
                        limits.max_parts_per_message,
                        Some(format!("input[{i}].content")),
                    ));
                }
            }
        }
    }
    Ok(())
}
