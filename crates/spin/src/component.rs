//! The HTTP handler and the Spin [`Host`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use latticelm_core::routing::RoutingState;
use latticelm_core::{
    error_response, ApiError, Body, Config, Gateway, Host, HostError, HttpRequest, HttpResponse,
    RequestError, UpstreamRequest, UpstreamResponse,
};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{box_body, BoxBody, FullBody, Request};
use spin_sdk::key_value::Store;

/// The Spin variable holding the YAML config (`SPIN_VARIABLE_LATTICELM_CONFIG`).
const CONFIG_VARIABLE: &str = "latticelm_config";

#[spin_sdk::http_service]
async fn handle(req: Request) -> anyhow::Result<http::Response<BoxBody>> {
    let resp = match gateway().await {
        Ok(gateway) => match to_core(req, gateway.config().server.max_request_bytes).await {
            Ok(core_req) => {
                let host = SpinHost::new(gateway.config());
                gateway.handle(&host, core_req).await
            }
            Err(e) => error_response(&e),
        },
        Err(e) => error_response(&e),
    };
    to_spin(resp)
}

/// Spin variable names are lower case: `${OPENAI_API_KEY}` reads
/// `openai_api_key`.
async fn lookup(name: &str) -> Option<String> {
    spin_sdk::variables::get(name.to_ascii_lowercase())
        .await
        .ok()
}

async fn gateway() -> Result<Gateway, ApiError> {
    let text = lookup(CONFIG_VARIABLE)
        .await
        .filter(|t| !t.trim().is_empty());
    let mut vars = HashMap::new();
    let names = match &text {
        // Variable reads are async; expansion is not: read them first.
        Some(t) => latticelm_core::config::referenced_vars(t),
        None => vec!["OPENAI_API_KEY".to_owned(), "LATTICELM_PUBLIC".to_owned()],
    };
    let names = names.into_iter().chain(["LATTICELM_SEAL_KEY".to_owned()]);
    for name in names {
        if let Some(v) = lookup(&name).await {
            vars.insert(name, v);
        }
    }
    let env = |name: &str| vars.get(name).cloned();
    let config = match text {
        Some(t) => Config::from_yaml(&t, &env).map_err(|e| {
            // The details can quote a value, secrets included: log only.
            let mut err = ApiError::new(
                500,
                "server_error",
                Some("config_error"),
                None,
                "the gateway's configuration (latticelm_config) is invalid; its operator can find why in the logs",
            );
            err.detail = Some(format!("{CONFIG_VARIABLE}: {e}"));
            err
        })?,
        None => Config::embedded_default(&env),
    };
    let mut config = config;
    let mut seal = [0u8; 32];
    let _ = getrandom::fill(&mut seal);
    // A Spin instance serves one request: without server.seal_key, sealed
    // state of a keyless provider does not outlive it (the warning is for
    // the operator's logs).
    if let Some(warning) = config.seed_seal(seal) {
        eprintln!("latticelm: {warning}");
    }
    Ok(Gateway::new(config))
}

async fn to_core(req: Request, limit: usize) -> Result<HttpRequest, ApiError> {
    let (parts, body) = req.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(RequestError::TooLarge(limit).into());
    }
    // Read chunk by chunk, stopping at the limit, whatever content-length
    // said (it may be absent, with a chunked body).
    let chunks = body.stream().map(|c| c.map_err(|e| format!("{e:?}")));
    let body = latticelm_core::read_body_limited(chunks, limit).await?;
    Ok(HttpRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
    })
}

fn to_spin(resp: HttpResponse) -> anyhow::Result<http::Response<BoxBody>> {
    if let Some(detail) = &resp.detail {
        eprintln!("latticelm: {} answered with: {detail}", resp.status);
    }
    let mut builder = http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k, v);
    }
    let body = match resp.body {
        Body::Full(b) => box_body(FullBody::new(b)),
        Body::Stream(mut s) => {
            let (mut tx, body) = spin_sdk::http::body::stream::<Bytes>();
            // Each chunk is handed over as the core produces it; a client
            // that goes away ends the send and drops the upstream stream.
            spin_sdk::wasip3::spawn(async move {
                while let Some(chunk) = s.next().await {
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
            });
            box_body(body)
        }
    };
    Ok(builder.body(body)?)
}

/// Spin's capabilities. Stateless: instances live for one request.
#[derive(Clone)]
struct SpinHost {
    /// `limits.store`, when it is a Redis URL.
    ledger: Option<std::rc::Rc<str>>,
}

impl SpinHost {
    fn new(config: &Config) -> Self {
        let ledger = config
            .limits
            .store
            .as_deref()
            .filter(|s| s.starts_with("redis://") || s.starts_with("rediss://"))
            .map(std::rc::Rc::from);
        SpinHost { ledger }
    }
}

thread_local! {
    /// This instance's copy of the routing state, read from and written
    /// back to the key-value store around each request.
    static ROUTING: std::cell::RefCell<RoutingState> = std::cell::RefCell::new(RoutingState::default());
}

fn store_err(e: impl std::fmt::Debug) -> HostError {
    HostError::Store(format!("spin key-value: {e:?}"))
}

/// Spin KV has no TTL: values carry their expiry (milliseconds since the
/// epoch, 8 bytes big-endian) in front, and an expired value reads as
/// missing and is deleted.
fn with_expiry(value: &[u8], expires_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Host for SpinHost {
    /// Outbound Redis with `limits.store`; else the key-value store (per
    /// instance).
    async fn ledger(
        &self,
        op: &latticelm_core::quota::Op,
    ) -> Result<latticelm_core::quota::Reply, HostError> {
        match &self.ledger {
            Some(url) => crate::ledger::apply(url, op).await,
            None => latticelm_core::ledger_in_kv(self, op).await,
        }
    }

    /// Stdout, which Spin keeps in the component's log.
    fn log(&self, line: &str) {
        use std::io::Write;
        // Never panic on a closed stdout.
        let _ = writeln!(std::io::stdout(), "{line}");
    }

    /// A component-model task that runs on after the handler has returned
    /// its response.
    fn defer(&self, task: futures::future::LocalBoxFuture<'static, ()>) {
        spin_sdk::wit_bindgen::spawn(task);
    }

    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let transport = |e: String| HostError::Transport(e);
        let mut builder = http::Request::builder().method(req.method).uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        // An explicit length: some servers read a chunked body as empty.
        builder = builder.header("content-length", req.body.len());
        let outgoing = builder
            .body(FullBody::new(req.body))
            .map_err(|e| transport(e.to_string()))?;
        let resp = spin_sdk::http::send(outgoing)
            .await
            .map_err(|e| transport(format!("{e:?}")))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = resp
            .into_body()
            .stream()
            .map(|chunk| chunk.map_err(|e| HostError::Transport(format!("{e:?}"))))
            .boxed_local();
        Ok(UpstreamResponse {
            status,
            headers,
            body,
        })
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let store = Store::open_default().await.map_err(store_err)?;
        let Some(raw) = store.get(key).await.map_err(store_err)? else {
            return Ok(None);
        };
        let (Some(exp), Some(value)) = (raw.get(..8), raw.get(8..)) else {
            return Ok(None);
        };
        let expires = u64::from_be_bytes(exp.try_into().unwrap_or_default());
        if expires <= now_ms() {
            let _ = store.delete(key).await;
            return Ok(None);
        }
        Ok(Some(value.to_vec()))
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        let store = Store::open_default().await.map_err(store_err)?;
        let expires = now_ms() + ttl.as_millis() as u64;
        store
            .set(key, with_expiry(&value, expires))
            .await
            .map_err(store_err)
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        let store = Store::open_default().await.map_err(store_err)?;
        store.delete(key).await.map_err(store_err)
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        spin_sdk::wasip3::clocks::monotonic_clock::wait_for(nanos).await;
    }

    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R {
        ROUTING.with(|r| f(&mut r.borrow_mut()))
    }

    const ROUTING_IN_STORE: bool = true;

    const PUBLIC_BY_DEFAULT: bool = true;

    fn random(&self, buf: &mut [u8]) {
        // wasi:random does not fail.
        let _ = getrandom::fill(buf);
    }
}
