//! Arithmetic, byte-order, comparison and atomic semantics of RFC 9669, as pure functions.
//!
//! Kept apart from the interpreter loop so the JIT's tests and the abstract domains' tests can use
//! the very same definitions as their concrete reference.

use crate::isa::{AluOp, AtomicOp, Cond, Endian, Width};

/// `dst op src` at the given width; 32-bit results are zero-extended.
pub fn binary(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => binary64(op, dst, src),
        Width::W32 => u64::from(binary32(op, dst as u32, src as u32)),
    }
}

fn binary64(op: AluOp, d: u64, s: u64) -> u64 {
    match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::SDiv => match s {
            0 => 0,
            _ => (d as i64).wrapping_div(s as i64) as u64,
        },
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::SMod => match s {
            0 => d,
            _ => (d as i64).wrapping_rem(s as i64) as u64,
        },
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Xor => d ^ s,
        AluOp::Lsh => d << (s & 63),
        AluOp::Rsh => d >> (s & 63),
        AluOp::Arsh => ((d as i64) >> (s & 63)) as u64,
        AluOp::Mov => s,
        AluOp::MovSx(bits) => sign_extend(s, usize::from(bits)),
    }
}

fn binary32(op: AluOp, d: u32, s: u32) -> u32 {
    match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::SDiv => match s {
            0 => 0,
            _ => (d as i32).wrapping_div(s as i32) as u32,
        },
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::SMod => match s {
            0 => d,
            _ => (d as i32).wrapping_rem(s as i32) as u32,
        },
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Xor => d ^ s,
        AluOp::Lsh => d << (s & 31),
        AluOp::Rsh => d >> (s & 31),
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
        AluOp::Mov => s,
        AluOp::MovSx(bits) => sign_extend(u64::from(s), usize::from(bits)) as u32,
    }
}

pub fn neg(width: Width, d: u64) -> u64 {
    match width {
        Width::W64 => d.wrapping_neg(),
        Width::W32 => u64::from((d as u32).wrapping_neg()),
    }
}

/// Sign-extends the low `bits` bits of `v` to 64 bits.
pub fn sign_extend(v: u64, bits: usize) -> u64 {
    match bits {
        8 => v as i8 as i64 as u64,
        16 => v as i16 as i64 as u64,
        32 => v as i32 as i64 as u64,
        _ => v,
    }
}

/// Byte-order conversion on a little-endian machine: `to_le` only truncates, `to_be` and `bswap`
/// reverse the low `bits` bits' bytes; either way the rest of the register is zeroed.
pub fn endian(kind: Endian, bits: u8, d: u64) -> u64 {
    match (kind, bits) {
        (Endian::ToLe, 16) => d & 0xffff,
        (Endian::ToLe, 32) => d & 0xffff_ffff,
        (Endian::ToLe, _) => d,
        (_, 16) => u64::from((d as u16).swap_bytes()),
        (_, 32) => u64::from((d as u32).swap_bytes()),
        (_, _) => d.swap_bytes(),
    }
}

/// Whether a conditional jump is taken.
pub fn condition(width: Width, cond: Cond, a: u64, b: u64) -> bool {
    let (a, b) = match width {
        Width::W64 => (a, b),
        Width::W32 => (a & 0xffff_ffff, b & 0xffff_ffff),
    };
    let (sa, sb) = match width {
        Width::W64 => (a as i64, b as i64),
        Width::W32 => (i64::from(a as u32 as i32), i64::from(b as u32 as i32)),
    };
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Gt => a > b,
        Cond::Ge => a >= b,
        Cond::Lt => a < b,
        Cond::Le => a <= b,
        Cond::Set => a & b != 0,
        Cond::Sgt => sa > sb,
        Cond::Sge => sa >= sb,
        Cond::Slt => sa < sb,
        Cond::Sle => sa <= sb,
    }
}

/// Where an atomic operation's fetched (old) value goes.
pub enum Fetched {
    IntoSrc(u64),
    IntoR0(u64),
}

/// An atomic read-modify-write of `size` bytes whose old memory value is `old`: returns the value
/// to store and the fetched value (zero-extended from `size` bytes).
pub fn atomic(op: AtomicOp, size: usize, old: u64, src: u64, r0: u64) -> (u64, Fetched) {
    let mask = if size == 8 { u64::MAX } else { 0xffff_ffff };
    let (old, src) = (old & mask, src & mask);
    let new = match op {
        AtomicOp::Add => old.wrapping_add(src),
        AtomicOp::Or => old | src,
        AtomicOp::And => old & src,
        AtomicOp::Xor => old ^ src,
        AtomicOp::Xchg => src,
        AtomicOp::CmpXchg => {
            let new = if old == r0 & mask { src } else { old };
            return (new & mask, Fetched::IntoR0(old));
        }
    };
    (new & mask, Fetched::IntoSrc(old))
}
