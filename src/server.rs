//! Thread-per-core HTTP/1.1 server: each worker thread runs a
//! current-thread tokio runtime and accepts on its own `SO_REUSEPORT`
//! socket, so the core's futures and streams never need to be `Send`
//! (see `crates/core/src/lib.rs`), and a request never changes threads.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use latticelm_core::routing::RoutingState;
use latticelm_core::{error_response, ApiError, Body, Config, Gateway, HttpRequest, RequestError};
use socket2::{Domain, Protocol, Socket, Type};

use crate::body::NativeBody;
use crate::host::NativeHost;
use crate::store::StoreShared;

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds, prints the address, and serves until the process is stopped.
pub fn run(config: Config, threads: usize) -> Result<(), String> {
    let addr: SocketAddr = config.server.address.parse().map_err(|e| {
        format!(
            "server.address `{}` is not an address: {e}",
            config.server.address
        )
    })?;
    // The first socket fixes the port (which may have been 0); the other
    // workers bind the same port.
    let first = bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = first.local_addr().map_err(|e| e.to_string())?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(bind(local).map_err(|e| format!("cannot listen on {local}: {e}"))?);
    }
    let gateway = Gateway::new(config);
    let store = StoreShared::from_config(&gateway.config().conversations)?;
    // One routing state for the process: every thread sees every outcome.
    let routing = Arc::new(Mutex::new(RoutingState::default()));
    println!(
        "latticelm listening on http://{local} ({threads} threads, {} models)",
        gateway.config().models.len()
    );
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let gateway = gateway.clone();
            let store = store.clone();
            let routing = routing.clone();
            std::thread::Builder::new()
                .name(format!("latticelm-worker-{i}"))
                .spawn(move || worker(listener, gateway, store, routing))
                .map_err(|e| format!("cannot start worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    for h in handles {
        h.join()
            .map_err(|_| "a worker thread panicked".to_owned())??;
    }
    Ok(())
}

fn worker(
    listener: std::net::TcpListener,
    gateway: Gateway,
    store: StoreShared,
    routing: Arc<Mutex<RoutingState>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        let server = &gateway.config().server;
        let host = NativeHost::new(server.upstream_connect_timeout, store.for_worker(), routing);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors and the like: keep serving.
                Err(e) => {
                    eprintln!("latticelm: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let gateway = gateway.clone();
            let host = host.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    let host = host.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&gateway, &host, req).await) }
                });
                // A client that goes away mid-response is not an error worth logging.
                let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}

async fn handle(
    gateway: &Gateway,
    host: &NativeHost,
    req: hyper::Request<Incoming>,
) -> hyper::Response<NativeBody> {
    let (parts, body) = req.into_parts();
    let limit = gateway.config().server.max_request_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let err: ApiError = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                RequestError::TooLarge(limit).into()
            } else {
                RequestError::InvalidBody {
                    path: ".".into(),
                    message: format!("could not read the body: {e}"),
                }
                .into()
            };
            return to_hyper(error_response(&err));
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let req = HttpRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
    };
    to_hyper(gateway.handle(host, req).await)
}

fn to_hyper(resp: latticelm_core::HttpResponse) -> hyper::Response<NativeBody> {
    if let Some(detail) = &resp.detail {
        eprintln!("latticelm: {} answered with: {detail}", resp.status);
    }
    let body = match resp.body {
        Body::Full(b) => NativeBody::Full(Some(b)),
        Body::Stream(s) => NativeBody::Stream(s),
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
