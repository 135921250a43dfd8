use serde_json::json;

use super::*;
use crate::types::CreateResponseBody;

fn stored(input: serde_json::Value, output: serde_json::Value) -> StoredResponse {
    let body = CreateResponseBody {
        model: Some("m".into()),
        ..Default::default()
    };
    let mut response = crate::validate::skeleton(&body, "resp_1".into(), "m", 0);
    response.output = serde_json::from_value(output).unwrap();
    StoredResponse {
        response,
        input: serde_json::from_value(input).unwrap(),
        parent: None,
        ancestors: Vec::new(),
        provider: "p".into(),
        owner: "anonymous".into(),
        expires_at: 10,
    }
}

fn types(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i.type_name(),
                serde_json::to_value(i).unwrap()["call_id"]
                    .as_str()
                    .or(serde_json::to_value(i).unwrap()["role"].as_str())
                    .unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn expansion_order_is_input_then_output_then_new_input() {
    let prev = stored(
        json!([{"role": "user", "content": "first"}]),
        json!([{"type": "message", "id": "msg_a", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "one", "annotations": []}]}]),
    );
    let next = expand(
        std::slice::from_ref(&prev),
        Some(&Input::Text("second".into())),
    );
    assert_eq!(
        types(&next),
        ["message:user", "message:assistant", "message:user"]
    );
    assert_eq!(next[2], input_items(Some(&Input::Text("second".into())))[0]);
}

#[test]
fn tool_calls_outputs_and_reasoning_are_carried_across() {
    let prev = stored(
        json!([{"role": "user", "content": "weather?"}]),
        json!([
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:SIG", "content": [{"type": "reasoning_text", "text": "think"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "w", "arguments": "{}", "status": "completed"},
        ]),
    );
    let new = Input::Items(
        serde_json::from_value(
            json!([{"type": "function_call_output", "call_id": "c1", "output": "sunny"}]),
        )
        .unwrap(),
    );
    let chain = expand(std::slice::from_ref(&prev), Some(&new));
    assert_eq!(
        types(&chain),
        [
            "message:user",
            "reasoning:",
            "function_call:c1",
            "function_call_output:c1"
        ]
    );
    let Item::Reasoning(r) = &chain[1] else {
        panic!()
    };
    assert_eq!(
        r.encrypted_content.as_deref(),
        Some("anthropic:SIG"),
        "reasoning is carried unchanged"
    );
    // A legacy record (its whole chain in `input`) continues the same.
    let mut prev2 = stored(serde_json::to_value(&chain).unwrap(), json!([]));
    prev2.response.output = prev.response.output.clone();
    assert_eq!(expand(std::slice::from_ref(&prev2), None).len(), 6);
    // A chain of records holding their own turn only reads as the whole
    // conversation, oldest first.
    let first = stored(
        json!([{"role": "user", "content": "one"}]),
        json!([{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "two"}]}]),
    );
    let second = stored(
        json!([{"role": "user", "content": "three"}]),
        json!([{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "four"}]}]),
    );
    let all = expand(
        &[first.clone(), second.clone()],
        Some(&Input::Text("five".into())),
    );
    let text: Vec<String> = all
        .iter()
        .map(|i| serde_json::to_value(i).unwrap().to_string())
        .collect();
    for (i, word) in ["one", "two", "three", "four", "five"].iter().enumerate() {
        assert!(text[i].contains(word), "{i}: {}", text[i]);
    }
    assert_eq!(
        chain_items(&[first, second]).len(),
        3,
        "input of the second: one, two, three"
    );
}

#[test]
fn ids_are_assigned_once_and_pages_follow_order() {
    let mut items = input_items(Some(&Input::Items(serde_json::from_value(json!([
        {"role": "user", "content": "a"}, {"type": "message", "id": "msg_keep", "role": "assistant", "content": "b"}, {"role": "user", "content": "c"}
    ])).unwrap())));
    assign_ids(&mut items, &mut IdGen::new(1));
    assert!(items.iter().all(|i| i.id().is_some()));
    assert_eq!(items[1].id(), Some("msg_keep"));
    let page = input_items_page(&items, "").unwrap();
    assert_eq!(page["data"][0]["content"], "c", "newest first by default");
    let page = input_items_page(&items, "order=asc&limit=1").unwrap();
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (1, Some(true))
    );
    let first = page["last_id"].as_str().unwrap().to_owned();
    let page = input_items_page(&items, &format!("order=asc&after={first}")).unwrap();
    assert_eq!(page["first_id"], "msg_keep");
    assert!(input_items_page(&items, "limit=0").is_err());
}
