//! OpenTelemetry traces: a request's spans, encoded as an OTLP/HTTP
//! `ExportTraceServiceRequest` (protobuf, opentelemetry-proto v1.11), by
//! hand: the few messages needed do not justify a code generator.
//!
//! One server span per request (`POST /v1/responses`) and one client span
//! per upstream attempt (`chat <model>`, GenAI semantic conventions
//! v1.41.1), ending when the stream really ended.

use super::record::{Attempt, Record};

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field << 3 | u32::from(wire)));
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn message(&mut self, field: u32, m: Pb) {
        self.bytes(field, &m.0);
    }
    fn uint(&mut self, field: u32, v: u64) {
        self.tag(field, 0);
        self.varint(v);
    }
    fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn fixed32(&mut self, field: u32, v: u32) {
        self.tag(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// An attribute value.
enum V<'a> {
    S(&'a str),
    I(i64),
    F(f64),
    B(bool),
    A(Vec<&'a str>),
}

fn any_value(v: &V<'_>) -> Pb {
    let mut a = Pb::default();
    match v {
        V::S(s) => a.string(1, s),
        V::B(b) => a.uint(2, u64::from(*b)),
        V::I(i) => a.uint(3, *i as u64),
        V::F(f) => {
            a.tag(4, 1);
            a.0.extend_from_slice(&f.to_le_bytes());
        }
        V::A(items) => {
            let mut arr = Pb::default();
            for s in items {
                arr.message(1, any_value(&V::S(s)));
            }
            a.message(5, arr);
        }
    }
    a
}

fn attributes(m: &mut Pb, field: u32, attrs: &[(&str, V<'_>)]) {
    for (k, v) in attrs {
        let mut kv = Pb::default();
        kv.string(1, k);
        kv.message(2, any_value(v));
        m.message(field, kv);
    }
}

const SERVER: u64 = 2;
const CLIENT: u64 = 3;
/// W3C sampled, and "has is_remote" (bit 8); bit 9: the parent is remote.
const SAMPLED_LOCAL: u32 = 0x101;
const SAMPLED_REMOTE_PARENT: u32 = 0x301;

struct SpanData<'a> {
    trace_id: &'a [u8; 16],
    span_id: &'a [u8; 8],
    parent: Option<&'a [u8; 8]>,
    trace_state: Option<&'a str>,
    flags: u32,
    name: String,
    kind: u64,
    start_ms: u64,
    end_ms: u64,
    attrs: Vec<(&'a str, V<'a>)>,
    error: Option<&'a str>,
}

fn span(d: SpanData<'_>) -> Vec<u8> {
    let mut s = Pb::default();
    s.bytes(1, d.trace_id);
    s.bytes(2, d.span_id);
    if let Some(ts) = d.trace_state {
        s.string(3, ts);
    }
    if let Some(p) = d.parent {
        s.bytes(4, p);
    }
    s.string(5, &d.name);
    s.uint(6, d.kind);
    s.fixed64(7, d.start_ms.saturating_mul(1_000_000));
    s.fixed64(8, d.end_ms.max(d.start_ms).saturating_mul(1_000_000));
    attributes(&mut s, 9, &d.attrs);
    if let Some(e) = d.error {
        let mut st = Pb::default();
        st.string(2, e);
        st.uint(3, 2); // STATUS_CODE_ERROR
        s.message(15, st);
    }
    s.fixed32(16, d.flags);
    s.0
}

/// The usage and outcome attributes of the response (on the server span
/// and on the attempt that served it).
fn response_attrs<'a>(r: &'a Record, attrs: &mut Vec<(&'a str, V<'a>)>) {
    if let Some(u) = r.usage {
        attrs.push(("gen_ai.usage.input_tokens", V::I(u.input_tokens as i64)));
        attrs.push(("gen_ai.usage.output_tokens", V::I(u.output_tokens as i64)));
        attrs.push((
            "gen_ai.usage.cache_read.input_tokens",
            V::I(u.input_tokens_details.cached_tokens as i64),
        ));
        attrs.push((
            "gen_ai.usage.reasoning.output_tokens",
            V::I(u.output_tokens_details.reasoning_tokens as i64),
        ));
    }
    if let Some(id) = &r.response_id {
        attrs.push(("gen_ai.response.id", V::S(id)));
    }
    if let Some(f) = &r.finish_reason {
        attrs.push(("gen_ai.response.finish_reasons", V::A(vec![f])));
    }
    if let Some(m) = &r.response_model {
        attrs.push(("gen_ai.response.model", V::S(m)));
    }
}

/// The request's spans, each an encoded `Span`; none when it is not
/// sampled or has no trace.
pub fn spans(r: &Record) -> Vec<Vec<u8>> {
    let Some(t) = r.trace.as_ref().filter(|t| t.sampled) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(1 + r.attempts.len());
    let mut attrs: Vec<(&str, V<'_>)> = vec![
        ("http.request.method", V::S(&r.method)),
        ("url.path", V::S(&r.path)),
        ("http.response.status_code", V::I(i64::from(r.status))),
        ("latticelm.request_id", V::S(&r.request_id)),
        ("latticelm.stream", V::B(r.stream)),
    ];
    if let Some(i) = super::ingress_of(r) {
        attrs.push(("latticelm.ingress", V::S(i)));
    }
    if let Some(p) = &r.principal {
        attrs.push(("latticelm.principal", V::S(p)));
    }
    if let Some(m) = &r.model {
        attrs.push(("gen_ai.operation.name", V::S("chat")));
        attrs.push(("gen_ai.request.model", V::S(m)));
        response_attrs(r, &mut attrs);
    }
    if let Some(c) = r.cost_usd {
        attrs.push(("latticelm.cost_usd", V::F(c)));
    }
    if let Some(c) = &r.continuation {
        attrs.push(("latticelm.continuation.provider", V::S(&c.provider)));
        attrs.push(("latticelm.continuation.mode", V::S(c.mode)));
        attrs.push((
            "latticelm.continuation.carried_chars",
            V::I(c.carried_chars as i64),
        ));
    }
    if let Some(c) = &r.cache {
        attrs.push(("latticelm.cache.hit", V::B(c.hit)));
    }
    if let Some(a) = &r.audit {
        attrs.push(("latticelm.admin.action", V::S(&a.action)));
        attrs.push(("latticelm.admin.record", V::S(&a.record)));
        if !a.changed.is_empty() {
            let changed = a.changed.iter().map(String::as_str).collect();
            attrs.push(("latticelm.admin.changed", V::A(changed)));
        }
    }
    let error = r
        .error_code
        .as_deref()
        .or(r.error_type.as_deref())
        .filter(|_| r.status >= 500 || r.error_type.is_some());
    if let Some(e) = error {
        attrs.push(("error.type", V::S(e)));
    }
    let route = match r.path.as_str() {
        p if p.starts_with("/v1/responses/") => "/v1/responses/{id}",
        p if p.starts_with("/v1/admin/keys/") && p.ends_with("/rotate") => {
            "/v1/admin/keys/{id}/rotate"
        }
        p if p.starts_with("/v1/admin/keys/") => "/v1/admin/keys/{id}",
        p if p.starts_with("/v1/admin/teams/") => "/v1/admin/teams/{name}",
        p => p,
    };
    out.push(span(SpanData {
        trace_id: &t.trace_id,
        span_id: &t.span_id,
        parent: t.parent_span_id.as_ref(),
        trace_state: t.tracestate.as_deref(),
        flags: if t.parent_span_id.is_some() {
            SAMPLED_REMOTE_PARENT
        } else {
            SAMPLED_LOCAL
        },
        name: format!("{} {route}", r.method),
        kind: SERVER,
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        attrs,
        error,
    }));
    let last = r.attempts.len().saturating_sub(1);
    for (i, a) in r.attempts.iter().enumerate() {
        out.push(attempt_span(r, t, a, i == last && a.error.is_none()));
    }
    out
}

fn attempt_span(r: &Record, t: &super::TraceContext, a: &Attempt, served: bool) -> Vec<u8> {
    let mut attrs: Vec<(&str, V<'_>)> = vec![
        ("gen_ai.operation.name", V::S("chat")),
        ("gen_ai.provider.name", V::S(a.protocol)),
        ("gen_ai.request.model", V::S(&a.model)),
        ("latticelm.provider", V::S(&a.provider)),
    ];
    if r.stream {
        attrs.push(("gen_ai.request.stream", V::B(true)));
    }
    if let Some(s) = a.status {
        attrs.push(("http.response.status_code", V::I(i64::from(s))));
    }
    if let Some(e) = &a.error {
        attrs.push(("error.type", V::S(e)));
    }
    if served {
        response_attrs(r, &mut attrs);
        if let (true, Some(first)) = (r.stream, a.first_ms) {
            attrs.push((
                "gen_ai.response.time_to_first_chunk",
                V::F(first.saturating_sub(a.start_ms) as f64 / 1000.0),
            ));
        }
    }
    span(SpanData {
        trace_id: &t.trace_id,
        span_id: &a.span_id,
        parent: Some(&t.span_id),
        trace_state: t.tracestate.as_deref(),
        flags: SAMPLED_LOCAL,
        name: format!("chat {}", a.model),
        kind: CLIENT,
        start_ms: a.start_ms,
        end_ms: a.end_ms,
        attrs,
        error: a.error.as_deref(),
    })
}

/// An `ExportTraceServiceRequest` carrying `spans` for one service.
pub fn export_request(spans: &[Vec<u8>], service_name: &str) -> Vec<u8> {
    let mut resource = Pb::default();
    attributes(
        &mut resource,
        1,
        &[
            ("service.name", V::S(service_name)),
            ("telemetry.sdk.name", V::S("latticelm")),
            ("telemetry.sdk.language", V::S("rust")),
        ],
    );
    let mut scope = Pb::default();
    scope.string(1, "latticelm");
    scope.string(2, env!("CARGO_PKG_VERSION"));
    let mut scope_spans = Pb::default();
    scope_spans.message(1, scope);
    for s in spans {
        scope_spans.bytes(2, s);
    }
    scope_spans.string(3, "https://opentelemetry.io/schemas/1.41.1");
    let mut rs = Pb::default();
    rs.message(1, resource);
    rs.message(2, scope_spans);
    let mut req = Pb::default();
    req.message(1, rs);
    req.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_tags_match_protobuf() {
        let mut p = Pb::default();
        p.uint(6, 3);
        p.fixed32(16, 0x101);
        p.varint(300);
        assert_eq!(
            p.0,
            [0x30, 0x03, 0x85, 0x01, 0x01, 0x01, 0x00, 0x00, 0xac, 0x02]
        );
        let mut p = Pb::default();
        p.string(5, "chat gpt-4o");
        assert_eq!(&p.0[..2], &[0x2a, 0x0b]);
    }
}
