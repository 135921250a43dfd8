//! The Workers [`Host`]: `Fetch`, the conversation store, the clock and
//! `crypto.getRandomValues`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{select, Either};
use futures::StreamExt;
use latticelm_core::config::ConversationsConfig;
use latticelm_core::routing::RoutingState;
use latticelm_core::{Host, HostError, UpstreamRequest, UpstreamResponse};
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// Durable Object namespace binding of the default store.
pub const DO_BINDING: &str = "CONVERSATIONS";
/// KV namespace binding of the optional store.
pub const KV_BINDING: &str = "CONVERSATIONS_KV";
/// KV refuses expirations under 60 s; shorter TTLs are enforced on read.
const KV_MIN_TTL: u64 = 60;

#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    DurableObject,
    Kv,
}

thread_local! {
    /// The isolate's routing state: every request this isolate serves
    /// shares it; other isolates keep their own.
    static ROUTING: std::cell::RefCell<RoutingState> = std::cell::RefCell::new(RoutingState::default());
}

/// One per request: Workers hand the bindings to each request.
#[derive(Clone)]
pub struct WorkerHost {
    env: std::rc::Rc<Env>,
    store: StoreKind,
    /// The request's context: work that outlives the response goes to
    /// its `waitUntil`.
    ctx: std::rc::Rc<worker::Context>,
    /// Cached responses in the conversation store (`cache.store: kv`)
    /// rather than the data centre's Cache API.
    cache_in_store: bool,
}

/// The Cache API's key of a response-cache entry (never fetched: it
/// names the entry).
fn cache_url(key: &str) -> String {
    format!("https://latticelm-cache.internal/{key}")
}

impl WorkerHost {
    /// A host over this request's bindings.
    pub fn new(env: Env, ctx: worker::Context, config: &latticelm_core::Config) -> Self {
        let conversations: &ConversationsConfig = &config.conversations;
        let store = match conversations.store.as_deref() {
            Some("kv") => StoreKind::Kv,
            _ => StoreKind::DurableObject,
        };
        WorkerHost {
            env: std::rc::Rc::new(env),
            store,
            ctx: std::rc::Rc::new(ctx),
            cache_in_store: config.cache.store.as_deref() == Some("kv"),
        }
    }

    async fn object(
        &self,
        key: &str,
        method: Method,
        body: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<worker::Response, HostError> {
        let store =
            |e: worker::Error| HostError::Store(format!("durable object `{DO_BINDING}`: {e}"));
        let ns = self.env.durable_object(DO_BINDING).map_err(store)?;
        let stub = ns
            .id_from_name(key)
            .map_err(store)?
            .get_stub()
            .map_err(store)?;
        let headers = Headers::new();
        if let Some(ttl) = ttl {
            headers
                .set("x-ttl-ms", &ttl.as_millis().to_string())
                .map_err(store)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(b) = body {
            init.with_body(Some(js_sys::Uint8Array::from(b.as_slice()).into()));
        }
        let req =
            Request::new_with_init("https://conversation-store/value", &init).map_err(store)?;
        stub.fetch_with_request(req).await.map_err(store)
    }
}

fn transport(e: worker::Error) -> HostError {
    HostError::Transport(e.to_string())
}

impl Host for WorkerHost {
    /// `console.log`: Workers Logs indexes the JSON fields.
    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    /// `ctx.waitUntil`: the isolate stays up for it after the response.
    fn defer(&self, task: futures::future::LocalBoxFuture<'static, ()>) {
        self.ctx.wait_until(task);
    }

    async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, HostError> {
        let headers = Headers::new();
        for (k, v) in &req.headers {
            headers.append(k, v).map_err(transport)?;
        }
        let mut init = RequestInit::new();
        // Never follow a redirect: it would carry the credential headers
        // to wherever it points.
        init.with_redirect(worker::RequestRedirect::Manual);
        if req.method == "GET" {
            init.with_method(Method::Get).with_headers(headers);
        } else {
            // An explicit length: some servers read a chunked body as empty.
            headers
                .set("content-length", &req.body.len().to_string())
                .map_err(transport)?;
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_body(Some(js_sys::Uint8Array::from(req.body.as_ref()).into()));
        }
        let request = Request::new_with_init(&req.url, &init).map_err(transport)?;
        let fetch = Fetch::Request(request);
        let sending = Box::pin(fetch.send());
        let timer = Delay::from(req.timeout);
        let mut resp = match select(sending, timer).await {
            Either::Left((r, _)) => r.map_err(transport)?,
            Either::Right(_) => {
                return Err(HostError::Timeout(format!(
                    "no response headers within {:?}",
                    req.timeout
                )))
            }
        };
        let status = resp.status_code();
        let headers = resp
            .headers()
            .entries()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let body = resp
            .stream()
            .map_err(transport)?
            .map(|chunk| chunk.map(bytes::Bytes::from).map_err(transport))
            .boxed_local();
        Ok(UpstreamResponse {
            status,
            headers,
            body,
        })
    }

    /// One `LimitLedger` Durable Object per shard (a key, a team).
    async fn ledger(
        &self,
        op: &latticelm_core::quota::Op,
    ) -> Result<latticelm_core::quota::Reply, HostError> {
        let env = self.env.clone();
        latticelm_core::quota::apply_sharded(op, |shard, part| {
            let env = env.clone();
            async move { crate::ledger::apply(&env, shard, part).await }
        })
        .await
    }

    /// The data centre's Cache API: a hit never leaves it.
    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        if self.cache_in_store {
            return self.kv_get(&format!("cache/{key}")).await;
        }
        let err = |e: worker::Error| HostError::Store(format!("cache API: {e}"));
        let cache = worker::Cache::default();
        match cache.get(cache_url(key), true).await.map_err(err)? {
            Some(mut resp) => Ok(Some(resp.bytes().await.map_err(err)?)),
            None => Ok(None),
        }
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        if self.cache_in_store {
            return self.kv_put(&format!("cache/{key}"), value, ttl).await;
        }
        let err = |e: worker::Error| HostError::Store(format!("cache API: {e}"));
        let headers = Headers::new();
        let control = format!("max-age={}", ttl.as_secs().max(1));
        headers.set("cache-control", &control).map_err(err)?;
        headers
            .set("content-type", "application/json")
            .map_err(err)?;
        let resp = worker::Response::from_bytes(value)
            .map_err(err)?
            .with_headers(headers);
        worker::Cache::default()
            .put(cache_url(key), resp)
            .await
            .map_err(err)
    }

    /// The record's own Durable Object compares and writes in one step
    /// (`ConversationStore`'s `POST`); on Workers KV, which has no
    /// transaction, the core's read-compare-write (per data centre).
    async fn record_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<bool, HostError> {
        match self.store {
            StoreKind::DurableObject => {
                let body = crate::durable::swap_body(expected, &value);
                let resp = self
                    .object(
                        key,
                        Method::Post,
                        Some(body),
                        Some(latticelm_core::RECORD_TTL),
                    )
                    .await?;
                match resp.status_code() {
                    200 | 204 => Ok(true),
                    412 => Ok(false),
                    s => Err(HostError::Store(format!("durable object answered {s}"))),
                }
            }
            StoreKind::Kv => latticelm_core::record_swap_in_kv(self, key, expected, value).await,
        }
    }

    /// One `LimitLedger` Durable Object per usage hash.
    async fn counters_add(
        &self,
        key: &str,
        adds: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> Result<(), HostError> {
        crate::ledger::counters(&self.env, key, Some((adds, ttl)))
            .await
            .map(drop)
    }

    async fn counters_get(
        &self,
        key: &str,
    ) -> Result<std::collections::BTreeMap<String, i64>, HostError> {
        crate::ledger::counters(&self.env, key, None).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        match self.store {
            StoreKind::DurableObject => {
                let mut resp = self.object(key, Method::Get, None, None).await?;
                match resp.status_code() {
                    404 => Ok(None),
                    200 => resp
                        .bytes()
                        .await
                        .map(Some)
                        .map_err(|e| HostError::Store(e.to_string())),
                    s => Err(HostError::Store(format!("durable object answered {s}"))),
                }
            }
            StoreKind::Kv => {
                let kv = self
                    .env
                    .kv(KV_BINDING)
                    .map_err(|e| HostError::Store(e.to_string()))?;
                kv.get(key)
                    .bytes()
                    .await
                    .map_err(|e| HostError::Store(format!("kv `{KV_BINDING}`: {e}")))
            }
        }
    }

    async fn kv_put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        match self.store {
            StoreKind::DurableObject => {
                let resp = self
                    .object(key, Method::Put, Some(value), Some(ttl))
                    .await?;
                match resp.status_code() {
                    200 | 204 => Ok(()),
                    s => Err(HostError::Store(format!("durable object answered {s}"))),
                }
            }
            StoreKind::Kv => {
                let kv = self
                    .env
                    .kv(KV_BINDING)
                    .map_err(|e| HostError::Store(e.to_string()))?;
                kv.put_bytes(key, &value)
                    .map_err(|e| HostError::Store(e.to_string()))?
                    .expiration_ttl(ttl.as_secs().max(KV_MIN_TTL))
                    .execute()
                    .await
                    .map_err(|e| HostError::Store(format!("kv `{KV_BINDING}`: {e}")))
            }
        }
    }

    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        match self.store {
            StoreKind::DurableObject => self
                .object(key, Method::Delete, None, None)
                .await
                .map(|_| ()),
            StoreKind::Kv => {
                let kv = self
                    .env
                    .kv(KV_BINDING)
                    .map_err(|e| HostError::Store(e.to_string()))?;
                kv.delete(key)
                    .await
                    .map_err(|e| HostError::Store(format!("kv `{KV_BINDING}`: {e}")))
            }
        }
    }

    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(worker::Date::now().as_millis())
    }

    async fn sleep(&self, duration: Duration) {
        Delay::from(duration).await;
    }

    fn with_routing<R>(&self, f: impl FnOnce(&mut RoutingState) -> R) -> R {
        ROUTING.with(|r| f(&mut r.borrow_mut()))
    }

    const PUBLIC_BY_DEFAULT: bool = true;

    fn random(&self, buf: &mut [u8]) {
        // crypto.getRandomValues does not fail for buffers this small.
        let _ = getrandom::fill(buf);
    }
}
