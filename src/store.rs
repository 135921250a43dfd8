//! The native host's conversation stores: `memory` (default, bounded, one
//! per process) and `redis` (shared by several gateway processes).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latticelm_core::config::ConversationsConfig;
use latticelm_core::HostError;

/// A bounded in-memory map with expiry. When a put exceeds the entry or
/// byte limit, the oldest writes are evicted first.
pub struct MemoryStore {
    map: HashMap<String, Entry>,
    /// Write order, for eviction: (key, generation of that write).
    order: VecDeque<(String, u64)>,
    bytes: usize,
    generation: u64,
    max_entries: usize,
    max_bytes: usize,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
    generation: u64,
}

impl MemoryStore {
    /// An empty store with these limits.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        MemoryStore {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            generation: 0,
            max_entries,
            max_bytes,
        }
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<Vec<u8>> {
        match self.map.get(key) {
            Some(e) if e.expires <= now => {
                self.remove(key);
                None
            }
            Some(e) => Some(e.value.clone()),
            None => None,
        }
    }

    fn put(
        &mut self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), HostError> {
        if value.len() > self.max_bytes {
            return Err(HostError::Store(format!(
                "a {} byte response exceeds the memory store's limit of {} bytes",
                value.len(),
                self.max_bytes
            )));
        }
        self.remove(key);
        self.generation += 1;
        self.bytes += value.len();
        self.map.insert(
            key.to_owned(),
            Entry {
                value,
                expires: now + ttl,
                generation: self.generation,
            },
        );
        self.order.push_back((key.to_owned(), self.generation));
        while self.map.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .map
                .get(&old)
                .is_some_and(|e| e.generation == generation)
            {
                self.remove(&old);
            }
        }
        // Drop expired entries at the front while we are here.
        while let Some((front, generation)) = self.order.front().cloned() {
            match self.map.get(&front) {
                Some(e) if e.generation == generation && e.expires > now => break,
                Some(e) if e.generation == generation => self.remove(&front),
                _ => {}
            }
            self.order.pop_front();
        }
        Ok(())
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.value.len();
        }
    }
}

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
    Redis(redis::Client),
}

impl StoreShared {
    /// From the `conversations` config.
    pub fn from_config(c: &ConversationsConfig) -> Result<Self, String> {
        match c.store.as_deref() {
            None | Some("memory") => Ok(StoreShared::Memory(Arc::new(Mutex::new(MemoryStore::new(c.max_entries, c.max_bytes))))),
            Some("redis") => {
                let url = c.url.as_deref().unwrap_or_default();
                redis::Client::open(url)
                    .map(StoreShared::Redis)
                    .map_err(|e| format!("config key `conversations.url`: `{url}` is not a Redis URL: {e}"))
            }
            Some(other) => Err(format!(
                "config key `conversations.store`: `{other}` is not available in the native host (use memory or redis)"
            )),
        }
    }

    /// The store for one worker thread.
    pub fn for_worker(&self) -> NativeStore {
        match self {
            StoreShared::Memory(m) => NativeStore::Memory(m.clone()),
            StoreShared::Redis(client) => NativeStore::Redis(Rc::new(RedisStore {
                client: client.clone(),
                conn: RefCell::new(None),
            })),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_expires_and_evicts_oldest() {
        let now = Instant::now();
        let mut s = MemoryStore::new(2, 1000);
        s.put("a", vec![1; 10], Duration::from_secs(60), now)
            .unwrap();
        s.put("b", vec![2; 10], Duration::from_secs(1), now)
            .unwrap();
        assert_eq!(s.get("b", now + Duration::from_secs(2)), None, "expired");
        s.put("b", vec![2; 10], Duration::from_secs(60), now)
            .unwrap();
        s.put("c", vec![3; 10], Duration::from_secs(60), now)
            .unwrap();
        assert_eq!(s.get("a", now), None, "oldest evicted past max_entries");
        assert!(s.get("b", now).is_some() && s.get("c", now).is_some());
        let mut s = MemoryStore::new(100, 25);
        s.put("a", vec![1; 10], Duration::from_secs(60), now)
            .unwrap();
        s.put("b", vec![1; 10], Duration::from_secs(60), now)
            .unwrap();
        s.put("c", vec![1; 10], Duration::from_secs(60), now)
            .unwrap();
        assert_eq!(
            (s.get("a", now), s.bytes),
            (None, 20),
            "evicted past max_bytes"
        );
        assert!(s
            .put("big", vec![0; 26], Duration::from_secs(1), now)
            .is_err());
    }
}
