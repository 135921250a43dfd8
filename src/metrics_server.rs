//! `server.metrics_address`: a listener that serves only `GET /metrics`,
//! without authentication, for a scraper on the operator's network.

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use latticelm_core::Gateway;

use crate::host::NativeHost;

/// Binds `addr` and serves the metrics on a thread of its own; returns the
/// bound address.
pub fn spawn(
    addr: &str,
    gateway: Gateway,
    make_host: impl FnOnce() -> NativeHost + Send + 'static,
) -> Result<String, String> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on server.metrics_address {addr}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let bound = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    std::thread::Builder::new()
        .name("latticelm-metrics".into())
        .spawn(move || {
            let host = make_host();
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    let (gateway, host) = (gateway.clone(), host.clone());
                    tokio::task::spawn_local(async move {
                        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let resp = if req.uri().path() == "/metrics" {
                                gateway.metrics(&host)
                            } else {
                                latticelm_core::HttpResponse::json(
                                    404,
                                    bytes::Bytes::from_static(b"{\"error\":{\"message\":\"only /metrics is served here\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"not_found\"}}"),
                                )
                            };
                            async move {
                                Ok::<_, std::convert::Infallible>(crate::body::to_hyper(resp))
                            }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })
        .map_err(|e| e.to_string())?;
    Ok(bound)
}
