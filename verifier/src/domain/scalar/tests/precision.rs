//! Precision: tables of operations and the exact abstract result expected, written in the
//! `Display` format (so a failure shows both sides readably). One row per pattern the verifier
//! relies on; adding a case is one line.

use super::super::{DEFAULT_THRESHOLDS, Scalar, binary, branch_decided, endian, neg, refine};
use crate::isa::{AluOp, Cond, Endian, Width};

use AluOp::*;
use Width::{W32, W64};

fn c(v: i64) -> Scalar {
    Scalar::constant(v as u64)
}

fn u(lo: u64, hi: u64) -> Scalar {
    Scalar::range_unsigned(lo, hi).expect("test ranges are well-formed")
}

fn s(lo: i64, hi: i64) -> Scalar {
    Scalar::range_signed(lo, hi).expect("test ranges are well-formed")
}

fn top() -> Scalar {
    Scalar::top()
}

fn op(w: Width, op: AluOp, a: Scalar, b: Scalar) -> Scalar {
    binary(w, op, &a, &b)
}

fn check(cases: &[(&str, Scalar, &str)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(_, got, want)| got.to_string() != *want)
        .map(|(name, got, want)| format!("{name}: got {got}, want {want}  ({got:?})"))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn display() {
    check(&[
        ("top", top(), "scalar"),
        ("constant", c(5), "5"),
        ("negative constant", c(-1), "-1"),
        ("byte", u(0, 255), "[0, 255]"),
        ("u32", u(0, u64::from(u32::MAX)), "[0, 4294967295]"),
        ("straddling zero", s(-5, 5), "[-5, 5]"),
        (
            "large unsigned",
            u(10, (1 << 63) + 5),
            "u[10, 9223372036854775813]",
        ),
        ("negative", s(-10, -2), "[-10, -2]"),
        (
            "both readings",
            s(-5, 5).meet(&u(3, u64::MAX)).expect("overlap"),
            "[-5, 5] u[3, 18446744073709551615]",
        ),
        (
            "32-bit view",
            Scalar::range_unsigned32(0, 15).expect("range"),
            "u32[0, 15]",
        ),
        (
            "known bits",
            c(1).join(&c(3)),
            "[1, 3] (value=0x1; mask=0x2)",
        ),
    ]);
}

#[test]
fn arithmetic() {
    let i64_max = i64::MAX as u64;
    check(&[
        ("x & 0xff", op(W64, And, top(), c(0xff)), "[0, 255]"),
        (
            "sign mask & -155 (branch-free select)",
            op(W64, And, s(-1, 0), c(-155)),
            "[-256, 0] u[0, 18446744073709551461] (value=0x0; mask=0xffffffffffffff65)",
        ),
        (
            "[-3, 5] & [-9, -2]",
            op(W64, And, s(-3, 5), s(-9, -2)),
            "[-16, 5] u[0, 18446744073709551614] u32[0, 4294967294]",
        ),
        (
            "[-3, 5] | [0, 9]",
            op(W64, Or, s(-3, 5), u(0, 9)),
            "[-3, 15]",
        ),
        (
            "[0,10] << 2",
            op(W64, Lsh, u(0, 10), c(2)),
            "[0, 40] (value=0x0; mask=0x3c)",
        ),
        ("1 << [0,3]", op(W64, Lsh, c(1), u(0, 3)), "[1, 8]"),
        ("x % 8", op(W64, Mod, top(), c(8)), "[0, 7]"),
        ("x % 10", op(W64, Mod, top(), c(10)), "[0, 9]"),
        ("[3,5] % 10", op(W64, Mod, u(3, 5), c(10)), "[3, 5]"),
        (
            "[10,20] % [0,4]",
            op(W64, Mod, u(10, 20), u(0, 4)),
            "[0, 20]",
        ),
        ("x % 0", op(W64, Mod, u(10, 20), c(0)), "[10, 20]"),
        ("[0,100] / 4", op(W64, Div, u(0, 100), c(4)), "[0, 25]"),
        ("[0,100] / 3", op(W64, Div, u(0, 100), c(3)), "[0, 33]"),
        (
            "[0,100] / [0,4]",
            op(W64, Div, u(0, 100), u(0, 4)),
            "[0, 100]",
        ),
        (
            "[10,100] / [2,5]",
            op(W64, Div, u(10, 100), u(2, 5)),
            "[2, 50]",
        ),
        ("x / 0", op(W64, Div, top(), c(0)), "0"),
        (
            "[-10,10] s/ -2",
            op(W64, SDiv, s(-10, 10), c(-2)),
            "[-5, 5]",
        ),
        (
            "MIN s/ -1",
            op(W64, SDiv, c(i64::MIN), c(-1)),
            "-9223372036854775808",
        ),
        ("[-10,10] s% 3", op(W64, SMod, s(-10, 10), c(3)), "[-2, 2]"),
        ("[-2,2] s% 3", op(W64, SMod, s(-2, 2), c(3)), "[-2, 2]"),
        ("[0,14] + 1", op(W64, Add, u(0, 14), c(1)), "[1, 15]"),
        ("[0,14] + [2,3]", op(W64, Add, u(0, 14), u(2, 3)), "[2, 17]"),
        (
            "[0,14] + i64::MAX",
            op(W64, Add, u(0, 14), c(i64::MAX)),
            "u[9223372036854775807, 9223372036854775821]",
        ),
        ("[-3,3] + 2", op(W64, Add, s(-3, 3), c(2)), "[-1, 5]"),
        ("5 - 7", op(W64, Sub, c(5), c(7)), "-2"),
        (
            "[10,20] - [0,5]",
            op(W64, Sub, u(10, 20), u(0, 5)),
            "[5, 20]",
        ),
        ("[2,3] * [4,5]", op(W64, Mul, u(2, 3), u(4, 5)), "[8, 15]"),
        (
            "[-2,3] * [4,5]",
            op(W64, Mul, s(-2, 3), u(4, 5)),
            "[-10, 15]",
        ),
        (
            "u32 * u32",
            op(W64, Mul, u(0, 0xffff_ffff), u(0, 0xffff_ffff)),
            "u[0, 18446744065119617025]",
        ),
        (
            "[0,0xffff] | 0x10000",
            op(W64, Or, u(0, 0xffff), c(0x10000)),
            "[65536, 131071]",
        ),
        ("[-16,16] s>> 2", op(W64, Arsh, s(-16, 16), c(2)), "[-4, 4]"),
        ("-1 >> 60", op(W64, Rsh, c(-1), c(60)), "15"),
        ("shift masked by 63", op(W64, Lsh, c(1), c(65)), "2"),
        (
            "32-bit add zero-extends",
            op(W32, Add, c(0xffff_ffff), c(1)),
            "0",
        ),
        (
            "32-bit add of x",
            op(W32, Add, top(), c(0)),
            "[0, 4294967295]",
        ),
        ("32-bit sub wraps", op(W32, Sub, c(0), c(1)), "4294967295"),
        ("32-bit shift masked by 31", op(W32, Lsh, c(1), c(33)), "2"),
        (
            "32-bit mod by 0 zero-extends",
            op(W32, Mod, c(-1), c(0)),
            "4294967295",
        ),
        (
            "32-bit arsh",
            op(W32, Arsh, c(0x8000_0000), c(31)),
            "4294967295",
        ),
        (
            "32-bit mov",
            op(W32, Mov, top(), s(-1, 0)),
            "[0, 4294967295] s32[-1, 0]",
        ),
        (
            "movsx8 of [0,255]",
            op(W64, MovSx(8), top(), u(0, 255)),
            "[-128, 127]",
        ),
        (
            "movsx8 of [0,100]",
            op(W64, MovSx(8), top(), u(0, 100)),
            "[0, 100]",
        ),
        (
            "movsx16 of 0xffff",
            op(W64, MovSx(16), top(), c(0xffff)),
            "-1",
        ),
        (
            "movsx32 of 0x8000_0000",
            op(W64, MovSx(32), top(), c(0x8000_0000)),
            "-2147483648",
        ),
        (
            "32-bit movsx8",
            op(W32, MovSx(8), top(), c(0x80)),
            "4294967168",
        ),
        ("neg [1,5]", neg(W64, &u(1, 5)), "[-5, -1]"),
        ("32-bit neg 1", neg(W32, &c(1)), "4294967295"),
        ("be16 0x1234", endian(Endian::ToBe, 16, &c(0x1234)), "13330"),
        (
            "bswap64 1",
            endian(Endian::Swap, 64, &c(1)),
            "72057594037927936",
        ),
        (
            "bswap32 of a byte",
            endian(Endian::Swap, 32, &u(0, 255)),
            "[0, 4278190080] (value=0x0; mask=0xff000000)",
        ),
        (
            "le16 truncates",
            endian(Endian::ToLe, 16, &c(0x12345)),
            "9029",
        ),
        (
            "i64::MAX + 1 wraps",
            op(W64, Add, c(i64::MAX), c(1)),
            &format!("{}", i64::MIN),
        ),
        (
            "wrapping range",
            Scalar::wrapping_range(-2, 2).expect("range"),
            "[-2, 2]",
        ),
        (
            "wrapping range past u64::MAX",
            Scalar::wrapping_range(u64::MAX.into(), i128::from(u64::MAX) + 2).expect("range"),
            "[-1, 1]",
        ),
        (
            "wrapping range of everything",
            Scalar::wrapping_range(i128::MIN, i128::MAX).expect("range"),
            "scalar",
        ),
        ("i64 max", c(i64::MAX), &i64_max.to_string()),
    ]);
}

#[test]
fn casts_and_loads() {
    check(&[
        ("load 1", Scalar::zero_extend_load(1), "[0, 255]"),
        ("load 4", Scalar::zero_extend_load(4), "[0, 4294967295]"),
        ("load 8", Scalar::zero_extend_load(8), "scalar"),
        ("ldxsb", Scalar::sign_extend_load(1), "[-128, 127]"),
        (
            "ldxsw",
            Scalar::sign_extend_load(4),
            "[-2147483648, 2147483647]",
        ),
        ("truncate 2 of constant", c(0x12345).truncate(2), "9029"),
        (
            "truncate 1 of [250, 260]",
            u(250, 260).truncate(1),
            "[0, 255]",
        ),
        (
            "truncate 1 of [0x100, 0x1ff]",
            u(0x100, 0x1ff).truncate(1),
            "[0, 255]",
        ),
        (
            "truncate 1 of [0x105, 0x107]",
            u(0x105, 0x107).truncate(1),
            "[5, 7]",
        ),
        (
            "sign_extend 8 of [0, 255]",
            u(0, 255).sign_extend(8),
            "[-128, 127]",
        ),
        (
            "sign_extend 16 of 0x8000",
            c(0x8000).sign_extend(16),
            "-32768",
        ),
        (
            "sign_extend 32 of [0, 10]",
            u(0, 10).sign_extend(32),
            "[0, 10]",
        ),
        ("imm -1", Scalar::imm(-1), "-1"),
    ]);
}

/// Both operands after a refinement, displayed; `None` for a dead side.
type Sides = Option<(String, String)>;

/// `refine` on one side of a branch.
fn side(w: Width, cond: Cond, a: Scalar, b: Scalar, taken: bool) -> Sides {
    refine(w, cond, &a, &b, taken).map(|(a, b)| (a.to_string(), b.to_string()))
}

fn pair(a: &str, b: &str) -> Sides {
    Some((a.to_string(), b.to_string()))
}

#[test]
fn comparisons() {
    let upper_byte = u(0x1_0000_0000, 0x1_0000_00ff);
    let cases: &[(&str, Sides, Sides)] = &[
        (
            "x > 10, not taken",
            side(W64, Cond::Gt, top(), c(10), false),
            pair("[0, 10]", "10"),
        ),
        (
            "x > 10, taken",
            side(W64, Cond::Gt, top(), c(10), true),
            pair("u[11, 18446744073709551615]", "10"),
        ),
        (
            "x s> 10, taken",
            side(W64, Cond::Sgt, top(), c(10), true),
            pair("[11, 9223372036854775807]", "10"),
        ),
        (
            "x s< 0, taken",
            side(W64, Cond::Slt, u(0, 100), c(0), true),
            None,
        ),
        (
            "x == 42",
            side(W64, Cond::Eq, u(0, 100), c(42), true),
            pair("42", "42"),
        ),
        (
            "x == 200",
            side(W64, Cond::Eq, u(0, 100), c(200), true),
            None,
        ),
        (
            "x != 0",
            side(W64, Cond::Ne, u(0, 10), c(0), true),
            pair("[1, 10]", "0"),
        ),
        (
            "x != 10 at the top",
            side(W64, Cond::Ne, u(0, 10), c(10), true),
            pair("[0, 9]", "10"),
        ),
        (
            "x == 0 not taken",
            side(W64, Cond::Eq, c(0), c(0), false),
            None,
        ),
        (
            "a < b, both",
            side(W64, Cond::Lt, u(50, 100), u(0, 60), true),
            pair("[50, 59]", "[51, 60]"),
        ),
        (
            "a >= b, both",
            side(W64, Cond::Lt, u(0, 100), u(50, 60), false),
            pair("[50, 100]", "[50, 60]"),
        ),
        (
            "x & 4",
            side(W64, Cond::Set, u(0, 7), c(4), true),
            pair("[4, 7]", "4"),
        ),
        (
            "!(x & 7)",
            side(W64, Cond::Set, u(0, 100), c(7), false),
            pair("[0, 96] (value=0x0; mask=0x78)", "7"),
        ),
        (
            "x & 8 on [0, 7]",
            side(W64, Cond::Set, u(0, 7), c(8), true),
            None,
        ),
        (
            "JMP32 keeps the upper half",
            side(W32, Cond::Lt, upper_byte, c(16), true),
            pair("[4294967296, 4294967311]", "16"),
        ),
        (
            "JMP32 on top",
            side(W32, Cond::Lt, top(), c(16), true),
            pair("u32[0, 15]", "16"),
        ),
        (
            "JMP32 signed",
            side(W32, Cond::Slt, u(0, 0xffff_ffff), c(0), true),
            pair("[2147483648, 4294967295]", "0"),
        ),
        (
            "JMP32 equal",
            side(W32, Cond::Eq, upper_byte, c(7), true),
            pair("4294967303", "7"),
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(name, got, want)| format!("{name}: got {got:?}, want {want:?}"))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn decided_branches() {
    let cases: &[(&str, Option<bool>, Option<bool>)] = &[
        (
            "[0,10] < 11",
            branch_decided(W64, Cond::Lt, &u(0, 10), &c(11)),
            Some(true),
        ),
        (
            "[0,10] > 10",
            branch_decided(W64, Cond::Gt, &u(0, 10), &c(10)),
            Some(false),
        ),
        (
            "[0,10] == 5",
            branch_decided(W64, Cond::Eq, &u(0, 10), &c(5)),
            None,
        ),
        (
            "[-5,-1] s< 0",
            branch_decided(W64, Cond::Slt, &s(-5, -1), &c(0)),
            Some(true),
        ),
        (
            "JMP32 low half",
            branch_decided(W32, Cond::Eq, &c(0x1_0000_0005), &c(5)),
            Some(true),
        ),
        (
            "JMP64 same",
            branch_decided(W64, Cond::Eq, &c(0x1_0000_0005), &c(5)),
            Some(false),
        ),
        (
            "even & 1",
            branch_decided(W64, Cond::Set, &op(W64, Lsh, top(), c(1)), &c(1)),
            Some(false),
        ),
        (
            "x | 1 & 1",
            branch_decided(W64, Cond::Set, &op(W64, Or, top(), c(1)), &c(1)),
            Some(true),
        ),
        (
            "[0,10] != [20,30]",
            branch_decided(W64, Cond::Ne, &u(0, 10), &u(20, 30)),
            Some(true),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn views_tighten_each_other() {
    let multiple_of_8_plus_4 = op(W64, Add, op(W64, And, top(), c(0xf8)), c(4));
    check(&[
        (
            "signed and unsigned",
            s(-5, 5).meet(&u(0, 100)).expect("overlap"),
            "[0, 5]",
        ),
        (
            "bits and bounds",
            multiple_of_8_plus_4,
            "[4, 252] (value=0x4; mask=0xf8)",
        ),
        (
            "known bits round a bound",
            refine(W64, Cond::Lt, &multiple_of_8_plus_4, &c(9), true)
                .expect("4 < 9")
                .0,
            "4",
        ),
        (
            "low half moves the 64-bit bounds",
            u(5, (1 << 32) + 3)
                .meet(&Scalar::range_unsigned32(10, 20).expect("range"))
                .expect("overlap"),
            "[10, 20]",
        ),
        (
            "contradiction",
            s(0, 5).meet(&u(10, 20)).map_or(top(), |_| c(0)),
            "scalar",
        ),
    ]);
    assert_eq!(Scalar::range_signed(5, 1), None);
    assert_eq!(s(0, 5).meet(&u(10, 20)), None);
    assert_eq!(
        Scalar::from_tnum(crate::domain::tnum::Tnum::new(8, 0)),
        c(8)
    );
}

#[test]
fn lattice() {
    check(&[
        ("join", u(0, 10).join(&u(20, 30)), "[0, 30]"),
        (
            "meet",
            u(0, 10).meet(&u(5, 20)).expect("overlap"),
            "[5, 10]",
        ),
        (
            "widen to 1",
            c(0).widen(&u(0, 1), DEFAULT_THRESHOLDS),
            "[0, 1]",
        ),
        (
            "widen up",
            c(0).widen(&u(0, 2), DEFAULT_THRESHOLDS),
            "[0, 8]",
        ),
        (
            "widen down",
            c(0).widen(&s(-1, 0), DEFAULT_THRESHOLDS),
            "[-1, 0]",
        ),
        (
            "widen past the last",
            c(0).widen(&s(0, 1 << 40), DEFAULT_THRESHOLDS),
            "[0, 9223372036854775807]",
        ),
        (
            "widen stable",
            u(0, 10).widen(&u(2, 5), DEFAULT_THRESHOLDS),
            "[0, 10]",
        ),
        (
            "narrow a threshold",
            u(0, 255).narrow(&u(0, 100), DEFAULT_THRESHOLDS),
            "[0, 100]",
        ),
        (
            "narrow keeps a bound",
            u(0, 250).narrow(&u(0, 200), DEFAULT_THRESHOLDS),
            "[0, 250]",
        ),
        (
            "widen keeps alignment",
            c(0).widen(&c(8).join(&c(0)), DEFAULT_THRESHOLDS),
            "[0, 8] (value=0x0; mask=0x8)",
        ),
        (
            "widen a stride",
            c(0).join(&c(8))
                .widen(&c(0).join(&c(16)), DEFAULT_THRESHOLDS),
            "[0, 16] (value=0x0; mask=0x18)",
        ),
    ]);
    assert!(u(2, 5).leq(&u(0, 10)));
    assert!(!u(0, 10).leq(&u(2, 5)));
    assert!(c(3).leq(&top()));
}

/// `for (i = 0; i < 100; i++)`: widening reaches a fixpoint in a few rounds, and narrowing
/// recovers the exact loop-head invariant `[0, 100]`.
#[test]
fn loop_counter_widens_then_narrows() {
    let head_after = |head: &Scalar| {
        let body = refine(W64, Cond::Lt, head, &c(100), true).map(|(i, _)| op(W64, Add, i, c(1)));
        body.map_or(c(0), |next| c(0).join(&next))
    };
    let mut head = c(0);
    let mut rounds = 0;
    loop {
        let next = head.widen(&head_after(&head), DEFAULT_THRESHOLDS);
        if next.leq(&head) {
            break;
        }
        head = next;
        rounds += 1;
        assert!(rounds < 20, "widening did not stabilise: {head}");
    }
    assert_eq!(head.to_string(), "[0, 255]");
    let narrowed = head.narrow(&head_after(&head), DEFAULT_THRESHOLDS);
    assert_eq!(narrowed.to_string(), "[0, 100]");
    assert_eq!(head_after(&narrowed), narrowed);
}

/// Congruences: the unrolled-loop pattern `i += 90; if i != 180 goto head` and the arithmetic
/// that keeps or drops a stride.
#[test]
fn congruence() {
    let strided = c(0).join(&c(90));
    let stepped = op(W64, Add, strided, c(90));
    let (kept, _) = refine(W64, Cond::Ne, &stepped, &c(180), true).expect("reachable");
    let (wide, _) = refine(W64, Cond::Ne, &u(0, 1000), &c(180), true).expect("reachable");
    let neg_step = op(
        W64,
        Add,
        u(100, 200).constrain(stride(3, 1)).expect("non-empty"),
        c(-4),
    );
    let wraps = op(
        W64,
        Add,
        u(0, u64::MAX).constrain(stride(3, 0)).expect("non-empty"),
        c(3),
    );
    let alu32 = op(
        W32,
        Add,
        u(0, 30).constrain(stride(5, 0)).expect("non-empty"),
        c(7),
    );
    check(&[
        (
            "join of 0 and 90",
            strided,
            "[0, 90] (value=0x0; mask=0x5a) ≡0 mod 45",
        ),
        (
            "plus 90",
            stepped,
            "[90, 180] (value=0x0; mask=0xfe) ≡0 mod 45",
        ),
        ("!= 180 cuts to the stride below", kept, "90"),
        ("!= 180 inside a plain range", wide, "[0, 1000]"),
        ("x - 4 without borrow", neg_step, "[96, 195] ≡0 mod 3"),
        ("a sum that may wrap loses the stride", wraps, "scalar"),
        ("32-bit sum that cannot wrap", alu32, "[7, 37] ≡2 mod 5"),
        (
            "times a constant",
            op(W64, Mul, strided, c(3)),
            "[0, 270] (value=0x0; mask=0x1fe) ≡0 mod 135",
        ),
        (
            "shift left",
            op(
                W64,
                Lsh,
                u(0, 9).constrain(stride(3, 0)).expect("non-empty"),
                c(1),
            ),
            "[0, 18] (value=0x0; mask=0x1e) ≡0 mod 3",
        ),
        (
            "bitwise ops drop it",
            op(W64, And, strided, c(0xff)),
            "[0, 90] (value=0x0; mask=0x5a)",
        ),
    ]);
    // Meets combine strides (3 and 5 make 15) and find contradictions.
    let by3 = u(0, 100).constrain(stride(3, 0)).expect("non-empty");
    let by5 = u(0, 100).constrain(stride(5, 0)).expect("non-empty");
    assert_eq!(
        by3.meet(&by5).expect("non-empty").to_string(),
        "[0, 90] ≡0 mod 15"
    );
    assert!(
        u(0, 100)
            .constrain(stride(3, 1))
            .expect("non-empty")
            .meet(&by3)
            .is_none()
    );
    assert!(by3.leq(&u(0, 100)) && !u(0, 100).leq(&by3));
}

fn stride(m: u64, r: u64) -> super::super::Cong {
    super::super::Cong::new(m.into(), r.into())
}
