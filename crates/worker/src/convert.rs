//! `worker::Request` → core request, core response → `worker::Response`.

use futures::StreamExt;
use latticelm_core::{ApiError, Body, HttpRequest, HttpResponse, RequestError};
use worker::{Headers, Request, Response, ResponseBuilder};

/// The core's request. A body over `limit` (by `content-length`, or once
/// read) is refused with 413.
pub async fn to_core(mut req: Request, limit: usize) -> Result<HttpRequest, ApiError> {
    let too_large = || ApiError::from(RequestError::TooLarge(limit));
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let url = req
        .url()
        .map_err(|e| ApiError::internal(format!("request URL: {e}")))?;
    let method = req.method().to_string();
    // Read chunk by chunk, stopping at the limit, whatever content-length
    // said (it may be absent, with a chunked body).
    let body = match req.stream() {
        Ok(stream) => {
            let chunks = stream.map(|c| c.map(bytes::Bytes::from));
            latticelm_core::read_body_limited(chunks, limit).await?
        }
        // No body at all.
        Err(_) => bytes::Bytes::new(),
    };
    Ok(HttpRequest {
        method,
        path: url.path().to_owned(),
        query: url.query().unwrap_or_default().to_owned(),
        headers,
        body,
    })
}

/// The Worker response; a stream body is written chunk by chunk.
pub fn to_worker(resp: HttpResponse) -> worker::Result<Response> {
    if let Some(detail) = &resp.detail {
        worker::console_error!("latticelm: {} answered with: {detail}", resp.status);
    }
    let headers = Headers::new();
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let builder = ResponseBuilder::new()
        .with_status(resp.status)
        .with_headers(headers);
    match resp.body {
        Body::Full(b) => Ok(builder.fixed(b.to_vec())),
        Body::Stream(s) => {
            builder.from_stream(s.map(|chunk| Ok::<Vec<u8>, worker::Error>(chunk.to_vec())))
        }
    }
}
