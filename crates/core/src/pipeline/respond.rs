//! The shapes of the pipeline's answers: a saved response, a JSON body,
//! an SSE stream, and the headers that name who served it.

use bytes::Bytes;

use crate::builder::ResponseBuilder;
use crate::error::ApiError;
use crate::host::{Body, Host, HttpResponse};
use crate::stored::Saver;

use crate::pipeline::attempt::Target;
use crate::pipeline::clock::unix_secs;
use crate::pipeline::stream::Egress;

/// Saves a settled response when the request asked for it.
pub(crate) async fn save<H: Host>(
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
pub(crate) fn served_headers(resp: &mut HttpResponse, target: Option<&Target>, attempts: u32) {
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
pub(crate) fn json_ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

/// A 200 with a settled response, in the front door's shape: written
/// once, never written out and parsed again to be translated.
pub(crate) fn finished_json(b: ResponseBuilder, egress: &Egress) -> HttpResponse {
    let r = b.into_response();
    let bytes = match egress {
        Egress::Responses => serde_json::to_vec(&r),
        Egress::Other(sink) => serde_json::to_vec(&sink.whole(&crate::ingress::slim(&r))),
    };
    json_ok_bytes(bytes.unwrap_or_default())
}

/// A 200 with JSON bytes.
pub(crate) fn json_ok_bytes(v: Vec<u8>) -> HttpResponse {
    HttpResponse::json(200, Bytes::from(v))
}

/// A 200 event stream (never buffered by a proxy in front).
pub(crate) fn sse_response(body: futures::stream::LocalBoxStream<'static, Bytes>) -> HttpResponse {
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
