//! What a 64-bit register value may be, non-relationally.
//!
//! A [`Scalar`] describes a set of `u64` values five ways at once, like the Linux verifier's
//! `bpf_reg_state`: signed and unsigned bounds of the whole value, signed and unsigned bounds of
//! its low 32 bits, and known bits ([`Tnum`]). The set is the intersection of the five; `sync`
//! keeps every view as tight as the others allow. Intervals prove ranges, the 32-bit views make
//! `ALU32`/`JMP32` code precise, known bits prove masks and alignment.
//!
//! Guarantees:
//! - **Soundness**: every operation over-approximates RFC 9669 as implemented by
//!   [`crate::interp::alu`]: if `x ∈ a` and `y ∈ b` then `alu::binary(w, op, x, y) ∈
//!   binary(w, op, &a, &b)`, and likewise for `neg`, `endian`, casts, [`refine`] and the lattice
//!   operations. The property tests in `scalar/tests/` check this against the interpreter's
//!   functions.
//! - **No empty scalars**: a `Scalar` value always describes at least one value as far as `sync`
//!   can tell. Operations that can discover emptiness ([`Scalar::meet`], [`refine`], the range
//!   constructors) return `Option`, with `None` meaning "no value" (an impossible branch, a
//!   contradiction); they never panic.
//!
//! Start with [`binary`] and [`refine`], the two functions the transfer functions call most.

mod arith;
mod bounds;
mod congruence;
mod display;
mod refine;
mod sync;

use bounds::{Bits, Bounds, Part, umax_of};

use crate::domain::tnum::Tnum;

pub use arith::{binary, endian, neg};
pub use congruence::Cong;
pub use refine::{branch_decided, refine};

/// Widening thresholds: sizes and limits that loop bounds and packet/stack/map offsets are
/// usually compared against, so a widened bound stops at the one the program checks instead of
/// jumping to infinity. The type extremes of each view are always available in addition.
pub const DEFAULT_THRESHOLDS: &[i64] = &[
    i64::MIN,
    i32::MIN as i64,
    -4096,
    -512,
    -1,
    0,
    1,
    8,
    16,
    32,
    64,
    255,
    256,
    512,
    1500,
    4096,
    65535,
    65536,
    i32::MAX as i64,
    u32::MAX as i64,
    i64::MAX,
];

/// A non-empty set of 64-bit values, described by intervals in four readings, known bits and a
/// congruence. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    smin: i64,
    smax: i64,
    umin: u64,
    umax: u64,
    s32min: i32,
    s32max: i32,
    u32min: u32,
    u32max: u32,
    bits: Tnum,
    /// `TOP` for constants (the bounds say it all), so equal sets compare equal.
    cong: Cong,
}

impl Scalar {
    /// Any value.
    pub fn top() -> Scalar {
        Scalar::raw(Bounds::full(64), Bounds::full(32), Tnum::UNKNOWN)
    }

    /// Exactly `v` (also the value of `lddw`).
    pub fn constant(v: u64) -> Scalar {
        Scalar::raw(
            Bounds::constant(v, 64),
            Bounds::constant(v, 32),
            Tnum::constant(v),
        )
    }

    /// An instruction's 32-bit immediate as an operand: sign-extended to 64 bits, as RFC 9669
    /// specifies for 64-bit operations (32-bit ones only read the low half anyway).
    pub fn imm(imm: i32) -> Scalar {
        Scalar::constant(i64::from(imm) as u64)
    }

    /// `lo..=hi` in the signed reading; `None` if `lo > hi`.
    pub fn range_signed(lo: i64, hi: i64) -> Option<Scalar> {
        (lo <= hi).then(|| Scalar::from_64(Bounds::signed(lo, hi, 64)))
    }

    /// `lo..=hi` in the unsigned reading; `None` if `lo > hi`.
    pub fn range_unsigned(lo: u64, hi: u64) -> Option<Scalar> {
        (lo <= hi).then(|| Scalar::from_64(Bounds::unsigned(lo, hi, 64)))
    }

    /// The values whose low 32 bits read as signed are in `lo..=hi` (upper bits free).
    pub fn range_signed32(lo: i32, hi: i32) -> Option<Scalar> {
        (lo <= hi).then(|| Scalar::from_32(Bounds::signed(lo.into(), hi.into(), 32)))
    }

    /// The values whose low 32 bits read as unsigned are in `lo..=hi` (upper bits free).
    pub fn range_unsigned32(lo: u32, hi: u32) -> Option<Scalar> {
        (lo <= hi).then(|| Scalar::from_32(Bounds::unsigned(lo.into(), hi.into(), 32)))
    }

    /// The 64-bit patterns of the mathematical integers `lo..=hi` (`lo <= hi`): exact when the
    /// range spans fewer than 2^64 values, even if it wraps. For callers that compute an
    /// interval in wider arithmetic; `None` if `lo > hi`.
    pub fn wrapping_range(lo: i128, hi: i128) -> Option<Scalar> {
        (lo <= hi).then(|| Scalar::from_64(bounds::Arc::exact(lo, hi, 64).bounds(64)))
    }

    /// The values with these known bits.
    pub fn from_tnum(bits: Tnum) -> Scalar {
        Scalar::from_views(Bounds::full(64), Bounds::full(32), bits)
            .expect("a tnum alone is never empty")
    }

    /// What a zero-extending load of `bytes` bytes (1, 2, 4 or 8) yields from unknown memory.
    pub fn zero_extend_load(bytes: usize) -> Scalar {
        match load_bits(bytes) {
            64 => Scalar::top(),
            w => Scalar::from_64(Bounds::unsigned(0, umax_of(w), 64)),
        }
    }

    /// What a sign-extending load (`ldxs*`) of `bytes` bytes yields from unknown memory.
    pub fn sign_extend_load(bytes: usize) -> Scalar {
        match load_bits(bytes) {
            64 => Scalar::top(),
            w => {
                let half = bounds::smax_of(w);
                Scalar::from_64(Bounds::signed(-half - 1, half, 64))
            }
        }
    }

    /// The single value this scalar can be.
    pub fn is_constant(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }

    pub fn is_top(&self) -> bool {
        *self == Scalar::top()
    }

    pub fn contains(&self, v: u64) -> bool {
        self.b64().contains(v, 64)
            && self.b32().contains(v, 32)
            && self.bits.contains(v)
            && self.cong.contains(v)
    }

    /// The congruence the value is known to satisfy (`TOP` for constants and when unknown).
    pub fn congruence(&self) -> Cong {
        self.cong
    }

    /// `self` with congruence `c`, which must hold for all its values, without rounding the
    /// bounds: for joins and widening, whose bounds come from their arguments (rounding them
    /// could exclude a bound that `sync` left loose in an argument, and the result would no
    /// longer compare as containing it).
    fn with_cong(mut self, c: Cong) -> Scalar {
        let (odd, low) = c.split();
        if let Some(bits) = self.bits.intersect(low) {
            self.bits = bits;
        }
        if self.is_constant().is_none() {
            self.cong = odd;
        }
        self
    }

    /// `self` restricted to the values of congruence `c`; `None` if none is left. The unsigned
    /// bounds move inward to the nearest members and the other views follow by `sync`.
    pub fn constrain(&self, c: Cong) -> Option<Scalar> {
        let c = match c.meet(&self.cong)? {
            congruence::Meet::Cong(c) => c,
            congruence::Meet::Single(v) => {
                return self.contains(v).then(|| Scalar::constant(v));
            }
        };
        if c.is_top() {
            return Some(*self);
        }
        if let Some(v) = self.is_constant() {
            return c.contains(v).then_some(*self);
        }
        let (c, low) = c.split();
        let mut s = *self;
        if low != Tnum::UNKNOWN {
            s = Scalar::from_views(s.b64(), s.b32(), s.bits.intersect(low)?)?;
        }
        if c.is_top() {
            return Some(s);
        }
        // Rounding the unsigned bounds can let `sync` move them again (known bits, the
        // 32-bit views), which may call for another rounding; stopping early is sound.
        for _ in 0..8 {
            let umin = c.round_up(s.umin)?;
            let umax = c.round_down(s.umax)?;
            if umin > umax {
                return None;
            }
            if (umin, umax) == (s.umin, s.umax) {
                break;
            }
            let mut b64 = s.b64();
            (b64.umin, b64.umax) = (umin, umax);
            s = Scalar::from_views(b64, s.b32(), s.bits)?;
        }
        match s.is_constant() {
            Some(v) => c.contains(v).then_some(s),
            None => Some(s.with_cong(c)),
        }
    }

    pub fn signed_range(&self) -> (i64, i64) {
        (self.smin, self.smax)
    }

    pub fn unsigned_range(&self) -> (u64, u64) {
        (self.umin, self.umax)
    }

    /// Bounds of the low 32 bits read as `i32`.
    pub fn signed_range32(&self) -> (i32, i32) {
        (self.s32min, self.s32max)
    }

    /// Bounds of the low 32 bits read as `u32`.
    pub fn unsigned_range32(&self) -> (u32, u32) {
        (self.u32min, self.u32max)
    }

    /// The known bits.
    pub fn bits(&self) -> Tnum {
        self.bits
    }

    /// The smallest scalar containing both (each view's hull, known bits both agree on).
    pub fn join(&self, other: &Scalar) -> Scalar {
        let b64 = self.b64().hull(other.b64());
        let b32 = self.b32().hull(other.b32());
        let bits = self.bits.union(other.bits);
        let joined =
            Scalar::from_views(b64, b32, bits).unwrap_or_else(|| Scalar::raw(b64, b32, bits));
        joined.with_cong(self.exact_cong().join(other.exact_cong()).cong())
    }

    /// The values in both; `None` if there are none.
    pub fn meet(&self, other: &Scalar) -> Option<Scalar> {
        let b64 = self.b64().meet(other.b64())?;
        let b32 = self.b32().meet(other.b32())?;
        Scalar::from_views(b64, b32, self.bits.intersect(other.bits)?)?
            .constrain(self.cong)?
            .constrain(other.cong)
    }

    /// Whether every value of `self` is in `other` (sound: `true` only if it is; may say `false`
    /// for an inclusion the views cannot show).
    pub fn leq(&self, other: &Scalar) -> bool {
        self.b64().is_subset(other.b64())
            && self.b32().is_subset(other.b32())
            && self.bits.is_subset(other.bits)
            && (other.cong.is_top()
                || match self.is_constant() {
                    Some(v) => other.cong.contains(v),
                    None => self.cong.leq(&other.cong),
                })
    }

    /// Widening at a loop head: every bound that `newer` pushes outward jumps to the next
    /// threshold in that direction (or the type's extreme), so an ascending chain of bounds
    /// stabilises after at most `thresholds.len() + 1` jumps per bound. Known bits are joined,
    /// and where a width's bounds grew, its known bits above the lowest unknown one are
    /// forgotten as far as the widened range reaches: otherwise they would pull the bound back
    /// (the join of 0 and 1 knows every bit but the lowest, i.e. "at most 1") and the loop
    /// would climb one bit per iteration. Trailing known bits (alignment) survive. Known bits
    /// only ever become unknown, at most 64 times. The result contains both arguments.
    pub fn widen(&self, newer: &Scalar, thresholds: &[i64]) -> Scalar {
        if newer.leq(self) {
            return *self;
        }
        let widen = |old: (i128, i128), new: (i128, i128), domain: (i128, i128)| {
            let lo = if new.0 < old.0 {
                let below = thresholds.iter().map(|&t| i128::from(t));
                below
                    .filter(|&t| t >= domain.0 && t <= new.0)
                    .max()
                    .unwrap_or(domain.0)
            } else {
                old.0
            };
            let hi = if new.1 > old.1 {
                let above = thresholds.iter().map(|&t| i128::from(t));
                above
                    .filter(|&t| t <= domain.1 && t >= new.1)
                    .min()
                    .unwrap_or(domain.1)
            } else {
                old.1
            };
            (lo, hi)
        };
        let (b64, b32) = self.combine_views(newer, widen);
        let mut bits = self.bits.union(newer.bits);
        if b64 != self.b64() {
            bits = forget_magnitude(bits, b64.umin, b64.umax);
        }
        if b32 != self.b32() {
            let low = forget_magnitude(bits.subreg(), b32.umin, b32.umax);
            bits = bits.with_subreg(low);
        }
        let widened =
            Scalar::from_views(b64, b32, bits).unwrap_or_else(|| Scalar::raw(b64, b32, bits));
        // Congruences only coarsen along a chain of divisors, so joining them terminates.
        widened.with_cong(self.exact_cong().join(newer.exact_cong()).cong())
    }

    /// Narrowing after widening: a bound that is a threshold or a type extreme (so it may have
    /// been guessed by [`Scalar::widen`]) takes `newer`'s tighter value; any other bound stays.
    /// Known bits are intersected. Each bound can therefore only improve while it sits on a
    /// threshold and known bits can only be learnt 64 times, so descending chains are finite.
    /// Expects `newer` ⊆ `self`, as a descending iteration produces; the result lies between.
    pub fn narrow(&self, newer: &Scalar, thresholds: &[i64]) -> Scalar {
        let guessed = |b: i128, domain: (i128, i128)| {
            b == domain.0 || b == domain.1 || thresholds.iter().any(|&t| i128::from(t) == b)
        };
        let narrow = |old: (i128, i128), new: (i128, i128), domain: (i128, i128)| {
            let lo = if guessed(old.0, domain) {
                old.0.max(new.0)
            } else {
                old.0
            };
            let hi = if guessed(old.1, domain) {
                old.1.min(new.1)
            } else {
                old.1
            };
            (lo, hi)
        };
        let (b64, b32) = self.combine_views(newer, narrow);
        let bits = self.bits.intersect(newer.bits).unwrap_or(self.bits);
        let narrowed =
            Scalar::from_views(b64, b32, bits).unwrap_or_else(|| Scalar::raw(b64, b32, bits));
        narrowed.with_cong(self.cong)
    }

    /// Applies `f(self's bounds, other's bounds, the view's domain)` to each of the four
    /// intervals, all as `i128`.
    fn combine_views(
        &self,
        other: &Scalar,
        f: impl Fn((i128, i128), (i128, i128), (i128, i128)) -> (i128, i128),
    ) -> (Bounds, Bounds) {
        let view = |b: Bounds, o: Bounds, w: Bits| {
            let smin = i128::from(bounds::smin_of(w));
            let smax = i128::from(bounds::smax_of(w));
            let s = f(
                (b.smin.into(), b.smax.into()),
                (o.smin.into(), o.smax.into()),
                (smin, smax),
            );
            let u = f(
                (b.umin.into(), b.umax.into()),
                (o.umin.into(), o.umax.into()),
                (0, umax_of(w).into()),
            );
            // `f` keeps each bound inside `domain`.
            Bounds {
                smin: s.0 as i64,
                smax: s.1 as i64,
                umin: u.0 as u64,
                umax: u.1 as u64,
            }
        };
        (
            view(self.b64(), other.b64(), 64),
            view(self.b32(), other.b32(), 32),
        )
    }

    fn b64(&self) -> Bounds {
        Bounds {
            smin: self.smin,
            smax: self.smax,
            umin: self.umin,
            umax: self.umax,
        }
    }

    fn b32(&self) -> Bounds {
        Bounds {
            smin: self.s32min.into(),
            smax: self.s32max.into(),
            umin: self.u32min.into(),
            umax: self.u32max.into(),
        }
    }

    /// The 64-bit or the 32-bit view with its known bits.
    fn part(&self, w: Bits) -> Part {
        match w {
            64 => Part {
                b: self.b64(),
                t: self.bits,
                w,
            },
            _ => Part {
                b: self.b32(),
                t: self.bits.subreg(),
                w: 32,
            },
        }
    }

    /// `self` with the 64- or 32-bit view (`p.w`) replaced by `p`, which must be a refinement
    /// of it. The congruence is kept (and rounds the new bounds).
    fn with_part(&self, p: Part) -> Option<Scalar> {
        match p.w {
            64 => Scalar::from_views(p.b, self.b32(), self.bits.intersect(p.t)?),
            _ => Scalar::from_views(self.b64(), p.b, self.bits.with_subreg(p.t)),
        }?
        .constrain(self.cong)
    }

    /// A value from its 64-bit and 32-bit parts, each a sound description of it.
    fn from_parts(p64: Part, p32: Part) -> Option<Scalar> {
        let bits = p64.t.intersect(Tnum::UNKNOWN.with_subreg(p32.t))?;
        Scalar::from_views(p64.b, p32.b, bits)
    }

    fn from_64(b64: Bounds) -> Scalar {
        Scalar::from_views(b64, Bounds::full(32), Tnum::UNKNOWN)
            .expect("a well-formed interval is never empty")
    }

    fn from_32(b32: Bounds) -> Scalar {
        Scalar::from_views(Bounds::full(64), b32, Tnum::UNKNOWN)
            .expect("a well-formed interval is never empty")
    }

    fn from_views(b64: Bounds, b32: Bounds, bits: Tnum) -> Option<Scalar> {
        let (b64, b32, bits) = sync::sync(b64, b32, bits)?;
        Some(Scalar::raw(b64, b32, bits))
    }

    /// Without syncing: for views known to agree, or as a sound fallback.
    fn raw(b64: Bounds, b32: Bounds, bits: Tnum) -> Scalar {
        // The 32-bit bounds are within the 32-bit readings' ranges by construction.
        Scalar {
            smin: b64.smin,
            smax: b64.smax,
            umin: b64.umin,
            umax: b64.umax,
            s32min: b32.smin as i32,
            s32max: b32.smax as i32,
            u32min: b32.umin as u32,
            u32max: b32.umax as u32,
            bits,
            cong: Cong::TOP,
        }
    }
}

/// `bits` without the knowledge that bounds its magnitude within `lo..=hi`: every bit from the
/// lowest unknown one up to the highest bit in which `lo` and `hi` differ becomes unknown.
fn forget_magnitude(bits: Tnum, lo: u64, hi: u64) -> Tnum {
    let trailing_known = match bits.mask().trailing_zeros() {
        64 => return bits,
        n => (1u64 << n) - 1,
    };
    let range = Tnum::range(lo, hi);
    let spread = Tnum::new(
        (range.value() & !trailing_known) | (bits.value() & trailing_known),
        range.mask() & !trailing_known,
    );
    bits.union(spread)
}

/// Bits of a load of `bytes` bytes; anything but 1, 2 or 4 is a full register.
fn load_bits(bytes: usize) -> Bits {
    match bytes {
        1 => 8,
        2 => 16,
        4 => 32,
        _ => 64,
    }
}

#[cfg(test)]
mod tests;
