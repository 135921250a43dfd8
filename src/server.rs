//! Thread-per-core HTTP/1.1 server: each worker thread runs a
//! current-thread tokio runtime and accepts on its own `SO_REUSEPORT`
//! socket, so the core's futures and streams never need to be `Send`
//! (see `crates/core/src/lib.rs`), and a request never changes threads.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use latticelm_core::routing::RoutingState;
use latticelm_core::{error_response, ApiError, Config, Gateway, HttpRequest, RequestError};
use socket2::{Domain, Protocol, Socket, Type};

use crate::body::{to_hyper, GuardedBody, NativeBody};
use crate::conn::{Budget, ConnClock, Share, Slot, TimedIo};
use crate::host::NativeHost;
use crate::ledger::LedgerShared;
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
    let mut config = config;
    let mut seal = [0u8; 32];
    getrandom::fill(&mut seal).map_err(|e| format!("no randomness from the OS: {e}"))?;
    if let Some(warning) = config.seed_seal(seal) {
        eprintln!("latticelm: warning: {warning}");
    }
    // What check-config warns about (runtime keys without a seal key,
    // unpriced routes under budgets, per-process counters), said at
    // start too.
    for warning in latticelm_core::quota::describe(&config).1 {
        eprintln!("latticelm: warning: {warning}");
    }
    let gateway = Gateway::new(config);
    let store = StoreShared::from_config(&gateway.config().conversations)?;
    let ledger = LedgerShared::from_config(gateway.config().limits_store())?;
    let records = StoreShared::for_records(
        gateway
            .config()
            .auth
            .as_ref()
            .and_then(|a| a.store.as_deref()),
    )?;
    let cache = crate::cache_store::CacheShared::from_config(&gateway.config().cache)?;
    let server = gateway.config().server.clone();
    let tls = crate::upstream::Tls::new()?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    // One routing state for the process: every thread sees every outcome.
    let routing = Arc::new(Mutex::new(RoutingState::default()));
    println!(
        "latticelm listening on http://{local} ({threads} threads, {} models)",
        gateway.config().models.len()
    );
    if let Some(addr) = &server.metrics_address {
        let (store, routing, timeout, idle, tls) = (
            store.clone(),
            routing.clone(),
            server.upstream_connect_timeout,
            server.upstream_idle_connections,
            tls.clone(),
        );
        let make_host =
            move || NativeHost::new(timeout, idle, tls.clone(), store.for_worker(), routing);
        let bound = crate::metrics_server::spawn(addr, gateway.clone(), make_host)?;
        eprintln!("latticelm: metrics on http://{bound}/metrics");
    }
    let shared = Shared {
        gateway,
        tls,
        store,
        ledger,
        records,
        cache,
        routing,
        shutdown: shutdown_rx,
        connections: Budget::new(server.max_connections),
        bodies: Budget::new(server.max_body_memory),
    };
    crate::trim::spawn(shared.connections.clone());
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("latticelm-worker-{i}"))
                .spawn(move || worker(listener, shared))
                .map_err(|e| format!("cannot start worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    wait_for_signal()?;
    let grace = server.shutdown_grace;
    eprintln!("latticelm: shutting down: no new connections; in-flight requests have {grace:?}");
    let _ = shutdown_tx.send(true);
    let deadline = std::time::Instant::now() + grace;
    for h in handles {
        while !h.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if h.is_finished() {
            h.join()
                .map_err(|_| "a worker thread panicked".to_owned())??;
        }
    }
    eprintln!("latticelm: stopped");
    Ok(())
}

/// What every worker thread shares.
#[derive(Clone)]
struct Shared {
    gateway: Gateway,
    tls: crate::upstream::Tls,
    store: StoreShared,
    ledger: LedgerShared,
    records: StoreShared,
    cache: crate::cache_store::CacheShared,
    routing: Arc<Mutex<RoutingState>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    connections: Budget,
    bodies: Budget,
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

/// The answer to a connection past `server.max_connections`: written
/// without reading anything, then closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 109\r\n\r\n{\"error\":{\"message\":\"too many connections\",\"type\":\"server_error\",\"param\":null,\"code\":\"too_many_connections\"}}";

fn worker(listener: std::net::TcpListener, shared: Shared) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        let server = shared.gateway.config().server.clone();
        let host = NativeHost::new(
            server.upstream_connect_timeout,
            server.upstream_idle_connections,
            shared.tls.clone(),
            shared.store.for_worker(),
            shared.routing.clone(),
        )
        .with_ledger(shared.ledger.for_worker())
        .with_records(shared.records.for_worker())
        .with_cache(shared.cache.for_worker())
        .run_deferred_here();
        let open = Rc::new(Cell::new(0usize));
        let mut shutdown = shared.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.changed() => break,
            };
            let (stream, _) = match accepted {
                Ok(s) => s,
                // Out of file descriptors and the like: keep serving.
                Err(e) => {
                    eprintln!("latticelm: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = shared.connections.take(1) else {
                let _ = stream.try_write(REFUSED);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (gateway, host, bodies) =
                (shared.gateway.clone(), host.clone(), shared.bodies.clone());
            let mut shutdown = shared.shutdown.clone();
            // Held by the connection's task and, once upgraded, by its
            // WebSocket's: the connection counts until both are done.
            let slot = Slot::new(slot, open.clone());
            let (header, idle) = (server.client_header_timeout, server.keepalive_timeout);
            let stall = server.upstream_idle_timeout;
            let ws_shutdown = shared.shutdown.clone();
            tokio::task::spawn_local(async move {
                let clock = ConnClock::new();
                let io = TokioIo::new(TimedIo::new(stream, clock.clone(), header, idle, stall));
                let conn_slot = slot.clone();
                let service = service_fn(move |req| {
                    let guard = clock.begin();
                    let socket_guard = crate::ws::is_upgrade(&req).then(|| clock.begin());
                    let (gateway, host, bodies) = (gateway.clone(), host.clone(), bodies.clone());
                    let (slot, shutdown) = (conn_slot.clone(), ws_shutdown.clone());
                    async move {
                        if let Some(socket_guard) = socket_guard {
                            let held = crate::ws::Held {
                                socket: socket_guard,
                                slot,
                                shutdown,
                            };
                            let resp =
                                Box::pin(crate::ws::upgrade(&gateway, &host, req, held, guard))
                                    .await;
                            return Ok::<_, std::convert::Infallible>(resp);
                        }
                        // Boxed: hyper keeps room for the service's
                        // future in every connection for its whole life,
                        // and the pipeline's future is large (14 KB per
                        // open stream or idle connection, unboxed).
                        let resp = Box::pin(handle(&gateway, &host, &bodies, req)).await;
                        Ok::<_, std::convert::Infallible>(resp.map(|b| GuardedBody::new(b, guard)))
                    }
                });
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, service)
                    .with_upgrades();
                let mut conn = std::pin::pin!(conn);
                // A client that goes away mid-response is not an error worth logging.
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = shutdown.changed() => {
                        // Finish the request in flight, take no more.
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                drop(slot);
            });
        }
        // Stopped accepting: the connections finish, then the work they
        // deferred (settlements retried while the counter store is
        // away); the main thread bounds the wait by the grace period.
        while open.get() > 0 || host.pending() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(())
    })
}

async fn handle(
    gateway: &Gateway,
    host: &NativeHost,
    bodies: &Budget,
    req: hyper::Request<Incoming>,
) -> hyper::Response<NativeBody> {
    let (parts, body) = req.into_parts();
    let server = &gateway.config().server;
    let limit = server.max_request_bytes;
    // The share of the body memory budget lives as long as the body.
    let mut share = bodies.take(0);
    let limits = &server.limits;
    let read = read_body(body, limit, limits, bodies, &mut share);
    let body = match tokio::time::timeout(server.client_body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return to_hyper(error_response(&e)),
        Err(_) => {
            let e = ApiError::new(
                408,
                "invalid_request_error",
                Some("request_timeout"),
                None,
                format!(
                    "the request body did not arrive within {:?} (server.client_body_timeout)",
                    server.client_body_timeout
                ),
            );
            return to_hyper(error_response(&e));
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
    let resp = to_hyper(gateway.handle(host, req).await);
    drop(share);
    resp
}

/// Reads a request body up to `limit`, taking its bytes from the body
/// memory budget as they arrive, and scanning them against
/// `server.limits` (a body past a cap is refused at the piece that passes
/// it, not once whole). What parsing it will cost is taken from the budget
/// too: a body of many small values parses to many times its size.
async fn read_body(
    mut body: Incoming,
    limit: usize,
    limits: &latticelm_core::caps::Caps,
    budget: &Budget,
    share: &mut Option<Share>,
) -> Result<bytes::Bytes, ApiError> {
    let busy = || {
        ApiError::new(
            503,
            "server_error",
            Some("server_busy"),
            None,
            "the gateway is holding too many request bodies (server.max_body_memory); retry shortly",
        )
    };
    let mut scanner = latticelm_core::caps::Scanner::default();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::from(RequestError::InvalidBody {
                path: ".".into(),
                message: format!("could not read the body: {e}"),
            })
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if out.len() + data.len() > limit {
            return Err(RequestError::TooLarge(limit).into());
        }
        scanner.push(&data, limits)?;
        let got = share.as_mut().is_some_and(|s| s.grow(budget, data.len()));
        if !got {
            return Err(busy());
        }
        out.extend_from_slice(&data);
    }
    let parsed = scanner
        .values()
        .saturating_mul(latticelm_core::caps::PARSED_VALUE_BYTES);
    if !share.as_mut().is_some_and(|s| s.grow(budget, parsed)) {
        return Err(busy());
    }
    Ok(bytes::Bytes::from(out))
}
