use super::*;
use crate::types::{ContentPart, StreamEvent};

fn builder() -> ResponseBuilder {
    let body = crate::types::CreateResponseBody {
        model: Some("m".into()),
        ..Default::default()
    };
    ResponseBuilder::new(
        crate::validate::skeleton(&body, "resp_1".into(), "m", 0),
        7,
        true,
    )
}

fn types(b: &mut ResponseBuilder) -> Vec<String> {
    b.drain().map(|e| e.type_name().to_owned()).collect()
}

#[test]
fn message_lifecycle_and_indexes() {
    let mut b = builder();
    b.start();
    let m = b.start_message(None, None);
    b.text_delta(m, "Hel");
    b.text_delta(m, "lo");
    b.refusal_delta(m, "no");
    let f = b.start_function_call(None, "call_1".into(), "f".into());
    b.arguments_delta(f, "{}");
    b.finish(Outcome::Completed, 9);
    assert_eq!(
        types(&mut b),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.content_part.added",
            "response.refusal.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let r = b.into_response();
    let Item::Message(msg) = &r.output[0] else {
        panic!()
    };
    let MessageContent::Parts(parts) = &msg.content else {
        panic!()
    };
    assert_eq!(parts[0].text(), Some("Hello"));
    assert_eq!(
        parts[1],
        ContentPart::Refusal(Refusal {
            refusal: "no".into(),
            extra: Default::default()
        })
    );
    assert_eq!(r.completed_at, Some(9));
}

#[test]
fn failure_emits_error_then_failed_and_closes_items_incomplete() {
    let mut b = builder();
    b.start();
    let m = b.start_message(None, None);
    b.text_delta(m, "x");
    let err = ErrorPayload {
        kind: "server_error".into(),
        code: None,
        message: "boom".into(),
        param: None,
    };
    b.finish(Outcome::Failed(err), 1);
    let events: Vec<_> = b.drain().collect();
    let n = events.len();
    assert!(matches!(events[n - 2], StreamEvent::Error { .. }));
    assert!(matches!(events[n - 1], StreamEvent::Failed { .. }));
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["sequence_number"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..n as u64).collect::<Vec<_>>());
    let r = b.into_response();
    assert_eq!(r.error.unwrap().code, "server_error");
    let Item::Message(msg) = &r.output[0] else {
        panic!()
    };
    assert_eq!(msg.status.as_deref(), Some("incomplete"));
}

#[test]
fn finish_is_idempotent_and_deltas_after_end_are_ignored() {
    let mut b = builder();
    let f = b.start_function_call(None, "c".into(), "f".into());
    b.end_item(f);
    b.arguments_delta(f, "late");
    b.finish(Outcome::Completed, 1);
    b.finish(Outcome::Incomplete("x".into()), 2);
    let r = b.into_response();
    assert_eq!(r.status, ResponseStatus::Completed);
    let Item::FunctionCall(fc) = &r.output[0] else {
        panic!()
    };
    assert_eq!(fc.arguments, "");
}
