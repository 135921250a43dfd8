//! The native [`Host`]: hyper's client for upstream calls, the configured store,
//! the system clock and the OS's randomness.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use latticelm_core::routing::RoutingState;
use latticelm_core::{Host, HostError, UpstreamRequest, UpstreamResponse};

use crate::cache_store::NativeCache;
use crate::ledger::NativeLedger;
use crate::store::NativeStore;

/// One per worker thread: a client's pooled connections belong to the
/// runtime that opened them. The store and the routing state are
/// shared by all threads.
#[derive(Clone)]
pub struct NativeHost {
    client: crate::upstream::Upstream,
    store: NativeStore,
    routing: Arc<Mutex<RoutingState>>,
    /// Rate-limit and budget counters (`limits.store`).
    ledger: NativeLedger,
    /// Admin records (`auth.store`); the conversation store without it.
    records: Option<NativeStore>,
    /// The response cache (`cache.store`).
    cache: NativeCache,
    /// Deferred work, run by the worker thread's `LocalSet` (a closed
    /// channel drops it: the thread is stopping).
    deferred: Option<tokio::sync::mpsc::UnboundedSender<Deferred>>,
    /// Deferred tasks not yet finished (settlements among them): a
    /// stopping worker waits for them within the shutdown grace.
    pending: std::rc::Rc<std::cell::Cell<usize>>,
}

/// Work that runs after a response (span exports).
pub type Deferred = futures::future::LocalBoxFuture<'static, ()>;

impl NativeHost {
    /// A host for one worker thread.
    pub fn new(
        connect_timeout: Duration,
        idle_per_host: usize,
        tls: crate::upstream::Tls,
        store: NativeStore,
        routing: Arc<Mutex<RoutingState>>,
    ) -> Self {
        let client = crate::upstream::Upstream::new(connect_timeout, idle_per_host, tls);
        NativeHost {
            client,
            store,
            routing,
            ledger: NativeLedger::default(),
            records: None,
            cache: NativeCache::default(),
            deferred: None,
            pending: Default::default(),
        }
    }

    /// Keeps admin records (runtime keys) in `records`.
    pub fn with_records(mut self, records: NativeStore) -> Self {
        self.records = Some(records);
        self
    }

    /// Keeps cached responses in `cache`.
    pub fn with_cache(mut self, cache: NativeCache) -> Self {
        self.cache = cache;
        self
    }

    /// Counts limits and budgets in `ledger`.
    pub fn with_ledger(mut self, ledger: NativeLedger) -> Self {
        self.ledger = ledger;
        self
    }

    /// Runs deferred work on the current `LocalSet`, for as long as it
    /// lives.
    pub fn run_deferred_here(mut self) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Deferred>();
        let pending = self.pending.clone();
        tokio::task::spawn_local(async move {
            while let Some(task) = rx.recv().await {
                let pending = pending.clone();
                tokio::task::spawn_local(async move {
                    task.await;
                    pending.set(pending.get().saturating_sub(1));
                });
            }
        });
        self.deferred = Some(tx);
        self
    }

    /// Deferred tasks not yet finished (a settlement waiting for the
    /// counter store among them).
    pub fn pending(&self) -> usize {
        self.pending.get()
    }
}

/// 32 bytes from the OS. It does not fail on Linux; if it ever did, the
/// time and thread mix still keeps ids unique per process.
fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!("{:?}", std::thread::current().id());
        for (i, b) in seed.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ id.as_bytes().get(i).copied().unwrap_or(i as u8);
        }
    }
    seed
}

impl Host for NativeHost {
    const METRICS: bool = true;
    const BATCH_SPANS: bool = true;

    /// A task on this worker thread's `LocalSet`.
    fn defer(&self, task: Deferred) {
        if let Some(tx) = &self.deferred {
            if tx.send(task).is_ok() {
                self.pending.set(self.pending.get() + 1);
            }
        }
    }

    fn log(&self, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        self.client.send(req).await
    }

    async fn ledger(
        &self,
        op: &latticelm_core::quota::Op,
    ) -> Result<latticelm_core::quota::Reply, HostError> {
        self.ledger.apply(op).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.store.get(key).await
    }

    async fn record_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.records.as_ref().unwrap_or(&self.store).get(key).await
    }

    async fn record_put(&self, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        let store = self.records.as_ref().unwrap_or(&self.store);
        store.put(key, value, latticelm_core::RECORD_TTL).await
    }

    async fn record_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<bool, HostError> {
        let store = self.records.as_ref().unwrap_or(&self.store);
        store
            .swap(key, expected, value, latticelm_core::RECORD_TTL)
            .await
    }

    async fn record_delete(&self, key: &str) -> Result<(), HostError> {
        self.records
            .as_ref()
            .unwrap_or(&self.store)
            .delete(key)
            .await
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.cache.get(key).await
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        self.cache.put(key, value, ttl).await
    }

    async fn counters_add(
        &self,
        key: &str,
        adds: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> Result<(), HostError> {
        let store = self.records.as_ref().unwrap_or(&self.store);
        store.counters_add(key, adds, ttl).await
    }

    async fn counters_get(
        &self,
        key: &str,
    ) -> Result<std::collections::BTreeMap<String, i64>, HostError> {
        let store = self.records.as_ref().unwrap_or(&self.store);
        store.counters_get(key).await
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
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        thread_local! {
            // Seeded once per thread from the OS (a ChaCha12 stream is
            // unpredictable without the seed).
            static RNG: std::cell::RefCell<rand_chacha::ChaCha12Rng> =
                std::cell::RefCell::new(rand_chacha::ChaCha12Rng::from_seed(os_seed()));
        }
        RNG.with(|r| r.borrow_mut().fill_bytes(buf));
    }
}
