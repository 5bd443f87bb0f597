//! The symbolic machine state: registers with provenance tags, memory as one byte array
//! indexed by address, the packet bounds, and the caller registers each active frame saved.

use std::collections::{BTreeMap, BTreeSet};
use z3::ast::{Array, BV, Bool};

/// Provenance tags.
pub const T_NUM: u64 = 0;
pub const T_CTX: u64 = 1;
pub const T_PACKET: u64 = 2;
pub const T_MAPFD: u64 = 4;
/// A value of unknown provenance (uninitialised registers, kernel pointers from helpers,
/// registers a loop head havocs): no access through it is ever proved safe.
pub const T_UNKNOWN: u64 = 5;
/// Map value instances: `T_MAPVAL + i` for the i-th instance (below [`T_STACK`]).
pub const T_MAPVAL: u64 = 16;
/// The stack of frame `f` (a `cfg::Frame` index): `T_STACK + f`. One tag per frame, so a
/// pointer into a returned frame is never judged against a live one.
pub const T_STACK: u64 = 1 << 16;

pub const TAG_BITS: u32 = 32;

pub fn bv(v: u64) -> BV {
    BV::from_u64(v, 64)
}

pub fn tag(t: u64) -> BV {
    BV::from_u64(t, TAG_BITS)
}

/// A register: value, provenance tag, and the tags it may have (known statically).
#[derive(Clone)]
pub struct Val {
    pub v: BV,
    pub t: BV,
    pub tags: BTreeSet<u64>,
}

impl Val {
    pub fn num(v: BV) -> Val {
        Val {
            v,
            t: tag(T_NUM),
            tags: [T_NUM].into(),
        }
    }
    pub fn ptr(t: u64, v: BV) -> Val {
        Val {
            v,
            t: tag(t),
            tags: [t].into(),
        }
    }
    pub fn unknown(v: BV) -> Val {
        Val::ptr(T_UNKNOWN, v)
    }
    /// Whether the value is a number on every path.
    pub fn is_num(&self) -> bool {
        self.tags.len() == 1 && self.tags.contains(&T_NUM)
    }
    fn select(g: &Bool, then: &Val, other: &Val) -> Val {
        Val {
            v: g.ite(&then.v, &other.v),
            t: g.ite(&then.t, &other.t),
            tags: then.tags.union(&other.tags).copied().collect(),
        }
    }
}

/// The symbolic state on entry to an instruction.
#[derive(Clone)]
pub struct State {
    /// The path condition.
    pub guard: Bool,
    pub regs: Vec<Val>,
    pub mem: Array,
    pub tags: Array,
    /// Tags ever stored to memory on this path (what an 8-byte load may yield).
    pub stored: BTreeSet<u64>,
    /// The packet: meta start, data start, end (helpers that change packet data move it).
    pub meta: BV,
    pub data: BV,
    pub end: BV,
    /// Per active callee frame: the caller's r6-r10 saved by the call (restored on return).
    pub saved: BTreeMap<usize, Vec<Val>>,
}

/// The join of the states of several paths (None for no path).
pub fn merge(states: Vec<State>) -> Option<State> {
    let mut it = states.into_iter();
    let first = it.next()?;
    Some(it.fold(first, |acc, s| {
        let g = &s.guard;
        // Paths into one block share its frame chain, so they save the same frames; a frame
        // only one side has (a returned callee's leftovers) is never read again.
        let saved = acc
            .saved
            .iter()
            .filter_map(|(f, a)| {
                let b = s.saved.get(f)?;
                let regs = a.iter().zip(b).map(|(a, b)| Val::select(g, b, a)).collect();
                Some((*f, regs))
            })
            .collect();
        State {
            guard: &acc.guard | g,
            regs: acc
                .regs
                .iter()
                .zip(&s.regs)
                .map(|(a, b)| Val::select(g, b, a))
                .collect(),
            mem: g.ite(&s.mem, &acc.mem),
            tags: g.ite(&s.tags, &acc.tags),
            stored: acc.stored.union(&s.stored).copied().collect(),
            meta: g.ite(&s.meta, &acc.meta),
            data: g.ite(&s.data, &acc.data),
            end: g.ite(&s.end, &acc.end),
            saved,
        }
    }))
}

/// Little-endian load of `n` bytes at `addr`, zero-extended to 64 bits.
pub fn load_le(mem: &Array, addr: &BV, n: usize) -> BV {
    let mut out: Option<BV> = None;
    for i in (0..n).rev() {
        let byte = mem
            .select(&(addr + bv(i as u64)))
            .as_bv()
            .unwrap_or_else(|| BV::from_u64(0, 8));
        out = Some(match out {
            None => byte,
            Some(o) => o.concat(&byte),
        });
    }
    let v = out.unwrap_or_else(|| BV::from_u64(0, 8));
    let bits = v.get_size();
    if bits < 64 { v.zero_ext(64 - bits) } else { v }
}

pub fn store_le(mem: &Array, addr: &BV, n: usize, v: &BV) -> Array {
    let mut m = mem.clone();
    for i in 0..n {
        let byte = v.extract(8 * i as u32 + 7, 8 * i as u32);
        m = m.store(&(addr + bv(i as u64)), &byte);
    }
    m
}
