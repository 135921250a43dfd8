//! The names MCP tools go by where servers meet: `<label>__<tool>`,
//! within the 64 characters and `[A-Za-z0-9_-]` that every provider's
//! function names allow. A name that would not fit is shortened with a
//! stable hash, so it is the same on every replica and every request.

use sha2::{Digest, Sha256};

/// The longest function name providers accept.
pub const MAX: usize = 64;

/// The name `tool` of server `label` goes by.
pub fn exposed(label: &str, tool: &str) -> String {
    let plain = format!("{label}__{tool}");
    let clean = plain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if clean && plain.len() <= MAX {
        return plain;
    }
    let digest = Sha256::digest(format!("{label}\0{tool}").as_bytes());
    let hash = crate::observe::trace::hex(&digest[..4]);
    let keep: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `<label>__<start of tool>_<8 hex>`; labels are at most 32.
    let room = MAX.saturating_sub(label.len() + 2 + 1 + hash.len());
    let start: String = keep.chars().take(room).collect();
    format!("{label}__{start}_{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_when_they_fit_and_hashed_stably_when_not() {
        assert_eq!(exposed("weather", "get_weather"), "weather__get_weather");
        let long = "a".repeat(80);
        let n = exposed("weather", &long);
        assert_eq!(n.len(), MAX);
        assert_eq!(n, exposed("weather", &long));
        assert_ne!(n, exposed("weather", &"a".repeat(81)));
        let odd = exposed("w", "get.weather/now");
        assert!(odd.starts_with("w__get_weather_now_"), "{odd}");
        assert!(odd
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    }
}
