//! Parsing and validating `POST /v1/responses` bodies, and the response
//! skeleton that echoes a request.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::RequestError;
use crate::types::{
    ContentPart, CreateResponseBody, FunctionOutput, Input, Item, MessageContent, ResponseResource,
    ResponseStatus, TextFormat, TextParam, Tool, ToolChoice, ToolChoiceMode, ToolChoiceObject,
};

/// Parses a request body, reporting the JSON path of a bad value.
pub fn parse_body(bytes: &[u8]) -> Result<CreateResponseBody, RequestError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RequestError::InvalidBody {
            path: ".".into(),
            message: "the request body is empty".into(),
        });
    }
    // The common case, a valid body, without the cost of tracking paths;
    // a failure parses again to say where.
    if let Ok(body) = serde_json::from_slice(bytes) {
        return Ok(body);
    }
    Err(body_error(bytes))
}

/// What is wrong with a body that did not parse, and where: the full JSON
/// path (`input[2].content[0].type`) natively; on the edge builds, which
/// leave out the path tracker (`json-paths`) for size, the top-level
/// field at fault.
fn body_error(bytes: &[u8]) -> RequestError {
    let describe = |inner: serde_json::Error| {
        if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else {
            inner.to_string()
        }
    };
    #[cfg(feature = "json-paths")]
    {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize::<_, CreateResponseBody>(de) {
            Ok(_) => RequestError::InvalidBody {
                path: ".".into(),
                message: "the body could not be read".into(),
            },
            Err(e) => RequestError::InvalidBody {
                path: e.path().to_string(),
                message: describe(e.into_inner()),
            },
        }
    }
    #[cfg(not(feature = "json-paths"))]
    {
        let v: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                return RequestError::InvalidBody {
                    path: ".".into(),
                    message: describe(e),
                }
            }
        };
        // Each field alone (every field is optional): the first that does
        // not parse is the one at fault.
        if let Value::Object(map) = &v {
            for (k, field) in map {
                let one = Value::Object([(k.clone(), field.clone())].into_iter().collect());
                if let Err(e) = <CreateResponseBody as serde::Deserialize>::deserialize(&one) {
                    return RequestError::InvalidBody {
                        path: k.clone(),
                        message: e.to_string(),
                    };
                }
            }
        }
        let message = match <CreateResponseBody as serde::Deserialize>::deserialize(&v) {
            Ok(_) => "the body could not be read".into(),
            Err(e) => describe(e),
        };
        RequestError::InvalidBody {
            path: ".".into(),
            message,
        }
    }
}

/// A body decoded by another front door into Open Responses' JSON, typed
/// without writing it out and parsing it again. A failure says where, as
/// [`parse_body`] does.
pub fn body_from_value(v: &serde_json::Value) -> Result<CreateResponseBody, RequestError> {
    match serde::Deserialize::deserialize(v) {
        Ok(body) => Ok(body),
        Err(_) => parse_body(&serde_json::to_vec(v).unwrap_or_default()),
    }
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError::InvalidValue {
        param: param.into(),
        message: message.into(),
    }
}

fn unsupported(param: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError::Unsupported {
        param: param.into(),
        message: message.into(),
    }
}

/// Checks the rules the types alone do not enforce.
pub fn validate(body: &CreateResponseBody) -> Result<(), RequestError> {
    match body.model.as_deref() {
        None => return Err(RequestError::Missing("model")),
        Some("") => return Err(invalid("model", "must not be empty")),
        Some(m) if m.chars().any(char::is_control) => {
            return Err(invalid("model", "must not contain control characters"))
        }
        _ => {}
    }
    if body.input.is_none() && body.previous_response_id.is_none() {
        return Err(RequestError::Missing("input"));
    }
    range("temperature", body.temperature, 0.0, 2.0)?;
    range("top_p", body.top_p, 0.0, 1.0)?;
    range("presence_penalty", body.presence_penalty, -2.0, 2.0)?;
    range("frequency_penalty", body.frequency_penalty, -2.0, 2.0)?;
    if body.max_output_tokens == Some(0) {
        return Err(invalid("max_output_tokens", "must be at least 1"));
    }
    if body.max_tool_calls == Some(0) {
        return Err(invalid("max_tool_calls", "must be at least 1"));
    }
    if body.top_logprobs.is_some_and(|n| n > 20) {
        return Err(invalid("top_logprobs", "must be between 0 and 20"));
    }
    if body.background == Some(true) {
        return Err(unsupported(
            "background",
            "`background: true` is not supported by this gateway",
        ));
    }
    if let Some(t) = body.truncation.as_deref() {
        if t != "auto" && t != "disabled" {
            return Err(invalid(
                "truncation",
                format!("`{t}` is neither `auto` nor `disabled`"),
            ));
        }
    }
    if let Some(meta) = &body.metadata {
        for (k, v) in meta {
            if k.chars().count() > 64 {
                return Err(invalid(
                    format!("metadata.{k}"),
                    "keys are at most 64 characters",
                ));
            }
            match v {
                Value::String(s) if s.chars().count() <= 512 => {}
                Value::String(_) => {
                    return Err(invalid(
                        format!("metadata.{k}"),
                        "values are at most 512 characters",
                    ))
                }
                _ => return Err(invalid(format!("metadata.{k}"), "values must be strings")),
            }
        }
    }
    let names = validate_tools(body.tools.as_deref().unwrap_or_default())?;
    validate_tool_choice(body.tool_choice.as_ref(), &names)?;
    if let Some(Input::Items(items)) = &body.input {
        for (i, item) in items.iter().enumerate() {
            validate_item(item, i)?;
        }
    }
    if let Some(TextParam {
        format: Some(TextFormat::JsonSchema { name, schema, .. }),
        ..
    }) = &body.text
    {
        if !valid_name(name) {
            return Err(invalid(
                "text.format.name",
                "must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
            ));
        }
        if !schema.as_ref().is_some_and(Value::is_object) {
            return Err(invalid(
                "text.format.schema",
                "a `json_schema` format needs a JSON schema object",
            ));
        }
    }
    Ok(())
}

fn range(param: &str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), RequestError> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => {
            Err(invalid(param, format!("{x} is outside [{lo}, {hi}]")))
        }
        _ => Ok(()),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn validate_tools(tools: &[Tool]) -> Result<HashSet<&str>, RequestError> {
    let mut names = HashSet::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        match tool {
            Tool::Function(f) => {
                if !valid_name(&f.name) {
                    return Err(invalid(
                        format!("tools[{i}].name"),
                        "must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
                    ));
                }
                if !names.insert(f.name.as_str()) {
                    return Err(invalid(
                        format!("tools[{i}].name"),
                        format!("tool `{}` is defined twice", f.name),
                    ));
                }
                if f.parameters
                    .as_ref()
                    .is_some_and(|p| !p.is_object() && !p.is_null())
                {
                    return Err(invalid(
                        format!("tools[{i}].parameters"),
                        "must be a JSON schema object",
                    ));
                }
            }
            Tool::Other(v) => {
                if v.get("type").and_then(Value::as_str).is_none() {
                    return Err(invalid(
                        format!("tools[{i}].type"),
                        "a tool needs a string `type`",
                    ));
                }
            }
        }
    }
    Ok(names)
}

fn validate_tool_choice(
    choice: Option<&ToolChoice>,
    names: &HashSet<&str>,
) -> Result<(), RequestError> {
    let check = |param: &str, name: &str| {
        if names.contains(name) {
            Ok(())
        } else {
            Err(invalid(param, format!("tool `{name}` is not in `tools`")))
        }
    };
    match choice {
        Some(ToolChoice::Object(ToolChoiceObject::Function { name })) => {
            check("tool_choice.name", name)
        }
        Some(ToolChoice::Object(ToolChoiceObject::AllowedTools { tools, .. })) => {
            if tools.is_empty() {
                return Err(invalid("tool_choice.tools", "must name at least one tool"));
            }
            tools
                .iter()
                .try_for_each(|t| check("tool_choice.tools", &t.name))
        }
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) if names.is_empty() => Err(invalid(
            "tool_choice",
            "`required` needs at least one tool in `tools`",
        )),
        _ => Ok(()),
    }
}

fn validate_item(item: &Item, i: usize) -> Result<(), RequestError> {
    let p = |field: &str| format!("input[{i}].{field}");
    match item {
        Item::Message(m) => {
            if let MessageContent::Parts(parts) = &m.content {
                for (j, part) in parts.iter().enumerate() {
                    if let ContentPart::InputImage(img) = part {
                        let ok = img.image_url.as_deref().is_some_and(|u| {
                            u.starts_with("https://")
                                || u.starts_with("http://")
                                || u.starts_with("data:")
                        }) || img.extra.contains_key("file_id");
                        if !ok {
                            return Err(invalid(
                                p(&format!("content[{j}].image_url")),
                                "must be an http(s) URL or a data: URL",
                            ));
                        }
                    }
                }
            }
        }
        Item::FunctionCall(f) => {
            if f.call_id.is_empty() {
                return Err(invalid(p("call_id"), "must not be empty"));
            }
            if !valid_name(&f.name) {
                return Err(invalid(
                    p("name"),
                    "must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
                ));
            }
        }
        Item::FunctionCallOutput(f) => {
            if f.call_id.is_empty() {
                return Err(invalid(p("call_id"), "must not be empty"));
            }
            if let FunctionOutput::Parts(parts) = &f.output {
                if parts.is_empty() {
                    return Err(invalid(p("output"), "must not be an empty list"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The response skeleton for a request: status `in_progress`, no output,
/// and every echoed field set (with the spec's defaults where the request
/// left one out).
pub fn skeleton(
    body: &CreateResponseBody,
    id: String,
    model: &str,
    created_at: u64,
) -> ResponseResource {
    let mut text = body.text.clone().unwrap_or_default();
    match text.format.get_or_insert(TextFormat::Text) {
        // The spec's response echo has a boolean `strict`.
        TextFormat::JsonSchema { strict, .. } => {
            strict.get_or_insert(false);
        }
        TextFormat::Text | TextFormat::JsonObject => {}
    }
    ResponseResource {
        id,
        object: "response".into(),
        created_at,
        completed_at: None,
        status: ResponseStatus::InProgress,
        incomplete_details: None,
        model: model.to_owned(),
        previous_response_id: body.previous_response_id.clone(),
        instructions: body.instructions.clone(),
        output: Vec::new(),
        error: None,
        tools: body.tools.clone().unwrap_or_default(),
        tool_choice: body
            .tool_choice
            .clone()
            .unwrap_or(ToolChoice::Mode(ToolChoiceMode::Auto)),
        truncation: body.truncation.clone().unwrap_or_else(|| "disabled".into()),
        parallel_tool_calls: body.parallel_tool_calls.unwrap_or(true),
        text,
        top_p: body.top_p.unwrap_or(1.0),
        presence_penalty: body.presence_penalty.unwrap_or(0.0),
        frequency_penalty: body.frequency_penalty.unwrap_or(0.0),
        top_logprobs: body.top_logprobs.unwrap_or(0),
        temperature: body.temperature.unwrap_or(1.0),
        reasoning: body.reasoning.clone(),
        usage: None,
        max_output_tokens: body.max_output_tokens,
        max_tool_calls: body.max_tool_calls,
        store: body.store.unwrap_or(true),
        background: false,
        service_tier: body
            .service_tier
            .clone()
            .unwrap_or_else(|| "default".into()),
        metadata: body
            .metadata
            .clone()
            .map(Value::Object)
            .unwrap_or_else(|| Value::Object(Default::default())),
        safety_identifier: body.safety_identifier.clone(),
        prompt_cache_key: body.prompt_cache_key.clone(),
        extra: Default::default(),
    }
}

/// Every `function_call_output` answers a `function_call` of the same
/// `call_id` earlier in the (expanded) input, as the Responses API
/// requires. Skipped when the input references items by id (they are not
/// here to check).
pub fn check_call_outputs(body: &CreateResponseBody) -> Result<(), RequestError> {
    let Some(Input::Items(items)) = &body.input else {
        return Ok(());
    };
    if items.iter().any(|i| matches!(i, Item::ItemReference(_))) {
        return Ok(());
    }
    let mut calls = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::FunctionCall(f) => {
                calls.insert(f.call_id.as_str());
            }
            Item::FunctionCallOutput(o) if !calls.contains(o.call_id.as_str()) => {
                return Err(RequestError::InvalidValue {
                    param: format!("input[{i}].call_id"),
                    message: format!(
                        "no function call with call_id `{}` comes before this output",
                        o.call_id
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the full paths (native) or without them (the edge builds), a
    /// bad field is named.
    #[test]
    fn a_bad_body_names_its_field() {
        let e = parse_body(br#"{"model":"m","temperature":"hot","input":"x"}"#).unwrap_err();
        let RequestError::InvalidBody { path, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(path, "temperature");
        let e = parse_body(b"{not json").unwrap_err();
        let RequestError::InvalidBody { path, message } = e else {
            panic!("{e:?}")
        };
        assert!(
            message.starts_with("the body is not valid JSON"),
            "{path} {message}"
        );
    }
}
