//! The reference interpreter beyond the conformance suite: its traps (each names the pc and the
//! region) and the corner cases of RFC 9669 arithmetic the suite does not pin down.

use vouch_verifier::conformance::run_interpreter;
use vouch_verifier::interp::{Config, Exit, FaultReason, HelperError, RegionKind, Trap};
use vouch_verifier::isa::{asm::assemble, decode_program, encode_program};

fn run(src: &str, mem: Option<Vec<u8>>) -> Result<Exit, Trap> {
    let insns = assemble(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let prog = decode_program(&encode_program(&insns)).unwrap_or_else(|e| panic!("{src}: {e}"));
    run_interpreter(
        &prog,
        mem,
        Config {
            max_steps: 100_000,
            max_frames: 8,
            ..Config::default()
        },
    )
}

fn r0(src: &str) -> u64 {
    run(src, None).unwrap_or_else(|t| panic!("{src}: {t}")).r0
}

#[test]
fn arithmetic_corner_cases() {
    let cases: &[(&str, u64)] = &[
        ("mov %r0, 7\ndiv %r0, 0\nexit", 0),
        ("mov %r0, 7\nmod %r0, 0\nexit", 7),
        ("lddw %r0, 0x100000007\nmod32 %r0, 0\nexit", 7),
        ("lddw %r0, 0x100000007\ndiv32 %r0, 0\nexit", 0),
        (
            "lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit",
            0x8000_0000_0000_0000,
        ),
        ("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", 0),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit", 0x8000_0000),
        ("mov %r0, -7\nsmod %r0, 2\nexit", (-1i64) as u64),
        ("mov %r0, -7\nsdiv %r0, 0\nexit", 0),
        ("mov %r0, -7\nsmod %r0, 0\nexit", (-7i64) as u64),
        ("mov %r0, 1\nlsh %r0, 65\nexit", 2),
        ("mov32 %r0, 1\nlsh32 %r0, 33\nexit", 2),
        ("mov %r0, -1\narsh32 %r0, 4\nexit", 0xffff_ffff),
        ("mov %r0, -1\nrsh32 %r0, 4\nexit", 0x0fff_ffff),
        ("mov %r0, -1\nadd32 %r0, 1\nexit", 0),
        (
            "mov %r0, 0x80\nmovsx864 %r0, %r0\nexit",
            0xffff_ffff_ffff_ff80,
        ),
        ("mov %r0, 0x80\nmovsx832 %r0, %r0\nexit", 0xffff_ff80),
        ("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", 0x8877),
        ("lddw %r0, 0x1122334455667788\nle32 %r0\nexit", 0x5566_7788),
        ("mov %r0, 5\nneg32 %r0\nexit", 0xffff_fffb),
        ("mov %r0, -1\njgt32 %r0, 0, +1\nmov %r0, 3\nexit", u64::MAX),
        (
            "mov %r0, 0\nmov %r1, -1\njsgt32 %r1, 0, +1\nmov %r0, 3\nexit",
            3,
        ),
    ];
    for (src, want) in cases {
        assert_eq!(r0(src), *want, "{src}");
    }
}

#[test]
fn out_of_bounds_input_read_names_pc_and_region() {
    let err = run("ldxw %r0, [%r1+2]\nexit", Some(vec![1, 2, 3, 4])).expect_err("must trap");
    let Trap::Memory { pc: 0, fault } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        &fault.reason,
        FaultReason::OutOfBounds {
            region: RegionKind::Input,
            len: 4,
            ..
        }
    ));
    assert!(err.to_string().contains("outside the input"), "{err}");
}

#[test]
fn null_and_scalar_pointers_fault() {
    let err = run("ldxb %r0, [%r1]\nexit", None).expect_err("r1 = 0 without memory");
    assert!(matches!(err, Trap::Memory { pc: 0, fault } if fault.reason == FaultReason::Unmapped));
    let err = run("mov %r1, 4096\nstb [%r1], 1\nexit", None).expect_err("scalar as pointer");
    assert!(matches!(err, Trap::Memory { pc: 1, .. }));
}

#[test]
fn stack_is_512_bytes_per_frame() {
    assert_eq!(r0("stdw [%r10-512], 9\nldxdw %r0, [%r10-512]\nexit"), 9);
    let err = run("stb [%r10-513], 1\nexit", None).expect_err("below the stack");
    assert!(matches!(&err, Trap::Memory { pc: 0, .. }), "{err:?}");
    let err = run("ldxb %r0, [%r10]\nexit", None).expect_err("at r10 is past the top");
    assert!(err.to_string().contains("stack of frame 0"), "{err}");
}

#[test]
fn frames_have_separate_stacks_and_dead_frames_fault() {
    // The callee writes its own stack; the caller's slot survives.
    let src =
        "stdw [%r10-8], 1\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r10-8], 2\nexit";
    assert_eq!(r0(src), 1);
    // A pointer into the callee's stack, used after the callee returned, faults.
    let src = "call local f\nldxdw %r0, [%r0]\nexit\nf:\nmov %r0, %r10\nadd %r0, -8\nexit";
    let err = run(src, None).expect_err("dangling stack pointer");
    assert!(
        matches!(&err, Trap::Memory { pc: 1, fault } if matches!(fault.reason, FaultReason::DeadFrame { .. })),
        "{err:?}"
    );
}

#[test]
fn call_depth_is_limited() {
    let err = run("f:\ncall local f\nexit", None).expect_err("infinite recursion");
    assert!(matches!(err, Trap::CallDepth { pc: 0, max: 8 }), "{err:?}");
    // Seven nested calls (eight frames) are fine.
    let mut src = String::new();
    for i in 0..7 {
        src.push_str(&format!("f{i}:\ncall local f{}\nexit\n", i + 1));
    }
    src.push_str("f7:\nmov %r0, 42\nexit\n");
    assert_eq!(r0(&src), 42);
}

#[test]
fn runaway_loop_hits_the_budget() {
    let err = run("l:\nja l", None).expect_err("infinite loop");
    assert!(
        matches!(
            err,
            Trap::BudgetExhausted {
                pc: 0,
                limit: 100_000
            }
        ),
        "{err:?}"
    );
}

#[test]
fn falling_off_the_end_is_a_trap() {
    let err = run("mov %r0, 1", None).expect_err("no exit");
    assert!(matches!(err, Trap::FellOffEnd { pc: 0 }), "{err:?}");
}

#[test]
fn legacy_packet_loads_are_big_endian_and_exit_zero_out_of_bounds() {
    let pkt = vec![0x12, 0x34, 0x56, 0x78];
    assert_eq!(
        run("ldabsh 1\nexit", Some(pkt.clone())).expect("ok").r0,
        0x3456
    );
    assert_eq!(
        run(
            "mov %r0, 9\nmov %r3, 2\nldindw %r3, 0\nexit",
            Some(pkt.clone())
        )
        .expect("ok")
        .r0,
        0
    );
    assert_eq!(
        run("mov %r3, 2\nldindb %r3, 1\nexit", Some(pkt))
            .expect("ok")
            .r0,
        0x78
    );
}

#[test]
fn helper_failures_are_traps() {
    let err = run("call 99\nexit", None).expect_err("unknown helper");
    assert!(
        matches!(
            err,
            Trap::Helper {
                pc: 0,
                id: 99,
                error: HelperError::Unknown
            }
        ),
        "{err:?}"
    );
    let err = run("mov %r2, 5\ncall 1\nexit", Some(vec![0; 4])).expect_err("memfrob past the end");
    assert!(
        matches!(
            err,
            Trap::Helper {
                pc: 1,
                id: 1,
                error: HelperError::Fault(_)
            }
        ),
        "{err:?}"
    );
    let err = run("mov %r2, %r1\ncall 4\nexit", Some(b"abc".to_vec())).expect_err("no NUL");
    assert!(matches!(err, Trap::Helper { pc: 1, id: 4, .. }), "{err:?}");
    let err = run("mov %r0, 3\ncallx %r0\nexit", None);
    assert_eq!(err.map(|e| e.r0), Ok(0), "callx r0=3 is sqrti(r1=0)");
}

#[test]
fn atomics_fetch_and_compare() {
    let src = "stdw [%r10-8], 5\nmov %r1, 3\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r1\nexit";
    assert_eq!(r0(src), 8 + 5);
    let src = "stw [%r10-4], -1\nmov %r0, -1\nmov %r1, 7\nlock cmpxchg32 [%r10-4], %r1\nldxw %r2, [%r10-4]\nadd %r0, %r2\nexit";
    // r0 compares only its low 32 bits; the old value is zero-extended into r0.
    assert_eq!(r0(src), 0xffff_ffff + 7);
}
