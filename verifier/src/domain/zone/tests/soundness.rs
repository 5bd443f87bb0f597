//! Soundness on concrete points: operations built around a hidden point keep it, and join,
//! widening, meet and narrowing keep the points their arguments hold.

use super::*;

/// An operation whose constants are relative to the current concrete point, so the point
/// satisfies every constraint added and follows every assignment.
#[derive(Clone, Debug)]
pub enum PointOp {
    /// `x - y <= p[x] - p[y] + slack`.
    Difference(usize, usize, i64),
    /// `x = y + (p[x] - p[y])`.
    Equal(usize, usize),
    /// `x <= p[x] + slack`.
    Upper(usize, i64),
    /// `x >= p[x] - slack`.
    Lower(usize, i64),
    /// `x := v` with bounds `v - lo_slack`, `v + hi_slack`.
    AssignInterval(usize, i64, Option<i64>, Option<i64>),
    Const(usize, i64),
    Assign(usize, usize, i64),
    /// `x := y + [lo, lo + width]`, concretely `y + lo + pick % (width + 1)`.
    AssignPlus(usize, usize, i64, i64, i64),
    /// Forget `x`, which then takes any value `v`.
    Forget(usize, i64),
}

fn point_op() -> impl Strategy<Value = PointOp> {
    let v = || 0..N;
    let slack = || 0i64..=4;
    prop_oneof![
        5 => (v(), v(), slack()).prop_map(|(x, y, s)| PointOp::Difference(x, y, s)),
        1 => (v(), v()).prop_map(|(x, y)| PointOp::Equal(x, y)),
        2 => (v(), slack()).prop_map(|(x, s)| PointOp::Upper(x, s)),
        2 => (v(), slack()).prop_map(|(x, s)| PointOp::Lower(x, s)),
        2 => (v(), -20i64..=20, proptest::option::of(slack()), proptest::option::of(slack()))
            .prop_map(|(x, v, lo, hi)| PointOp::AssignInterval(x, v, lo, hi)),
        1 => (v(), -20i64..=20).prop_map(|(x, c)| PointOp::Const(x, c)),
        3 => (v(), v(), -5i64..=5).prop_map(|(x, y, c)| PointOp::Assign(x, y, c)),
        2 => (v(), v(), -3i64..=3, 0i64..=4, 0i64..=100)
            .prop_map(|(x, y, lo, w, pick)| PointOp::AssignPlus(x, y, lo, w, pick)),
        2 => (v(), -20i64..=20).prop_map(|(x, v)| PointOp::Forget(x, v)),
    ]
}

/// A zone built around a point: the point and the operations.
fn scenario() -> impl Strategy<Value = ([i64; N], Vec<PointOp>)> {
    (
        proptest::array::uniform6(-20i64..=20),
        proptest::collection::vec(point_op(), 0..30),
    )
}

fn apply(op: &PointOp, z: &mut Zone, p: &mut [i64; N]) {
    let var = |k: usize| VARS[k];
    match *op {
        PointOp::Difference(x, y, s) => z.add_difference(var(x), var(y), p[x] - p[y] + s),
        PointOp::Equal(x, y) => z.add_equal(var(x), var(y), p[x] - p[y]),
        PointOp::Upper(x, s) => z.add_upper(var(x), p[x] + s),
        PointOp::Lower(x, s) => z.add_lower(var(x), p[x] - s),
        PointOp::AssignInterval(x, v, lo, hi) => {
            p[x] = v;
            z.assign_interval(var(x), lo.map(|s| v - s), hi.map(|s| v + s));
        }
        PointOp::Const(x, c) => {
            p[x] = c;
            z.assign_const(var(x), c);
        }
        PointOp::Assign(x, y, c) => {
            p[x] = p[y] + c;
            z.assign_var(var(x), var(y), c);
        }
        PointOp::AssignPlus(x, y, lo, width, pick) => {
            p[x] = p[y] + lo + pick % (width + 1);
            z.assign_var_plus_interval(var(x), var(y), lo, lo + width);
        }
        PointOp::Forget(x, v) => {
            p[x] = v;
            z.forget(var(x));
        }
    }
}

/// Runs a scenario from top, checking the point stays in the zone after every step.
fn follow(start: &[i64; N], ops: &[PointOp]) -> (Zone, [i64; N]) {
    let (mut z, mut p) = (Zone::top(), *start);
    for op in ops {
        apply(op, &mut z, &mut p);
        assert!(contains(&z, &p), "{op:?} lost the point {p:?}: {z:?}");
    }
    (z, p)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn operations_keep_the_point((start, ops) in scenario()) {
        follow(&start, &ops);
    }

    #[test]
    fn join_and_widening_keep_both_points(
        (pa, a) in scenario(),
        (pb, b) in scenario(),
        thresholds in proptest::collection::vec(-25i64..=25, 0..4),
        extra in proptest::collection::vec(proptest::array::uniform6(-25i64..=25), 0..20),
    ) {
        let (za, p) = follow(&pa, &a);
        let (zb, q) = follow(&pb, &b);
        let results = [
            ("join", za.join(&zb)),
            ("widen", za.widen(&zb)),
            ("widen with thresholds", za.widen_with_thresholds(&zb, &thresholds)),
        ];
        for (name, z) in &results {
            prop_assert!(contains(z, &p) && contains(z, &q), "{}: {:?}", name, z);
            // Any other point of either argument too.
            for r in extra.iter().filter(|r| contains(&za, r) || contains(&zb, r)) {
                prop_assert!(contains(z, r), "{} lost {:?}: {:?}", name, r, z);
            }
        }
    }

    #[test]
    fn meet_and_narrowing_keep_common_points(
        start in proptest::array::uniform6(-20i64..=20),
        a in proptest::collection::vec(point_op(), 0..20),
        b in proptest::collection::vec(point_op(), 0..20),
        extra in proptest::collection::vec(proptest::array::uniform6(-25i64..=25), 0..20),
    ) {
        // The second zone is built from top around the first one's final point, with constraints
        // only, so that point is common to both.
        let (za, p) = follow(&start, &a);
        let mut zb = Zone::top();
        let mut q = p;
        let constraints = b.iter().filter(|op| matches!(op,
            PointOp::Difference(..) | PointOp::Equal(..) | PointOp::Upper(..) | PointOp::Lower(..)));
        constraints.for_each(|op| apply(op, &mut zb, &mut q));
        for z in [za.meet(&zb), zb.meet(&za), za.narrow(&zb), zb.narrow(&za)] {
            prop_assert!(contains(&z, &p), "{:?}", z);
        }
        for r in extra.iter().filter(|r| contains(&za, r) && contains(&zb, r)) {
            prop_assert!(contains(&za.meet(&zb), r));
            prop_assert!(contains(&za.narrow(&zb), r));
        }
    }
}
