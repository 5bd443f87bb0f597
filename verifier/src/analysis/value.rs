//! What a register or a spilled stack slot holds, abstractly.
//!
//! A value is a number (a [`Scalar`]), a pointer into one memory [`Region`] with an offset (a
//! `Scalar` too, plus the relations the zone keeps for its location), or one of the states that
//! make any use an error: uninitialised, a mix of incompatible kinds after a join, or a pointer
//! a helper invalidated. Pointers that may be NULL carry an id shared by every copy, so a NULL
//! check on one copy refines them all (as Linux does with `reg->id`).

use crate::domain::scalar::Scalar;
use std::fmt;

/// A signed range as a scalar; an empty range (never produced by callers) widens to any value,
/// which is sound.
pub fn srange(lo: i64, hi: i64) -> Scalar {
    Scalar::range_signed(lo, hi).unwrap_or_else(Scalar::top)
}

/// Sign-extends the low `bits` bits of a value (`ldxs*`, `movsx`).
pub fn sign_extend(s: &Scalar, bits: usize) -> Scalar {
    let op = crate::isa::AluOp::MovSx(bits as u8);
    crate::domain::scalar::binary(crate::isa::Width::W64, op, &Scalar::top(), s)
}

/// Index into the analysis's map table ([`super::MapInfo`]).
pub type MapId = usize;

/// The "map" of a pointer that points into the value of one of several maps.
pub const MERGED_MAPS: MapId = usize::MAX;

/// The "map" of a pointer to an element's key handed to a `bpf_for_each_map_elem` callback:
/// read-only memory of the key's size (in a hash map, the element's own key).
pub const MAP_KEY: MapId = usize::MAX - 1;

/// A memory region a pointer may point into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The program's context (r1 at entry).
    Ctx,
    /// The 512-byte stack of the frame at this call depth; offsets are from its bottom, so r10
    /// is offset 512.
    Stack { depth: u8 },
    /// Packet data; offset 0 is `data`, `packet_size` is `data_end`, `meta_offset` is
    /// `data_meta`.
    Packet,
    /// The value of an entry of a map. `size` and `read_only` are the map's (copied here so a
    /// join of values of different maps keeps them: `map` is then [`MERGED_MAPS`], `size` the
    /// smaller value size and `read_only` true if either is).
    MapValue {
        map: MapId,
        size: u32,
        read_only: bool,
    },
    /// A map itself (from `lddw src=1`), only passable to helpers.
    MapFd { map: MapId },
    /// Memory of a fixed size handed out by a helper (a ring buffer record, ...); `ringbuf`
    /// when it must be submitted or discarded before exit.
    Mem { size: u32, ringbuf: bool },
    /// A kernel object (socket, task, ...), only passable to helpers and readable through
    /// probe-read helpers.
    Kernel { btf_name: &'static str },
    /// A function (from `lddw src=4`), only passable as a callback.
    Func { pc: usize },
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Ctx => write!(f, "ctx"),
            Region::Stack { depth } => write!(f, "stack (frame {depth})"),
            Region::Packet => write!(f, "packet"),
            Region::MapValue {
                map: MERGED_MAPS,
                size,
                ..
            } => write!(f, "{size}-byte value of one of several maps"),
            Region::MapValue {
                map: MAP_KEY, size, ..
            } => write!(f, "{size}-byte map key"),
            Region::MapValue { map, size, .. } => write!(f, "{size}-byte value of map {map}"),
            Region::MapFd { map } => write!(f, "map {map}"),
            Region::Mem { size, .. } => write!(f, "{size}-byte helper memory"),
            Region::Kernel { btf_name } => write!(f, "kernel {btf_name}"),
            Region::Func { pc } => write!(f, "function at {pc}"),
        }
    }
}

/// A pointer: region, offset bounds, and whether it may be NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Ptr {
    pub region: Region,
    pub off: Scalar,
    /// May be NULL; `null_id` links copies so one check covers all.
    pub nullable: bool,
    pub null_id: u32,
    /// While it may be NULL, loads through it (and offsets from it) are still allowed: Linux's
    /// untrusted `PTR_TO_BTF_ID` (a traced function's argument, a kernel struct's field), read
    /// by fault-tolerant `PROBE_MEM` loads. Only helpers that do not take NULL need the check.
    /// Meaningless when not `nullable`.
    pub probe_mem: bool,
}

/// Why a location holds no usable value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unusable {
    /// Never written.
    Uninit,
    /// Different kinds on different paths (e.g. a number on one, a pointer on another).
    Mixed,
    /// A packet pointer after a helper that may move packet data (at this pc).
    StalePacket { helper_pc: usize },
    /// A pointer whose bytes were partly overwritten on the stack.
    CorruptedPointer,
    /// A ring buffer record after it was submitted or discarded.
    Released,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Num(Scalar),
    Ptr(Ptr),
    Bad(Unusable),
}

impl Value {
    pub fn uninit() -> Value {
        Value::Bad(Unusable::Uninit)
    }

    pub fn num(v: u64) -> Value {
        Value::Num(Scalar::constant(v))
    }

    pub fn unknown() -> Value {
        Value::Num(Scalar::top())
    }

    pub fn ptr(region: Region, off: i64) -> Value {
        Value::Ptr(Ptr {
            region,
            off: Scalar::constant(off as u64),
            nullable: false,
            null_id: 0,
            probe_mem: false,
        })
    }

    pub fn is_initialized(&self) -> bool {
        !matches!(self, Value::Bad(Unusable::Uninit))
    }

    /// A short description for messages ("number in [0, 255]", "pointer to packet+14").
    pub fn describe(&self) -> String {
        match self {
            Value::Num(s) => format!("number {s}"),
            Value::Ptr(p) => {
                let null = if p.nullable { " or NULL" } else { "" };
                format!("pointer to {} (offset {}){null}", p.region, p.off)
            }
            Value::Bad(Unusable::Uninit) => "uninitialised".into(),
            Value::Bad(Unusable::Mixed) => "a number on some paths and a pointer on others".into(),
            Value::Bad(Unusable::StalePacket { helper_pc }) => {
                format!("a packet pointer invalidated by the helper call at pc {helper_pc}")
            }
            Value::Bad(Unusable::CorruptedPointer) => "a partly overwritten pointer".into(),
            Value::Bad(Unusable::Released) => "a released ring buffer record".into(),
        }
    }
}
