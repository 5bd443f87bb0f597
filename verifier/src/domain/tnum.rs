//! Known bits ("tristate numbers", after the Linux verifier's `struct tnum`).
//!
//! A [`Tnum`] says, for each of the 64 bits of a value, whether the bit is known and, if so, what
//! it is. Intervals cannot say "a multiple of 8" or "the low byte of a mask"; known bits can, and
//! that is what proves alignment and the results of `and`, `or` and shifts. The scalar domain
//! (`domain::scalar`) keeps a tnum next to its intervals and lets each tighten the other.
//!
//! Invariant: `value & mask == 0` (an unknown bit has value 0 in `value`), so two tnums describing
//! the same set compare equal. Every operation is an over-approximation: if `x ∈ a` and `y ∈ b`
//! then `x op y ∈ a.op(b)`, checked by the property tests in `tnum/tests.rs`.

use std::fmt;

/// A set of 64-bit values given by known bits: `x` belongs to it iff `x & !mask == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    value: u64,
    mask: u64,
}

/// All bits at or below bit `i`.
const fn mask_through(i: u32) -> u64 {
    u64::MAX >> (63 - i)
}

/// The low `bits` bits (none for 0, all for 64 or more).
const fn low_mask(bits: u32) -> u64 {
    match bits {
        0 => 0,
        1..=63 => u64::MAX >> (64 - bits),
        _ => u64::MAX,
    }
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Bits set in `mask` are unknown; the others are those of `value`.
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum {
            value: value & !mask,
            mask,
        }
    }

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum containing every value of `lo..=hi` (`lo <= hi`): the common high bits
    /// of `lo` and `hi` are known, everything below the first difference is not.
    pub fn range(lo: u64, hi: u64) -> Tnum {
        let differ = lo ^ hi;
        if differ == 0 {
            return Tnum::constant(lo);
        }
        let unknown = mask_through(63 - differ.leading_zeros());
        Tnum::new(lo, unknown)
    }

    /// The known bit values (0 where unknown).
    pub const fn value(self) -> u64 {
        self.value
    }

    /// The unknown bits.
    pub const fn mask(self) -> u64 {
        self.mask
    }

    /// The single value this tnum allows, if every bit is known.
    pub const fn is_constant(self) -> Option<u64> {
        if self.mask == 0 {
            Some(self.value)
        } else {
            None
        }
    }

    pub const fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    pub const fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Whether every value of `self` is in `other`.
    pub const fn is_subset(self, other: Tnum) -> bool {
        self.mask & !other.mask == 0 && self.value & !other.mask == other.value
    }

    /// The smallest member (unsigned).
    pub const fn min(self) -> u64 {
        self.value
    }

    /// The largest member (unsigned).
    pub const fn max(self) -> u64 {
        self.value | self.mask
    }

    /// The values in both, or `None` if some bit is known differently in each.
    pub fn intersect(self, other: Tnum) -> Option<Tnum> {
        let both_known = !self.mask & !other.mask;
        if (self.value ^ other.value) & both_known != 0 {
            return None;
        }
        Some(Tnum::new(self.value | other.value, self.mask & other.mask))
    }

    /// The smallest tnum containing both (a bit stays known only if both know it alike).
    pub fn union(self, other: Tnum) -> Tnum {
        let mask = self.mask | other.mask | (self.value ^ other.value);
        Tnum::new(self.value, mask)
    }

    /// The smallest member `>= x` (unsigned), if any.
    ///
    /// Only the highest known bit where `x` disagrees matters. If the tnum has a 1 there, the
    /// answer is `x` above it, that 1, and the smallest completion below. If it has a 0, every
    /// member sharing `x`'s higher bits is too small, and the cheapest fix is to set the lowest
    /// unknown bit above it where `x` has a 0 (then the smallest completion below that).
    pub fn min_ge(self, x: u64) -> Option<u64> {
        let differ = (x ^ self.value) & !self.mask;
        if differ == 0 {
            return Some(x);
        }
        let high = 63 - differ.leading_zeros();
        let pos = if self.value & (1 << high) != 0 {
            high
        } else {
            let raisable = self.mask & !x & !mask_through(high);
            if raisable == 0 {
                return None;
            }
            raisable.trailing_zeros()
        };
        let below = mask_through(pos) >> 1;
        Some((x & !mask_through(pos)) | (1 << pos) | (self.value & below))
    }

    /// The largest member `<= x` (unsigned), if any: `min_ge` on the complements.
    pub fn max_le(self, x: u64) -> Option<u64> {
        let complement = Tnum::new(!self.value, self.mask);
        complement.min_ge(!x).map(|y| !y)
    }

    /// The members with bit `bit` (taken mod 64) flipped: maps signed order onto unsigned order
    /// when `bit` is the sign bit.
    pub const fn flip_bit(self, bit: u32) -> Tnum {
        let b = 1u64 << (bit % 64);
        Tnum::new(self.value ^ (b & !self.mask), self.mask)
    }

    /// Keeps the low `bits` bits, the others known zero (a zero-extending cast).
    pub const fn truncate(self, bits: u32) -> Tnum {
        let keep = low_mask(bits);
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits, zero-extended.
    pub const fn subreg(self) -> Tnum {
        self.truncate(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `low`.
    pub const fn with_subreg(self, low: Tnum) -> Tnum {
        let high = !low_mask(32);
        Tnum {
            value: (self.value & high) | (low.value & !high),
            mask: (self.mask & high) | (low.mask & !high),
        }
    }

    /// Sign-extends from bit `bits - 1`; if that bit is unknown, so is everything above it.
    /// (`bits` 0 gives 0, 64 or more the value itself.)
    pub const fn sign_extend(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        if bits == 0 {
            return Tnum::constant(0);
        }
        let low = low_mask(bits);
        let sign = 1u64 << (bits - 1);
        if self.mask & sign != 0 {
            Tnum::new(self.value & low, self.mask | !low)
        } else if self.value & sign != 0 {
            Tnum::new(self.value | !low, self.mask & low)
        } else {
            self.truncate(bits)
        }
    }

    /// Reverses the bytes of the low `bits` bits (16, 32 or 64), the rest known zero.
    pub fn swap_bytes(self, bits: u32) -> Tnum {
        let swap = |x: u64| match bits {
            16 => u64::from((x as u16).swap_bytes()),
            32 => u64::from((x as u32).swap_bytes()),
            _ => x.swap_bytes(),
        };
        Tnum {
            value: swap(self.value),
            mask: swap(self.mask),
        }
    }

    /// Shift left; shifting by 64 or more leaves 0 (mathematical, not RFC 9669's masking,
    /// which the scalar domain applies before calling this).
    pub const fn lshift(self, shift: u32) -> Tnum {
        if shift >= 64 {
            return Tnum::constant(0);
        }
        Tnum {
            value: self.value << shift,
            mask: self.mask << shift,
        }
    }

    /// Logical shift right; by 64 or more leaves 0.
    pub const fn rshift(self, shift: u32) -> Tnum {
        if shift >= 64 {
            return Tnum::constant(0);
        }
        Tnum {
            value: self.value >> shift,
            mask: self.mask >> shift,
        }
    }

    /// Arithmetic right shift of the low `bits` bits (1..=64) read as signed; the result is
    /// truncated to `bits` bits. An unknown sign bit makes every bit it shifts into unknown.
    /// Shifts beyond the width saturate, like a shift by `bits - 1`.
    pub fn arshift(self, shift: u32, bits: u32) -> Tnum {
        let bits = bits.clamp(1, 64);
        let shift = shift.min(bits - 1);
        let spread = 64 - bits;
        let sar = |x: u64| (((x << spread) as i64) >> spread >> shift) as u64;
        Tnum {
            value: sar(self.value),
            mask: sar(self.mask),
        }
        .truncate(bits)
    }

    pub const fn and(self, other: Tnum) -> Tnum {
        let may_a = self.value | self.mask;
        let may_b = other.value | other.mask;
        let value = self.value & other.value;
        Tnum {
            value,
            mask: may_a & may_b & !value,
        }
    }

    pub const fn or(self, other: Tnum) -> Tnum {
        let value = self.value | other.value;
        Tnum {
            value,
            mask: (self.mask | other.mask) & !value,
        }
    }

    pub const fn xor(self, other: Tnum) -> Tnum {
        Tnum::new(self.value ^ other.value, self.mask | other.mask)
    }

    /// Wrap-around sum. The carries that unknown bits may cause are found by adding once with
    /// all unknown bits 0 and once with all of them 1: every bit where the two sums differ, or
    /// where an operand is unknown, is unknown.
    pub const fn add(self, other: Tnum) -> Tnum {
        let low = self.value.wrapping_add(other.value);
        let high = low.wrapping_add(self.mask).wrapping_add(other.mask);
        Tnum::new(low, (low ^ high) | self.mask | other.mask)
    }

    /// Wrap-around difference, by the same extremes argument as [`Tnum::add`].
    pub const fn sub(self, other: Tnum) -> Tnum {
        let diff = self.value.wrapping_sub(other.value);
        let high = diff.wrapping_add(self.mask);
        let low = diff.wrapping_sub(other.mask);
        Tnum::new(diff, (high ^ low) | self.mask | other.mask)
    }

    pub const fn neg(self) -> Tnum {
        Tnum::constant(0).sub(self)
    }

    /// Wrap-around product: the product of the known parts, plus the sum, over the bits of
    /// `self`, of the uncertainty each partial product contributes (long multiplication where a
    /// partial product is either known to be absent, known to be `other`, or maybe `other`).
    pub const fn mul(self, other: Tnum) -> Tnum {
        let known = self.value.wrapping_mul(other.value);
        let mut uncertain = Tnum::constant(0);
        let (mut a, mut b) = (self, other);
        while a.value | a.mask != 0 {
            if a.value & 1 != 0 {
                uncertain = uncertain.add(Tnum::new(0, b.mask));
            } else if a.mask & 1 != 0 {
                uncertain = uncertain.add(Tnum::new(0, b.value | b.mask));
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(known).add(uncertain)
    }
}

/// `(value=0x..; mask=0x..)`, like the Linux verifier's `var_off`.
impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(value={:#x}; mask={:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
pub(crate) mod tests;
