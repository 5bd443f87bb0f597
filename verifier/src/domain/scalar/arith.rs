//! Transfer functions of the ALU instructions and of the casts loads perform.
//!
//! Each operation is computed per width by [`part_op`] on one [`Part`] (bounds plus known bits)
//! with that width's exact semantics; `sync` then combines what the parts say. A 64-bit
//! operation also computes the low 32 bits of its result directly when they depend only on the
//! operands' low 32 bits (add, sub, mul, bitwise, moves), which is what keeps 32-bit views
//! precise through 64-bit code. A 32-bit operation's result is zero-extended.

use super::Scalar;
use super::bounds::{Arc, Bits, Bounds, Part, smax_of, smin_of, umax_of};
use crate::isa::{AluOp, Endian, Width};

/// `dst op src` at `width` (RFC 9669 §4.1; see `interp::alu::binary`). For `Mov`/`MovSx` only
/// `src` matters.
pub fn binary(width: Width, op: AluOp, dst: &Scalar, src: &Scalar) -> Scalar {
    // Empty only if an operand was empty in a way sync could not see; anything is sound then.
    try_binary(width, op, dst, src).unwrap_or_else(Scalar::top)
}

/// [`binary`], with `None` where the result would be empty (the tests check it never is).
pub(super) fn try_binary(width: Width, op: AluOp, dst: &Scalar, src: &Scalar) -> Option<Scalar> {
    let result = match width {
        Width::W64 => {
            let p64 = part_op(op, dst.part(64), src.part(64));
            Scalar::from_parts(p64, low_half(op, dst, src))
        }
        Width::W32 => {
            let p32 = part_op(op, dst.part(32), src.part(32));
            Scalar::from_parts(p32.zero_extend(64), p32)
        }
    }?;
    // A congruence that contradicts the bounds means the operands were empty; the bounds
    // alone are sound then.
    let cong = super::congruence::binary(width, op, dst, src);
    Some(result.constrain(cong).unwrap_or(result))
}

/// `-x` at `width` (wrapping; `interp::alu::neg`).
pub fn neg(width: Width, x: &Scalar) -> Scalar {
    let result = match width {
        Width::W64 => Scalar::from_parts(neg_part(x.part(64)), neg_part(x.part(32))),
        Width::W32 => {
            let p32 = neg_part(x.part(32));
            Scalar::from_parts(p32.zero_extend(64), p32)
        }
    };
    result.unwrap_or_else(Scalar::top)
}

/// `le16/32/64`, `be16/32/64` and `bswap16/32/64` on a little-endian machine
/// (`interp::alu::endian`): `le` truncates, the others reverse the low `bits` bits' bytes; both
/// zero the rest. Known bits swap exactly, so a constant stays a constant.
pub fn endian(kind: Endian, bits: u8, x: &Scalar) -> Scalar {
    let n: Bits = match bits {
        16 => 16,
        32 => 32,
        _ => 64,
    };
    if kind == Endian::ToLe {
        return x.truncate(n as usize / 8);
    }
    let low = x.part(64).low(n);
    let swapped = Part {
        b: Bounds::full(n),
        t: low.t.swap_bytes(n),
        w: n,
    };
    zero_extended(swapped)
}

impl Scalar {
    /// The low `bytes` bytes (1, 2 or 4; anything else keeps all 8), zero-extended: a narrow
    /// store followed by a load of the same bytes, or `le16`/`le32`.
    pub fn truncate(&self, bytes: usize) -> Scalar {
        match super::load_bits(bytes) {
            64 => *self,
            n => zero_extended(self.part(32).low(n)),
        }
    }

    /// The low `bits` bits (8, 16 or 32; anything else keeps the value) sign-extended to 64:
    /// `movsx` and the sign-extending loads.
    pub fn sign_extend(&self, bits: u32) -> Scalar {
        if !matches!(bits, 8 | 16 | 32) {
            return *self;
        }
        let low = self.part(32).low(bits);
        Scalar::from_parts(low.sign_extend(64), low.sign_extend(32)).unwrap_or_else(Scalar::top)
    }
}

/// An `n`-bit value zero-extended to a register.
fn zero_extended(p: Part) -> Scalar {
    let p32 = if p.w <= 32 {
        p.zero_extend(32)
    } else {
        p.low(32)
    };
    Scalar::from_parts(p.zero_extend(64), p32).unwrap_or_else(Scalar::top)
}

/// The low 32 bits of a 64-bit operation's result, computed from the operands' low 32 bits
/// where those determine them; otherwise left to `sync` to derive from the 64-bit result.
fn low_half(op: AluOp, dst: &Scalar, src: &Scalar) -> Part {
    match op {
        AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor => {
            part_op(op, dst.part(32), src.part(32))
        }
        AluOp::Mov | AluOp::MovSx(_) => part_op(op, dst.part(32), src.part(32)),
        _ => Part::full(32),
    }
}

/// `a op b` with the semantics of `a.w` bits.
fn part_op(op: AluOp, a: Part, b: Part) -> Part {
    match op {
        AluOp::Add => add(a, b),
        AluOp::Sub => sub(a, b),
        AluOp::Mul => mul(a, b),
        AluOp::Div => div(a, b),
        AluOp::SDiv => sdiv(a, b),
        AluOp::Mod => rem(a, b),
        AluOp::SMod => srem(a, b),
        AluOp::And => and(a, b),
        AluOp::Or => or(a, b),
        AluOp::Xor => xor(a, b),
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => shift(op, a, b),
        AluOp::Mov => b,
        // `sign_extend` in `interp::alu` leaves other widths alone, as does a 32-bit `movsx32`.
        AluOp::MovSx(n) => match Bits::from(n) {
            n @ (8 | 16 | 32) if n < a.w => b.low(n).sign_extend(a.w),
            _ => b,
        },
    }
}

/// Bounds from the two readings' arcs, each exact unless it wraps all the way round.
fn from_arcs(by_unsigned: Arc, by_signed: Arc, w: Bits) -> Bounds {
    by_unsigned.bounds(w).meet_or_self(by_signed.bounds(w))
}

fn unsigned_arc(p: Part) -> Arc {
    Arc::unsigned(p.b.umin, p.b.umax)
}

fn signed_arc(p: Part) -> Arc {
    Arc::signed(p.b.smin, p.b.smax, p.w)
}

fn add(a: Part, b: Part) -> Part {
    let w = a.w;
    let by_unsigned = unsigned_arc(a).add(unsigned_arc(b), w);
    let by_signed = signed_arc(a).add(signed_arc(b), w);
    Part {
        b: from_arcs(by_unsigned, by_signed, w),
        t: a.t.add(b.t).truncate(w),
        w,
    }
}

fn sub(a: Part, b: Part) -> Part {
    let w = a.w;
    let by_unsigned = unsigned_arc(a).sub(unsigned_arc(b), w);
    let by_signed = signed_arc(a).sub(signed_arc(b), w);
    Part {
        b: from_arcs(by_unsigned, by_signed, w),
        t: a.t.sub(b.t).truncate(w),
        w,
    }
}

fn neg_part(a: Part) -> Part {
    let w = a.w;
    Part {
        b: from_arcs(unsigned_arc(a).neg(w), signed_arc(a).neg(w), w),
        t: a.t.neg().truncate(w),
        w,
    }
}

/// Products of the extremes, computed exactly in 128 bits; the result is their arc, which is
/// exact for small ranges and still useful when the product wraps by less than a full turn.
fn mul(a: Part, b: Part) -> Part {
    let w = a.w;
    let by_unsigned = Arc::exact_unsigned(
        u128::from(a.b.umin) * u128::from(b.b.umin),
        u128::from(a.b.umax) * u128::from(b.b.umax),
        w,
    );
    let (lo, hi) = corners(a.b, b.b, |x, y| x * y);
    Part {
        b: from_arcs(by_unsigned, Arc::exact(lo, hi, w), w),
        t: a.t.mul(b.t).truncate(w),
        w,
    }
}

/// The least and greatest of `f` over the corners of the two signed intervals, in `i128`.
fn corners(a: Bounds, b: Bounds, f: impl Fn(i128, i128) -> i128) -> (i128, i128) {
    let values = [
        f(a.smin.into(), b.smin.into()),
        f(a.smin.into(), b.smax.into()),
        f(a.smax.into(), b.smin.into()),
        f(a.smax.into(), b.smax.into()),
    ];
    let lo = values.iter().copied().min().unwrap_or(i128::MIN);
    let hi = values.iter().copied().max().unwrap_or(i128::MAX);
    (lo, hi)
}

/// `log2(b)` if `b` is a known power of two.
fn power_of_two(b: Part) -> Option<u32> {
    b.is_constant()
        .filter(|c| c.is_power_of_two())
        .map(u64::trailing_zeros)
}

/// Unsigned division; a divisor that may be 0 contributes the result 0.
fn div(a: Part, b: Part) -> Part {
    let w = a.w;
    if let Some(k) = power_of_two(b) {
        return shift_by(AluOp::Rsh, a, k);
    }
    if b.b.umax == 0 {
        return Part::constant(0, w);
    }
    let hi = a.b.umax / b.b.umin.max(1);
    let lo = if b.b.umin == 0 {
        0
    } else {
        a.b.umin / b.b.umax
    };
    Part::from_bounds(Bounds::unsigned(lo, hi, w), w)
}

/// Unsigned remainder; a divisor that may be 0 contributes the dividend itself.
fn rem(a: Part, b: Part) -> Part {
    let w = a.w;
    // Every divisor is 0 (result: the dividend) or larger than the dividend (the same).
    if b.b.umax == 0 || a.b.umax < b.b.umin.max(1) {
        return a;
    }
    if let Some(k) = power_of_two(b) {
        return and(a, Part::constant((1 << k) - 1, w));
    }
    let below_divisor = Bounds::unsigned(0, a.b.umax.min(b.b.umax - 1), w);
    let bounds = if b.b.umin == 0 {
        below_divisor.hull(a.b)
    } else {
        below_divisor
    };
    Part::from_bounds(bounds, w)
}

/// Signed division, truncating. For a divisor of one sign the quotient is monotone in each
/// operand, so its extremes are at the corners; the divisor range is split at 0, and 0 itself
/// contributes the result 0. `MIN / -1` is `2^(w-1)` exactly, which the arc wraps to `MIN`
/// as the RFC does.
fn sdiv(a: Part, b: Part) -> Part {
    let w = a.w;
    let (blo, bhi) = (b.b.smin, b.b.smax);
    let mut lo = i128::MAX;
    let mut hi = i128::MIN;
    if blo <= 0 && 0 <= bhi {
        (lo, hi) = (0, 0);
    }
    for (dlo, dhi) in [(blo, bhi.min(-1)), (blo.max(1), bhi)] {
        if dlo <= dhi {
            let divisors = Bounds {
                smin: dlo,
                smax: dhi,
                ..b.b
            };
            let (qlo, qhi) = corners(a.b, divisors, |x, y| x / y);
            (lo, hi) = (lo.min(qlo), hi.max(qhi));
        }
    }
    Part::from_bounds(Arc::exact(lo, hi, w).bounds(w), w)
}

/// Signed remainder, truncating: the sign of the dividend, smaller in magnitude than both the
/// dividend and the divisor; a divisor that may be 0 contributes the dividend itself.
fn srem(a: Part, b: Part) -> Part {
    let w = a.w;
    let (blo, bhi) = (b.b.smin, b.b.smax);
    let (alo, ahi) = (a.b.smin, a.b.smax);
    if (blo, bhi) == (0, 0) {
        return a;
    }
    let min_abs_divisor = match () {
        () if blo > 0 => blo.unsigned_abs(),
        () if bhi < 0 => bhi.unsigned_abs(),
        () => 1,
    };
    // |dividend| below every nonzero |divisor|: the remainder is the dividend.
    if alo.unsigned_abs().max(ahi.unsigned_abs()) < min_abs_divisor {
        return a;
    }
    // The largest |divisor| is at most 2^63, so this is at most i64::MAX.
    let max_rem = (blo.unsigned_abs().max(bhi.unsigned_abs()) - 1) as i64;
    let mut lo = if alo < 0 { alo.max(-max_rem) } else { 0 };
    let mut hi = if ahi > 0 { ahi.min(max_rem) } else { 0 };
    if blo <= 0 && 0 <= bhi {
        (lo, hi) = (lo.min(alo), hi.max(ahi));
    }
    Part::from_bounds(Bounds::signed(lo, hi, w), w)
}

/// For a negative lower bound `lo`, `-2^k` for the least `k` with `-2^k <= lo` (every value in
/// `[lo, -1]` has all bits from `k` up set); `lo` itself when it is not negative.
fn neg_floor(lo: i64) -> i64 {
    if lo >= 0 {
        return lo;
    }
    let magnitude = lo.unsigned_abs().next_power_of_two();
    // `magnitude <= 2^63`, and `-2^63` is `i64::MIN`.
    0i64.wrapping_sub_unsigned(magnitude)
}

/// For a non-negative upper bound `hi`, `2^k - 1` for the least `k` with `hi < 2^k` (no value
/// in `[0, hi]` sets a bit from `k` up), at most the width's largest value.
fn pos_ceiling(hi: i64, w: Bits) -> i64 {
    if hi < 0 {
        return -1;
    }
    let limit = (hi as u64).saturating_add(1).next_power_of_two() - 1;
    (limit.min(smax_of(w) as u64)) as i64
}

fn and(a: Part, b: Part) -> Part {
    let w = a.w;
    let (x, y) = (a.b, b.b);
    // Clearing bits makes a value smaller in the unsigned order, and keeps a non-negative one
    // non-negative; the result is negative only if both are, and then at most the smaller.
    // Negative values of at least `-2^k` have every bit from `k` up set, so the result of two
    // such keeps them all: it is at least `-2^k` (`(c >> 63) & -155`, clang's branch-free
    // `c ? -155 : 0`, stays in [-256, 0]).
    let floor = neg_floor(x.smin.min(y.smin));
    let (smin, smax) = match (x.smin >= 0, y.smin >= 0) {
        (true, true) => (0, x.smax.min(y.smax)),
        (true, false) => (0, x.smax),
        (false, true) => (0, y.smax),
        (false, false) if x.smax < 0 && y.smax < 0 => (floor, x.smax.min(y.smax)),
        (false, false) => (floor, x.smax.max(y.smax)),
    };
    Part {
        b: Bounds {
            smin,
            smax,
            umin: 0,
            umax: x.umax.min(y.umax),
        },
        t: a.t.and(b.t),
        w,
    }
}

fn or(a: Part, b: Part) -> Part {
    let w = a.w;
    let (x, y) = (a.b, b.b);
    // Setting bits makes a value larger in the unsigned order; the result is negative as soon
    // as one operand is, and then at least that operand. Non-negative values below `2^k` set
    // no bit from `k` up, so neither does their union: it stays below `2^k`.
    let ceiling = pos_ceiling(x.smax.max(y.smax), w);
    let (smin, smax) = if x.smin >= 0 && y.smin >= 0 {
        (x.smin.max(y.smin), ceiling)
    } else if x.smax < 0 && y.smax < 0 {
        (x.smin.max(y.smin), -1)
    } else if x.smax < 0 {
        (x.smin, -1)
    } else if y.smax < 0 {
        (y.smin, -1)
    } else {
        (x.smin.min(y.smin), ceiling)
    };
    Part {
        b: Bounds {
            smin,
            smax,
            umin: x.umin.max(y.umin),
            umax: umax_of(w),
        },
        t: a.t.or(b.t),
        w,
    }
}

fn xor(a: Part, b: Part) -> Part {
    let w = a.w;
    let (x, y) = (a.b, b.b);
    let (x_nonneg, x_neg) = (x.smin >= 0, x.smax < 0);
    let (y_nonneg, y_neg) = (y.smin >= 0, y.smax < 0);
    // The sign bit of the result is the xor of the operands' sign bits.
    let (smin, smax) = if (x_nonneg && y_nonneg) || (x_neg && y_neg) {
        (0, smax_of(w))
    } else if (x_nonneg && y_neg) || (x_neg && y_nonneg) {
        (smin_of(w), -1)
    } else {
        (smin_of(w), smax_of(w))
    };
    Part {
        b: Bounds {
            smin,
            smax,
            umin: 0,
            umax: umax_of(w),
        },
        t: a.t.xor(b.t),
        w,
    }
}

/// A shift by a possibly unknown amount: the join of the shifts by every amount `b` allows
/// after masking to `w - 1` (at most `w` of them).
fn shift(op: AluOp, a: Part, b: Part) -> Part {
    let w = a.w;
    let amount_bits = w.trailing_zeros();
    let amount = b.t.truncate(amount_bits);
    let (lo, hi) = if b.b.umax < u64::from(w) {
        (b.b.umin, b.b.umax)
    } else {
        (amount.min(), amount.max())
    };
    (lo..=hi)
        .filter(|&k| amount.contains(k))
        .map(|k| shift_by(op, a, k as u32))
        .reduce(Part::hull)
        .unwrap_or(Part::full(w))
}

/// A shift by the constant `k < w`.
fn shift_by(op: AluOp, a: Part, k: u32) -> Part {
    let w = a.w;
    if k == 0 {
        return a;
    }
    match op {
        AluOp::Lsh => {
            let by_unsigned =
                Arc::exact_unsigned(u128::from(a.b.umin) << k, u128::from(a.b.umax) << k, w);
            let by_signed = Arc::exact(i128::from(a.b.smin) << k, i128::from(a.b.smax) << k, w);
            Part {
                b: from_arcs(by_unsigned, by_signed, w),
                t: a.t.lshift(k).truncate(w),
                w,
            }
        }
        AluOp::Rsh => {
            let (umin, umax) = (a.b.umin >> k, a.b.umax >> k);
            Part {
                b: Bounds {
                    smin: umin as i64,
                    smax: umax as i64,
                    umin,
                    umax,
                },
                t: a.t.rshift(k),
                w,
            }
        }
        _ => Part {
            b: Bounds::signed(a.b.smin >> k, a.b.smax >> k, w),
            t: a.t.arshift(k, w),
            w,
        },
    }
}
