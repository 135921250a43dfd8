//! The upstream HTTP client: hyper's pooled client over plain TCP or
//! rustls, one per worker thread, with nothing between the pipeline and
//! the connection. reqwest's layers (a redirect policy the gateway never
//! follows, a retry layer, a URL parse per call) were a tenth of a
//! request's CPU (docs/performance.md, issue 28).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use latticelm_core::{ByteStream, HostError, UpstreamRequest, UpstreamResponse};

/// The TLS settings every worker's client shares: rustls over ring, with
/// the Mozilla roots (webpki-roots), TLS 1.2 and 1.3.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ClientConfig>);

impl Tls {
    /// Built once at startup: a failure here stops the server there.
    pub fn new() -> Result<Self, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS for upstream calls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls(Arc::new(config)))
    }
}

/// A pooled client for every provider this worker thread calls.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Upstream {
    /// A client that gives up connecting after `connect_timeout` and keeps
    /// at most `idle_per_host` idle connections to each upstream.
    pub fn new(connect_timeout: Duration, idle_per_host: usize, tls: Tls) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls.0).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // A burst of streams would otherwise leave as many idle
            // connections (and their buffers) behind.
            .pool_max_idle_per_host(idle_per_host)
            .build(connector);
        Upstream { client }
    }

    /// Sends `req`; resolves with the status and headers, the body still
    /// streaming. The core applies the idle timeout and the deadline.
    pub async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let uri = uri(&req.url)?;
        let mut builder = hyper::Request::builder().method(req.method).uri(uri);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(req.body))
            .map_err(|e| HostError::Transport(format!("invalid upstream request: {e}")))?;
        let resp = match tokio::time::timeout(req.timeout, self.client.request(request)).await {
            Err(_) => {
                return Err(HostError::Timeout(format!(
                    "no response headers within {:?}",
                    req.timeout
                )))
            }
            Ok(Err(e)) if timed_out(&e) => return Err(HostError::Timeout(describe(&e))),
            Ok(Err(e)) => return Err(HostError::Transport(describe(&e))),
            Ok(Ok(r)) => r,
        };
        let (parts, body) = resp.into_parts();
        let headers = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body: ByteStream = http_body_util::BodyDataStream::new(body)
            .map(|chunk| chunk.map_err(|e| HostError::Transport(describe(&e))))
            .boxed_local();
        Ok(UpstreamResponse {
            status: parts.status.as_u16(),
            headers,
            body,
        })
    }
}

/// The parsed form of an upstream URL, cached per thread (a gateway calls
/// few distinct URLs; parsing was 3 % of a request's CPU).
fn uri(url: &str) -> Result<hyper::Uri, HostError> {
    thread_local! {
        static URIS: std::cell::RefCell<std::collections::HashMap<String, hyper::Uri>> =
            Default::default();
    }
    URIS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(u) = cache.get(url) {
            return Ok(u.clone());
        }
        let parsed: hyper::Uri = url
            .parse()
            .map_err(|e| HostError::Transport(format!("invalid upstream URL: {e}")))?;
        if parsed.scheme().is_none() || parsed.host().is_none() {
            return Err(HostError::Transport(
                "invalid upstream URL: it needs a scheme and a host".into(),
            ));
        }
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(url.to_owned(), parsed.clone());
        Ok(parsed)
    })
}

/// Whether an error (or one of its causes) is a timeout: connecting took
/// longer than `server.upstream_connect_timeout`.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// An error with its causes, which say what actually failed. hyper's
/// errors do not carry the URL, which can name internal hosts.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.ends_with(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    eprintln!("latticelm: upstream request failed: {msg}");
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_host_are_refused() {
        assert!(uri("http://127.0.0.1:1/v1/chat/completions").is_ok());
        assert!(uri("/v1/chat").is_err());
        assert!(uri("not a url").is_err());
    }
}
