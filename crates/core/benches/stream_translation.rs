//! Throughput of the streaming hot path, in MB/s of upstream SSE: SSE
//! decoding, stream translation, the response builder and SSE encoding of
//! the gateway's events. Baseline: decoding alone, measured in the same run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use latticelm_core::providers::{Protocol, StreamTranslator};
use latticelm_core::sse::{self, SseDecoder};
use latticelm_core::types::CreateResponseBody;
use latticelm_core::{Outcome, ResponseBuilder};

fn recording(dir: &str, name: &str, responses: bool) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/fixtures/{dir}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if responses {
            let kind = line
                .split("\"type\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("x");
            out.extend_from_slice(format!("event: {kind}\n").as_bytes());
        }
        out.extend_from_slice(format!("data: {line}\n\n").as_bytes());
    }
    if !responses {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}

fn translate(kind: Protocol, sse_bytes: &[u8], chunk: usize) -> usize {
    let body = CreateResponseBody {
        model: Some("m".into()),
        ..Default::default()
    };
    let mut b = ResponseBuilder::new(
        latticelm_core::validate::skeleton(&body, "resp_x".into(), "m", 0),
        1,
        true,
    );
    let mut t = StreamTranslator::new(kind, "bench", &body);
    let mut d = SseDecoder::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    b.start();
    for c in sse_bytes.chunks(chunk) {
        d.push(c, &mut events);
        for e in events.drain(..) {
            if t.is_terminal() {
                break;
            }
            let _ = t.on_event(&e, &mut b);
        }
        for ev in b.drain() {
            sse::encode(&ev, &mut out);
        }
    }
    let outcome = t.finish(&mut b);
    b.finish(
        if outcome == Outcome::Completed {
            Outcome::Completed
        } else {
            outcome
        },
        1,
    );
    for ev in b.drain() {
        sse::encode(&ev, &mut out);
    }
    out.len()
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "openai-responses",
            recording("openai-responses", "openai-phase.1.chunks.txt", true),
            Protocol::Responses,
        ),
        (
            "openai-chat",
            recording("openai-chat", "openai-text.chunks.txt", false),
            Protocol::Chat,
        ),
    ];
    let mut g = c.benchmark_group("upstream_sse");
    for (name, bytes, kind) in &cases {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("decode_only", name), bytes, |b, bytes| {
            b.iter(|| {
                let mut d = SseDecoder::new();
                let mut events = Vec::new();
                for c in bytes.chunks(1400) {
                    d.push(c, &mut events);
                }
                events.len()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("decode_translate_encode", name),
            bytes,
            |b, bytes| b.iter(|| translate(*kind, bytes, 1400)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
