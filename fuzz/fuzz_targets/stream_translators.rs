//! Each provider's stream translator fed arbitrary SSE (the first byte
//! picks the protocol): no panic, and the response always settles.
#![no_main]

use latticelm_core::providers::{Protocol, StreamTranslator};
use latticelm_core::sse::SseDecoder;
use latticelm_core::types::CreateResponseBody;
use latticelm_core::{validate, ResponseBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, sse)) = data.split_first() else {
        return;
    };
    let protocol = match which % 4 {
        0 => Protocol::Responses,
        1 => Protocol::Chat,
        2 => Protocol::Anthropic,
        _ => Protocol::Google,
    };
    let body = CreateResponseBody {
        model: Some("m".into()),
        ..Default::default()
    };
    let skeleton = validate::skeleton(&body, "resp_fuzz".into(), "m", 0);
    let mut b = ResponseBuilder::new(skeleton, 1, true);
    b.start();
    let mut t = StreamTranslator::new(protocol, "fuzz", &body);
    let mut d = SseDecoder::with_limit(1 << 20);
    let mut events = Vec::new();
    d.push(sse, &mut events);
    d.finish(&mut events);
    for ev in &events {
        if t.is_terminal() || t.on_event(ev, &mut b).is_err() {
            break;
        }
    }
    let outcome = t.finish(&mut b);
    b.finish(outcome, 0);
    assert!(b.is_finished());
    let out = latticelm_core::sse::encode_all(b.drain());
    // What the gateway writes is valid UTF-8 SSE.
    assert!(std::str::from_utf8(&out).is_ok());
});
