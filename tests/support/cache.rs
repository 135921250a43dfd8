//! The response cache's checks: a config turning it on, raw calls that
//! keep the answer's headers, and the hit-after-miss check every host
//! passes.

use serde_json::{json, Value};

use super::{client, config, output_text, parse_sse, Gateway};

/// The models that the cache tests repeat requests to, one per upstream
/// protocol.
pub const CACHED_MODELS: [&str; 6] = [
    "gpt-4o-mini",
    "llama",
    "az-responses",
    "az-chat",
    "claude-test",
    "gemini-test",
];

/// The test config with `cache: { ttl: 1h, scope }` on every model.
pub fn config_with_cache(mock: &str, scope: &str) -> String {
    let base = config(mock);
    let (head, models) = base.split_once("models:\n").unwrap();
    let cached = models.replace(
        " }\n",
        &format!(", cache: {{ ttl: 1h, scope: {scope} }} }}\n"),
    );
    format!("{head}models:\n{cached}")
}

/// An answer: status, `x-latticelm-cache` (`hit`, `miss` or empty), and
/// the body (JSON, or the stream's events as a JSON array).
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `x-latticelm-cache`.
    pub cache: String,
    /// The response, or the events.
    pub body: Value,
}

/// POSTs `body` to `path` with `headers`.
pub fn send(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut rb = client().post(format!("{}{path}", gw.url)).json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-latticelm-cache")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let sse = r.headers().get("content-type").is_some_and(|v| {
        v.to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    });
    let bytes = r.bytes().unwrap();
    let body = if sse && path == "/v1/responses" {
        Value::Array(parse_sse(&bytes))
    } else if sse {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Answer {
        status,
        cache,
        body,
    }
}

/// The final response of a stream's events.
pub fn completed(events: &Value) -> Value {
    events
        .as_array()
        .and_then(|e| e.iter().find(|e| e["type"] == "response.completed"))
        .map(|e| e["response"].clone())
        .unwrap_or(Value::Null)
}

/// A request answered once upstream, then from the cache: non-streamed
/// then streamed (the `stream` flag does not count), each validated
/// against the spec. Returns the upstream calls seen.
pub fn hit_after_miss(gw: &Gateway, model: &str, input: &str, headers: &[(&str, &str)]) -> usize {
    gw.upstream_requests();
    let body = json!({"model": model, "input": input});
    let first = send(gw, "/v1/responses", headers, &body);
    assert_eq!(
        (first.status, first.cache.as_str()),
        (200, "miss"),
        "{model}: {}",
        first.body
    );
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let again = send(gw, "/v1/responses", headers, &streamed);
    assert_eq!(
        (again.status, again.cache.as_str()),
        (200, "hit"),
        "{model}"
    );
    spec_check::assert_valid_stream(again.body.as_array().unwrap());
    let hit = completed(&again.body);
    spec_check::assert_valid("ResponseResource", &hit);
    assert_ne!(hit["id"], first.body["id"], "{model}: a hit has a new id");
    assert_eq!(output_text(&hit), output_text(&first.body), "{model}");
    assert_eq!(
        hit["usage"], first.body["usage"],
        "{model}: the original's usage"
    );
    let whole = send(gw, "/v1/responses", headers, &body);
    assert_eq!(whole.cache, "hit", "{model}");
    spec_check::assert_valid("ResponseResource", &whole.body);
    assert_eq!(
        output_text(&whole.body),
        output_text(&first.body),
        "{model}"
    );
    gw.upstream_requests().len()
}
