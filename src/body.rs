//! The response body type: a whole body or the core's (non-`Send`) stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::LocalBoxStream;
use futures::StreamExt;
use http_body::{Body, Frame};

/// What hyper writes back. Each stream chunk is a frame, flushed as it
/// comes; dropping this (client gone) drops the core's stream and with it
/// the upstream request.
pub enum NativeBody {
    /// The whole body, taken once.
    Full(Option<Bytes>),
    /// Chunks as the core produces them.
    Stream(LocalBoxStream<'static, Bytes>),
}

impl Body for NativeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            NativeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            NativeBody::Stream(s) => s.poll_next_unpin(cx).map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, NativeBody::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            NativeBody::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            NativeBody::Full(None) => http_body::SizeHint::with_exact(0),
            NativeBody::Stream(_) => http_body::SizeHint::default(),
        }
    }
}

/// A response body that keeps its connection marked busy until it is
/// finished or dropped (see [`crate::conn::ConnClock`]).
pub struct GuardedBody {
    inner: NativeBody,
    _guard: crate::conn::ActiveGuard,
}

impl GuardedBody {
    /// `inner`, holding `guard` until the end.
    pub fn new(inner: NativeBody, guard: crate::conn::ActiveGuard) -> Self {
        GuardedBody {
            inner,
            _guard: guard,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A core response as hyper's, its body streamed as the core yields it.
pub(crate) fn to_hyper(resp: latticelm_core::HttpResponse) -> hyper::Response<NativeBody> {
    if let Some(detail) = &resp.detail {
        eprintln!("latticelm: {} answered with: {detail}", resp.status);
    }
    let body = match resp.body {
        latticelm_core::Body::Full(b) => NativeBody::Full(Some(b)),
        latticelm_core::Body::Stream(s) => NativeBody::Stream(s),
    };
    let mut out = hyper::Response::new(body);
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::try_from(k),
            hyper::header::HeaderValue::try_from(v),
        ) {
            out.headers_mut().append(k, v);
        }
    }
    out
}
