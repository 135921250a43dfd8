//! The one log line per request: JSON (for log pipelines; Workers Logs
//! indexes it) or plain text (a terminal). Built from a [`Record`], which
//! holds no prompt, output, header or credential.

use serde_json::{json, Value};

pub use crate::config::{LogFormat, LogLevel};

use super::record::Record;
use super::trace::hex;

/// The level a record is logged at.
pub fn level_of(r: &Record) -> LogLevel {
    let quiet = matches!(
        super::route_of(&r.path),
        "health" | "ready" | "metrics" | "ui" | "dashboard"
    );
    if quiet && r.status < 400 {
        LogLevel::Debug
    } else if r.error_type.as_deref() == Some("client_closed") {
        LogLevel::Warn
    } else if r.status >= 500 || (r.error_type.is_some() && r.status < 400) {
        LogLevel::Error
    } else if r.status >= 400 {
        LogLevel::Warn
    } else {
        LogLevel::Info
    }
}

fn level_name(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Off => "off",
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}

/// The line for a record, if the configured level logs it.
pub fn line(r: &Record, level: LogLevel, format: LogFormat) -> Option<String> {
    let at = level_of(r);
    if level == LogLevel::Off || at > level {
        return None;
    }
    Some(match format {
        LogFormat::Json => json_line(r, at).to_string(),
        LogFormat::Text => text_line(r),
    })
}

fn json_line(r: &Record, at: LogLevel) -> Value {
    let attempts: Vec<Value> = r
        .attempts
        .iter()
        .map(|a| {
            json!({"provider": a.provider, "protocol": a.protocol, "model": a.model,
                "status": a.status, "error": a.error,
                "duration_ms": a.end_ms.saturating_sub(a.start_ms)})
        })
        .collect();
    let tokens = r.usage.map(|u| {
        json!({"input": u.input_tokens, "output": u.output_tokens,
            "cached": u.input_tokens_details.cached_tokens,
            "reasoning": u.output_tokens_details.reasoning_tokens})
    });
    let trace = r.trace.as_ref();
    json!({
        "ts": timestamp(r.end_ms),
        "level": level_name(at),
        "msg": "request",
        "request_id": r.request_id,
        "trace_id": trace.map(|t| hex(&t.trace_id)),
        "span_id": trace.map(|t| hex(&t.span_id)),
        "principal": r.principal,
        "method": r.method,
        "path": r.path,
        "ingress": super::ingress_of(r),
        "model": r.model,
        "route": r.route,
        "strategy": r.strategy,
        "stream": r.stream,
        "attempts": attempts,
        "status": r.status,
        "error_type": r.error_type,
        "error_code": r.error_code,
        "ttfb_ms": r.ttfb_ms,
        "duration_ms": r.end_ms.saturating_sub(r.start_ms),
        "response_id": r.response_id,
        "finish_reason": r.finish_reason,
        "tokens": tokens,
        "cost_usd": r.cost_usd,
        "team": r.team,
        "continuation": r.continuation.as_ref().map(|c| json!({
            "provider": c.provider, "model": c.model,
            "carried_chars": c.carried_chars, "mode": c.mode,
        })),
        "cache": r.cache.map(|c| if c.hit {
            json!({"result": "hit", "saved_tokens": c.saved_tokens, "saved_usd": c.saved_usd})
        } else {
            json!({"result": "miss"})
        }),
        "limits": r.limits.as_ref().map(|l| json!({
            "reserved_tokens": l.reserved_tokens,
            "reserved_usd": l.reserved_usd,
            "settled_tokens": l.settled_tokens,
            "settled_usd": l.settled_usd,
            "refused": l.refused,
            "store_error": l.store_error,
        })),
    })
}

fn text_line(r: &Record) -> String {
    let mut s = format!(
        "{} {} {} {}",
        timestamp(r.end_ms),
        r.status,
        r.method,
        r.path
    );
    if let Some(m) = &r.model {
        s.push_str(&format!(" model={m}"));
    }
    if let Some(a) = r.attempts.last() {
        s.push_str(&format!(
            " provider={} attempts={}",
            a.provider,
            r.attempts.len()
        ));
    }
    if r.stream {
        s.push_str(" stream");
    }
    if let Some(c) = &r.error_code {
        s.push_str(&format!(" error={c}"));
    }
    if let Some(u) = r.usage {
        s.push_str(&format!(" tokens={}/{}", u.input_tokens, u.output_tokens));
    }
    if let Some(c) = r.cost_usd {
        s.push_str(&format!(" cost=${c:.6}"));
    }
    if let Some(t) = r.ttfb_ms {
        s.push_str(&format!(" ttfb={t}ms"));
    }
    s.push_str(&format!(
        " {}ms id={}",
        r.end_ms.saturating_sub(r.start_ms),
        r.request_id
    ));
    s
}

/// RFC 3339 with milliseconds, in UTC.
fn timestamp(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    let nanos = u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000;
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
