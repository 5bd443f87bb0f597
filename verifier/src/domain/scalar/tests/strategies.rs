//! Random abstract scalars together with concrete values known to be in them.
//!
//! A [`Shape`] is a set of constraints around an anchor value (intervals in any of the four
//! readings at random distances, known bits, or an exact constant), each containing the anchor,
//! so the scalar they build is never empty. A [`Sample`] is the join of one or two shapes plus
//! every candidate value (bounds, known-bit extremes, random fills) that it contains.

use proptest::prelude::*;

use super::super::Scalar;
use super::super::bounds::Bounds;
use super::super::congruence::Cong;
use crate::domain::tnum::Tnum;
use crate::domain::tnum::tests::{edge_u64, mask_u64};

/// How far a generated bound lies from the anchor: 0, small, or anywhere up to everything.
fn distance() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        3 => 0u64..16,
        2 => 0u64..5000,
        3 => (any::<u64>(), 0u32..64).prop_map(|(r, s)| r >> s),
        1 => Just(u64::MAX),
    ]
}

fn maybe_distances() -> impl Strategy<Value = Option<(u64, u64)>> {
    proptest::option::weighted(0.4, (distance(), distance()))
}

/// Constraints around `anchor`, each containing it.
#[derive(Clone, Debug)]
pub struct Shape {
    pub anchor: u64,
    u64: Option<(u64, u64)>,
    s64: Option<(u64, u64)>,
    u32: Option<(u64, u64)>,
    s32: Option<(u64, u64)>,
    mask: Option<u64>,
    /// A congruence modulus (`anchor % modulus` is the residue).
    modulus: Option<u64>,
    constant: bool,
}

pub fn shape() -> BoxedStrategy<Shape> {
    (
        edge_u64(),
        maybe_distances(),
        maybe_distances(),
        maybe_distances(),
        maybe_distances(),
        proptest::option::weighted(0.4, mask_u64()),
        proptest::option::weighted(
            0.3,
            prop_oneof![3 => 2u64..16, 2 => 16u64..200, 1 => 200u64..(1 << 40)],
        ),
        proptest::bool::weighted(0.15),
    )
        .prop_map(
            |(anchor, u64, s64, u32, s32, mask, modulus, constant)| Shape {
                anchor,
                u64,
                s64,
                u32,
                s32,
                mask,
                modulus,
                constant,
            },
        )
        .boxed()
}

/// `x - below ..= x + above`, clamped to `lo..=hi`.
fn around(x: i128, (below, above): (u64, u64), lo: i128, hi: i128) -> (i128, i128) {
    (
        (x - i128::from(below)).max(lo),
        (x + i128::from(above)).min(hi),
    )
}

impl Shape {
    /// The same constraints around another anchor.
    pub fn moved_to(&self, anchor: u64) -> Shape {
        Shape {
            anchor,
            ..self.clone()
        }
    }

    /// The constraints as raw, unsynchronised views: each contains the anchor.
    pub fn views(&self) -> (Bounds, Bounds, Tnum) {
        let x = self.anchor;
        if self.constant {
            return (
                Bounds::constant(x, 64),
                Bounds::constant(x, 32),
                Tnum::constant(x),
            );
        }
        let mut b64 = Bounds::full(64);
        let mut b32 = Bounds::full(32);
        if let Some(d) = self.u64 {
            let (lo, hi) = around(x.into(), d, 0, u64::MAX.into());
            (b64.umin, b64.umax) = (lo as u64, hi as u64);
        }
        if let Some(d) = self.s64 {
            let (lo, hi) = around((x as i64).into(), d, i64::MIN.into(), i64::MAX.into());
            (b64.smin, b64.smax) = (lo as i64, hi as i64);
        }
        if let Some(d) = self.u32 {
            let (lo, hi) = around((x as u32).into(), d, 0, u32::MAX.into());
            (b32.umin, b32.umax) = (lo as u64, hi as u64);
        }
        if let Some(d) = self.s32 {
            let (lo, hi) = around((x as i32).into(), d, i32::MIN.into(), i32::MAX.into());
            (b32.smin, b32.smax) = (lo as i64, hi as i64);
        }
        let bits = self.mask.map_or(Tnum::UNKNOWN, |m| Tnum::new(x, m));
        (b64, b32, bits)
    }

    /// The scalar of these constraints (one `sync` of the raw views).
    pub fn build(&self) -> Result<Scalar, TestCaseError> {
        let (b64, b32, bits) = self.views();
        let s = Scalar::from_views(b64, b32, bits)
            .ok_or_else(|| TestCaseError::fail(format!("{self:?} synced to empty")))?;
        let s = s
            .constrain(self.cong())
            .ok_or_else(|| TestCaseError::fail(format!("{self:?}: congruence left nothing")))?;
        prop_assert!(s.contains(self.anchor), "{self:?} built {s:?}");
        Ok(s)
    }

    pub fn cong(&self) -> Cong {
        match self.modulus {
            Some(m) if !self.constant => Cong::new(m.into(), (self.anchor % m).into()),
            _ => Cong::TOP,
        }
    }

    /// The same scalar built with the public constructors and `meet`, one view at a time.
    pub fn build_with_meets(&self) -> Result<Scalar, TestCaseError> {
        let (b64, b32, bits) = self.views();
        let pieces = [
            Scalar::range_unsigned(b64.umin, b64.umax),
            Scalar::range_signed(b64.smin, b64.smax),
            Scalar::range_unsigned32(b32.umin as u32, b32.umax as u32),
            Scalar::range_signed32(b32.smin as i32, b32.smax as i32),
            Some(Scalar::from_tnum(bits)),
            Scalar::top().constrain(self.cong()),
        ];
        let mut s = Scalar::top();
        for piece in pieces {
            let piece = piece.ok_or_else(|| TestCaseError::fail("ill-formed range"))?;
            s = s
                .meet(&piece)
                .ok_or_else(|| TestCaseError::fail(format!("{self:?}: meet lost the anchor")))?;
        }
        prop_assert!(s.contains(self.anchor), "{self:?} built {s:?}");
        Ok(s)
    }
}

/// An abstract scalar and values in it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub s: Scalar,
    pub members: Vec<u64>,
}

/// Values worth trying in `s`: its bounds, known-bit extremes, random fills of the unknown bits
/// and random points of its unsigned range, with the 32-bit bounds spliced in.
pub fn candidates(s: &Scalar, probes: &[u64]) -> Vec<u64> {
    let (umin, umax) = s.unsigned_range();
    let (smin, smax) = s.signed_range();
    let (u32min, u32max) = s.unsigned_range32();
    let (s32min, s32max) = s.signed_range32();
    let t = s.bits();
    let mut out = vec![umin, umax, smin as u64, smax as u64, t.min(), t.max()];
    let c = s.congruence();
    for &p in probes {
        if !c.is_top() {
            // Members of the congruence inside the unsigned range.
            let first = c.round_up(umin).unwrap_or(umin);
            let steps = (umax - first.min(umax)) / c.modulus();
            out.push(first + (p % (steps + 1)) * c.modulus());
            out.push(c.round_down(umax).unwrap_or(umax));
        }
        out.push(t.value() | (p & t.mask()));
        let span = umax - umin;
        out.push(umin + if span == u64::MAX { p } else { p % (span + 1) });
        for low in [u32min, u32max, s32min as u32, s32max as u32] {
            out.push((p & !0xffff_ffff) | u64::from(low));
            out.push((umin & !0xffff_ffff) | u64::from(low));
            out.push((umax & !0xffff_ffff) | u64::from(low));
        }
    }
    out
}

/// Up to `limit` distinct values of `candidates` that `contains` accepts, `first` included.
pub fn members(first: &[u64], candidates: Vec<u64>, contains: impl Fn(u64) -> bool) -> Vec<u64> {
    const LIMIT: usize = 8;
    let mut out: Vec<u64> = first.to_vec();
    for c in candidates {
        if out.len() >= LIMIT {
            break;
        }
        if contains(c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// One or two shapes (the second near the first half of the time) and probe values.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    shapes: Vec<Shape>,
    probes: Vec<u64>,
}

pub fn sample_spec() -> BoxedStrategy<SampleSpec> {
    (
        shape(),
        proptest::option::weighted(0.3, (shape(), any::<bool>(), -64i64..64)),
        proptest::collection::vec(any::<u64>(), 3),
    )
        .prop_map(|(first, second, probes)| {
            let mut shapes = vec![first.clone()];
            if let Some((second, near, delta)) = second {
                shapes.push(if near {
                    second.moved_to(first.anchor.wrapping_add(delta as u64))
                } else {
                    second
                });
            }
            SampleSpec { shapes, probes }
        })
        .boxed()
}

impl SampleSpec {
    /// The same spec around a new first anchor (to relate two operands).
    pub fn moved_to(mut self, anchor: u64) -> SampleSpec {
        self.shapes[0] = self.shapes[0].moved_to(anchor);
        self
    }

    pub fn anchor(&self) -> u64 {
        self.shapes[0].anchor
    }

    pub fn build(&self) -> Result<Sample, TestCaseError> {
        let mut s = self.shapes[0].build()?;
        for shape in &self.shapes[1..] {
            let other = shape.build()?;
            let joined = s.join(&other);
            prop_assert!(joined.leq(&joined) && s.leq(&joined) && other.leq(&joined));
            s = joined;
        }
        let anchors: Vec<u64> = self.shapes.iter().map(|sh| sh.anchor).collect();
        for &a in &anchors {
            prop_assert!(s.contains(a), "join lost {a:#x}: {s:?}");
        }
        let members = members(&anchors, candidates(&s, &self.probes), |v| s.contains(v));
        Ok(Sample { s, members })
    }
}

/// Two operands; half of the time the second is built around a value near the first's anchor,
/// so comparisons between them go both ways.
pub fn operand_pair() -> impl Strategy<Value = (SampleSpec, SampleSpec)> {
    (
        sample_spec(),
        sample_spec(),
        prop_oneof![
            Just(None),
            (-3i64..3).prop_map(Some),
            edge_u64().prop_map(|e| Some(e as i64))
        ],
    )
        .prop_map(|(a, b, delta)| match delta {
            Some(d) => {
                let anchor = a.anchor().wrapping_add(d as u64);
                (a, b.moved_to(anchor))
            }
            None => (a, b),
        })
}

/// The values of raw views (for testing `sync` itself).
pub fn raw_contains(b64: Bounds, b32: Bounds, bits: Tnum, v: u64) -> bool {
    b64.contains(v, 64) && b32.contains(v, 32) && bits.contains(v)
}
