//! Known-bits tests: examples, soundness of every operation against `u64` arithmetic, and
//! optimality of the order queries (`min_ge`/`max_le`) checked exhaustively on 6-bit tnums.

use proptest::prelude::*;

use super::Tnum;

/// Values where arithmetic goes wrong most often, mixed with small and random ones.
pub(crate) fn edge_u64() -> BoxedStrategy<u64> {
    let edges = [
        0,
        1,
        2,
        7,
        8,
        255,
        256,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        i64::MAX as u64,
        i64::MIN as u64,
        u64::MAX,
        u64::MAX - 1,
        i64::from(i32::MIN) as u64,
        0xffff_ffff_8000_0000,
        0xffff_ffff_0000_0000,
    ];
    prop_oneof![
        3 => proptest::sample::select(edges.to_vec()),
        2 => (-300i64..300).prop_map(|v| v as u64),
        2 => (any::<u64>(), 0u32..64).prop_map(|(r, shift)| r >> shift),
        1 => (proptest::sample::select(edges.to_vec()), -4i64..4)
            .prop_map(|(e, d)| e.wrapping_add(d as u64)),
        2 => any::<u64>(),
    ]
    .boxed()
}

/// Which bits are unknown: none, all, low runs, sparse and random patterns.
pub(crate) fn mask_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(0),
        Just(u64::MAX),
        (1u32..=64).prop_map(|bits| u64::MAX >> (64 - bits)),
        (0u32..64, 0u32..64).prop_map(|(a, b)| (u64::MAX >> a) & (u64::MAX << b)),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| a & b & c),
        any::<u64>(),
    ]
    .boxed()
}

/// A tnum and a few of its members.
fn tnum_with_members() -> impl Strategy<Value = (Tnum, Vec<u64>)> {
    (
        edge_u64(),
        mask_u64(),
        proptest::collection::vec(any::<u64>(), 3),
    )
        .prop_map(|(x, mask, fill)| {
            let t = Tnum::new(x, mask);
            let mut members = vec![x, t.min(), t.max()];
            members.extend(fill.iter().map(|r| t.value() | (r & mask)));
            (t, members)
        })
}

fn config() -> ProptestConfig {
    // XorShift: ChaCha, the default, dominates the run time of an unoptimised test build.
    let mut config = ProptestConfig {
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = if cfg!(debug_assertions) { 3000 } else { 50_000 };
    }
    config
}

#[test]
fn examples() {
    let t = |value, mask| Tnum::new(value, mask);
    let cases: &[(&str, Tnum, Tnum)] = &[
        ("range 0..=255", Tnum::range(0, 255), t(0, 0xff)),
        ("range 4..=7", Tnum::range(4, 7), t(4, 3)),
        ("range 5..=5", Tnum::range(5, 5), Tnum::constant(5)),
        ("range full", Tnum::range(0, u64::MAX), Tnum::UNKNOWN),
        ("range 8..=16", Tnum::range(8, 16), t(0, 0x1f)),
        (
            "and mask",
            Tnum::UNKNOWN.and(Tnum::constant(0xff)),
            t(0, 0xff),
        ),
        ("or bit", t(0, 0xf).or(Tnum::constant(0x10)), t(0x10, 0xf)),
        ("xor same", t(3, 0xf0).xor(t(3, 0xf0)), t(0, 0xf0)),
        (
            "add consts",
            Tnum::constant(40).add(Tnum::constant(2)),
            Tnum::constant(42),
        ),
        ("add carry", t(0, 1).add(Tnum::constant(1)), t(0, 3)),
        (
            "sub consts",
            Tnum::constant(2).sub(Tnum::constant(3)),
            Tnum::constant(u64::MAX),
        ),
        ("neg", Tnum::constant(1).neg(), Tnum::constant(u64::MAX)),
        (
            "mul consts",
            Tnum::constant(6).mul(Tnum::constant(7)),
            Tnum::constant(42),
        ),
        ("mul by 4", t(0, 0xf).mul(Tnum::constant(4)), t(0, 0x3c)),
        ("lshift", t(1, 2).lshift(2), t(4, 8)),
        ("rshift", t(0x80, 0x7f).rshift(4), t(8, 7)),
        (
            "arshift 64",
            Tnum::constant(1 << 63).arshift(62, 64),
            Tnum::constant(!1),
        ),
        (
            "arshift 32",
            Tnum::constant(0x8000_0000).arshift(4, 32),
            Tnum::constant(0xf800_0000),
        ),
        (
            "arshift unknown sign",
            t(0, 0x8000_0000).arshift(1, 32),
            t(0, 0xc000_0000),
        ),
        (
            "truncate",
            t(0x1_0000_0001, 0xf_0000_0000).subreg(),
            Tnum::constant(1),
        ),
        (
            "with subreg",
            Tnum::UNKNOWN.with_subreg(Tnum::constant(7)),
            t(7, !0xffff_ffff),
        ),
        (
            "sext known",
            Tnum::constant(0x80).sign_extend(8),
            Tnum::constant(!0x7f),
        ),
        ("sext unknown", t(0, 0x80).sign_extend(8), t(0, !0x7f)),
        ("sext positive", t(0x101, 0x2).sign_extend(8), t(1, 2)),
        ("swap16", t(0x12, 0x3400).swap_bytes(16), t(0x1200, 0x34)),
        (
            "swap64",
            Tnum::constant(1).swap_bytes(64),
            Tnum::constant(1 << 56),
        ),
        ("union", Tnum::constant(4).union(Tnum::constant(6)), t(4, 2)),
        ("flip sign", t(0, 1).flip_bit(63), t(1 << 63, 1)),
        ("lshift 64", Tnum::UNKNOWN.lshift(64), Tnum::constant(0)),
        ("rshift 64", Tnum::UNKNOWN.rshift(64), Tnum::constant(0)),
        ("truncate 0", Tnum::UNKNOWN.truncate(0), Tnum::constant(0)),
        ("sext 0", Tnum::UNKNOWN.sign_extend(0), Tnum::constant(0)),
        (
            "arshift saturates",
            Tnum::constant(0x80).arshift(99, 8),
            Tnum::constant(0xff),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn intersect_and_order_queries() {
    let t = |value, mask| Tnum::new(value, mask);
    assert_eq!(t(1, 0).intersect(t(0, 1)), Some(Tnum::constant(1)));
    assert_eq!(t(1, 0).intersect(t(2, 1)), None);
    assert_eq!(t(0, 0xff).intersect(t(0x5, 0xf0)), Some(t(0x5, 0xf0)));
    assert_eq!(t(0, 0xf0).intersect(t(0x5, 0xf0)), None);
    // Even numbers: the smallest >= 3 is 4, the largest <= 3 is 2.
    let even = t(0, !1);
    assert_eq!(even.min_ge(3), Some(4));
    assert_eq!(even.max_le(3), Some(2));
    assert_eq!(even.min_ge(u64::MAX), None);
    assert_eq!(even.max_le(0), Some(0));
    // Multiples of 8 below 64.
    let m8 = t(0, 0x38);
    assert_eq!(m8.min_ge(9), Some(16));
    assert_eq!(m8.max_le(100), Some(56));
    assert_eq!(m8.min_ge(57), None);
    assert_eq!(Tnum::constant(5).min_ge(5), Some(5));
    assert_eq!(Tnum::constant(5).max_le(4), None);
    assert_eq!(t(0, 0xff).to_string(), "(value=0x0; mask=0xff)");
    assert!(t(0, 0xf).is_subset(t(0, 0xff)));
    assert!(!t(0, 0xff).is_subset(t(0, 0xf)));
    assert!(Tnum::constant(3).is_subset(t(1, 2)));
}

/// Every 6-bit tnum and every start point: `min_ge`/`max_le` find exactly the nearest member.
#[test]
fn order_queries_are_exact_on_small_widths() {
    for mask in 0u64..64 {
        for value in 0u64..64 {
            if value & mask != 0 {
                continue;
            }
            let t = Tnum::new(value, mask);
            let members: Vec<u64> = (0..64).filter(|&m| t.contains(m)).collect();
            for x in 0..64 {
                let ge = members.iter().copied().find(|&m| m >= x);
                let le = members.iter().rev().copied().find(|&m| m <= x);
                assert_eq!(t.min_ge(x), ge, "{t} min_ge {x}");
                assert_eq!(t.max_le(x), le, "{t} max_le {x}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn binary_operations_are_sound(
        (a, xs) in tnum_with_members(),
        (b, ys) in tnum_with_members(),
    ) {
        for &x in &xs {
            prop_assert!(a.contains(x));
            for &y in &ys {
                prop_assert!(a.add(b).contains(x.wrapping_add(y)), "add {a} {b} {x:#x} {y:#x}");
                prop_assert!(a.sub(b).contains(x.wrapping_sub(y)), "sub {a} {b} {x:#x} {y:#x}");
                prop_assert!(a.mul(b).contains(x.wrapping_mul(y)), "mul {a} {b} {x:#x} {y:#x}");
                prop_assert!(a.and(b).contains(x & y));
                prop_assert!(a.or(b).contains(x | y));
                prop_assert!(a.xor(b).contains(x ^ y));
                prop_assert!(a.union(b).contains(x) && a.union(b).contains(y));
                if b.contains(x) {
                    prop_assert!(a.intersect(b).is_some_and(|i| i.contains(x)));
                }
            }
        }
    }

    #[test]
    fn unary_operations_are_sound((a, xs) in tnum_with_members(), k in 0u32..64, bits in 1u32..=64) {
        for &x in &xs {
            prop_assert!(a.neg().contains(x.wrapping_neg()));
            prop_assert!(a.lshift(k).contains(x << k));
            prop_assert!(a.rshift(k).contains(x >> k));
            prop_assert!(a.arshift(k, 64).contains(((x as i64) >> k) as u64));
            let k32 = k % 32;
            let x32 = x as u32;
            prop_assert!(a.subreg().arshift(k32, 32).contains(u64::from(((x32 as i32) >> k32) as u32)));
            prop_assert!(a.truncate(bits).contains(x & (u64::MAX >> (64 - bits))));
            let spread = 64 - bits;
            prop_assert!(a.sign_extend(bits).contains((((x << spread) as i64) >> spread) as u64));
            prop_assert!(a.swap_bytes(16).contains(u64::from((x as u16).swap_bytes())));
            prop_assert!(a.swap_bytes(32).contains(u64::from((x as u32).swap_bytes())));
            prop_assert!(a.swap_bytes(64).contains(x.swap_bytes()));
            prop_assert!(a.flip_bit(k).contains(x ^ (1 << k)));
            let upper = Tnum::UNKNOWN.with_subreg(a);
            prop_assert!(upper.contains(x) && a.with_subreg(Tnum::UNKNOWN).contains(x));
        }
    }

    #[test]
    fn range_and_order_queries_are_sound(lo in edge_u64(), hi in edge_u64(), (t, xs) in tnum_with_members(), probe in edge_u64()) {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let r = Tnum::range(lo, hi);
        prop_assert!(r.contains(lo) && r.contains(hi) && r.contains(lo + (hi - lo) / 2));
        for &x in &xs {
            if x >= probe {
                prop_assert!(t.min_ge(probe).is_some_and(|y| t.contains(y) && probe <= y && y <= x));
            }
            if x <= probe {
                prop_assert!(t.max_le(probe).is_some_and(|y| t.contains(y) && x <= y && y <= probe));
            }
        }
    }
}
