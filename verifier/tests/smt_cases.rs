//! The Z3 refinement on small programs (feature `z3`): false alarms beyond the abstract domain
//! are discharged, real bugs through loops and bpf-to-bpf calls are never discharged and get a
//! counterexample the interpreter confirms.
#![cfg(feature = "z3")]

use vouch_verifier::analysis::{Options, Verdict, verify_program};
use vouch_verifier::elf::{Object, Program};
use vouch_verifier::isa::asm::assemble;
use vouch_verifier::platform::ProgramType;
use vouch_verifier::smt::{Limits, Refined, Status, refine};

fn object(text: &str) -> Object {
    let insns = assemble(text).expect("test programs assemble");
    Object {
        programs: vec![Program {
            section: "xdp".into(),
            function: "test".into(),
            program_type: ProgramType::Xdp,
            slots: vec![],
            insns: Ok(insns),
            maps: vec![],
            helpers: vec![],
            kfuncs: vec![],
            functions: vec![],
            lines: vec![],
        }],
        maps: vec![],
        license: Some("GPL".into()),
        btf: None,
        kernel_btf: None,
    }
}

/// The analysis's report (which must reject) and the refinement of it, with divisors that
/// may be zero as alarms (`--strict-div`).
fn refined(text: &str) -> Refined {
    let obj = object(text);
    let p = &obj.programs[0];
    let options = Options {
        strict_div: true,
        ..Options::default()
    };
    let report = verify_program(&obj, p, &options);
    assert_eq!(
        report.verdict,
        Verdict::Rejected,
        "the analysis must raise an alarm here: {:?}",
        report.diagnostics
    );
    // Generous limits: these tests are about what is proved, not how fast (the machine may
    // be busy with other tests).
    let limits = Limits {
        per_query: std::time::Duration::from_secs(20),
        per_program: std::time::Duration::from_secs(60),
    };
    refine(report, &obj, p, &options, &limits)
}

/// `(x & 15) - (x - (x & 0xf0)) + 1` is 1 for every byte `x`; the scalar domain only knows
/// [-254, 256], so it warns that the divisor may be zero. Z3 proves it never is.
const BITWISE: &str = "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 1
    jgt %r4, %r3, out
    ldxb %r5, [%r2+0]
    mov %r6, %r5
    and %r6, 0xf0
    mov %r7, %r5
    sub %r7, %r6
    mov %r8, %r5
    and %r8, 15
    sub %r8, %r7
    add %r8, 1
    mov %r0, 100
    div %r0, %r8
    exit
out:
    mov %r0, 2
    exit
";

#[test]
fn a_bitwise_correlation_is_discharged() {
    let r = refined(BITWISE);
    assert_eq!(r.report.verdict, Verdict::Accepted, "{:?}", r.judged);
    assert_eq!(r.discharged.len(), 1);
    assert_eq!(r.discharged[0].query_sha256.len(), 64);
}

/// The same with `x & 7` in place of `x & 15` and 8 in place of 1: the divisor is
/// `8 - (x & 8)`, 0 when bit 3 of `x` is set.
/// A real bug the same shape as the false alarm: confirmed, never discharged.
#[test]
fn the_same_shape_with_a_real_zero_divisor_is_confirmed() {
    let real = BITWISE
        .replace("and %r8, 15", "and %r8, 7")
        .replace("add %r8, 1", "add %r8, 8");
    let r = refined(&real);
    assert_eq!(r.report.verdict, Verdict::Rejected);
    assert!(r.discharged.is_empty(), "{:?}", r.discharged);
    assert_eq!(r.judged[0].status, Status::Confirmed, "{:?}", r.judged);
    assert_eq!(
        r.judged[0].counterexample.as_ref().map(|c| c.packet[0] & 8),
        Some(8)
    );
}

/// The same correlation after a loop that only counts: the loop head havocs its counter,
/// not the registers the alarm depends on, so the alarm is still discharged.
#[test]
fn a_false_alarm_after_a_loop_is_discharged() {
    let looped = BITWISE.replace(
        "    mov %r6, %r5\n",
        "    mov %r9, 0\nagain:\n    add %r9, 1\n    jlt %r9, 100, again\n    mov %r6, %r5\n",
    );
    assert!(looped.contains("again"));
    let r = refined(&looped);
    assert_eq!(r.report.verdict, Verdict::Accepted, "{:?}", r.judged);
    assert_eq!(r.discharged.len(), 1);
}

/// Off by one in a loop: `i <= 2` reads packet[2] of a 2-byte packet on the last iteration.
#[test]
fn a_real_bug_in_a_loop_is_confirmed_not_discharged() {
    let r = refined(
        "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 2
    jgt %r4, %r3, out
    mov %r5, 0
again:
    mov %r6, %r2
    add %r6, %r5
    ldxb %r0, [%r6+0]
    add %r5, 1
    jle %r5, 2, again
out:
    mov %r0, 2
    exit
",
    );
    assert_eq!(r.report.verdict, Verdict::Rejected);
    assert!(r.discharged.is_empty(), "{:?}", r.discharged);
    assert_eq!(r.judged[0].status, Status::Confirmed, "{:?}", r.judged);
}

/// A callee reads byte 4 of a packet its caller only checked for 4 bytes.
#[test]
fn a_real_bug_in_a_callee_is_confirmed_not_discharged() {
    let r = refined(
        "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 4
    jgt %r4, %r3, out
    mov %r1, %r2
    call local f
    exit
out:
    mov %r0, 2
    exit
f:
    ldxb %r0, [%r1+4]
    exit
",
    );
    assert_eq!(r.report.verdict, Verdict::Rejected);
    assert!(r.discharged.is_empty(), "{:?}", r.discharged);
    assert_eq!(r.judged[0].status, Status::Confirmed, "{:?}", r.judged);
}

/// The bitwise correlation computed in a callee (its own stack, r6-r9 restored): the
/// caller's division is safe and the alarm is discharged through the call and return edges.
#[test]
fn a_false_alarm_through_a_call_is_discharged() {
    let r = refined(
        "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 1
    jgt %r4, %r3, out
    ldxb %r1, [%r2+0]
    mov %r6, 100
    call local one
    div %r6, %r0
    mov %r0, %r6
    exit
out:
    mov %r0, 2
    exit
one:
    mov %r6, %r1
    and %r6, 0xf0
    mov %r7, %r1
    sub %r7, %r6
    mov %r0, %r1
    and %r0, 15
    sub %r0, %r7
    add %r0, 1
    exit
",
    );
    assert_eq!(r.report.verdict, Verdict::Accepted, "{:?}", r.judged);
    assert_eq!(r.discharged.len(), 1);
}

/// A pointer into a callee's stack used after the callee returned: the interpreter faults
/// (the frame is dead), so the alarm must stand even though the offset is in range.
#[test]
fn a_pointer_into_a_returned_frame_is_not_discharged() {
    let r = refined(
        "
    call local f
    ldxb %r0, [%r0+0]
    exit
f:
    mov %r1, 0
    stxdw [%r10-8], %r1
    mov %r0, %r10
    add %r0, -8
    exit
",
    );
    assert_eq!(r.report.verdict, Verdict::Rejected, "{:?}", r.discharged);
}

/// One function called twice (two frames, the alarm's pc in both): safe for the first call,
/// out of bounds for the second. The alarm is judged over both frames' blocks; the bug is in
/// the second only. (That a block is encoded past the alarm's pc is what
/// `a_real_bug_in_a_loop_is_confirmed_not_discharged` catches.)
#[test]
fn a_bug_in_the_second_call_of_a_function_is_confirmed() {
    let r = refined(
        "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 8
    jgt %r4, %r3, out
    mov %r6, %r2
    mov %r1, %r2
    call local f
    mov %r1, %r6
    add %r1, 4
    call local f
    exit
out:
    mov %r0, 2
    exit
f:
    ldxb %r0, [%r1+4]
    exit
",
    );
    assert_eq!(r.report.verdict, Verdict::Rejected);
    assert!(r.discharged.is_empty(), "{:?}", r.discharged);
    assert_eq!(r.judged[0].status, Status::Confirmed, "{:?}", r.judged);
}

/// A divisor that is zero only past the loop's bound: `(i & 0x7f0 | i & 15) - 2001` is
/// `i - 2001` for every `i < 2048`, and the loop keeps `i` in [0, 1999]. The domains see
/// `[-2001, 46]`; the havocked head alone lets `i` be 2001, so only the analysis's head
/// invariant (`i` in [0, 1999], assumed at the head: `encode::assume_head`) discharges it. (The
/// loop runs more iterations than the analysis ever walks one by one, so only widening bounds
/// it.)
const COUNTER_DIVISOR: &str = "
    mov %r6, 0
loop:
    mov %r7, %r6
    and %r7, 0x7f0
    mov %r8, %r6
    and %r8, 15
    or %r7, %r8
    sub %r7, 2001
    mov %r0, 1000
    div %r0, %r7
    add %r6, 1
    jlt %r6, 2000, loop
    mov %r0, 0
    exit
";

#[test]
fn a_false_alarm_that_needs_the_loop_invariant_is_discharged() {
    let r = refined(COUNTER_DIVISOR);
    assert_eq!(r.report.verdict, Verdict::Accepted, "{:?}", r.judged);
    assert_eq!(r.discharged.len(), 1);
}

/// The same loop running to 2001: the divisor is 0 in the last iteration. Never discharged
/// (the head invariant is now [0, 2001]), and the unrolled search finds no counterexample
/// within its 8 iterations, so the alarm stands.
#[test]
fn the_same_loop_past_the_zero_is_not_discharged() {
    let r = refined(&COUNTER_DIVISOR.replace("jlt %r6, 2000, loop", "jlt %r6, 2002, loop"));
    assert_eq!(r.report.verdict, Verdict::Rejected);
    assert!(r.discharged.is_empty(), "{:?}", r.discharged);
}
