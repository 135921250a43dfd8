//! Test support shared by the core's golden tests and the end-to-end
//! suites: SSE parsing of the gateway's output, and validation against the
//! spec's OpenAPI schemas (`../shared/spec/openapi.json`).

mod admin;

pub use admin::{admin_routes, assert_admin_answer};

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;

use serde_json::Value;

/// `../shared` beside the project root.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Parses the gateway's SSE output into `(event name, JSON)` pairs and
/// checks the framing: `event:` equals `type`, and `[DONE]` comes last.
pub fn parse_sse(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).expect("SSE is UTF-8");
    let mut events = Vec::new();
    let mut done = false;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        assert!(!done, "an event after [DONE]");
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_owned());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(d.to_owned());
            }
        }
        let data = data.expect("every event has data");
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            name.as_deref(),
            v["type"].as_str(),
            "event: must equal type"
        );
        events.push(v);
    }
    assert!(done, "the stream ends with data: [DONE]");
    events
}

/// The spec's OpenAPI document, with one correction: its
/// `JsonSchemaResponseFormat.schema` allows only `null`, which would reject
/// every response echoing a real `json_schema` format.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(shared_dir().join("spec/openapi.json"))
            .expect("../shared/spec/openapi.json");
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["components"]["schemas"]["JsonSchemaResponseFormat"]["properties"]["schema"] =
            serde_json::json!({});
        v
    })
}

fn validator(schema_name: &str) -> jsonschema::Validator {
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{schema_name}"),
        "components": spec()["components"].clone(),
    });
    jsonschema::validator_for(&root).unwrap()
}

thread_local! {
    static VALIDATORS: RefCell<HashMap<String, Rc<jsonschema::Validator>>> = RefCell::new(HashMap::new());
}

/// Validates `instance` against `components.schemas.<name>`; panics with
/// every error. Provider extension items and events (`slug:type`) are
/// checked for the fields the spec requires of extensions, then left out.
pub fn assert_valid(schema_name: &str, instance: &Value) {
    let mut instance = instance.clone();
    strip_extensions(&mut instance);
    let v = VALIDATORS.with(|m| {
        m.borrow_mut()
            .entry(schema_name.into())
            .or_insert_with(|| Rc::new(validator(schema_name)))
            .clone()
    });
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema_name} invalid:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(&instance).unwrap()
    );
}

fn strip_extensions(v: &mut Value) {
    let is_ext = |item: &Value| {
        item.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains(':'))
    };
    if let Some(items) = v.get_mut("output").and_then(Value::as_array_mut) {
        for item in items.iter().filter(|i| is_ext(i)) {
            for k in ["id", "type", "status"] {
                assert!(
                    item.get(k).is_some_and(Value::is_string),
                    "extension item lacks `{k}`: {item}"
                );
            }
        }
        items.retain(|i| !is_ext(i));
    }
    if let Some(r) = v.get_mut("response") {
        strip_extensions(r);
    }
    if v.get("item").is_some_and(is_ext) {
        v["item"] = Value::Null;
    }
}

/// The schema name of each streaming event type.
pub fn event_schema(kind: &str) -> Option<String> {
    static MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = HashMap::new();
        for (name, schema) in spec()["components"]["schemas"].as_object().unwrap() {
            if let Some(t) = schema
                .pointer("/properties/type/enum/0")
                .and_then(Value::as_str)
            {
                if name.ends_with("StreamingEvent") {
                    m.insert(t.to_owned(), name.clone());
                }
            }
        }
        m
    })
    .get(kind)
    .cloned()
}

/// Validates every event of a stream against its schema, and the stream's
/// invariants: consecutive sequence numbers from 0, a lifecycle that
/// starts with created/in_progress and ends with one terminal event, and
/// deltas that add up to what each `.done` event and the final response
/// report.
pub fn assert_valid_stream(events: &[Value]) {
    assert!(events.len() >= 3, "too few events");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"].as_u64(),
            Some(i as u64),
            "sequence_number of event {i}"
        );
        let kind = e["type"].as_str().unwrap();
        match event_schema(kind) {
            Some(schema) => assert_valid(&schema, e),
            None => assert!(
                kind.contains(':'),
                "unknown event type `{kind}` without a provider slug"
            ),
        }
    }
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let last = events.last().unwrap()["type"].as_str().unwrap();
    assert!(
        [
            "response.completed",
            "response.incomplete",
            "response.failed"
        ]
        .contains(&last),
        "last event is {last}"
    );
    let terminal = events
        .iter()
        .filter(|e| {
            e["type"].as_str().is_some_and(|t| {
                [
                    "response.completed",
                    "response.incomplete",
                    "response.failed",
                ]
                .contains(&t)
            })
        })
        .count();
    assert_eq!(terminal, 1);
    let mut acc: HashMap<(u64, u64, &str), String> = HashMap::new();
    for e in events {
        let oi = e["output_index"].as_u64().unwrap_or(0);
        let ci = e["content_index"]
            .as_u64()
            .or(e["summary_index"].as_u64())
            .unwrap_or(0);
        let t = e["type"].as_str().unwrap();
        // Provider extensions (`openai:…`) are not the spec's events.
        if t.contains(':') {
            continue;
        }
        if let Some(kind) = t.strip_suffix(".delta") {
            acc.entry((oi, ci, kind))
                .or_default()
                .push_str(e["delta"].as_str().unwrap());
        }
        if let Some(kind) = t.strip_suffix(".done") {
            let field = match kind {
                "response.function_call_arguments" => "arguments",
                "response.refusal" => "refusal",
                _ => "text",
            };
            if let Some(done) = e[field].as_str() {
                assert_eq!(
                    acc.get(&(oi, ci, kind)).map(String::as_str).unwrap_or(""),
                    done,
                    "deltas of {t} at {oi}/{ci}"
                );
            }
        }
    }
    let resp = &events.last().unwrap()["response"];
    for e in events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
    {
        let i = e["output_index"].as_u64().unwrap() as usize;
        assert_eq!(
            resp["output"][i], e["item"],
            "output_item.done matches the final response at {i}"
        );
    }
}

/// A compact outline of a stream: each event type with its indexes, runs
/// of the same delta collapsed into one line with a count.
pub fn outline(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last = String::new();
    let mut count = 0;
    for e in events {
        let mut line = e["type"].as_str().unwrap().to_owned();
        for k in ["output_index", "content_index", "summary_index"] {
            if let Some(n) = e[k].as_u64() {
                line.push_str(&format!(" {k}={n}"));
            }
        }
        if line == last && line.contains(".delta") {
            count += 1;
            out.pop();
            out.push(format!("{line} ×{count}"));
        } else {
            count = 1;
            out.push(line.clone());
        }
        last = line;
    }
    out
}
