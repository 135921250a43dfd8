//! The native host's conversation stores: `memory` (default, bounded, one
//! per process) and `redis` (shared by several gateway processes).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latticelm_core::config::ConversationsConfig;

pub use crate::memory_store::MemoryStore;
use latticelm_core::HostError;

/// A Redis store: values with native expiry (`SET … PX`). Each worker
/// thread keeps its own multiplexed connection, opened on first use and
/// reopened after a failure.
pub struct RedisStore {
    client: redis::Client,
    conn: RefCell<Option<redis::aio::MultiplexedConnection>>,
}

const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

fn redis_err(e: impl std::fmt::Display) -> HostError {
    HostError::Store(format!("redis: {e}"))
}

impl RedisStore {
    /// A store on `client`, connecting on first use.
    pub fn new(client: redis::Client) -> Self {
        RedisStore {
            client,
            conn: RefCell::new(None),
        }
    }

    /// Runs a Lua script (by its SHA, loading it when Redis lacks it).
    pub async fn eval<A: redis::ToRedisArgs>(
        &self,
        script: &redis::Script,
        keys: &[String],
        arg: &[A],
    ) -> Result<String, HostError> {
        let mut c = self.conn().await?;
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for a in arg {
            inv.arg(a);
        }
        let result = tokio::time::timeout(REDIS_TIMEOUT, inv.invoke_async::<String>(&mut c)).await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() {
                    *self.conn.borrow_mut() = None;
                }
                Err(redis_err(e))
            }
            Err(_) => {
                *self.conn.borrow_mut() = None;
                Err(redis_err("command timed out"))
            }
        }
    }

    async fn conn(&self) -> Result<redis::aio::MultiplexedConnection, HostError> {
        if let Some(c) = self.conn.borrow().as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| redis_err("connection timed out"))?
        .map_err(redis_err)?;
        *self.conn.borrow_mut() = Some(c.clone());
        Ok(c)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, HostError> {
        let mut c = self.conn().await?;
        let result = tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut c)).await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *self.conn.borrow_mut() = None;
                Err(redis_err(e))
            }
            Err(_) => {
                *self.conn.borrow_mut() = None;
                Err(redis_err("command timed out"))
            }
        }
    }
}

/// The store a worker thread uses.
#[derive(Clone)]
pub enum NativeStore {
    /// Shared by every worker of the process.
    Memory(Arc<Mutex<MemoryStore>>),
    /// This worker's Redis connection.
    Redis(Rc<RedisStore>),
}

/// What is shared between worker threads to build their stores.
#[derive(Clone)]
pub enum StoreShared {
    /// The one memory store.
    Memory(Arc<Mutex<MemoryStore>>),
    /// The Redis URL.
    Redis(Box<redis::Client>),
}

impl StoreShared {
    /// From the `conversations` config.
    pub fn from_config(c: &ConversationsConfig) -> Result<Self, String> {
        match c.store.as_deref() {
            None | Some("memory") => Ok(StoreShared::Memory(Arc::new(Mutex::new(MemoryStore::new(c.max_entries, c.max_bytes))))),
            Some("redis") => {
                let url = c.url.as_deref().unwrap_or_default();
                let bad = |e: redis::RedisError| {
                    // The URL can hold a password: name only what is wrong.
                    format!("config key `conversations.url`: not a usable Redis URL: {:?}", e.kind())
                };
                let client = match &c.ca_file {
                    Some(path) => {
                        let pem = std::fs::read(path).map_err(|e| {
                            format!("config key `conversations.ca_file`: cannot read {path}: {e}")
                        })?;
                        let certs = redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem),
                        };
                        redis::Client::build_with_tls(url, certs).map_err(bad)?
                    }
                    None => redis::Client::open(url).map_err(bad)?,
                };
                Ok(StoreShared::Redis(Box::new(client)))
            }
            Some(other) => Err(format!(
                "config key `conversations.store`: `{other}` is not available in the native host (use memory or redis)"
            )),
        }
    }

    /// The store of admin records (`auth.store`): `memory`, its own map
    /// (the default, never evicted by conversations), or Redis.
    pub fn for_records(store: Option<&str>) -> Result<Self, String> {
        match store {
            None | Some("memory") => Ok(StoreShared::Memory(Arc::new(Mutex::new(
                MemoryStore::new(usize::MAX / 2, usize::MAX / 2),
            )))),
            Some(url) => redis::Client::open(url)
                .map(|c| StoreShared::Redis(Box::new(c)))
                .map_err(|e| {
                    format!(
                        "config key `auth.store`: not a usable Redis URL: {:?}",
                        e.kind()
                    )
                }),
        }
    }

    /// The store for one worker thread.
    pub fn for_worker(&self) -> NativeStore {
        match self {
            StoreShared::Memory(m) => NativeStore::Memory(m.clone()),
            StoreShared::Redis(client) => {
                NativeStore::Redis(Rc::new(RedisStore::new((**client).clone())))
            }
        }
    }
}

fn poisoned() -> HostError {
    HostError::Store("memory store lock poisoned".into())
}

impl NativeStore {
    /// Reads a value that has not expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        match self {
            NativeStore::Memory(m) => {
                Ok(m.lock().map_err(|_| poisoned())?.get(key, Instant::now()))
            }
            NativeStore::Redis(r) => r.run(redis::cmd("GET").arg(key).clone()).await,
        }
    }

    /// Writes a value that expires after `ttl`.
    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        match self {
            NativeStore::Memory(m) => {
                m.lock()
                    .map_err(|_| poisoned())?
                    .put(key, value, ttl, Instant::now())
            }
            NativeStore::Redis(r) => {
                let ms = ttl.as_millis().max(1) as u64;
                r.run::<()>(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .clone(),
                )
                .await
            }
        }
    }

    /// Writes `value` (for `ttl`) only if the key still holds `expected`
    /// (`None`: nothing): under the lock in memory, one Lua script on
    /// Redis. `Ok(false)` when it held something else.
    pub async fn swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, HostError> {
        match self {
            NativeStore::Memory(m) => {
                let mut m = m.lock().map_err(|_| poisoned())?;
                let now = Instant::now();
                if m.get(key, now).as_deref() != expected {
                    return Ok(false);
                }
                m.put(key, value, ttl, now).map(|()| true)
            }
            NativeStore::Redis(r) => {
                thread_local! {
                    static SWAP: redis::Script = redis::Script::new(latticelm_core::keys::REDIS_SWAP);
                }
                let script = SWAP.with(Clone::clone);
                let ttl_ms = ttl.as_millis().max(1).to_string();
                let args: [&[u8]; 4] = [
                    if expected.is_some() { b"1" } else { b"0" },
                    expected.unwrap_or_default(),
                    &value,
                    ttl_ms.as_bytes(),
                ];
                r.eval(&script, &[key.to_owned()], &args)
                    .await
                    .map(|v| v == "1")
            }
        }
    }

    /// Adds to integer counters of a hash, atomically (one Lua call on
    /// Redis; under the lock in memory).
    pub async fn counters_add(
        &self,
        key: &str,
        adds: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> Result<(), HostError> {
        match self {
            NativeStore::Memory(m) => {
                let mut m = m.lock().map_err(|_| poisoned())?;
                let now = Instant::now();
                let mut map: BTreeMap<String, i64> = m
                    .get(key, now)
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                latticelm_core::keys::add_counters(&mut map, adds);
                let bytes = serde_json::to_vec(&map).unwrap_or_default();
                m.put(key, bytes, ttl.unwrap_or(latticelm_core::RECORD_TTL), now)
            }
            NativeStore::Redis(r) => {
                thread_local! {
                    static ADD: redis::Script = redis::Script::new(latticelm_core::keys::usage::REDIS_ADD);
                }
                let script = ADD.with(Clone::clone);
                let ttl_ms = ttl.map_or(0, |t| t.as_millis().max(1) as u64);
                let args: Vec<String> = std::iter::once(ttl_ms.to_string())
                    .chain(adds.iter().flat_map(|(f, n)| [f.clone(), n.to_string()]))
                    .collect();
                r.eval(&script, &[key.to_owned()], &args).await.map(drop)
            }
        }
    }

    /// Reads the integer counters of a hash.
    pub async fn counters_get(&self, key: &str) -> Result<BTreeMap<String, i64>, HostError> {
        match self {
            NativeStore::Memory(m) => Ok(m
                .lock()
                .map_err(|_| poisoned())?
                .get(key, Instant::now())
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()),
            NativeStore::Redis(r) => r.run(redis::cmd("HGETALL").arg(key).clone()).await,
        }
    }

    /// Deletes a value.
    pub async fn delete(&self, key: &str) -> Result<(), HostError> {
        match self {
            NativeStore::Memory(m) => {
                m.lock().map_err(|_| poisoned())?.remove(key);
                Ok(())
            }
            NativeStore::Redis(r) => r.run::<()>(redis::cmd("DEL").arg(key).clone()).await,
        }
    }
}
