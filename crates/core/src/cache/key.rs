//! The cache key: SHA-256 over a canonical form of everything that can
//! change an answer.
//!
//! **Counted:** the model's name and its configured targets (provider and
//! upstream model, in order), the scope (principal, team or `shared`), the
//! caller's passthrough allowances and the headers that go upstream
//! ([`Sent`]), and every
//! field of the request body after `previous_response_id` has been
//! expanded into the input, except those below. That includes `input`,
//! `instructions`, `tools`, `tool_choice`, `text` (the format),
//! `reasoning`, `temperature`, `top_p`, `max_output_tokens`,
//! `parallel_tool_calls`, `truncation`, `include`, `provider`, and any
//! field the gateway passes through unread.
//!
//! **Not counted:** [`IGNORED`]: `stream`, `stream_options`, `metadata`,
//! `user`, `safety_identifier`, `store`, `previous_response_id` (its
//! expansion counts instead), `background`, `prompt_cache_key` and
//! `service_tier`; and the request id, which is a header.
//!
//! **Canonical:** object keys sorted, no whitespace, and numbers written
//! one way (`1`, `1.0` and `1e0` are the same number).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::ModelConfig;
use crate::types::CreateResponseBody;

/// The body fields that never change the key.
pub const IGNORED: [&str; 10] = [
    "stream",
    "stream_options",
    "metadata",
    "user",
    "safety_identifier",
    "store",
    "previous_response_id",
    "background",
    "prompt_cache_key",
    "service_tier",
];

/// What a request sends upstream besides its body, and the rights that
/// shape it: part of the key, so that an entry is only served to callers
/// who would have sent the same request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent<'a> {
    /// The passthrough fields and hosted tools the caller's key allows
    /// (`web_search`, `mcp`, …): the policy that decides which tools and
    /// fields go upstream.
    pub passthrough: &'a [String],
    /// Headers that go upstream with it (`anthropic-beta`).
    pub headers: &'a [(String, String)],
}

/// The key of `body` (expanded) for `model`, in `scope`. A request that
/// came by another front door adds its own body (`front`), which may be
/// sent upstream as written and so may hold fields the decoded body does
/// not. `sent` adds what else goes upstream, and the caller's rights.
pub fn key(
    body: &CreateResponseBody,
    model: Option<&ModelConfig>,
    scope: &str,
    front: Option<&Value>,
    sent: Sent<'_>,
) -> String {
    let strip = |mut v: Value| {
        if let Value::Object(m) = &mut v {
            for k in IGNORED {
                m.remove(k);
            }
        }
        v
    };
    let v = strip(serde_json::to_value(body).unwrap_or_default());
    let mut text = String::with_capacity(1024);
    text.push_str("latticelm-cache/1\n");
    // A model name no config lists (a provider's own, with `provider`)
    // is in the body already.
    if let Some(m) = model {
        text.push_str(&m.name);
        for t in &m.targets {
            text.push('\n');
            text.push_str(&t.provider);
            text.push('/');
            text.push_str(t.provider_model_id.as_deref().unwrap_or(&m.name));
        }
    }
    text.push_str("\n\n");
    text.push_str(scope);
    text.push('\n');
    canonical(&v, &mut text);
    if let Some(f) = front {
        text.push('\n');
        canonical(&strip(f.clone()), &mut text);
    }
    let mut allowed: Vec<&str> = sent.passthrough.iter().map(String::as_str).collect();
    allowed.sort_unstable();
    allowed.dedup();
    text.push_str("\npassthrough:");
    text.push_str(&allowed.join(","));
    let mut headers: Vec<String> = sent
        .headers
        .iter()
        .map(|(k, v)| format!("{}:{v}", k.to_ascii_lowercase()))
        .collect();
    headers.sort_unstable();
    for h in headers {
        text.push('\n');
        text.push_str(&h);
    }
    crate::observe::trace::hex(&Sha256::digest(text.as_bytes()))
}

/// Writes `v` canonically: sorted keys, no whitespace, one form per
/// number.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                out.push_str(&(f as i64).to_string())
            }
            (_, _, Some(f)) => out.push_str(&format!("{f:e}")),
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}
