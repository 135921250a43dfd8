//! The shapes of the pipeline's answers: a saved response, a JSON body,
//! an SSE stream, and the headers that name who served it.

use bytes::Bytes;

use crate::builder::ResponseBuilder;
use crate::error::ApiError;
use crate::host::{Body, Host, HttpResponse};
use crate::stored::Saver;

use super::attempt::Target;
use super::clock::unix_secs;
use super::stream::Egress;

/// Saves a settled response when the request asked for it.
pub(super) async fn save<H: Host>(
    saver: Option<&Saver>,
    host: &H,
    b: &mut ResponseBuilder,
) -> Result<(), ApiError> {
    match saver {
        Some(s) => s.save(host, b, unix_secs(host)).await,
        None => Ok(()),
    }
}

/// Who served the response: `x-latticelm-provider`, `x-latticelm-model`
/// (the upstream model id) and `x-latticelm-attempts`.
pub(super) fn served_headers(resp: &mut HttpResponse, target: Option<&Target>, attempts: u32) {
    if let Some(t) = target {
        resp.headers
            .push(("x-latticelm-provider".into(), t.provider.clone()));
        resp.headers
            .push(("x-latticelm-model".into(), t.model.clone()));
    }
    resp.headers
        .push(("x-latticelm-attempts".into(), attempts.to_string()));
}

/// A 200 with a JSON value.
pub(super) fn json_ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

/// A 200 with a settled response, in the front door's shape: written
/// once, never written out and parsed again to be translated.
pub(super) fn finished_json(b: ResponseBuilder, egress: &Egress) -> HttpResponse {
    let r = b.into_response();
    let bytes = match egress {
        Egress::Responses => serde_json::to_vec(&r),
        Egress::Other(sink) => serde_json::to_vec(&sink.whole(&crate::ingress::slim(&r))),
    };
    json_ok_bytes(bytes.unwrap_or_default())
}

/// A 200 with JSON bytes.
pub(super) fn json_ok_bytes(v: Vec<u8>) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(v))
}

/// A 200 event stream (never buffered by a proxy in front).
pub(super) fn sse_response(body: futures::stream::LocalBoxStream<'static, Bytes>) -> HttpResponse {
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
