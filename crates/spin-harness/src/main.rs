//! A test harness that serves a Spin component the way Spin does: over
//! HTTP on loopback, a fresh instance per request, real outbound HTTP,
//! and in-memory `spin:key-value` (shared across requests, like a real
//! store) and `spin:variables` (from `SPIN_VARIABLE_*` in the environment).
//!
//! usage: spin-harness COMPONENT.wasm [--port N]
//! prints `harness listening on http://127.0.0.1:PORT`

mod spin_host;
mod spin_redis;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::bindings::Service;
use wasmtime_wasi_http::p3::{Request, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use wasmtime_wasi_http::WasiHttpCtx;

/// Per-request state.
pub struct Ctx {
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Hooks,
    pub kv: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    pub vars: Arc<HashMap<String, String>>,
}

struct Hooks;
impl WasiHttpHooks for Hooks {}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

struct App {
    engine: Engine,
    pre: wasmtime::component::InstancePre<Ctx>,
    kv: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    vars: Arc<HashMap<String, String>>,
}

/// How long an instance lives on after its response, for the tasks the
/// guest spawned.
const LINGER_MS: u64 = 1500;

type RespBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, anyhow::Error>;

async fn serve_one(
    app: Arc<App>,
    req: hyper::Request<Incoming>,
) -> anyhow::Result<hyper::Response<RespBody>> {
    use http_body_util::BodyExt;
    let ctx = Ctx {
        table: ResourceTable::default(),
        // The component's stdout is its log (Spin keeps it the same way).
        wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
        http: WasiHttpCtx::new(),
        hooks: Hooks,
        kv: app.kv.clone(),
        vars: app.vars.clone(),
    };
    let mut store = Store::new(&app.engine, ctx);
    let instance = app.pre.instantiate_async(&mut store).await?;
    let service = Service::new(&mut store, &instance)?;
    let req = req.map(|b| {
        b.map_err(|_| wasmtime_wasi_http::p3::bindings::http::types::ErrorCode::HttpRequestDenied)
    });
    let (req, io) = Request::from_http(req);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (tx, rx) =
        tokio::sync::mpsc::channel::<anyhow::Result<hyper::body::Frame<bytes::Bytes>>>(64);
    // The guest runs (and its response body is produced) inside
    // run_concurrent; frames go to hyper through a channel as they come.
    tokio::spawn(async move {
        let result: anyhow::Result<()> = async {
            store
                .run_concurrent(async |store| {
                    let res = match service.handle(store, req).await? {
                        Ok(res) => res,
                        Err(code) => anyhow::bail!("the component failed: {code:?}"),
                    };
                    let res = store.with(|store| res.into_http(store, async { Ok(()) }))?;
                    let (parts, mut body) = res.into_parts();
                    let _ = head_tx.send(parts);
                    let tx = tx;
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|e| anyhow::anyhow!("{e:?}"))?;
                        if tx.send(Ok(frame)).await.is_err() {
                            break; // the client went away
                        }
                    }
                    // The client has the whole response; the guest's tasks
                    // that outlive it (span exports) run on for a while,
                    // as Spin lets them.
                    drop(tx);
                    let _ = io.await;
                    tokio::time::sleep(std::time::Duration::from_millis(LINGER_MS)).await;
                    Ok(())
                })
                .await?
        }
        .await;
        if let Err(e) = result {
            eprintln!("spin-harness: {e:#}");
        }
    });
    let parts = head_rx
        .await
        .context("the component produced no response")?;
    let stream = tokio_stream_wrapper(rx);
    Ok(hyper::Response::from_parts(
        parts,
        http_body_util::StreamBody::new(stream).boxed_unsync(),
    ))
}

fn tokio_stream_wrapper(
    mut rx: tokio::sync::mpsc::Receiver<anyhow::Result<hyper::body::Frame<bytes::Bytes>>>,
) -> impl futures::Stream<Item = anyhow::Result<hyper::body::Frame<bytes::Bytes>>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: spin-harness COMPONENT.wasm [--port N]")?;
    let mut port = 0u16;
    while let Some(a) = args.next() {
        if a == "--port" {
            port = args
                .next()
                .and_then(|p| p.parse().ok())
                .context("--port N")?;
        }
    }
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &path)
        .map_err(|e| anyhow::anyhow!("loading {path}: {e:?}"))?;
    let mut linker: Linker<Ctx> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    spin_host::add_to_linker(&mut linker)?;
    spin_redis::add_to_linker(&mut linker)?;
    let pre = linker.instantiate_pre(&component)?;
    let vars: HashMap<String, String> = std::env::vars()
        .filter_map(|(k, v)| Some((k.strip_prefix("SPIN_VARIABLE_")?.to_ascii_lowercase(), v)))
        .collect();
    let app = Arc::new(App {
        engine,
        pre,
        kv: Arc::default(),
        vars: Arc::new(vars),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("harness listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(serve_one(app, req).await.unwrap_or_else(|e| {
                        use http_body_util::BodyExt;
                        let body = http_body_util::Full::new(bytes::Bytes::from(format!(
                            "harness: {e:#}"
                        )))
                        .map_err(|never| match never {})
                        .boxed_unsync();
                        let mut r = hyper::Response::new(body);
                        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                        r
                    }))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
