//! What a conditional jump tells about both of its operands (Linux's `reg_set_min_max` and
//! `is_branch_taken`).
//!
//! On each side of `if a <cond> b` the relation, or its negation, holds; [`refine`] narrows both
//! operands to the values that can satisfy it, and says when none can (that side is dead).
//! `JMP32` compares only the low 32 bits, so it refines the 32-bit views and known low bits and
//! leaves the upper half to `sync`.

use super::Scalar;
use super::bounds::{Bits, Part, signed};
use crate::domain::tnum::Tnum;
use crate::isa::{Cond, Width};

/// The relation between two operands on one side of a branch.
#[derive(Clone, Copy, Debug)]
enum Relation {
    Eq,
    Ne,
    /// `a < b` (`strict`) or `a <= b`.
    Less {
        signed: bool,
        strict: bool,
    },
    /// `a & b != 0`.
    CommonBit,
    /// `a & b == 0`.
    NoCommonBit,
}

/// The relation on the `taken` side of `cond`, and whether it relates `(b, a)` instead of
/// `(a, b)` (`a > b` is `b < a`; not `a < b` is `b <= a`).
fn relation(cond: Cond, taken: bool) -> (Relation, bool) {
    use Relation::*;
    let less = |signed, strict| Less { signed, strict };
    match (cond, taken) {
        (Cond::Eq, true) | (Cond::Ne, false) => (Eq, false),
        (Cond::Eq, false) | (Cond::Ne, true) => (Ne, false),
        (Cond::Set, true) => (CommonBit, false),
        (Cond::Set, false) => (NoCommonBit, false),
        (Cond::Lt, true) | (Cond::Ge, false) => (less(false, true), false),
        (Cond::Le, true) | (Cond::Gt, false) => (less(false, false), false),
        (Cond::Gt, true) | (Cond::Le, false) => (less(false, true), true),
        (Cond::Ge, true) | (Cond::Lt, false) => (less(false, false), true),
        (Cond::Slt, true) | (Cond::Sge, false) => (less(true, true), false),
        (Cond::Sle, true) | (Cond::Sgt, false) => (less(true, false), false),
        (Cond::Sgt, true) | (Cond::Sle, false) => (less(true, true), true),
        (Cond::Sge, true) | (Cond::Slt, false) => (less(true, false), true),
    }
}

fn bits_of(width: Width) -> Bits {
    match width {
        Width::W64 => 64,
        Width::W32 => 32,
    }
}

/// The values of `a` and `b` on the `taken` (or not taken) side of `if a <cond> b` compared at
/// `width`; `None` if no values of theirs reach that side.
pub fn refine(
    width: Width,
    cond: Cond,
    a: &Scalar,
    b: &Scalar,
    taken: bool,
) -> Option<(Scalar, Scalar)> {
    let w = bits_of(width);
    let (relation, swapped) = relation(cond, taken);
    let (pa, pb) = if swapped {
        let (pb, pa) = apply(relation, b.part(w), a.part(w))?;
        (pa, pb)
    } else {
        apply(relation, a.part(w), b.part(w))?
    };
    Some((a.with_part(pa)?, b.with_part(pb)?))
}

/// `Some(true)` if the jump is taken for all values of `a` and `b`, `Some(false)` if for none,
/// `None` if it depends.
pub fn branch_decided(width: Width, cond: Cond, a: &Scalar, b: &Scalar) -> Option<bool> {
    let taken = refine(width, cond, a, b, true).is_some();
    let fallthrough = refine(width, cond, a, b, false).is_some();
    match (taken, fallthrough) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

fn apply(relation: Relation, a: Part, b: Part) -> Option<(Part, Part)> {
    match relation {
        Relation::Eq => {
            let both = a.meet(b)?;
            Some((both, both))
        }
        Relation::Ne => Some((exclude(a, b)?, exclude(b, a)?)),
        Relation::Less { signed, strict } => less(a, b, signed, strict),
        Relation::CommonBit => common_bit(a, b),
        Relation::NoCommonBit => no_common_bit(a, b),
    }
}

/// `a < b` or `a <= b`: `a` is below `b`'s maximum, `b` above `a`'s minimum.
fn less(mut a: Part, mut b: Part, signed: bool, strict: bool) -> Option<(Part, Part)> {
    if signed {
        let gap = i64::from(strict);
        a.b.smax = a.b.smax.min(b.b.smax.checked_sub(gap)?);
        b.b.smin = b.b.smin.max(a.b.smin.checked_add(gap)?);
    } else {
        let gap = u64::from(strict);
        a.b.umax = a.b.umax.min(b.b.umax.checked_sub(gap)?);
        b.b.umin = b.b.umin.max(a.b.umin.checked_add(gap)?);
    }
    // A bound pushed past the width's range (e.g. `a < 0` unsigned) leaves an empty interval.
    (a.b.is_well_formed() && b.b.is_well_formed()).then_some((a, b))
}

/// `a` without `b`'s value if `b` is a constant. Intervals can only lose an endpoint; that is
/// enough for the common `if x != 0` and loop-exit tests.
fn exclude(a: Part, b: Part) -> Option<Part> {
    let Some(c) = b.is_constant() else {
        return Some(a);
    };
    if a.is_constant() == Some(c) {
        return None;
    }
    let mut r = a.b;
    let cs = signed(c, a.w);
    // Each adjustment only happens when the interval has another value (else `a` would be
    // the constant `c`), so none overflows; an interval emptied anyway means `a` had no other
    // value in that reading.
    if r.umin == c {
        r.umin = r.umin.wrapping_add(1);
    }
    if r.umax == c {
        r.umax = r.umax.wrapping_sub(1);
    }
    if r.smin == cs {
        r.smin = r.smin.wrapping_add(1);
    }
    if r.smax == cs {
        r.smax = r.smax.wrapping_sub(1);
    }
    r.is_well_formed().then_some(Part { b: r, ..a })
}

/// `a & b != 0`: neither is 0, and if only one bit can be common, both have it.
fn common_bit(a: Part, b: Part) -> Option<(Part, Part)> {
    let w = a.w;
    let may_a = a.t.value() | a.t.mask();
    let may_b = b.t.value() | b.t.mask();
    let may_both = may_a & may_b;
    if may_both == 0 {
        return None;
    }
    let zero = Part::constant(0, w);
    let (mut a, mut b) = (exclude(a, zero)?, exclude(b, zero)?);
    if may_both.is_power_of_two() {
        let has_bit = Tnum::new(may_both, !may_both).truncate(w);
        a.t = a.t.intersect(has_bit)?;
        b.t = b.t.intersect(has_bit)?;
    }
    Some((a, b))
}

/// `a & b == 0`: where one has a known 1, the other has a 0.
fn no_common_bit(mut a: Part, mut b: Part) -> Option<(Part, Part)> {
    let w = a.w;
    let (ones_a, ones_b) = (a.t.value(), b.t.value());
    if ones_a & ones_b != 0 {
        return None;
    }
    a.t = a.t.intersect(Tnum::new(0, !ones_b).truncate(w))?;
    b.t = b.t.intersect(Tnum::new(0, !ones_a).truncate(w))?;
    Some((a, b))
}
