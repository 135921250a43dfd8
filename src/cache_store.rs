//! The native host's response cache (`cache.store`): `memory`, one map
//! for the process bounded by `cache.max_bytes` with the least recently
//! used entries evicted first, or Redis, shared by every replica.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latticelm_core::HostError;

use crate::store::{NativeStore, RedisStore};

/// Entries by key, with their expiry and last use; the bytes they hold.
#[derive(Debug, Default)]
pub struct Lru {
    entries: HashMap<String, (Vec<u8>, Instant, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
    max_bytes: u64,
}

impl Lru {
    /// An empty cache holding at most `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        Lru {
            max_bytes,
            ..Default::default()
        }
    }

    fn size(key: &str, value: &[u8]) -> u64 {
        (key.len() + value.len() + 64) as u64
    }

    /// The value, unless it has expired; counts as a use.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<Vec<u8>> {
        let (_, expires, used) = self.entries.get(key)?;
        if *expires <= now {
            self.remove(key);
            return None;
        }
        let old = *used;
        self.tick += 1;
        let tick = self.tick;
        self.order.remove(&old);
        self.order.insert(tick, key.to_owned());
        let e = self.entries.get_mut(key)?;
        e.2 = tick;
        Some(e.0.clone())
    }

    /// Stores a value for `ttl`, evicting the least recently used entries
    /// past `max_bytes` (a value larger than that is not kept).
    pub fn put(&mut self, key: &str, value: Vec<u8>, ttl: Duration, now: Instant) {
        self.remove(key);
        let size = Self::size(key, &value);
        if size > self.max_bytes {
            return;
        }
        while self.bytes + size > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((v, _, _)) = self.entries.remove(&oldest) {
                self.bytes -= Self::size(&oldest, &v);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.to_owned());
        self.entries
            .insert(key.to_owned(), (value, now + ttl, self.tick));
        self.bytes += size;
    }

    fn remove(&mut self, key: &str) {
        if let Some((v, _, used)) = self.entries.remove(key) {
            self.order.remove(&used);
            self.bytes -= Self::size(key, &v);
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// What worker threads share to build their caches.
#[derive(Clone)]
pub enum CacheShared {
    /// The process's one map.
    Memory(Arc<Mutex<Lru>>),
    /// The Redis URL.
    Redis(Box<redis::Client>),
}

impl CacheShared {
    /// From `cache:`.
    pub fn from_config(c: &latticelm_core::config::CacheConfig) -> Result<Self, String> {
        match c.store.as_deref() {
            None | Some("memory") => Ok(CacheShared::Memory(Arc::new(Mutex::new(Lru::new(
                c.max_bytes,
            ))))),
            Some(url) => redis::Client::open(url)
                .map(|c| CacheShared::Redis(Box::new(c)))
                .map_err(|e| {
                    format!(
                        "config key `cache.store`: not a usable Redis URL: {:?}",
                        e.kind()
                    )
                }),
        }
    }

    /// The cache for one worker thread.
    pub fn for_worker(&self) -> NativeCache {
        match self {
            CacheShared::Memory(m) => NativeCache::Memory(m.clone()),
            CacheShared::Redis(c) => {
                NativeCache::Redis(NativeStore::Redis(Rc::new(RedisStore::new((**c).clone()))))
            }
        }
    }
}

/// One worker thread's response cache.
#[derive(Clone)]
pub enum NativeCache {
    /// The process's map.
    Memory(Arc<Mutex<Lru>>),
    /// Redis (`SET … PX`).
    Redis(NativeStore),
}

impl Default for NativeCache {
    fn default() -> Self {
        NativeCache::Memory(Arc::new(Mutex::new(Lru::new(64 << 20))))
    }
}

fn poisoned() -> HostError {
    HostError::Store("cache lock poisoned".into())
}

impl NativeCache {
    /// Reads an entry.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        match self {
            NativeCache::Memory(m) => {
                Ok(m.lock().map_err(|_| poisoned())?.get(key, Instant::now()))
            }
            NativeCache::Redis(s) => s.get(&format!("cache/{key}")).await,
        }
    }

    /// Writes an entry for `ttl`.
    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), HostError> {
        match self {
            NativeCache::Memory(m) => {
                m.lock()
                    .map_err(|_| poisoned())?
                    .put(key, value, ttl, Instant::now());
                Ok(())
            }
            NativeCache::Redis(s) => s.put(&format!("cache/{key}"), value, ttl).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first_and_expiry_holds() {
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        let one = Lru::size("a", &[0; 100]);
        let mut lru = Lru::new(one * 2);
        lru.put("a", vec![0; 100], ttl, now);
        lru.put("b", vec![0; 100], ttl, now);
        assert!(lru.get("a", now).is_some()); // a is now the most recent
        lru.put("c", vec![0; 100], ttl, now);
        assert!(lru.get("b", now).is_none(), "b was the least recently used");
        assert!(lru.get("a", now).is_some() && lru.get("c", now).is_some());
        assert_eq!(lru.bytes(), one * 2);
        assert!(lru.get("a", now + ttl).is_none(), "expired");
        lru.put("huge", vec![0; 1000], ttl, now);
        assert!(
            lru.get("huge", now).is_none(),
            "larger than the whole cache"
        );
    }
}
