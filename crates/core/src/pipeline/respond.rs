//! The shapes of the pipeline's answers: the typed [`Answer`] a turn
//! ends with, and the HTTP forms a door writes it in (a JSON body, an SSE
//! stream, an error envelope), with the headers that name who served it.

use bytes::Bytes;
use futures::stream::LocalBoxStream;

use crate::error::ApiError;
use crate::host::{Body, HttpResponse};
use crate::types::ResponseResource;

use super::attempt::Target;
use super::stream::egress::Egress;

/// A turn's answer, before its door writes it.
pub(crate) struct Answer {
    /// The response, the stream, or the upstream's compaction.
    pub body: Answered,
    /// Who served it, the limits left, the cache's verdict, the cost.
    pub headers: Vec<(String, String)>,
}

/// What a turn answered.
pub(crate) enum Answered {
    /// A finished response, and the encoder of the client's protocol.
    Whole(Box<ResponseResource>, Egress),
    /// The event stream, already in the client's protocol.
    Stream(LocalBoxStream<'static, Bytes>),
    /// An upstream's own compaction, as it answered.
    Compacted(Bytes),
}

impl Answer {
    /// The HTTP answer: the response written once in the client's
    /// protocol (never written out and parsed again to be translated),
    /// or the stream.
    pub fn into_response(self) -> HttpResponse {
        let mut resp = match self.body {
            Answered::Whole(r, egress) => {
                let bytes = match &egress {
                    Egress::Responses => serde_json::to_vec(&r),
                    Egress::Other(sink) => {
                        serde_json::to_vec(&sink.whole(&crate::ingress::slim(&r)))
                    }
                };
                json_ok_bytes(bytes.unwrap_or_default())
            }
            Answered::Stream(s) => sse_response(s),
            Answered::Compacted(b) => HttpResponse::json(200, b),
        };
        resp.headers.extend(self.headers);
        resp
    }
}

/// Who served the response: `x-latticelm-provider`, `x-latticelm-model`
/// (the upstream model id) and `x-latticelm-attempts`.
pub(crate) fn served(target: Option<&Target>, attempts: u32) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(3);
    if let Some(t) = target {
        out.push(("x-latticelm-provider".into(), t.provider.clone()));
        out.push(("x-latticelm-model".into(), t.model.clone()));
    }
    out.push(("x-latticelm-attempts".into(), attempts.to_string()));
    out
}

/// Adds [`served`]'s headers to `resp`.
pub(crate) fn served_headers(resp: &mut HttpResponse, target: Option<&Target>, attempts: u32) {
    resp.headers.extend(served(target, attempts));
}

/// A 200 with a JSON value.
pub(crate) fn json_ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

/// A 200 with JSON bytes.
pub(crate) fn json_ok_bytes(v: Vec<u8>) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(v))
}

/// A 200 event stream (never buffered by a proxy in front).
pub(crate) fn sse_response(body: LocalBoxStream<'static, Bytes>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache".into()),
            ("x-accel-buffering".into(), "no".into()),
        ],
        body: Body::Stream(body),
        detail: None,
    }
}

/// The HTTP response for an error: the envelope, its status, and
/// `retry-after` when the upstream gave one.
pub fn error_response(e: &ApiError) -> HttpResponse {
    let mut resp = HttpResponse::json(e.status, e.to_json());
    if let Some(ra) = &e.retry_after {
        resp.headers.push(("retry-after".into(), ra.clone()));
    }
    if let Some(c) = &e.challenge {
        resp.headers.push(("www-authenticate".into(), c.clone()));
    }
    resp.detail = e.detail.clone();
    resp
}
