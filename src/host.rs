//! The native [`Host`]: reqwest for upstream calls, the configured store,
//! the system clock and the OS's randomness.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use latticelm_core::routing::RoutingState;
use latticelm_core::{ByteStream, Host, HostError, UpstreamRequest, UpstreamResponse};

use crate::store::NativeStore;

/// One per worker thread: a reqwest client's pooled connections belong to
/// the runtime that opened them. The store and the routing state are
/// shared by all threads.
#[derive(Clone)]
pub struct NativeHost {
    client: reqwest::Client,
    store: NativeStore,
    routing: Arc<Mutex<RoutingState>>,
    /// Deferred work, run by the worker thread's `LocalSet` (a closed
    /// channel drops it: the thread is stopping).
    deferred: Option<tokio::sync::mpsc::UnboundedSender<Deferred>>,
}

/// Work that runs after a response (span exports).
pub type Deferred = futures::future::LocalBoxFuture<'static, ()>;

impl NativeHost {
    /// A host for one worker thread.
    pub fn new(
        connect_timeout: Duration,
        store: NativeStore,
        routing: Arc<Mutex<RoutingState>>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            // Credentials ride in provider-specific headers (x-api-key,
            // api-key, x-goog-api-key) that a redirect would carry to
            // wherever it points: provider APIs do not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .unwrap_or_default();
        NativeHost {
            client,
            store,
            routing,
            deferred: None,
        }
    }

    /// Runs deferred work on the current `LocalSet`, for as long as it
    /// lives.
    pub fn run_deferred_here(mut self) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Deferred>();
        tokio::task::spawn_local(async move {
            while let Some(task) = rx.recv().await {
                tokio::task::spawn_local(task);
            }
        });
        self.deferred = Some(tx);
        self
    }
}

/// reqwest's error with its causes, which say what actually failed,
/// without the upstream URL: it can name internal hosts, so the client's
/// message leaves it out and only the log has it.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    match e.url() {
        Some(url) => {
            eprintln!("latticelm: upstream request failed: {msg}");
            msg.replace(&format!(" for url ({url})"), "")
                .replace(url.as_str(), "(upstream)")
        }
        None => msg,
    }
}

impl Host for NativeHost {
    const METRICS: bool = true;
    const BATCH_SPANS: bool = true;

    /// A task on this worker thread's `LocalSet`.
    fn defer(&self, task: Deferred) {
        if let Some(tx) = &self.deferred {
            let _ = tx.send(task);
        }
    }

    fn log(&self, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut rb = self.client.request(method, &req.url);
        if !req.body.is_empty() {
            rb = rb.body(req.body);
        }
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let resp = match tokio::time::timeout(req.timeout, rb.send()).await {
            Err(_) => {
                return Err(HostError::Timeout(format!(
                    "no response headers within {:?}",
                    req.timeout
                )))
            }
            Ok(Err(e)) if e.is_timeout() => return Err(HostError::Timeout(describe(&e))),
            Ok(Err(e)) => return Err(HostError::Transport(describe(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        // The core applies the idle timeout and the deadline.
        let body: ByteStream = resp
            .bytes_stream()
            .map(|chunk| chunk.map_err(|e| HostError::Transport(describe(&e))))
            .boxed_local();
        Ok(UpstreamResponse {
            status,
            headers,
            body,
        })
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.store.get(key).await
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        self.store.put(key, value, ttl).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.store.delete(key).await
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R {
        // Plans and outcomes are short and never await: a plain lock.
        let mut state = self.routing.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    fn random(&self, buf: &mut [u8]) {
        // The OS source does not fail on Linux; if it ever did, ids would
        // still be unique per process through the time mix below.
        if getrandom::fill(buf).is_err() {
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (t >> ((i % 16) * 8)) as u8 ^ i as u8;
            }
        }
    }
}
