//! Making the five views of a scalar agree (the Linux verifier's `reg_bounds_sync`).
//!
//! A scalar is described five ways at once: signed and unsigned 64-bit intervals, signed and
//! unsigned intervals of the low 32 bits, and known bits. Each is a sound over-approximation on
//! its own and the value is in their intersection, so each can be tightened by what the others
//! exclude. The rounds below do that until nothing changes; each step only removes values that
//! no view allows, so the concretisation never shrinks, and an empty view means the whole scalar
//! is empty (`None`).

use super::bounds::{Bits, Bounds, signed, umax_of, unsigned};
use crate::domain::tnum::Tnum;

/// Rounds are cheap and almost always reach a fixpoint after two; the cap only bounds the work
/// on pathological inputs (stopping early is sound, just less tight).
const MAX_ROUNDS: usize = 6;

/// The synchronised views, or `None` when they contradict each other.
pub(super) fn sync(
    mut b64: Bounds,
    mut b32: Bounds,
    mut t: Tnum,
) -> Option<(Bounds, Bounds, Tnum)> {
    for _ in 0..MAX_ROUNDS {
        let before = (b64, b32, t);
        b64 = tighten_by_tnum(b64, t, 64)?;
        b32 = tighten_by_tnum(b32, t.subreg(), 32)?;
        b64 = cross(b64, 64)?;
        b32 = cross(b32, 32)?;
        b32 = b32.meet(project_to_32(b64))?;
        b64 = lift_from_32(b64, b32)?;
        t = t.intersect(Tnum::range(b64.umin, b64.umax))?;
        let low = t.subreg().intersect(Tnum::range(b32.umin, b32.umax))?;
        t = t.with_subreg(low);
        if (b64, b32, t) == before {
            break;
        }
    }
    Some((b64, b32, t))
}

/// Moves each bound inward to the nearest value the known bits allow (`t` is zero above `w`).
fn tighten_by_tnum(b: Bounds, t: Tnum, w: Bits) -> Option<Bounds> {
    let umin = t.min_ge(b.umin)?;
    let umax = t.max_le(b.umax)?;
    // Flipping the sign bit turns the signed order into the unsigned one.
    let sign = w - 1;
    let flipped = t.flip_bit(sign);
    let flip = |s: i64| unsigned(s, w) ^ (1 << sign);
    let smin = signed(flipped.min_ge(flip(b.smin))? ^ (1 << sign), w);
    let smax = signed(flipped.max_le(flip(b.smax))? ^ (1 << sign), w);
    let tightened = Bounds {
        smin,
        smax,
        umin,
        umax,
    };
    tightened.is_well_formed().then_some(tightened)
}

/// The values both readings allow, as unsigned intervals in increasing order: one, or two when
/// the signed interval straddles zero (its non-negative half and its negative half).
fn common_pieces(b: Bounds, w: Bits) -> [Option<(u64, u64)>; 2] {
    let piece = |lo: u64, hi: u64| {
        let (lo, hi) = (lo.max(b.umin), hi.min(b.umax));
        (lo <= hi).then_some((lo, hi))
    };
    let (slo, shi) = (unsigned(b.smin, w), unsigned(b.smax, w));
    if slo <= shi {
        [piece(slo, shi), None]
    } else {
        [piece(0, shi), piece(slo, umax_of(w))]
    }
}

/// Tightens each reading to the values the other allows (Linux's signed/unsigned deductions,
/// including the case where the signed interval straddles zero and the unsigned one overlaps
/// only one of its halves).
fn cross(b: Bounds, w: Bits) -> Option<Bounds> {
    match common_pieces(b, w) {
        [None, None] => None,
        [Some((lo, hi)), None] | [None, Some((lo, hi))] => Some(Bounds {
            smin: signed(lo, w),
            smax: signed(hi, w),
            umin: lo,
            umax: hi,
        }),
        [Some((nonneg_lo, nonneg_hi)), Some((neg_lo, neg_hi))] => Some(Bounds {
            smin: signed(neg_lo, w),
            smax: signed(nonneg_hi, w),
            umin: nonneg_lo,
            umax: neg_hi,
        }),
    }
}

/// What the 64-bit intervals say about the low 32 bits: an interval spanning fewer than 2^32
/// values has low halves on one arc of the 32-bit circle.
fn project_to_32(b64: Bounds) -> Bounds {
    super::bounds::Part::from_bounds(b64, 64).low(32).b
}

/// Moves each 64-bit bound inward to the nearest value whose low 32 bits the 32-bit readings
/// allow (Linux's `deduce_bounds_64_from_32`, generalised to a straddling signed interval).
fn lift_from_32(b64: Bounds, b32: Bounds) -> Option<Bounds> {
    let pieces = common_pieces(b32, 32);
    let pieces = pieces.iter().flatten();
    let first_at_or_above = |x: i128, max: i128| {
        pieces
            .clone()
            .map(|&(lo, hi)| next_in_piece(x, lo, hi))
            .filter(|&y| y <= max)
            .min()
    };
    let last_at_or_below = |x: i128, min: i128| {
        pieces
            .clone()
            .map(|&(lo, hi)| prev_in_piece(x, lo, hi))
            .filter(|&y| y >= min)
            .max()
    };
    let umin = first_at_or_above(b64.umin.into(), u64::MAX.into())?;
    let umax = last_at_or_below(b64.umax.into(), 0)?;
    let smin = first_at_or_above(b64.smin.into(), i64::MAX.into())?;
    let smax = last_at_or_below(b64.smax.into(), i64::MIN.into())?;
    // The candidates lie within the 64-bit ranges by the filters above.
    let lifted = Bounds {
        smin: smin as i64,
        smax: smax as i64,
        umin: umin as u64,
        umax: umax as u64,
    };
    lifted.is_well_formed().then_some(lifted)
}

const LOW32: i128 = 0xffff_ffff;

/// The smallest `y >= x` whose low 32 bits are in `lo..=hi`.
fn next_in_piece(x: i128, lo: u64, hi: u64) -> i128 {
    let (block, low) = (x & !LOW32, x & LOW32);
    let (lo, hi) = (i128::from(lo), i128::from(hi));
    match low {
        l if l < lo => block | lo,
        l if l <= hi => x,
        _ => (block + (1 << 32)) | lo,
    }
}

/// The largest `y <= x` whose low 32 bits are in `lo..=hi`.
fn prev_in_piece(x: i128, lo: u64, hi: u64) -> i128 {
    let (block, low) = (x & !LOW32, x & LOW32);
    let (lo, hi) = (i128::from(lo), i128::from(hi));
    match low {
        l if l > hi => block | hi,
        l if l >= lo => x,
        _ => (block - (1 << 32)) | hi,
    }
}
