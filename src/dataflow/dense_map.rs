//! [`DenseMap`]: a map whose values sit in one vector, found through a small index.
//!
//! The event operator keeps a state per user, a million users to a worker, and reads
//! a few of them per round at random. In a hash map of the states themselves, the
//! probe is a cache miss before the state's own misses begin, and the state's memory
//! cannot be asked for until the probe has found it. Here the index holds only keys
//! and positions (16 bytes a user), and a probe gives the value's address:
//! [`DenseMap::prefetch`] makes the probe and asks for the value's memory, so that a
//! caller probing several keys in a row has their misses overlap, and reads the values
//! later.

use std::hash::Hash;

use rustc_hash::FxHashMap;

use super::prefetch::prefetch_slice;

/// Values by key, in one vector.
pub struct DenseMap<K, V> {
    /// Each key's position in `entries`.
    index: FxHashMap<K, u32>,
    /// The entries, in no particular order: a removal moves the last into the gap.
    entries: Vec<(K, V)>,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            index: FxHashMap::default(),
            entries: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash, V: Default> DenseMap<K, V> {
    /// The value of `key`, if any.
    pub fn get(&self, key: &K) -> Option<&V> {
        let at = *self.index.get(key)?;
        Some(&self.entries[at as usize].1)
    }

    /// Asks for the memory of `key`'s entry, for a caller about to read it.
    pub fn prefetch(&self, key: &K) {
        if let Some(&at) = self.index.get(key) {
            prefetch_slice(&self.entries[at as usize..at as usize + 1]);
        }
    }

    /// The value of `key`, made by `V::default()` if absent.
    pub fn entry_or_default(&mut self, key: K) -> &mut V {
        let len = self.entries.len();
        let at = *self
            .index
            .entry(key)
            .or_insert_with(|| u32::try_from(len).expect("fewer than 2^32 keys per worker"))
            as usize;
        if at == len {
            self.entries.push((key, V::default()));
        }
        &mut self.entries[at].1
    }

    /// Removes `key`'s value, if any.
    pub fn remove(&mut self, key: &K) {
        let Some(at) = self.index.remove(key) else {
            return;
        };
        self.entries.swap_remove(at as usize);
        if let Some((moved, _)) = self.entries.get(at as usize) {
            self.index.insert(*moved, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any sequence of additions and removals leaves the same values as a hash map.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u8..16, 0u8..3), 0..200)) {
            let mut dense: DenseMap<u8, u32> = DenseMap::default();
            let mut plain: HashMap<u8, u32> = HashMap::new();
            for (key, op) in ops {
                if op == 0 {
                    dense.remove(&key);
                    plain.remove(&key);
                } else {
                    *dense.entry_or_default(key) += 1;
                    *plain.entry(key).or_default() += 1;
                }
                dense.prefetch(&key);
                for probe in 0..16 {
                    prop_assert_eq!(dense.get(&probe), plain.get(&probe));
                }
            }
        }
    }
}
