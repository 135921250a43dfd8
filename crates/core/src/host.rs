//! What a host provides to the core, and the HTTP types they exchange.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::LocalBoxStream;

use crate::error::{HostError, RequestError};
use crate::routing::RoutingState;

/// A stream of body chunks. Not `Send`: Workers and Spin bodies are not,
/// and the native host runs one single-threaded runtime per core.
pub type ByteStream = LocalBoxStream<'static, Result<Bytes, HostError>>;

/// The capabilities a host gives the core. See the crate docs for the
/// rules each method must follow.
#[allow(async_fn_in_trait)] // no Send bound on purpose: see the crate docs
pub trait Host {
    /// Sends an upstream request; resolves once the status and headers
    /// have arrived, with the body still streaming.
    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError>;
    /// Reads a stored value. An expired value must read as `None`.
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Stores a value that expires after `ttl`.
    async fn kv_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError>;
    /// Deletes a value; deleting a missing key is not an error.
    async fn kv_delete(&self, key: &str) -> Result<(), HostError>;
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Fills `buf` with random bytes (ids). Tests may make it deterministic.
    fn random(&self, buf: &mut [u8]);
    /// Resolves after `duration` (backoff, timeouts, the deadline). Tests
    /// may advance a fake clock instead of waiting.
    async fn sleep(&self, duration: Duration);
    /// Runs `f` on the routing state. It lives where the host keeps it:
    /// shared by every thread of the process (native), per isolate
    /// (Workers), or per instance and synced through the store (Spin,
    /// with [`Host::ROUTING_IN_STORE`]). `f` never awaits.
    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R;
    /// Reads a record of the admin API (runtime keys): where the host
    /// keeps them for good (`auth.store` natively), by default its
    /// key-value store.
    async fn record_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.kv_get(key).await
    }
    /// Writes a record of the admin API; it never expires.
    async fn record_put(&self, key: &str, value: Vec<u8>) -> Result<(), HostError> {
        self.kv_put(key, value, RECORD_TTL).await
    }
    /// Deletes a record of the admin API.
    async fn record_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv_delete(key).await
    }
    /// Writes a record of the admin API only if it still holds
    /// `expected` (`None`: only if there is none), as one step for every
    /// instance; `Ok(false)` when another write came first, and nothing
    /// was written. The admin API's updates read, change and swap, and
    /// read again when they lose (see `gateway::admin::records`). Natively
    /// one Lua script (Redis) or under the lock (memory), on the Worker
    /// the record's Durable Object. The default ([`record_swap_in_kv`])
    /// reads, compares and writes: exact only where one instance
    /// serializes its requests (Spin's key-value store, Workers KV).
    async fn record_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<bool, HostError> {
        record_swap_in_kv(self, key, expected, value).await
    }
    /// Reads an entry of the response cache (see `crate::cache`): by
    /// default from the key-value store. Natively, `cache.store`; on the
    /// Worker, the data centre's Cache API.
    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.kv_get(&format!("cache/{key}")).await
    }
    /// Writes an entry of the response cache that expires after `ttl`.
    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        self.kv_put(&format!("cache/{key}"), value, ttl).await
    }
    /// Adds `amount`s to integer counters of the hash `key`, atomically
    /// and for every instance; a counter that reaches 0 is removed. The
    /// hash expires `ttl` after this addition (the admin API's usage, see
    /// [`crate::keys::usage`], kept for `limits.usage_retention`), or
    /// never (`None`: its indexes of keys and teams). The default reads
    /// and writes the record store, which is exact only where one
    /// instance serializes its requests, and keeps the expiry in the hash
    /// ([`crate::keys::counters::EXPIRES`]).
    async fn counters_add(
        &self,
        key: &str,
        adds: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> Result<(), HostError> {
        let mut map = self.counters_get(key).await?;
        crate::keys::counters::add(&mut map, adds);
        if let Some(ttl) = ttl {
            let now = self
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let at = now.saturating_add(ttl).as_millis().min(i64::MAX as u128) as i64;
            map.insert(crate::keys::counters::EXPIRES.into(), at);
        }
        self.record_put(key, serde_json::to_vec(&map).unwrap_or_default())
            .await
    }
    /// Reads the counters of the hash `key` (empty when there are none).
    async fn counters_get(
        &self,
        key: &str,
    ) -> Result<std::collections::BTreeMap<String, i64>, HostError> {
        let mut map: std::collections::BTreeMap<String, i64> = self
            .record_get(key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(at) = map.remove(crate::keys::counters::EXPIRES) {
            let now = self
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as i64;
            if at <= now {
                map.clear();
            }
        }
        Ok(map)
    }
    /// Applies one operation to the rate-limit and budget ledgers,
    /// atomically over every shard it names (see [`crate::quota`]): Redis
    /// natively and on Spin, a Durable Object per shard on the Worker, a
    /// lock over a map in one native process. The default reads and
    /// writes the key-value store, which is exact only where one
    /// instance serializes its requests.
    async fn ledger(&self, op: &crate::quota::Op) -> Result<crate::quota::Reply, HostError> {
        ledger_in_kv(self, op).await
    }
    /// Whether the routing state must be read from the store before a
    /// request and written back after it, because instances do not
    /// outlive a request.
    const ROUTING_IN_STORE: bool = false;
    /// The host serves the internet as soon as it is deployed (Workers,
    /// Spin): the embedded default configuration then refuses to spend
    /// provider keys for anonymous callers (see
    /// [`crate::Config::guards_open_proxy`]).
    const PUBLIC_BY_DEFAULT: bool = false;

    /// Writes one log line (a request's record; see `observe::log`):
    /// stdout natively and on Spin, `console.log` on the Worker. The core
    /// never puts credentials, headers, prompts or outputs in it.
    fn log(&self, line: &str) {
        let _ = line;
    }

    /// Runs `task` off the request path, after the response if need be
    /// (span exports): a spawned local task natively, `ctx.waitUntil` on
    /// the Worker, a component-model task that outlives the response on
    /// Spin. The task never fails a response; it logs its own failures.
    /// A host that cannot defer drops it (no export).
    fn defer(&self, task: futures::future::LocalBoxFuture<'static, ()>) {
        drop(task);
    }

    /// Spans are batched (one long-lived process) rather than exported
    /// after each request.
    const BATCH_SPANS: bool = false;

    /// The host serves `GET /metrics` from the gateway's registry (one
    /// long-lived process: native). Elsewhere metrics would describe one
    /// isolate or one request, so the path is not served.
    const METRICS: bool = false;
}

/// How long a store without a "for ever" keeps an admin record: ten
/// years.
pub const RECORD_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A request as the host received it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body; the host enforces the size limit while reading.
    pub body: Bytes,
}

impl HttpRequest {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response for the host to send.
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// For the operator's log, never sent: what an error's envelope left
    /// out (an upstream's own message, an internal URL).
    pub detail: Option<String>,
}

/// A response body: whole, or streamed chunk by chunk as produced.
pub enum Body {
    /// The whole body.
    Full(Bytes),
    /// Chunks to write (and flush) as they come. Dropping the stream
    /// cancels the upstream request.
    Stream(LocalBoxStream<'static, Bytes>),
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: Bytes) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(body),
            detail: None,
        }
    }
}

/// An outbound request to a provider.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// Always `POST` today.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers, credentials included. Never log them.
    pub headers: Vec<(String, String)>,
    /// The JSON body. Hosts set `content-length` (some servers read an
    /// empty chunked body).
    pub body: Bytes,
    /// Whether the response will be streamed (SSE).
    pub stream: bool,
    /// Configured provider name, for error messages.
    pub provider: String,
    /// Upper bound on the wait for the response headers.
    pub timeout: Duration,
}

/// A provider's answer, with the body still streaming.
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ByteStream,
}

impl UpstreamResponse {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a request body chunk by chunk, refusing it as soon as it passes
/// `limit` (rule 2 of the crate docs): a client cannot make a host hold
/// more than `limit` bytes of it, whatever `content-length` said.
pub async fn read_body_limited<S, E>(mut body: S, limit: usize) -> Result<Bytes, RequestError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| RequestError::InvalidBody {
            path: ".".into(),
            message: format!("could not read the body: {e}"),
        })?;
        if out.len() + chunk.len() > limit {
            return Err(RequestError::TooLarge(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// [`Host::record_swap`] over [`Host::record_get`] and
/// [`Host::record_put`]: compare, then write. Not atomic between
/// instances; hosts whose store has a transaction override it.
pub async fn record_swap_in_kv<H: Host + ?Sized>(
    host: &H,
    key: &str,
    expected: Option<&[u8]>,
    value: Vec<u8>,
) -> Result<bool, HostError> {
    if host.record_get(key).await?.as_deref() != expected {
        return Ok(false);
    }
    host.record_put(key, value).await.map(|()| true)
}

/// Applies `op` by reading each shard's ledger from the host's key-value
/// store, applying it ([`crate::quota::apply`]) and writing it back.
/// Atomic only where requests of one instance are serialized: the
/// default [`Host::ledger`] for hosts without a counter store of their
/// own (Spin without Redis), documented as per instance.
pub async fn ledger_in_kv<H: Host + ?Sized>(
    host: &H,
    op: &crate::quota::Op,
) -> Result<crate::quota::Reply, HostError> {
    use crate::quota::{kv_key, Ledger, OpKind};
    let mut ledgers = std::collections::BTreeMap::new();
    for shard in op.shards() {
        let raw = host.kv_get(&kv_key(shard)).await?;
        let ledger: Ledger = raw
            .and_then(|r| serde_json::from_slice(&r).ok())
            .unwrap_or_default();
        ledgers.insert(shard.to_owned(), ledger);
    }
    let before = (!op.op.eq(&OpKind::Peek)).then(|| ledgers.clone());
    let reply = crate::quota::apply(&mut ledgers, op);
    if let Some(before) = before {
        let keep = Duration::from_millis(op.keep_ms().unwrap_or(u64::MAX / 4));
        // A refusal changes no count, but what it pruned (a lapsed lease,
        // charged) is kept.
        for (shard, ledger) in ledgers
            .iter()
            .filter(|(k, l)| reply.ok || before.get(*k) != Some(l))
        {
            let bytes = serde_json::to_vec(ledger).unwrap_or_default();
            host.kv_put(&kv_key(shard), bytes, keep).await?;
        }
    }
    Ok(reply)
}

/// `f`'s output, or `None` when `limit` passes first (on the host's
/// timer: rule 9 of the crate docs).
pub(crate) async fn within<H: Host, F: std::future::Future>(
    host: &H,
    limit: Duration,
    f: F,
) -> Option<F::Output> {
    use futures::future::{select, Either};
    let f = std::pin::pin!(f);
    let timer = std::pin::pin!(host.sleep(limit));
    match select(f, timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
