//! Tests of the zone domain: exactness against a dense reference (`exact`), soundness on
//! concrete points (`soundness`), the eBPF patterns it exists for (`patterns`), and a
//! performance smoke test (`perf`).

mod exact;
mod patterns;
mod perf;
mod reference;
mod soundness;

use super::Zone;
use proptest::prelude::*;
use reference::{Dbm, N, VARS};

/// Cases per property test: a quick run in debug builds, a thorough one with `--release`.
pub const CASES: u32 = if cfg!(debug_assertions) {
    1_000
} else {
    10_000
};

/// One operation, on variable indices `0..N` and with absolute constants (so contradictions,
/// hence bottom, happen too).
#[derive(Clone, Debug)]
pub enum Op {
    Difference(usize, usize, i64),
    Equal(usize, usize, i64),
    Upper(usize, i64),
    Lower(usize, i64),
    AddInterval(usize, Option<i64>, Option<i64>),
    AssignInterval(usize, Option<i64>, Option<i64>),
    Const(usize, i64),
    Assign(usize, usize, i64),
    AssignPlus(usize, usize, i64, i64),
    Forget(usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    let v = || 0..N;
    // Constants lean towards satisfiable constraints so that most sequences stay non-bottom.
    let interval = || {
        (-10i64..=10, 0i64..=10, any::<(bool, bool)>())
            .prop_map(|(lo, w, (l, h))| (l.then_some(lo), h.then_some(lo + w)))
    };
    prop_oneof![
        5 => (v(), v(), -2i64..=14).prop_map(|(x, y, c)| Op::Difference(x, y, c)),
        1 => (v(), v(), -2i64..=2).prop_map(|(x, y, c)| Op::Equal(x, y, c)),
        2 => (v(), -3i64..=15).prop_map(|(x, c)| Op::Upper(x, c)),
        2 => (v(), -15i64..=3).prop_map(|(x, c)| Op::Lower(x, c)),
        1 => (v(), proptest::option::of(-15i64..=2), proptest::option::of(-2i64..=15))
            .prop_map(|(x, lo, hi)| Op::AddInterval(x, lo, hi)),
        3 => (v(), interval()).prop_map(|(x, (lo, hi))| Op::AssignInterval(x, lo, hi)),
        1 => (v(), -10i64..=10).prop_map(|(x, c)| Op::Const(x, c)),
        3 => (v(), v(), -5i64..=5).prop_map(|(x, y, c)| Op::Assign(x, y, c)),
        2 => (v(), v(), -3i64..=3, 0i64..=4).prop_map(|(x, y, lo, w)| Op::AssignPlus(x, y, lo, lo + w)),
        2 => v().prop_map(Op::Forget),
    ]
}

pub fn ops(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), len)
}

pub fn apply_zone(op: &Op, z: &mut Zone) {
    let var = |k: usize| VARS[k];
    match *op {
        Op::Difference(x, y, c) => z.add_difference(var(x), var(y), c),
        Op::Equal(x, y, c) => z.add_equal(var(x), var(y), c),
        Op::Upper(x, c) => z.add_upper(var(x), c),
        Op::Lower(x, c) => z.add_lower(var(x), c),
        Op::AddInterval(x, lo, hi) => z.add_interval(var(x), lo, hi),
        Op::AssignInterval(x, lo, hi) => z.assign_interval(var(x), lo, hi),
        Op::Const(x, c) => z.assign_const(var(x), c),
        Op::Assign(x, y, c) => z.assign_var(var(x), var(y), c),
        Op::AssignPlus(x, y, lo, hi) => z.assign_var_plus_interval(var(x), var(y), lo, hi),
        Op::Forget(x) => z.forget(var(x)),
    }
}

pub fn apply_reference(op: &Op, r: &mut Dbm) {
    match *op {
        Op::Difference(x, y, c) => r.add_difference(x, y, c),
        Op::Equal(x, y, c) => {
            r.add_difference(x, y, c);
            r.add_difference(y, x, -c);
        }
        Op::Upper(x, c) => r.add_upper(x, c),
        Op::Lower(x, c) => r.add_lower(x, c),
        Op::AddInterval(x, lo, hi) => {
            if let Some(lo) = lo {
                r.add_lower(x, lo);
            }
            if let Some(hi) = hi {
                r.add_upper(x, hi);
            }
        }
        Op::AssignInterval(x, lo, hi) => r.assign_interval(x, lo, hi),
        Op::Const(x, c) => r.assign_interval(x, Some(c), Some(c)),
        Op::Assign(x, y, c) => r.assign_var_plus_interval(x, y, c, c),
        Op::AssignPlus(x, y, lo, hi) => r.assign_var_plus_interval(x, y, lo, hi),
        Op::Forget(x) => r.forget(x),
    }
}

/// The zone and the reference after `ops` from top.
pub fn build(ops: &[Op]) -> (Zone, Dbm) {
    let (mut z, mut r) = (Zone::top(), Dbm::top());
    for op in ops {
        apply_zone(op, &mut z);
        apply_reference(op, &mut r);
    }
    (z, r)
}

/// Runs `ops` on a copy of `z`.
pub fn run(ops: &[Op], z: &Zone) -> Zone {
    let mut z = z.clone();
    ops.iter().for_each(|op| apply_zone(op, &mut z));
    z
}

/// Whether the concrete values `p` (indexed like `VARS`) satisfy every constraint of `z`.
pub fn contains(z: &Zone, p: &[i64; N]) -> bool {
    if z.is_bottom() {
        return false;
    }
    (0..N).all(|x| {
        let (lo, hi) = z.interval(VARS[x]);
        lo.is_none_or(|lo| lo <= p[x])
            && hi.is_none_or(|hi| p[x] <= hi)
            && (0..N).all(|y| {
                z.diff_bound(VARS[x], VARS[y])
                    .is_none_or(|c| p[x] - p[y] <= c)
            })
    })
}

/// The reference matrix a zone describes, read back through its queries.
pub fn to_reference(z: &Zone) -> Dbm {
    let mut r = Dbm::top();
    if z.is_bottom() {
        r.add_difference(0, 0, -1);
        return r;
    }
    for (x, &vx) in VARS.iter().enumerate() {
        let (lo, hi) = z.interval(vx);
        if let Some(lo) = lo {
            r.add_lower(x, lo);
        }
        if let Some(hi) = hi {
            r.add_upper(x, hi);
        }
        for (y, &vy) in VARS.iter().enumerate() {
            if let Some(c) = z.diff_bound(vx, vy) {
                r.add_difference(x, y, c);
            }
        }
    }
    r
}
