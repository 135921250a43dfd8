//! The series of one metric kind: found by their name and borrowed label
//! values, so that counting a request into a series it has counted into
//! before allocates nothing (a `BTreeMap` keyed by owned labels built a
//! `Vec` and a `String` per label per series per request).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Label names and their values, as kept.
pub(super) type Labels = Vec<(&'static str, String)>;

/// A series' key: the metric's name and its labels.
pub(super) type Key = (&'static str, Labels);

/// Series by key, in the order they were first seen; [`SeriesMap::sorted`]
/// gives them in key order for the exposition.
#[derive(Debug, Clone)]
pub(super) struct SeriesMap<V> {
    entries: Vec<(Key, V)>,
    /// Hash of the name and label pairs → the entries with that hash.
    index: HashMap<u64, Vec<usize>, BuildHasherDefault<Identity>>,
}

impl<V> Default for SeriesMap<V> {
    fn default() -> Self {
        SeriesMap {
            entries: Vec::new(),
            index: HashMap::default(),
        }
    }
}

/// The index's keys are hashes already.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fast, non-keyed hash of the name and labels (FxHash's mixing, eight
/// bytes at a time). Label values are the operator's names (models,
/// providers, keys) or capped: nobody outside chooses them freely.
fn hash_of(name: &str, labels: &[(&'static str, &str)]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut add = |s: &str| {
        let mut chunks = s.as_bytes().chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        // The length ends each string: "ab","c" and "a","bc" differ.
        h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
        h = (h.rotate_left(5) ^ s.len() as u64).wrapping_mul(K);
    };
    add(name);
    for (k, v) in labels {
        add(k);
        add(v);
    }
    h
}

fn same(key: &Key, name: &str, labels: &[(&'static str, &str)]) -> bool {
    key.0 == name
        && key.1.len() == labels.len()
        && key
            .1
            .iter()
            .zip(labels)
            .all(|(a, b)| a.0 == b.0 && a.1 == b.1)
}

impl<V: Default> SeriesMap<V> {
    /// How many series there are.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn find(&self, hash: u64, name: &str, labels: &[(&'static str, &str)]) -> Option<usize> {
        self.index
            .get(&hash)?
            .iter()
            .copied()
            .find(|&i| same(&self.entries[i].0, name, labels))
    }

    /// The series `name{labels}`, made when new. A new series past the
    /// cap (`full`) is counted under labels that all read `other`.
    pub(super) fn series(
        &mut self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        full: bool,
        other: &'static str,
    ) -> &mut V {
        let hash = hash_of(name, labels);
        if let Some(i) = self.find(hash, name, labels) {
            return &mut self.entries[i].1;
        }
        if full {
            let others: Vec<(&'static str, &str)> =
                labels.iter().map(|(k, _)| (*k, other)).collect();
            return self.series(name, &others, false, other);
        }
        let owned = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let i = self.entries.len();
        self.entries.push(((name, owned), V::default()));
        self.index.entry(hash).or_default().push(i);
        &mut self.entries[i].1
    }

    /// Every series in key order (name, then labels).
    pub(super) fn sorted(&self) -> Vec<(&Key, &V)> {
        let mut all: Vec<(&Key, &V)> = self.entries.iter().map(|(k, v)| (k, v)).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_found_again_and_capped() {
        let mut m: SeriesMap<f64> = SeriesMap::default();
        *m.series("b", &[("x", "1")], false, "other") += 1.0;
        *m.series("a", &[("x", "2")], false, "other") += 1.0;
        *m.series("b", &[("x", "1")], false, "other") += 1.0;
        assert_eq!(m.len(), 2);
        *m.series("b", &[("x", "new")], true, "other") += 5.0;
        *m.series("b", &[("x", "1")], true, "other") += 1.0;
        let sorted: Vec<_> = m
            .sorted()
            .into_iter()
            .map(|(k, v)| (k.0, k.1[0].1.clone(), *v))
            .collect();
        assert_eq!(
            sorted,
            vec![
                ("a", "2".to_owned(), 1.0),
                ("b", "1".to_owned(), 3.0),
                ("b", "other".to_owned(), 5.0)
            ]
        );
    }
}
