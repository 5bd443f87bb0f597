//! Congruences: "the value is `r` modulo `m`" (Granger's domain), read on the unsigned value.
//!
//! Why: compilers unroll a counted loop `k` times and then test the counter for *equality*
//! with the bound (`i += 90; if i != 180 goto head`). Intervals alone cannot prove such a loop
//! terminates: the join of `0` and `90` is `[0, 90]`, one more step gives `[90, 180]`, and
//! `!= 180` cannot cut the inside of an interval, so the counter climbs forever. Knowing that
//! `i` is a multiple of 90 turns `[90, 180] \ {180}` into `{90}` and the loop stabilises after
//! two rounds. Known bits ([`crate::domain::tnum::Tnum`]) already cover power-of-two strides;
//! this covers the others.
//!
//! A [`Cong`] is exact about wrap-around: an addition keeps the congruence only when the
//! operands' unsigned ranges decide whether it wraps past 2^64 (or 2^32), since `2^64 mod m` is
//! not 0 for odd `m`. Everything it cannot follow becomes [`Cong::TOP`] ("any value").
//!
//! Invariant: `m >= 1` and `r < m`. Constants are described by the bounds, not here: a
//! [`super::Scalar`] holding one value keeps `TOP`, and operations read a constant `c` as the
//! congruence `c mod 0` through [`Exact`]. Power-of-two factors live in the known bits (see
//! [`Cong::split`]), so a scalar's modulus is odd.

use super::Scalar;
use crate::domain::tnum::Tnum;
use crate::isa::{AluOp, Width};

/// The values `v` (as unsigned integers) with `v % m == r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cong {
    m: u64,
    r: u64,
}

/// The intersection of two congruences: another congruence, or (when the combined modulus
/// exceeds 64 bits) at most one 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meet {
    Cong(Cong),
    Single(u64),
}

/// A congruence in wide arithmetic where modulus 0 means "exactly `r`" (a constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Exact {
    pub m: u128,
    pub r: u128,
}

/// Moduli above this are dropped (`TOP`): a modulus is stored in a `u64`. Every intermediate
/// below (a sum of two residues, a modulus times a 64-bit constant, a product of two moduli over
/// their gcd) fits in a `u128`.
const MAX_MODULUS: u128 = u64::MAX as u128;

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The inverse of `a` modulo `m` (`gcd(a, m) == 1`; 0 for `m == 1`).
fn inverse(a: u128, m: u128) -> u128 {
    if m == 1 {
        return 0;
    }
    let (mut old_r, mut r) = (a as i128, m as i128);
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(m as i128) as u128
}

impl Cong {
    pub const TOP: Cong = Cong { m: 1, r: 0 };

    /// `r mod m`; `TOP` for a modulus of 0, 1 or beyond [`MAX_MODULUS`].
    pub(super) fn new(m: u128, r: u128) -> Cong {
        if m <= 1 || m > MAX_MODULUS {
            Cong::TOP
        } else {
            Cong {
                m: m as u64,
                r: (r % m) as u64,
            }
        }
    }

    pub fn modulus(&self) -> u64 {
        self.m
    }

    pub fn residue(&self) -> u64 {
        self.r
    }

    pub fn is_top(&self) -> bool {
        self.m == 1
    }

    pub fn contains(&self, v: u64) -> bool {
        v % self.m == self.r
    }

    pub(super) fn exact(&self) -> Exact {
        Exact {
            m: self.m.into(),
            r: self.r.into(),
        }
    }

    /// Every value of `self` is in `other`.
    pub fn leq(&self, other: &Cong) -> bool {
        self.m.is_multiple_of(other.m) && self.r % other.m == other.r
    }

    /// The values in both (Chinese remainders); `None` if none.
    pub fn meet(&self, other: &Cong) -> Option<Meet> {
        let (m1, r1, m2, r2) = (
            u128::from(self.m),
            u128::from(self.r),
            u128::from(other.m),
            u128::from(other.r),
        );
        let g = gcd(m1, m2);
        if r1 % g != r2 % g {
            return None;
        }
        // Below 2^128: both moduli are below 2^64.
        let lcm = m1 / g * m2;
        // x = r1 + m1 * t with m1 * t ≡ r2 - r1 (mod m2): divide by g, invert m1/g mod m2/g.
        let (m1g, m2g) = (m1 / g, m2 / g);
        let d = ((r2 + m2 - r1 % m2) % m2) / g % m2g;
        let t = d * inverse(m1g % m2g, m2g) % m2g;
        let x = (r1 + m1 * t) % lcm;
        if lcm > MAX_MODULUS {
            // Only `x` itself can be a 64-bit value.
            return u64::try_from(x).ok().map(Meet::Single);
        }
        Some(Meet::Cong(Cong::new(lcm, x)))
    }

    /// The odd part of the congruence and what it says about the low bits: `r mod 2^k` for
    /// the power of two `2^k` dividing `m`, as known bits. Scalars keep power-of-two strides
    /// in their known bits only, so each fact has one home and equal sets compare equal.
    pub(super) fn split(&self) -> (Cong, Tnum) {
        let k = self.m.trailing_zeros();
        let low = (1u64 << k) - 1;
        let odd = Cong::new((self.m >> k).into(), self.r.into());
        (odd, Tnum::new(self.r & low, !low))
    }

    /// The smallest value `>= x` in the congruence, if any fits in a `u64`.
    pub fn round_up(&self, x: u64) -> Option<u64> {
        let (m, r) = (u128::from(self.m), u128::from(self.r));
        let up = (r + m - u128::from(x) % m) % m;
        u64::try_from(u128::from(x) + up).ok()
    }

    /// The largest value `<= x` in the congruence, if any.
    pub fn round_down(&self, x: u64) -> Option<u64> {
        let (m, r) = (u128::from(self.m), u128::from(self.r));
        let down = (u128::from(x) % m + m - r) % m;
        u64::try_from(u128::from(x).checked_sub(down)?).ok()
    }
}

impl Exact {
    pub fn constant(v: u64) -> Exact {
        Exact { m: 0, r: v.into() }
    }

    /// The smallest congruence holding both (a constant joined with itself stays exact).
    pub fn join(self, other: Exact) -> Exact {
        let diff = self.r.abs_diff(other.r);
        let m = gcd(gcd(self.m, other.m), diff);
        Exact {
            m,
            r: if m == 0 { self.r } else { self.r % m },
        }
    }

    pub fn cong(self) -> Cong {
        Cong::new(self.m, self.r)
    }

    /// `a + b` where the true sum is `a + b - k * modulus_of_width` for one known `k`
    /// (`wraps`), i.e. the caller has proved from the ranges that the wrap count is fixed.
    pub fn add(self, other: Exact, wraps: u128, width_modulus: u128) -> Cong {
        let m = gcd(self.m, other.m);
        if m == 0 || m > MAX_MODULUS {
            return Cong::TOP;
        }
        let r = (self.r % m + other.r % m + m * 2 - (wraps * (width_modulus % m)) % m) % m;
        Cong::new(m, r)
    }

    /// `a - b` where the true difference is `a - b + k * modulus_of_width` (`borrows` = k).
    pub fn sub(self, other: Exact, borrows: u128, width_modulus: u128) -> Cong {
        let m = gcd(self.m, other.m);
        if m == 0 || m > MAX_MODULUS {
            return Cong::TOP;
        }
        let r = (self.r % m + m - other.r % m + (borrows * (width_modulus % m)) % m) % m;
        Cong::new(m, r)
    }

    /// `a * c` for a constant `c`, when the product cannot wrap.
    pub fn scale(self, c: u128) -> Cong {
        if self.m == 0 || self.m > MAX_MODULUS || c > MAX_MODULUS {
            return Cong::TOP;
        }
        Cong::new(self.m * c, (self.r % self.m) * c)
    }
}

impl Scalar {
    /// The congruence of the value, with a constant read as exact.
    pub(super) fn exact_cong(&self) -> Exact {
        match self.is_constant() {
            Some(c) => Exact::constant(c),
            None => self.cong.exact(),
        }
    }

    /// The congruence of the low 32 bits read as unsigned: the whole value's when it fits in
    /// 32 bits, else only a constant's.
    fn exact_cong32(&self) -> Exact {
        let (u32min, u32max) = self.unsigned_range32();
        if u32min == u32max {
            Exact::constant(u32min.into())
        } else if self.umax <= u64::from(u32::MAX) {
            self.cong.exact()
        } else {
            Exact { m: 1, r: 0 }
        }
    }
}

/// The congruence of `dst op src` at `width`: addition, subtraction, multiplication by a
/// constant and left shift by a constant, when the operands' ranges fix the wrap-around;
/// `TOP` otherwise.
pub(super) fn binary(width: Width, op: AluOp, dst: &Scalar, src: &Scalar) -> Cong {
    let (a, b, ra, rb, modulus) = match width {
        Width::W64 => {
            let (a, b) = (dst.exact_cong(), src.exact_cong());
            let range = |s: &Scalar| {
                let (lo, hi) = s.unsigned_range();
                (u128::from(lo), u128::from(hi))
            };
            (a, b, range(dst), range(src), 1u128 << 64)
        }
        Width::W32 => {
            let (a, b) = (dst.exact_cong32(), src.exact_cong32());
            let range = |s: &Scalar| {
                let (lo, hi) = s.unsigned_range32();
                (u128::from(lo), u128::from(hi))
            };
            (a, b, range(dst), range(src), 1u128 << 32)
        }
    };
    match op {
        AluOp::Mov => match width {
            Width::W64 => src.cong,
            Width::W32 => b.cong(),
        },
        AluOp::Add => {
            let (lo, hi) = (ra.0 + rb.0, ra.1 + rb.1);
            if hi < modulus {
                a.add(b, 0, modulus)
            } else if lo >= modulus {
                a.add(b, 1, modulus)
            } else {
                Cong::TOP
            }
        }
        AluOp::Sub => {
            if ra.0 >= rb.1 {
                a.sub(b, 0, modulus)
            } else if ra.1 < rb.0 {
                a.sub(b, 1, modulus)
            } else {
                Cong::TOP
            }
        }
        AluOp::Mul => {
            let no_wrap = ra.1.checked_mul(rb.1).is_some_and(|p| p < modulus);
            match (a.m, b.m) {
                _ if !no_wrap => Cong::TOP,
                (_, 0) => a.scale(b.r),
                (0, _) => b.scale(a.r),
                _ => Cong::TOP,
            }
        }
        AluOp::Lsh => match src.is_constant() {
            Some(k) if (k as u128) < modulus.trailing_zeros() as u128 => {
                let factor = 1u128 << k;
                if ra.1 * factor < modulus {
                    a.scale(factor)
                } else {
                    Cong::TOP
                }
            }
            _ => Cong::TOP,
        },
        _ => Cong::TOP,
    }
}
