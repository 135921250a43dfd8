//! Fault injection, chosen by a `/_fault/<spec>` prefix on the request
//! path (see the crate docs for the syntax).

use serde_json::{json, Value};

use crate::synth::{self, Protocol};

/// The path segment that introduces a fault spec.
const PREFIX: &str = "/_fault/";

/// The faults one request asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Faults {
    /// Answer with the protocol's error body and this status.
    pub status: Option<u16>,
    /// A `retry-after` header (seconds) on the error answer.
    pub retry_after: Option<u64>,
    /// Close the connection without a response.
    pub drop: bool,
    /// Wait this long (ms) before the response headers.
    pub slow_headers: Option<u64>,
    /// Abort a streamed body after this many SSE frames.
    pub stop_after: Option<usize>,
    /// A streamed body goes silent (for a minute) after this many frames.
    pub stall_after: Option<usize>,
    /// A streamed answer is only the protocol's error event (non-streaming: 503).
    pub open_error: bool,
    /// A streamed answer sends this many frames, then the error event.
    pub mid_error: Option<usize>,
    /// The faults apply to the first K requests with this spec only.
    pub first: Option<u64>,
    /// A request whose final turn is the assistant's (a prefill) is
    /// refused with a 400, as newer Claude models do.
    pub refuse_prefill: bool,
}

/// Splits `/_fault/<spec>/rest` into `(Some(spec), "/rest")`; other paths
/// come back unchanged with `None`.
pub(crate) fn split(path: &str) -> (Option<&str>, &str) {
    let Some(tail) = path.strip_prefix(PREFIX) else {
        return (None, path);
    };
    match tail.find('/') {
        Some(i) => (Some(&tail[..i]), &tail[i..]),
        None => (Some(tail), "/"),
    }
}

/// Parses a comma-separated list of `key` or `key=value`.
pub(crate) fn parse(spec: &str) -> Result<Faults, String> {
    let mut f = Faults::default();
    for item in spec.split(',').filter(|i| !i.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        match key {
            "status" => {
                let status: u16 = number(key, value)?;
                if !(100..=599).contains(&status) {
                    return Err(format!(
                        "fault `status={status}`: not an HTTP status (100-599)"
                    ));
                }
                f.status = Some(status);
            }
            "retry_after" => f.retry_after = Some(number(key, value)?),
            "drop" => f.drop = flag(key, value)?,
            "slow_headers" => f.slow_headers = Some(number(key, value)?),
            "stop_after" => f.stop_after = Some(number(key, value)?),
            "stall_after" => f.stall_after = Some(number(key, value)?),
            "open_error" => f.open_error = flag(key, value)?,
            "mid_error" => f.mid_error = Some(number(key, value)?),
            "first" => f.first = Some(number(key, value)?),
            "refuse_prefill" => f.refuse_prefill = flag(key, value)?,
            _ => {
                return Err(format!(
                "unknown fault `{key}` in `/_fault/{spec}`; known: status=N, retry_after=S, drop, \
                     slow_headers=MS, stop_after=N, stall_after=N, open_error, mid_error=N, first=K, refuse_prefill"
            ))
            }
        }
    }
    if f.retry_after.is_some() && f.status.is_none() && !f.open_error {
        return Err(format!(
            "fault `retry_after` in `/_fault/{spec}` needs `status=N` or `open_error`"
        ));
    }
    Ok(f)
}

impl Faults {
    /// Whether the faults apply to the `nth` request (1-based) with this spec.
    pub(crate) fn applies(&self, nth: u64) -> bool {
        self.first.is_none_or(|k| nth <= k)
    }

    /// Applies `mid_error` to a streamed answer's frames: the first N
    /// frames (at most all but the last, so the error always comes before
    /// the terminal event), then the protocol's error event(s).
    pub(crate) fn frames(
        &self,
        protocol: Protocol,
        model: &str,
        frames: Vec<String>,
    ) -> Vec<String> {
        let Some(n) = self.mid_error else {
            return frames;
        };
        let n = n.min(frames.len().saturating_sub(1));
        let mut out: Vec<String> = frames.into_iter().take(n).collect();
        out.extend(error_events(protocol, model, n));
        out
    }
}

const CHAT_MESSAGE: &str = "The server is overloaded. Please try again later.";
const RESPONSES_MESSAGE: &str =
    "The server had an error while processing your request. Sorry about that!";
const GOOGLE_MESSAGE: &str = "The model is overloaded. Please try again later.";

/// The protocol's in-stream error event(s), as real providers send them.
/// `seq` is the Responses `sequence_number` of the error event (the
/// number of frames already sent).
pub(crate) fn error_events(protocol: Protocol, model: &str, seq: usize) -> Vec<String> {
    match protocol {
        Protocol::Anthropic => vec![format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )],
        // vLLM / sglang: an `error` object in a `data:` chunk.
        Protocol::Chat => vec![format!(
            "data: {}\n\n",
            json!({"error": {"message": CHAT_MESSAGE, "type": "server_error", "param": null, "code": 503}})
        )],
        // Gemini ends its SSE events with CRLFs.
        Protocol::Google => vec![format!(
            "data: {}\r\n\r\n",
            json!({"error": {"code": 503, "message": GOOGLE_MESSAGE, "status": "UNAVAILABLE"}})
        )],
        // As recorded (openai-error.1) and per the Open Responses spec: the
        // `error` event, then `response.failed`.
        Protocol::Responses => {
            let error = json!({"type": "error", "sequence_number": seq,
                "error": {"type": "server_error", "code": "server_error", "message": RESPONSES_MESSAGE, "param": null}});
            let mut response = synth::response_object(model, "failed");
            response["error"] = json!({"code": "server_error", "message": RESPONSES_MESSAGE});
            let failed: Value = json!({"type": "response.failed", "sequence_number": seq + 1, "response": response});
            vec![
                format!("event: error\ndata: {error}\n\n"),
                format!("event: response.failed\ndata: {failed}\n\n"),
            ]
        }
    }
}

fn number<T: std::str::FromStr>(key: &str, value: Option<&str>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("fault `{key}` needs a value: `{key}=N`"))?;
    value
        .parse()
        .map_err(|_| format!("fault `{key}={value}`: `{value}` is not a valid number"))
}

fn flag(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None => Ok(true),
        Some(v) => Err(format!("fault `{key}` takes no value (got `{key}={v}`)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_prefix() {
        assert_eq!(
            split("/_fault/status=503,first=2/v1/messages"),
            (Some("status=503,first=2"), "/v1/messages")
        );
        assert_eq!(split("/_fault/drop"), (Some("drop"), "/"));
        assert_eq!(split("/_fault/"), (Some(""), "/"));
        assert_eq!(split("/v1/messages"), (None, "/v1/messages"));
        assert_eq!(split("/_faultx/v1"), (None, "/_faultx/v1"));
    }

    #[test]
    fn parses_every_key() {
        let f = parse("status=429,retry_after=2,drop,slow_headers=50,stop_after=3,stall_after=5,open_error,mid_error=1,first=4,")
            .unwrap();
        assert_eq!(
            f,
            Faults {
                status: Some(429),
                retry_after: Some(2),
                drop: true,
                slow_headers: Some(50),
                stop_after: Some(3),
                stall_after: Some(5),
                open_error: true,
                mid_error: Some(1),
                first: Some(4),
                refuse_prefill: false,
            }
        );
        assert_eq!(parse("").unwrap(), Faults::default());
        assert!(f.applies(4) && !f.applies(5));
        assert!(Faults::default().applies(u64::MAX));
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "stauts=503",
            "status",
            "status=abc",
            "status=42",
            "status=70000",
            "drop=1",
            "first=-1",
            "retry_after=1",
            "stop_after=1.5",
            "=",
            "\u{1F600}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("stauts=503")
            .unwrap_err()
            .contains("unknown fault `stauts`"));
    }

    #[test]
    fn mid_error_comes_before_the_last_frame() {
        let f = Faults {
            mid_error: Some(10),
            ..Faults::default()
        };
        let frames = vec!["a".to_owned(), "b".to_owned()];
        let out = f.frames(Protocol::Google, "m", frames);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], "a");
        assert!(out[1].contains("UNAVAILABLE"));
        let out = f.frames(Protocol::Chat, "m", Vec::new());
        assert_eq!(out.len(), 1);
    }
}
