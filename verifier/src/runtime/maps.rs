//! User-space maps: the storage behind `bpf_map_*` helpers, address-agnostic.
//!
//! Every value lives in a [`SharedBytes`]: one slab per array map (each entry is a window of it)
//! or one buffer per hash entry. Those never move, so an address handed to the program (an
//! interpreter region or, for the JIT, a host pointer) stays valid for the whole run. Linux keeps
//! a deleted hash element readable until the program exits (RCU); here a deleted or evicted value
//! goes to the map's `retired` list, which [`Map::end_run`] empties, so a pointer the program
//! still holds keeps reading the old bytes.
//!
//! Per-CPU maps are plain maps (one CPU); `devmap`, `cpumap`, `xskmap`, `sockmap`,
//! `cgroup_array` are arrays of their value size, `sockhash`/`devmap_hash`/`stack_trace` hashes;
//! `prog_array` and the map-of-maps hold the runtime's program or map indices in 4-byte values.

use crate::analysis::MapInfo;
use crate::interp::SharedBytes;
use std::collections::{HashMap, VecDeque};
use thiserror::Error;

/// `BPF_MAP_TYPE_*` numbers the runtime gives behaviour to.
pub mod types {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const CGROUP_ARRAY: u32 = 8;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const DEVMAP: u32 = 14;
    pub const SOCKMAP: u32 = 15;
    pub const CPUMAP: u32 = 16;
    pub const XSKMAP: u32 = 17;
    pub const SOCKHASH: u32 = 18;
    pub const CGROUP_STORAGE: u32 = 19;
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const DEVMAP_HASH: u32 = 25;
    pub const RINGBUF: u32 = 27;
}

/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`: the update flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;
pub const BPF_F_LOCK: u64 = 4;

/// Largest map the runtime allocates up front (an array's slab), so a hostile object cannot make
/// it allocate gigabytes.
pub const MAX_MAP_BYTES: u64 = 64 << 20;

/// Why a map operation failed; [`MapError::errno`] is what the helper returns to the program.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MapError {
    #[error("no such entry")]
    NotFound,
    #[error("the entry exists (BPF_NOEXIST)")]
    Exists,
    #[error("the map is full or the index is out of range")]
    Full,
    #[error("invalid flags or arguments")]
    Invalid,
    #[error("map {map} does not support {op}")]
    NotSupported { map: String, op: &'static str },
    #[error("map {map}: {what}")]
    TooLarge { map: String, what: String },
}

impl MapError {
    /// The negative errno Linux returns for this failure.
    pub fn errno(&self) -> i64 {
        match self {
            MapError::NotFound => -2,
            MapError::Exists => -17,
            MapError::Full => -7,
            MapError::Invalid | MapError::TooLarge { .. } => -22,
            MapError::NotSupported { .. } => -95,
        }
    }
}

/// What an iteration over a map's elements visits (see [`Map::element_keys`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementKeys {
    /// Array indices `0..n`.
    Indices(u32),
    /// Hash keys.
    Keys(Vec<Vec<u8>>),
}

/// A hash entry: its value and when it was last used (for LRU eviction).
#[derive(Clone, Debug)]
struct Entry {
    value: SharedBytes,
    used: u64,
}

#[derive(Debug)]
enum Storage {
    /// One slab of `max_entries * value_size` bytes; key = u32 index.
    Array(SharedBytes),
    /// Exact-match keys; `lru` evicts the least recently used entry when full; `lpm` matches
    /// keys as `{u32 prefixlen; u8 data[]}` by longest prefix.
    Hash {
        entries: HashMap<Vec<u8>, Entry>,
        lru: bool,
        lpm: bool,
    },
    /// `queue` (FIFO) or `stack` (LIFO) of values.
    Deque {
        items: VecDeque<Vec<u8>>,
        lifo: bool,
    },
    /// Ring buffer and perf event array: records go to the runtime's sinks, not to storage.
    Events,
}

/// One map.
#[derive(Debug)]
pub struct Map {
    pub info: MapInfo,
    storage: Storage,
    /// Logical clock for LRU order.
    clock: u64,
    /// Values deleted or evicted during this run, kept readable until it ends.
    retired: Vec<SharedBytes>,
}

impl Map {
    /// An empty map (arrays zeroed) as the map table describes it.
    pub fn new(info: &MapInfo) -> Result<Map, MapError> {
        use types::*;
        let too_large = |what: String| MapError::TooLarge {
            map: info.name.clone(),
            what,
        };
        let storage = match info.map_type {
            ARRAY
            | PERCPU_ARRAY
            | DEVMAP
            | CPUMAP
            | XSKMAP
            | SOCKMAP
            | CGROUP_ARRAY
            | CGROUP_STORAGE
            | PERCPU_CGROUP_STORAGE => {
                let bytes = u64::from(info.max_entries) * u64::from(info.value_size);
                if bytes > MAX_MAP_BYTES {
                    return Err(too_large(format!("{bytes} bytes of array")));
                }
                Storage::Array(SharedBytes::zeroed(bytes as usize))
            }
            QUEUE | STACK => Storage::Deque {
                items: VecDeque::new(),
                lifo: info.map_type == STACK,
            },
            RINGBUF | PERF_EVENT_ARRAY => Storage::Events,
            _ => Storage::Hash {
                entries: HashMap::new(),
                lru: matches!(info.map_type, LRU_HASH | LRU_PERCPU_HASH),
                lpm: info.map_type == LPM_TRIE,
            },
        };
        Ok(Map {
            info: info.clone(),
            storage,
            clock: 0,
            retired: Vec::new(),
        })
    }

    fn not_supported(&self, op: &'static str) -> MapError {
        MapError::NotSupported {
            map: self.info.name.clone(),
            op,
        }
    }

    fn value_size(&self) -> usize {
        self.info.value_size as usize
    }

    /// The array index a key names, if in range.
    fn index(&self, key: &[u8]) -> Option<usize> {
        let bytes: [u8; 4] = key.get(..4)?.try_into().ok()?;
        let i = u32::from_le_bytes(bytes);
        (i < self.info.max_entries).then_some(i as usize)
    }

    /// The value stored under `key`, or `None`. Marks the entry used (LRU).
    pub fn lookup(&mut self, key: &[u8]) -> Option<SharedBytes> {
        let vs = self.value_size();
        let index = self.index(key);
        self.clock += 1;
        let now = self.clock;
        match &mut self.storage {
            Storage::Array(slab) => slab.window(index? * vs, vs),
            Storage::Hash {
                entries, lpm: true, ..
            } => lpm_match(entries, key).map(|e| e.value.clone()),
            Storage::Hash { entries, .. } => entries.get_mut(key).map(|e| {
                e.used = now;
                e.value.clone()
            }),
            Storage::Deque { .. } | Storage::Events => None,
        }
    }

    /// `bpf_map_update_elem`: stores `value` under `key` with Linux's flag rules.
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        let vs = self.value_size();
        if flags & !BPF_F_LOCK > BPF_EXIST || value.len() < vs {
            return Err(MapError::Invalid);
        }
        let value = value.get(..vs).unwrap_or_default();
        let exist = flags & !BPF_F_LOCK;
        let index = self.index(key);
        self.clock += 1;
        let now = self.clock;
        let max = self.info.max_entries as usize;
        match &mut self.storage {
            Storage::Array(slab) => {
                let i = index.ok_or(MapError::Full)?;
                if exist == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                slab.set(i * vs, value);
                Ok(())
            }
            Storage::Hash {
                entries, lru, lpm, ..
            } => {
                let key = if *lpm {
                    lpm_normalize(key).ok_or(MapError::Invalid)?
                } else {
                    key.to_vec()
                };
                if let Some(e) = entries.get_mut(&key) {
                    if exist == BPF_NOEXIST {
                        return Err(MapError::Exists);
                    }
                    e.value.set(0, value);
                    e.used = now;
                    return Ok(());
                }
                if exist == BPF_EXIST {
                    return Err(MapError::NotFound);
                }
                if entries.len() >= max {
                    if !*lru {
                        return Err(MapError::Full);
                    }
                    let oldest = entries
                        .iter()
                        .min_by_key(|(_, e)| e.used)
                        .map(|(k, _)| k.clone());
                    if let Some(e) = oldest.and_then(|k| entries.remove(&k)) {
                        self.retired.push(e.value);
                    }
                }
                if entries.len() >= max {
                    return Err(MapError::Full);
                }
                entries.insert(
                    key,
                    Entry {
                        value: SharedBytes::from_slice(value),
                        used: now,
                    },
                );
                Ok(())
            }
            Storage::Deque { .. } => Err(self.not_supported("update (use push)")),
            Storage::Events => Err(self.not_supported("update")),
        }
    }

    /// `bpf_map_delete_elem`. The value stays readable until the run ends.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        match &mut self.storage {
            Storage::Hash { entries, lpm, .. } => {
                let key = if *lpm {
                    lpm_normalize(key).ok_or(MapError::Invalid)?
                } else {
                    key.to_vec()
                };
                let e = entries.remove(&key).ok_or(MapError::NotFound)?;
                self.retired.push(e.value);
                Ok(())
            }
            // Linux: deleting from an array is -EINVAL.
            Storage::Array(_) => Err(MapError::Invalid),
            _ => Err(self.not_supported("delete")),
        }
    }

    /// `bpf_map_push_elem` (queue/stack). `BPF_EXIST` drops the oldest item when full.
    pub fn push(&mut self, value: &[u8], flags: u64) -> Result<(), MapError> {
        let vs = self.value_size();
        let max = self.info.max_entries as usize;
        let name = self.info.name.clone();
        let Storage::Deque { items, .. } = &mut self.storage else {
            return Err(MapError::NotSupported {
                map: name,
                op: "push",
            });
        };
        if flags & !BPF_EXIST != 0 || value.len() < vs {
            return Err(MapError::Invalid);
        }
        if items.len() >= max {
            if flags != BPF_EXIST {
                return Err(MapError::Full);
            }
            // The oldest item: the front of a queue, the bottom of a stack.
            items.pop_front();
        }
        if items.len() >= max {
            return Err(MapError::Full);
        }
        items.push_back(value.get(..vs).unwrap_or_default().to_vec());
        Ok(())
    }

    /// `bpf_map_pop_elem` / `bpf_map_peek_elem` (queue: oldest first; stack: newest first).
    pub fn pop(&mut self, remove: bool) -> Result<Vec<u8>, MapError> {
        let name = self.info.name.clone();
        let Storage::Deque { items, lifo } = &mut self.storage else {
            return Err(MapError::NotSupported {
                map: name,
                op: "pop",
            });
        };
        let item = match (*lifo, remove) {
            (true, true) => items.pop_back(),
            (false, true) => items.pop_front(),
            (true, false) => items.back().cloned(),
            (false, false) => items.front().cloned(),
        };
        item.ok_or(MapError::NotFound)
    }

    /// The value of array entry `index` (for `lddw` of global data and for user space).
    pub fn array_value(&self, index: u32) -> Option<SharedBytes> {
        let vs = self.value_size();
        match &self.storage {
            Storage::Array(slab) if index < self.info.max_entries => {
                slab.window(index as usize * vs, vs)
            }
            _ => None,
        }
    }

    /// Whether values live in one array slab (exposed per entry) rather than per entry buffers.
    pub fn is_array(&self) -> bool {
        matches!(self.storage, Storage::Array(_))
    }

    /// Number of entries present (hash and deque maps; arrays are always full).
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Array(_) => self.info.max_entries as usize,
            Storage::Hash { entries, .. } => entries.len(),
            Storage::Deque { items, .. } => items.len(),
            Storage::Events => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key present, for user space (unordered for hashes).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        match &self.storage {
            Storage::Array(_) => (0..self.info.max_entries)
                .map(|i| i.to_le_bytes().to_vec())
                .collect(),
            Storage::Hash { entries, .. } => entries.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The elements `bpf_for_each_map_elem` visits, in its order: every index of an array, or
    /// the keys of a hash map as they are now, sorted (so every run and both engines agree;
    /// Linux follows its buckets). `None` for the map types Linux has no such iteration for.
    pub fn element_keys(&self) -> Option<ElementKeys> {
        use types::*;
        match (&self.storage, self.info.map_type) {
            (Storage::Array(_), ARRAY | PERCPU_ARRAY) => {
                Some(ElementKeys::Indices(self.info.max_entries))
            }
            (
                Storage::Hash {
                    entries,
                    lpm: false,
                    ..
                },
                HASH | PERCPU_HASH | LRU_HASH | LRU_PERCPU_HASH,
            ) => {
                let mut keys: Vec<Vec<u8>> = entries.keys().cloned().collect();
                keys.sort_unstable();
                Some(ElementKeys::Keys(keys))
            }
            _ => None,
        }
    }

    /// The value of a hash entry, without marking it used (an iteration is not a use).
    pub fn peek(&self, key: &[u8]) -> Option<SharedBytes> {
        match &self.storage {
            Storage::Hash { entries, .. } => entries.get(key).map(|e| e.value.clone()),
            _ => None,
        }
    }

    /// Ends a run: values retired during it are let go.
    pub fn end_run(&mut self) {
        self.retired.clear();
    }
}

/// Most significant `bits` of `a` and `b` are equal.
fn prefix_equal(a: &[u8], b: &[u8], bits: usize) -> bool {
    let whole = bits / 8;
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// An LPM key with its bits past the prefix cleared, or `None` if the prefix is longer than the
/// data (Linux: -EINVAL).
fn lpm_normalize(key: &[u8]) -> Option<Vec<u8>> {
    let (len, data) = key.split_at_checked(4)?;
    let bits = u32::from_le_bytes(len.try_into().ok()?) as usize;
    if bits > data.len() * 8 {
        return None;
    }
    let mut out = key.to_vec();
    for (i, b) in out.iter_mut().skip(4).enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
    Some(out)
}

/// The entry with the longest prefix matching `key` (whose own prefix length bounds the match).
fn lpm_match<'a>(entries: &'a HashMap<Vec<u8>, Entry>, key: &[u8]) -> Option<&'a Entry> {
    let (len, data) = key.split_at_checked(4)?;
    let limit = u32::from_le_bytes(len.try_into().ok()?) as usize;
    entries
        .iter()
        .filter_map(|(k, e)| {
            let (kl, kd) = k.split_at_checked(4)?;
            let bits = u32::from_le_bytes(kl.try_into().ok()?) as usize;
            (bits <= limit && prefix_equal(kd, data, bits)).then_some((bits, e))
        })
        .max_by_key(|(bits, _)| *bits)
        .map(|(_, e)| e)
}

#[cfg(test)]
#[path = "maps_tests.rs"]
mod tests;
