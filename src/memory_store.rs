//! The bounded in-memory store with expiry, fair between principals.
//!
//! Keys of the form `prefix:kind:<group>:<rest>` (the core's response keys
//! carry a digest of their owner as `<group>`) are grouped; other keys
//! share one group. Past the entry or byte limit, the group holding the
//! most bytes loses its oldest write first: one principal filling the
//! store evicts its own conversations, not everyone else's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use latticelm_core::HostError;

/// A bounded map with expiry and per-group fair eviction.
pub struct MemoryStore {
    map: HashMap<String, Entry>,
    groups: HashMap<String, Group>,
    pub(crate) bytes: usize,
    generation: u64,
    max_entries: usize,
    max_bytes: usize,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
    generation: u64,
    group: String,
}

#[derive(Default)]
struct Group {
    /// Write order: (key, generation of that write).
    order: VecDeque<(String, u64)>,
    bytes: usize,
    entries: usize,
}

/// The group of a key: the third `:`-separated part of a response key.
fn group_of(key: &str) -> &str {
    let mut parts = key.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("response"), Some(group), Some(_)) => group,
        _ => "",
    }
}

impl MemoryStore {
    /// An empty store with these limits.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        MemoryStore {
            map: HashMap::new(),
            groups: HashMap::new(),
            bytes: 0,
            generation: 0,
            max_entries,
            max_bytes,
        }
    }

    /// A live value.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<Vec<u8>> {
        match self.map.get(key) {
            Some(e) if e.expires <= now => {
                self.remove(key);
                None
            }
            Some(e) => Some(e.value.clone()),
            None => None,
        }
    }

    /// Stores a value, evicting fairly when past the limits.
    pub fn put(
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
        let group = group_of(key).to_owned();
        let g = self.groups.entry(group.clone()).or_default();
        g.order.push_back((key.to_owned(), self.generation));
        g.bytes += value.len();
        g.entries += 1;
        self.bytes += value.len();
        self.map.insert(
            key.to_owned(),
            Entry {
                value,
                expires: now
                    .checked_add(ttl)
                    .unwrap_or(now + Duration::from_secs(86400 * 365)),
                generation: self.generation,
                group,
            },
        );
        while self.map.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some(biggest) = self
                .groups
                .iter()
                .max_by_key(|(_, g)| g.bytes)
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            if !self.evict_oldest(&biggest) {
                break;
            }
        }
        Ok(())
    }

    /// Removes the oldest live write of a group; false when it has none.
    fn evict_oldest(&mut self, group: &str) -> bool {
        loop {
            let Some((key, generation)) =
                self.groups.get_mut(group).and_then(|g| g.order.pop_front())
            else {
                self.groups.remove(group);
                return false;
            };
            if self
                .map
                .get(&key)
                .is_some_and(|e| e.generation == generation)
            {
                self.remove(&key);
                return true;
            }
        }
    }

    /// Deletes a key.
    pub fn remove(&mut self, key: &str) {
        let Some(e) = self.map.remove(key) else {
            return;
        };
        self.bytes -= e.value.len();
        let Some(g) = self.groups.get_mut(&e.group) else {
            return;
        };
        g.bytes -= e.value.len();
        g.entries -= 1;
        if g.entries == 0 {
            self.groups.remove(&e.group);
        } else if g.order.len() > 2 * g.entries + 16 {
            // Overwritten and removed keys leave stale places in the
            // queue: drop them now and then (amortized linear).
            let map = &self.map;
            g.order
                .retain(|(k, gen)| map.get(k).is_some_and(|x| x.generation == *gen));
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

    #[test]
    fn one_principal_cannot_evict_the_others() {
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut s = MemoryStore::new(50, 1_000_000);
        for i in 0..5 {
            s.put(
                &format!("latticelm:response:bbbb:b{i}"),
                vec![0; 100],
                ttl,
                now,
            )
            .unwrap();
        }
        // A flood from one principal, far past the limit.
        for i in 0..1000 {
            s.put(
                &format!("latticelm:response:aaaa:a{i}"),
                vec![0; 100],
                ttl,
                now,
            )
            .unwrap();
        }
        for i in 0..5 {
            assert!(
                s.get(&format!("latticelm:response:bbbb:b{i}"), now)
                    .is_some(),
                "b{i} survived"
            );
        }
        assert!(s.get("latticelm:response:aaaa:a999", now).is_some());
        assert!(s.get("latticelm:response:aaaa:a0", now).is_none());
        assert_eq!(s.map.len(), 50);
    }
}
