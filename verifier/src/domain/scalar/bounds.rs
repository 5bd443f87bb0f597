//! The pieces the scalar domain is built from: the bounds of one width of a value in its signed
//! and unsigned readings ([`Bounds`]), the wrap-around arcs that translate between the two
//! readings and carry arithmetic across overflow ([`Arc`]), and one width's bounds together with
//! its known bits ([`Part`]).
//!
//! Everything here is generic in the width `w` (8, 16, 32 or 64 bits) so that the 64-bit
//! register, its 32-bit subregister and the 8/16-bit pieces `movsx` looks at share one
//! implementation. Values of a `w`-bit width are stored widened: unsigned ones zero-extended to
//! `u64`, signed ones sign-extended to `i64`.

use crate::domain::tnum::Tnum;

/// Width in bits of what a [`Bounds`] or [`Part`] describes: 8, 16, 32 or 64.
pub(super) type Bits = u32;

pub(super) const fn umax_of(w: Bits) -> u64 {
    u64::MAX >> (64 - w)
}

pub(super) const fn smin_of(w: Bits) -> i64 {
    i64::MIN >> (64 - w)
}

pub(super) const fn smax_of(w: Bits) -> i64 {
    i64::MAX >> (64 - w)
}

/// The `w`-bit pattern `u` read as signed.
pub(super) const fn signed(u: u64, w: Bits) -> i64 {
    ((u << (64 - w)) as i64) >> (64 - w)
}

/// The `w`-bit pattern of `s`.
pub(super) const fn unsigned(s: i64, w: Bits) -> u64 {
    (s as u64) & umax_of(w)
}

/// Signed and unsigned bounds of a `w`-bit value. Each interval alone is a sound description;
/// `sync` makes them agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Bounds {
    pub smin: i64,
    pub smax: i64,
    pub umin: u64,
    pub umax: u64,
}

impl Bounds {
    pub fn full(w: Bits) -> Bounds {
        Bounds {
            smin: smin_of(w),
            smax: smax_of(w),
            umin: 0,
            umax: umax_of(w),
        }
    }

    pub fn constant(v: u64, w: Bits) -> Bounds {
        let v = v & umax_of(w);
        Bounds {
            smin: signed(v, w),
            smax: signed(v, w),
            umin: v,
            umax: v,
        }
    }

    /// `lo..=hi` in the unsigned reading, with the signed reading it implies.
    pub fn unsigned(lo: u64, hi: u64, w: Bits) -> Bounds {
        Arc::unsigned(lo, hi).bounds(w)
    }

    /// `lo..=hi` in the signed reading, with the unsigned reading it implies.
    pub fn signed(lo: i64, hi: i64, w: Bits) -> Bounds {
        Arc::signed(lo, hi, w).bounds(w)
    }

    pub fn is_well_formed(self) -> bool {
        self.smin <= self.smax && self.umin <= self.umax
    }

    pub fn hull(self, other: Bounds) -> Bounds {
        Bounds {
            smin: self.smin.min(other.smin),
            smax: self.smax.max(other.smax),
            umin: self.umin.min(other.umin),
            umax: self.umax.max(other.umax),
        }
    }

    /// The intersection of both readings, or `None` if one becomes empty. (Empty does not follow
    /// from the two readings' intervals overlapping, see `sync`.)
    pub fn meet(self, other: Bounds) -> Option<Bounds> {
        let met = Bounds {
            smin: self.smin.max(other.smin),
            smax: self.smax.min(other.smax),
            umin: self.umin.max(other.umin),
            umax: self.umax.min(other.umax),
        };
        met.is_well_formed().then_some(met)
    }

    /// Like [`Bounds::meet`] where both sides describe the same, non-empty set of values: an
    /// empty intersection can then only come from an input whose concretisation was already
    /// empty, and keeping `self` is as sound as anything.
    pub fn meet_or_self(self, other: Bounds) -> Bounds {
        self.meet(other).unwrap_or(self)
    }

    pub fn contains(self, v: u64, w: Bits) -> bool {
        let v = v & umax_of(w);
        (self.umin..=self.umax).contains(&v) && (self.smin..=self.smax).contains(&signed(v, w))
    }

    pub fn is_subset(self, other: Bounds) -> bool {
        other.smin <= self.smin
            && self.smax <= other.smax
            && other.umin <= self.umin
            && self.umax <= other.umax
    }
}

/// `len + 1` consecutive `w`-bit values starting at `lo`, wrapping from `2^w - 1` to 0.
///
/// Arcs are how the domain stays precise across overflow: the sum of two arcs is an arc as long
/// as it does not go round the whole circle, and an arc reads as an interval in whichever of
/// the signed and unsigned orders it does not cross the wrap point of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Arc {
    lo: u64,
    len: u64,
}

impl Arc {
    pub fn full(w: Bits) -> Arc {
        Arc {
            lo: 0,
            len: umax_of(w),
        }
    }

    /// `lo..=hi` in the unsigned order (`lo <= hi`).
    pub fn unsigned(lo: u64, hi: u64) -> Arc {
        Arc { lo, len: hi - lo }
    }

    /// `lo..=hi` in the signed order of `w` bits (`lo <= hi`).
    pub fn signed(lo: i64, hi: i64, w: Bits) -> Arc {
        Arc {
            lo: unsigned(lo, w),
            len: hi.wrapping_sub(lo) as u64,
        }
    }

    /// The `w`-bit patterns of the mathematical integers `lo..=hi`.
    pub fn exact(lo: i128, hi: i128, w: Bits) -> Arc {
        match hi.checked_sub(lo) {
            Some(len) if len <= i128::from(umax_of(w)) => Arc {
                lo: (lo as u64) & umax_of(w),
                len: len as u64,
            },
            _ => Arc::full(w),
        }
    }

    /// [`Arc::exact`] for non-negative integers too large for `i128` (products of two `u64`).
    pub fn exact_unsigned(lo: u128, hi: u128, w: Bits) -> Arc {
        if hi - lo > u128::from(umax_of(w)) {
            return Arc::full(w);
        }
        Arc {
            lo: (lo as u64) & umax_of(w),
            len: (hi - lo) as u64,
        }
    }

    fn with_len(lo: u64, len: u128, w: Bits) -> Arc {
        if len > u128::from(umax_of(w)) {
            return Arc::full(w);
        }
        Arc {
            lo: lo & umax_of(w),
            len: len as u64,
        }
    }

    /// `{x + y}` for `x` in `self` and `y` in `other`.
    pub fn add(self, other: Arc, w: Bits) -> Arc {
        let len = u128::from(self.len) + u128::from(other.len);
        Arc::with_len(self.lo.wrapping_add(other.lo), len, w)
    }

    /// `{x - y}`: from `self.lo - (other's last)` for `self.len + other.len` steps.
    pub fn sub(self, other: Arc, w: Bits) -> Arc {
        let len = u128::from(self.len) + u128::from(other.len);
        let lo = self.lo.wrapping_sub(other.lo).wrapping_sub(other.len);
        Arc::with_len(lo, len, w)
    }

    pub fn neg(self, w: Bits) -> Arc {
        let lo = 0u64.wrapping_sub(self.lo).wrapping_sub(self.len);
        Arc::with_len(lo, u128::from(self.len), w)
    }

    /// The smallest interval containing the arc in each order: the arc itself where it does not
    /// cross that order's wrap point, everything otherwise.
    pub fn bounds(self, w: Bits) -> Bounds {
        let last = u128::from(self.lo) + u128::from(self.len);
        let (umin, umax) = if last <= u128::from(umax_of(w)) {
            (self.lo, last as u64)
        } else {
            (0, umax_of(w))
        };
        // Adding 2^(w-1) maps the signed order onto the unsigned one.
        let half = 1u64 << (w - 1);
        let shifted = u128::from((self.lo ^ half) & umax_of(w)) + u128::from(self.len);
        let (smin, smax) = if shifted <= u128::from(umax_of(w)) {
            let hi = self.lo.wrapping_add(self.len) & umax_of(w);
            (signed(self.lo, w), signed(hi, w))
        } else {
            (smin_of(w), smax_of(w))
        };
        Bounds {
            smin,
            smax,
            umin,
            umax,
        }
    }
}

/// What is known about one width of a value: bounds and known bits (zero above `w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Part {
    pub b: Bounds,
    pub t: Tnum,
    pub w: Bits,
}

impl Part {
    pub fn full(w: Bits) -> Part {
        Part {
            b: Bounds::full(w),
            t: Tnum::UNKNOWN.truncate(w),
            w,
        }
    }

    pub fn constant(v: u64, w: Bits) -> Part {
        Part {
            b: Bounds::constant(v, w),
            t: Tnum::constant(v & umax_of(w)),
            w,
        }
    }

    /// Bounds alone, known bits left to `sync` to derive.
    pub fn from_bounds(b: Bounds, w: Bits) -> Part {
        Part {
            b,
            t: Tnum::UNKNOWN.truncate(w),
            w,
        }
    }

    pub fn is_constant(self) -> Option<u64> {
        if self.b.umin == self.b.umax {
            return Some(self.b.umin);
        }
        self.t.is_constant()
    }

    pub fn hull(self, other: Part) -> Part {
        Part {
            b: self.b.hull(other.b),
            t: self.t.union(other.t),
            w: self.w,
        }
    }

    pub fn meet(self, other: Part) -> Option<Part> {
        Some(Part {
            b: self.b.meet(other.b)?,
            t: self.t.intersect(other.t)?,
            w: self.w,
        })
    }

    /// The low `n` bits (`n <= w`): each reading's interval survives as an arc if it spans fewer
    /// than `2^n` values.
    pub fn low(self, n: Bits) -> Part {
        if n >= self.w {
            return self;
        }
        let mask = u128::from(umax_of(n));
        let b = self.b;
        let from_unsigned = if u128::from(b.umax - b.umin) <= mask {
            Arc {
                lo: b.umin & umax_of(n),
                len: b.umax - b.umin,
            }
            .bounds(n)
        } else {
            Bounds::full(n)
        };
        let span = b.smax.wrapping_sub(b.smin) as u64;
        let from_signed = if u128::from(span) <= mask {
            Arc::signed(b.smin, b.smax, n).bounds(n)
        } else {
            Bounds::full(n)
        };
        Part {
            b: from_unsigned.meet_or_self(from_signed),
            t: self.t.truncate(n),
            w: n,
        }
    }

    /// Zero-extends to `w` bits: non-negative in both readings.
    pub fn zero_extend(self, w: Bits) -> Part {
        if w <= self.w {
            return self;
        }
        Part {
            b: Bounds {
                smin: self.b.umin as i64,
                smax: self.b.umax as i64,
                umin: self.b.umin,
                umax: self.b.umax,
            },
            t: self.t,
            w,
        }
    }

    /// Sign-extends to `w` bits: the signed reading is unchanged, the unsigned one follows it
    /// unless it straddles zero.
    pub fn sign_extend(self, w: Bits) -> Part {
        if w <= self.w {
            return self;
        }
        Part {
            b: Bounds::signed(self.b.smin, self.b.smax, w),
            t: self.t.sign_extend(self.w).truncate(w),
            w,
        }
    }
}
