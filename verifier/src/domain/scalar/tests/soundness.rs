//! Soundness: for random abstract operands and concrete values in them, the abstract result
//! contains the concrete result computed by `interp::alu`, the project's reference semantics.

use proptest::prelude::*;

use super::super::arith::try_binary;
use super::super::{DEFAULT_THRESHOLDS, Scalar, binary, branch_decided, endian, neg, refine};
use super::config;
use super::strategies::{
    Sample, candidates, members, operand_pair, raw_contains, sample_spec, shape,
};
use crate::interp::alu;
use crate::isa::{AluOp, Cond, Endian, Width};

const WIDTHS: [Width; 2] = [Width::W64, Width::W32];

fn check_binary(op: AluOp, a: &Sample, b: &Sample) -> Result<(), TestCaseError> {
    for width in WIDTHS {
        let Some(r) = try_binary(width, op, &a.s, &b.s) else {
            return Err(TestCaseError::fail(format!(
                "{op:?} {width:?} of {:?} and {:?} is empty",
                a.s, b.s
            )));
        };
        for &x in &a.members {
            for &y in &b.members {
                let c = alu::binary(width, op, x, y);
                prop_assert!(
                    r.contains(c),
                    "{op:?} {width:?}: {x:#x} in {:?}, {y:#x} in {:?} gives {c:#x}, not in {r:?}",
                    a.s,
                    b.s
                );
            }
        }
    }
    Ok(())
}

fn check_refine(cond: Cond, a: &Sample, b: &Sample) -> Result<(), TestCaseError> {
    for width in WIDTHS {
        let decided = branch_decided(width, cond, &a.s, &b.s);
        let sides = [true, false].map(|taken| refine(width, cond, &a.s, &b.s, taken));
        for (ra, rb) in sides.iter().flatten() {
            prop_assert!(
                ra.leq(&a.s) && rb.leq(&b.s),
                "refinement grew: {ra:?} {rb:?}"
            );
        }
        for &x in &a.members {
            for &y in &b.members {
                let taken = alu::condition(width, cond, x, y);
                let context = || {
                    format!(
                        "{cond:?} {width:?} {x:#x} in {:?}, {y:#x} in {:?}",
                        a.s, b.s
                    )
                };
                prop_assert!(
                    decided.is_none_or(|d| d == taken),
                    "decided {decided:?}: {}",
                    context()
                );
                let Some((ra, rb)) = sides[usize::from(!taken)] else {
                    return Err(TestCaseError::fail(format!(
                        "side {taken} lost: {}",
                        context()
                    )));
                };
                prop_assert!(
                    ra.contains(x) && rb.contains(y),
                    "{}: {ra:?} {rb:?}",
                    context()
                );
            }
        }
    }
    Ok(())
}

macro_rules! binary_soundness {
    ($($name:ident: $op:expr,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name((a, b) in operand_pair()) {
                    check_binary($op, &a.build()?, &b.build()?)?;
                }
            )*
        }
    };
}

binary_soundness! {
    add_is_sound: AluOp::Add,
    sub_is_sound: AluOp::Sub,
    mul_is_sound: AluOp::Mul,
    div_is_sound: AluOp::Div,
    sdiv_is_sound: AluOp::SDiv,
    mod_is_sound: AluOp::Mod,
    smod_is_sound: AluOp::SMod,
    or_is_sound: AluOp::Or,
    and_is_sound: AluOp::And,
    xor_is_sound: AluOp::Xor,
    lsh_is_sound: AluOp::Lsh,
    rsh_is_sound: AluOp::Rsh,
    arsh_is_sound: AluOp::Arsh,
    mov_is_sound: AluOp::Mov,
    movsx8_is_sound: AluOp::MovSx(8),
    movsx16_is_sound: AluOp::MovSx(16),
    movsx32_is_sound: AluOp::MovSx(32),
}

macro_rules! refine_soundness {
    ($($name:ident: $cond:expr,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name((a, b) in operand_pair()) {
                    check_refine($cond, &a.build()?, &b.build()?)?;
                }
            )*
        }
    };
}

refine_soundness! {
    refine_eq_is_sound: Cond::Eq,
    refine_ne_is_sound: Cond::Ne,
    refine_gt_is_sound: Cond::Gt,
    refine_ge_is_sound: Cond::Ge,
    refine_lt_is_sound: Cond::Lt,
    refine_le_is_sound: Cond::Le,
    refine_set_is_sound: Cond::Set,
    refine_sgt_is_sound: Cond::Sgt,
    refine_sge_is_sound: Cond::Sge,
    refine_slt_is_sound: Cond::Slt,
    refine_sle_is_sound: Cond::Sle,
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unary_operations_are_sound(spec in sample_spec()) {
        let a = spec.build()?;
        // (name, abstract result, concrete operation)
        type Concrete = Box<dyn Fn(u64) -> u64>;
        let mut ops: Vec<(String, Scalar, Concrete)> = Vec::new();
        for width in WIDTHS {
            ops.push((format!("neg {width:?}"), neg(width, &a.s), Box::new(move |x| alu::neg(width, x))));
        }
        for kind in [Endian::ToLe, Endian::ToBe, Endian::Swap] {
            for bits in [16, 32, 64] {
                let r = endian(kind, bits, &a.s);
                ops.push((format!("{kind:?}{bits}"), r, Box::new(move |x| alu::endian(kind, bits, x))));
            }
        }
        for bytes in [1usize, 2, 4, 8] {
            let low = move |x: u64| x & (u64::MAX >> (64 - 8 * bytes));
            ops.push((format!("truncate {bytes}"), a.s.truncate(bytes), Box::new(low)));
            ops.push((format!("load {bytes}"), Scalar::zero_extend_load(bytes), Box::new(low)));
            let sext = move |x| alu::sign_extend(low(x), 8 * bytes);
            ops.push((format!("ldxs {bytes}"), Scalar::sign_extend_load(bytes), Box::new(sext)));
        }
        for bits in [8u32, 16, 32] {
            let sext = move |x| alu::sign_extend(x, bits as usize);
            ops.push((format!("sext {bits}"), a.s.sign_extend(bits), Box::new(sext)));
        }
        for (name, r, concrete) in &ops {
            for &x in &a.members {
                prop_assert!(r.contains(concrete(x)), "{name} of {x:#x} in {:?}: {r:?}", a.s);
            }
        }
    }

    #[test]
    fn sync_keeps_every_value(shape in shape(), probes in proptest::collection::vec(any::<u64>(), 4)) {
        let (b64, b32, bits) = shape.views();
        let raw = Scalar::raw(b64, b32, bits);
        let synced = Scalar::from_views(b64, b32, bits);
        let Some(synced) = synced else {
            return Err(TestCaseError::fail(format!("{shape:?} synced to empty")));
        };
        prop_assert!(synced.leq(&raw));
        let met = shape.build_with_meets()?;
        prop_assert!(met.leq(&raw), "{met:?} not within {raw:?}");
        let values = members(&[shape.anchor], candidates(&raw, &probes), |v| raw_contains(b64, b32, bits, v) && shape.cong().contains(v));
        for v in values {
            prop_assert!(synced.contains(v), "{v:#x} lost: {raw:?} -> {synced:?}");
            prop_assert!(met.contains(v), "{v:#x} lost by meets: {raw:?} -> {met:?}");
        }
    }

    #[test]
    fn lattice_operations_are_sound(
        (a, b) in operand_pair(),
        thresholds in proptest::collection::vec(any::<i64>(), 0..6),
    ) {
        let (a, b) = (a.build()?, b.build()?);
        let join = a.s.join(&b.s);
        prop_assert!(a.s.leq(&join) && b.s.leq(&join), "join {:?} {:?} = {join:?}", a.s, b.s);
        prop_assert!(a.s.leq(&a.s));
        for ts in [DEFAULT_THRESHOLDS, &thresholds] {
            let widened = a.s.widen(&b.s, ts);
            for &v in a.members.iter().chain(&b.members) {
                prop_assert!(join.contains(v) && widened.contains(v), "{v:#x}: {widened:?}");
            }
            prop_assert!(a.s.leq(&widened));
        }
        let common: Vec<u64> = a.members.iter().chain(&b.members).copied()
            .filter(|&v| a.s.contains(v) && b.s.contains(v)).collect();
        let meet = a.s.meet(&b.s);
        if let Some(m) = meet {
            prop_assert!(m.leq(&a.s) && m.leq(&b.s));
            let narrowed = a.s.narrow(&m, DEFAULT_THRESHOLDS);
            prop_assert!(narrowed.leq(&a.s));
            for &v in &common {
                prop_assert!(m.contains(v) && narrowed.contains(v));
            }
        } else {
            prop_assert!(common.is_empty(), "meet of {:?} {:?} lost {common:?}", a.s, b.s);
        }
        if a.s.leq(&b.s) {
            for &v in &a.members {
                prop_assert!(b.s.contains(v));
            }
        }
    }
}

/// Loop-head iterations (`head = widen(head, init ⊔ body(head))`) for loops whose body applies
/// an operation with a random operand. Each round moves some bound to its next threshold (or
/// some known bit to unknown), so the worst case is about (thresholds + 1) per bound; in 20,000
/// release cases the most seen was under 40 (a counter stepping down through every unsigned
/// threshold).
const MAX_WIDENING_ROUNDS: usize = 64;

proptest! {
    #![proptest_config(ProptestConfig { cases: config().cases / 4, ..config() })]

    #[test]
    fn widening_terminates(
        (init, step) in operand_pair(),
        op in proptest::sample::select(vec![
            AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Lsh, AluOp::Rsh, AluOp::Arsh,
            AluOp::Or, AluOp::Xor, AluOp::And, AluOp::Div, AluOp::SMod,
        ]),
        width in proptest::sample::select(WIDTHS.to_vec()),
        guard in proptest::option::of(proptest::sample::select(vec![Cond::Lt, Cond::Slt, Cond::Ne])),
    ) {
        let (init, step) = (init.build()?.s, step.build()?.s);
        let bound = Scalar::constant(1000);
        let mut head = init;
        let mut rounds = 0;
        loop {
            let entered = match guard {
                Some(cond) => refine(width, cond, &head, &bound, true).map(|(h, _)| h),
                None => Some(head),
            };
            let next = entered.map_or(init, |h| init.join(&binary(width, op, &h, &step)));
            if next.leq(&head) {
                break;
            }
            let widened = head.widen(&next, DEFAULT_THRESHOLDS);
            prop_assert!(head.leq(&widened) && next.leq(&widened));
            head = widened;
            rounds += 1;
            prop_assert!(rounds <= MAX_WIDENING_ROUNDS, "{op:?} {width:?} by {step:?} from {init:?}: {head:?}");
        }
    }
}
