//! Durations in config: `250ms`, `30s`, `5m`, `1h`, or a number of seconds.

use std::time::Duration;

/// Parses `250ms`, `30s`, `5m`, `1h`, `2d` or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (use 250ms, 30s, 5m, 1h)"))?;
    let secs_per = match unit.trim() {
        "ms" => return checked(Duration::from_millis(n), s),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        u => {
            return Err(format!(
                "unknown duration unit `{u}` (use ms, s, m, h or d)"
            ))
        }
    };
    match n.checked_mul(secs_per) {
        Some(secs) => checked(Duration::from_secs(secs), s),
        None => Err(format!("`{s}` is too long a duration")),
    }
}

/// Durations past a century are mistakes, and would overflow when added
/// to a clock reading.
fn checked(d: Duration, s: &str) -> Result<Duration, String> {
    const CENTURY: u64 = 100 * 365 * 86400;
    if d.as_secs() > CENTURY {
        return Err(format!("`{s}` is too long a duration (at most 100 years)"));
    }
    Ok(d)
}

pub(crate) fn de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    use serde::de::Error;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => checked(Duration::from_secs(n), &n.to_string()).map_err(D::Error::custom),
        Raw::Text(t) => parse_duration(&t).map_err(D::Error::custom),
    }
}

use serde::Deserialize;
