//! The SSE decoder on arbitrary bytes, cut at an arbitrary point: no
//! panic, the same events whatever the cut, and nothing past the limit.
#![no_main]

use latticelm_core::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let decode = |parts: &[&[u8]]| {
        let mut d = SseDecoder::with_limit(4096);
        let mut out = Vec::new();
        for p in parts {
            d.push(p, &mut out);
        }
        d.finish(&mut out);
        (out, d.overflowed())
    };
    let at = (cut as usize).min(rest.len());
    let whole = decode(&[rest]);
    let split = decode(&[&rest[..at], &rest[at..]]);
    if !whole.1 && !split.1 {
        assert_eq!(whole.0, split.0, "events depend on the chunking");
    }
    for ev in whole.0.iter().chain(&split.0) {
        assert!(ev.data.len() <= 4096 + 1);
    }
});
