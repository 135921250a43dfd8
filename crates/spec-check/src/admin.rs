//! Checks the admin API's answers against its committed OpenAPI
//! description, `docs/admin-openapi.json`.

use std::sync::OnceLock;

use serde_json::{json, Value};

fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    // Compiled in: a build directory shared between checkouts never
    // points at another checkout's copy (cargo rebuilds when it changes).
    const TEXT: &str = include_str!("../../../docs/admin-openapi.json");
    DOC.get_or_init(|| serde_json::from_str(TEXT).expect("docs/admin-openapi.json is JSON"))
}

/// The documented template a concrete path matches (`/v1/admin/keys/{id}`).
fn template(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    doc()["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|t| {
            let tp: Vec<&str> = t.split('/').collect();
            tp.len() == parts.len()
                && tp
                    .iter()
                    .zip(&parts)
                    .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
        })
}

fn validate(schema: &Value, instance: &Value, what: &str) {
    let root = json!({
        "allOf": [schema],
        "components": doc()["components"].clone(),
    });
    let v = jsonschema::validator_for(&root).expect("a valid schema");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/admin-openapi.json:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(instance).unwrap_or_default()
    );
}

/// Asserts that `docs/admin-openapi.json` documents this route and this
/// status, that `answer` matches the documented schema, and, for a
/// success, that the request body matched the documented one.
pub fn assert_admin_answer(
    method: &str,
    path: &str,
    status: u16,
    request: Option<&Value>,
    answer: &Value,
) {
    let t = template(path).unwrap_or_else(|| panic!("{path} is not in docs/admin-openapi.json"));
    let op = &doc()["paths"][t][method.to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{method} {t} is not in docs/admin-openapi.json"
    );
    let resp = &op["responses"][status.to_string()];
    assert!(
        resp.is_object(),
        "{method} {t} answered {status}, which docs/admin-openapi.json does not list: {answer}"
    );
    let schema = &resp["content"]["application/json"]["schema"];
    validate(
        schema,
        answer,
        &format!("the {status} answer of {method} {t}"),
    );
    if (200..300).contains(&status) {
        if let (Some(body), Some(schema)) = (
            request,
            op["requestBody"]["content"]["application/json"].get("schema"),
        ) {
            validate(schema, body, &format!("the request body of {method} {t}"));
        }
    }
}

/// Every documented `(METHOD, template)`.
pub fn admin_routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (t, ops) in doc()["paths"].as_object().into_iter().flatten() {
        for m in ops.as_object().into_iter().flatten().map(|(m, _)| m) {
            if m != "parameters" {
                out.push((m.to_ascii_uppercase(), t.clone()));
            }
        }
    }
    out
}
