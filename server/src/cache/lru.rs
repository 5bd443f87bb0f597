//! A bounded map that evicts the least recently used entries.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A map of at most `capacity` entries (and, for weighted inserts, at most `max_weight` in
/// total) that evicts the least recently used ones.
///
/// Policy: every [`LruMap::get`] stamps the entry with the next tick of a shared clock (an
/// atomic store under the read lock, so a hit never waits for the write lock); inserts count
/// as uses too. An insert that would exceed a bound first removes entries in order of their
/// stamps, oldest first: at least `capacity / 16` of them (at least one) when the count is the
/// bound, and down to 15/16 of `max_weight` when the weight is. So eviction is exact LRU, done
/// in batches to keep its cost (one pass and a sort of the map) amortised to a few entries per
/// insert. A value heavier than `max_weight / 16` is not stored at all.
pub struct LruMap<K, V> {
    capacity: usize,
    max_weight: u64,
    clock: AtomicU64,
    inner: RwLock<Inner<K, V>>,
}

struct Inner<K, V> {
    map: HashMap<K, Slot<V>>,
    weight: u64,
}

struct Slot<V> {
    value: V,
    weight: u64,
    used: AtomicU64,
}

impl<K: Hash + Eq + Copy, V: Clone> LruMap<K, V> {
    /// A map bounded by count only.
    pub fn new(capacity: usize) -> LruMap<K, V> {
        LruMap::with_max_weight(capacity, u64::MAX)
    }

    pub fn with_max_weight(capacity: usize, max_weight: u64) -> LruMap<K, V> {
        LruMap {
            capacity: capacity.max(1),
            max_weight,
            clock: AtomicU64::new(0),
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                weight: 0,
            }),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Relaxed) + 1
    }

    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |m| m.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The total weight stored.
    pub fn weight(&self) -> u64 {
        self.inner.read().map_or(0, |m| m.weight)
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let inner = self.inner.read().ok()?;
        let slot = inner.map.get(key)?;
        slot.used.store(self.tick(), Relaxed);
        Some(slot.value.clone())
    }

    /// Whether the key is present (not a use).
    pub fn contains(&self, key: &K) -> bool {
        self.inner.read().is_ok_and(|m| m.map.contains_key(key))
    }

    pub fn insert(&self, key: K, value: V) {
        self.insert_weighted(key, value, 0);
    }

    /// Whether an entry of this weight would be stored (at most `max_weight / 16`).
    pub fn accepts(&self, weight: u64) -> bool {
        weight <= self.max_weight / 16
    }

    /// Inserts (or replaces) an entry of the given weight.
    pub fn insert_weighted(&self, key: K, value: V, weight: u64) {
        if !self.accepts(weight) {
            return;
        }
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if let Some(old) = inner.map.remove(&key) {
            inner.weight -= old.weight;
        }
        let too_many = inner.map.len() >= self.capacity;
        let too_heavy = inner.weight + weight > self.max_weight;
        if too_many || too_heavy {
            let mut stamps: Vec<(u64, K)> = inner
                .map
                .iter()
                .map(|(k, s)| (s.used.load(Relaxed), *k))
                .collect();
            stamps.sort_unstable_by_key(|(used, _)| *used);
            let count_target = if too_many {
                (self.capacity / 16).max(1)
            } else {
                0
            };
            let weight_target = self.max_weight / 16 * 15;
            for (i, (_, k)) in stamps.iter().enumerate() {
                if i >= count_target && inner.weight + weight <= weight_target {
                    break;
                }
                if let Some(old) = inner.map.remove(k) {
                    inner.weight -= old.weight;
                }
            }
        }
        inner.weight += weight;
        let used = AtomicU64::new(self.tick());
        inner.map.insert(
            key,
            Slot {
                value,
                weight,
                used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(map: &LruMap<u8, u8>, keys: &[u8]) -> Vec<u8> {
        keys.iter().copied().filter(|k| map.contains(k)).collect()
    }

    #[test]
    fn a_full_map_evicts_the_least_recently_used_entry() {
        let map = LruMap::new(4);
        for i in 1..=4 {
            map.insert(i, i);
        }
        // 1 is the oldest insert but was just read; 2 is now the least recently used.
        assert_eq!(map.get(&1), Some(1));
        map.insert(5, 5);
        assert_eq!(present(&map, &[1, 2, 3, 4, 5]), [1, 3, 4, 5]);
        // Reads of 3 and 1, then 6: 4 goes (least recently used), not 1 or 3 (oldest inserts).
        assert_eq!(map.get(&3), Some(3));
        assert_eq!(map.get(&1), Some(1));
        map.insert(6, 6);
        assert_eq!(present(&map, &[1, 3, 4, 5, 6]), [1, 3, 5, 6]);
        // Re-inserting a present key evicts nothing (and counts as a use).
        map.insert(5, 50);
        assert_eq!(map.len(), 4);
        assert_eq!(map.get(&5), Some(50));
        // A miss is not a use.
        assert_eq!(map.get(&2), None);
        map.insert(7, 7);
        assert_eq!(present(&map, &[1, 3, 5, 6, 7]), [1, 5, 6, 7]);
    }

    #[test]
    fn eviction_takes_the_oldest_sixteenth_in_one_batch() {
        let map = LruMap::new(64);
        for i in 0..64 {
            map.insert(i, i);
        }
        // Use the first 32 again, in reverse: 32..=35 are now the four least recently used.
        for i in (0..32).rev() {
            assert_eq!(map.get(&i), Some(i));
        }
        map.insert(100, 100);
        let gone: Vec<u8> = (0..64).filter(|k| !map.contains(k)).collect();
        assert_eq!(gone, [32, 33, 34, 35]);
        assert_eq!(map.len(), 61);
    }

    #[test]
    fn weight_bound_evicts_least_recently_used_down_to_fifteen_sixteenths() {
        let map = LruMap::with_max_weight(1000, 1600);
        for i in 0..16 {
            map.insert_weighted(i, i, 100);
        }
        assert_eq!(map.weight(), 1600);
        for i in (8..16).rev() {
            assert_eq!(map.get(&i), Some(i));
        }
        // 100 more: down to 1500 - 100 first, so the two least recently used (0 and 1) go.
        map.insert_weighted(20, 20, 100);
        assert_eq!(present(&map, &[0, 1, 2, 20]), [2, 20]);
        assert_eq!(map.weight(), 1500);
        // Too heavy to keep (over max_weight / 16): not stored, nothing evicted.
        map.insert_weighted(21, 21, 101);
        assert!(!map.contains(&21));
        assert_eq!(map.len(), 15);
        // Replacing an entry releases its old weight.
        map.insert_weighted(20, 20, 50);
        assert_eq!(map.weight(), 1450);
    }
}
