//! The per-process cache of runtime-key and team lookups: least recently
//! used entries go first when it is full, so a spray of made-up keys
//! can't evict the keys in use; and unknown keys are remembered apart
//! (a negative cache, kept longer), so each made-up key costs at most
//! one store read a minute.

use std::collections::{BTreeMap, HashMap};

use crate::keys::{KeyRecord, TeamRecord};

/// How long a looked-up runtime key or team is trusted before it is read
/// again: a disabled, deleted or rotated key stops working everywhere
/// once its entry lapses.
pub const KEY_CACHE_MS: u64 = 2_000;

/// How long a secret that names no key is remembered as unknown. A new
/// key's secret is random, so no entry here can hide it.
pub const UNKNOWN_KEY_MS: u64 = 60_000;

/// Entries kept per section.
const CAPACITY: usize = 10_000;

/// A bounded map that forgets its least recently used entry when full.
/// Each entry keeps when it was read (ms).
#[derive(Debug)]
pub(crate) struct Lru<V> {
    map: HashMap<String, (V, u64, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    capacity: usize,
}

impl<V: Clone> Default for Lru<V> {
    fn default() -> Self {
        Lru::new(CAPACITY)
    }
}

impl<V: Clone> Lru<V> {
    /// An empty map of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    /// The value of `key` read less than `max_age` ms before `now`.
    pub fn get(&mut self, key: &str, now: u64, max_age: u64) -> Option<V> {
        let (value, at, used) = self.map.get_mut(key)?;
        if now.saturating_sub(*at) >= max_age {
            return None;
        }
        self.tick += 1;
        self.order.remove(used);
        *used = self.tick;
        self.order.insert(self.tick, key.to_owned());
        Some(value.clone())
    }

    /// Remembers `value` for `key`, read at `now`.
    pub fn put(&mut self, key: &str, value: V, now: u64) {
        self.remove(key);
        while self.map.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.tick += 1;
        self.order.insert(self.tick, key.to_owned());
        self.map.insert(key.to_owned(), (value, now, self.tick));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &str) {
        if let Some((_, _, used)) = self.map.remove(key) {
            self.order.remove(&used);
        }
    }

    /// How many entries it holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// Cached lookups: secret hash → key record, secret hashes that name no
/// key, team name → runtime team (or none).
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    pub keys: Lru<KeyRecord>,
    pub unknown: Lru<()>,
    pub teams: Lru<Option<TeamRecord>>,
}

impl KeyCache {
    /// A cached lookup of the key hashed `hash`: `Some(None)` when it is
    /// known to name no key.
    pub fn key(&mut self, hash: &str, now: u64) -> Option<Option<KeyRecord>> {
        if let Some(r) = self.keys.get(hash, now, KEY_CACHE_MS) {
            return Some(Some(r));
        }
        self.unknown.get(hash, now, UNKNOWN_KEY_MS).map(|()| None)
    }

    /// Remembers what the store said of `hash`.
    pub fn remember_key(&mut self, hash: &str, record: Option<KeyRecord>, now: u64) {
        match record {
            Some(r) => {
                self.unknown.remove(hash);
                self.keys.put(hash, r, now);
            }
            None => {
                self.keys.remove(hash);
                self.unknown.put(hash, (), now);
            }
        }
    }

    /// Forgets what is known of `hash` (a record changed).
    pub fn forget_key(&mut self, hash: &str) {
        self.keys.remove(hash);
        self.unknown.remove(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first_and_entries_lapse() {
        let mut lru: Lru<u32> = Lru::new(3);
        lru.put("a", 1, 0);
        lru.put("b", 2, 0);
        lru.put("c", 3, 0);
        assert_eq!(lru.get("a", 10, 100), Some(1));
        lru.put("d", 4, 10);
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get("b", 10, 100), None, "b was the least recently used");
        assert_eq!(lru.get("a", 10, 100), Some(1));
        assert_eq!(lru.get("a", 200, 100), None, "lapsed");
    }

    #[test]
    fn a_spray_of_unknown_keys_leaves_the_known_ones() {
        let mut c = KeyCache::default();
        let rec: KeyRecord = serde_json::from_value(serde_json::json!({
            "id": "k1", "name": "n", "owner": "admin", "hash": "h", "created_at": 0
        }))
        .unwrap();
        c.remember_key("known", Some(rec), 0);
        for i in 0..(3 * CAPACITY) {
            c.remember_key(&format!("made-up-{i}"), None, 0);
        }
        assert!(matches!(c.key("known", 1), Some(Some(_))));
        assert!(matches!(
            c.key(&format!("made-up-{}", 3 * CAPACITY - 1), 1),
            Some(None)
        ));
        assert!(
            c.key("made-up-0", 1).is_none(),
            "the oldest unknown ones went"
        );
    }
}
