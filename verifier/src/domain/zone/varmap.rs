//! A map keyed by [`Var`], stored as a vector sorted by key.
//!
//! Zones are small (a state constrains a dozen or two variables, each with a handful of
//! edges) and are cloned on every CFG edge and joined at every merge. For that workload a sorted
//! vector beats a hash map: one allocation per clone instead of a table per node, lookups by
//! binary search over a few cache lines, and iteration in key order, so lattice operations
//! build their results by appending and every run does the same work in the same order.

use super::Var;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct VarMap<V> {
    entries: Vec<(Var, V)>,
}

impl<V> Default for VarMap<V> {
    fn default() -> Self {
        VarMap {
            entries: Vec::new(),
        }
    }
}

impl<V> VarMap<V> {
    fn find(&self, k: Var) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&k, |(v, _)| *v)
    }

    /// The position of `k` in key order, if present.
    pub fn index_of(&self, k: &Var) -> Option<usize> {
        self.find(*k).ok()
    }

    pub fn get(&self, k: &Var) -> Option<&V> {
        self.find(*k).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, k: &Var) -> Option<&mut V> {
        match self.find(*k) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    /// Inserts or replaces; returns the old value.
    pub fn insert(&mut self, k: Var, v: V) -> Option<V> {
        match self.find(k) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            Err(i) => {
                self.entries.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &Var) -> Option<V> {
        match self.find(*k) {
            Ok(i) => Some(self.entries.remove(i).1),
            Err(_) => None,
        }
    }

    pub fn entry(&mut self, k: Var) -> Entry<'_, V> {
        match self.find(k) {
            Ok(index) => Entry::Occupied(OccupiedEntry { map: self, index }),
            Err(index) => Entry::Vacant(VacantEntry {
                map: self,
                index,
                key: k,
            }),
        }
    }

    /// The entries with keys in `lo..hi`, in order.
    pub fn range(&self, lo: Var, hi: Var) -> impl Iterator<Item = (&Var, &V)> + '_ {
        let start = self.entries.partition_point(|(k, _)| *k < lo);
        self.entries[start..]
            .iter()
            .take_while(move |(k, _)| *k < hi)
            .map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Var, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries, in key order.
    pub fn into_entries(self) -> Vec<(Var, V)> {
        self.entries
    }

    pub fn with_capacity(n: usize) -> Self {
        VarMap {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends `(k, v)` where `k` is greater than every key (building a map in key order
    /// without a search per insertion); out of order, it falls back to [`VarMap::insert`].
    pub fn push_last(&mut self, k: Var, v: V) {
        match self.entries.last() {
            Some((last, _)) if *last >= k => {
                self.insert(k, v);
            }
            _ => self.entries.push((k, v)),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &Var> + '_ {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a, V> IntoIterator for &'a VarMap<V> {
    type Item = (&'a Var, &'a V);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (Var, V)>, fn(&'a (Var, V)) -> (&'a Var, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

pub(super) enum Entry<'a, V> {
    Occupied(OccupiedEntry<'a, V>),
    Vacant(VacantEntry<'a, V>),
}

impl<'a, V: Default> Entry<'a, V> {
    pub fn or_default(self) -> &'a mut V {
        match self {
            Entry::Occupied(o) => &mut o.map.entries[o.index].1,
            Entry::Vacant(v) => v.insert(V::default()),
        }
    }
}

pub(super) struct OccupiedEntry<'a, V> {
    map: &'a mut VarMap<V>,
    index: usize,
}

impl<V> OccupiedEntry<'_, V> {
    pub fn get(&self) -> &V {
        &self.map.entries[self.index].1
    }

    pub fn insert(&mut self, v: V) -> V {
        std::mem::replace(&mut self.map.entries[self.index].1, v)
    }

    pub fn remove(self) -> V {
        self.map.entries.remove(self.index).1
    }
}

pub(super) struct VacantEntry<'a, V> {
    map: &'a mut VarMap<V>,
    index: usize,
    key: Var,
}

impl<'a, V> VacantEntry<'a, V> {
    pub fn insert(self, v: V) -> &'a mut V {
        self.map.entries.insert(self.index, (self.key, v));
        &mut self.map.entries[self.index].1
    }
}

/// Collects `(key, value)` pairs given in increasing key order (out of order still gives a
/// correct map, through [`VarMap::push_last`]'s fallback).
impl<V> FromIterator<(Var, V)> for VarMap<V> {
    fn from_iter<I: IntoIterator<Item = (Var, V)>>(iter: I) -> Self {
        let mut map = VarMap {
            entries: Vec::new(),
        };
        for (k, v) in iter {
            map.push_last(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_an_ordered_map() {
        let mut m: VarMap<i64> = VarMap::default();
        let mut reference = std::collections::BTreeMap::new();
        let mut x: u64 = 12345;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = Var(((x >> 33) % 40) as u32);
            let v = (x >> 20) as i64 % 100;
            match (x >> 60) % 4 {
                0 => assert_eq!(m.insert(k, v), reference.insert(k, v)),
                1 => assert_eq!(m.remove(&k), reference.remove(&k)),
                2 => match m.entry(k) {
                    Entry::Occupied(mut o) => {
                        assert_eq!(Some(o.get()), reference.get(&k));
                        o.insert(v);
                        reference.insert(k, v);
                    }
                    Entry::Vacant(e) => {
                        assert!(!reference.contains_key(&k));
                        e.insert(v);
                        reference.insert(k, v);
                    }
                },
                _ => {
                    *m.entry(k).or_default() += 1;
                    *reference.entry(k).or_default() += 1;
                }
            }
            assert_eq!(m.get(&k), reference.get(&k));
            assert_eq!(m.len(), reference.len());
        }
        let ours: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
        let theirs: Vec<_> = reference.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(ours, theirs);
    }
}
