//! Interpreter watchpoints and initialisation shadows (`interp::watch`): each condition stops
//! the run when the program reaches the pc in the bad state, and only then. These are what a
//! Z3 counterexample's replay relies on to confirm alarms that never fault on hardware.

use vouch_verifier::conformance::run_interpreter;
use vouch_verifier::interp::{Config, Exit, Trap, Watch, WatchCond};
use vouch_verifier::isa::Reg;
use vouch_verifier::isa::{asm::assemble, decode_program, encode_program};

fn run(src: &str, mem: Option<Vec<u8>>, pc: usize, cond: WatchCond) -> Result<Exit, Trap> {
    let insns = assemble(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let prog = decode_program(&encode_program(&insns)).unwrap_or_else(|e| panic!("{src}: {e}"));
    let config = Config {
        max_steps: 100_000,
        watch: Some(Watch { pc, cond }),
        ..Config::default()
    };
    run_interpreter(&prog, mem, config)
}

/// Whether the watch stopped the run at `pc` (any other trap fails the test).
fn fires(src: &str, mem: Option<Vec<u8>>, pc: usize, cond: WatchCond) -> bool {
    match run(src, mem, pc, cond) {
        Ok(_) => false,
        Err(Trap::Watch { pc: at, .. }) if at == pc => true,
        Err(t) => panic!("{src}: {t}"),
    }
}

fn r(n: u8) -> Reg {
    Reg::new(n).expect("a register")
}

#[test]
fn uninitialised_registers_follow_linux_rules() {
    let uninit = |src: &str, pc: usize, reg: u8| fires(src, None, pc, WatchCond::RegUninit(r(reg)));
    // Only r1 and r10 are set at entry.
    assert!(uninit("mov %r0, %r6\nexit", 0, 6));
    assert!(!uninit("mov %r0, %r1\nexit", 0, 1));
    assert!(!uninit("mov %r6, 1\nmov %r0, %r6\nexit", 1, 6));
    // A copy of an unwritten register is unwritten.
    assert!(uninit("mov %r2, %r7\nmov %r0, %r2\nexit", 1, 2));
    // A helper call (sqrti) sets r0 and leaves r1-r5 unreadable.
    let call = "mov %r1, 4\ncall 3\nmov %r0, %r1\nexit";
    assert!(uninit(call, 2, 1));
    assert!(!uninit(call, 2, 0));
    // A callee starts without r6-r9; they come back on return.
    let local = "mov %r6, 1\ncall local f\nmov %r0, %r6\nexit\nf:\nmov %r0, %r6\nexit";
    assert!(uninit(local, 4, 6));
    assert!(!uninit(local, 2, 6));
}

#[test]
fn unwritten_stack_bytes_are_seen_per_byte() {
    let cond = WatchCond::StackUninit {
        reg: Reg::FP,
        off: -8,
        size: 8,
    };
    // A 4-byte store leaves bytes -4..-1 of the 8-byte read unwritten.
    assert!(fires(
        "stw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit",
        None,
        1,
        cond
    ));
    assert!(!fires(
        "stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit",
        None,
        1,
        cond
    ));
    // Each frame's stack starts unwritten, even where an earlier call wrote it.
    let twice = "call local f\ncall local f\nmov %r0, 0\nexit\nf:\nldxdw %r0, [%r10-8]\nstdw [%r10-8], 1\nexit";
    assert!(fires(twice, None, 4, cond));
}

#[test]
fn null_values_pointers_across_regions_and_escaping_addresses() {
    assert!(fires(
        "mov %r2, 0\nadd %r2, 8\nexit",
        None,
        1,
        WatchCond::RegIs(r(2), 0)
    ));
    assert!(!fires(
        "mov %r2, 1\nadd %r2, 8\nexit",
        None,
        1,
        WatchCond::RegIs(r(2), 0)
    ));
    let mem = || Some(vec![0u8; 16]);
    let across = WatchCond::DistinctRegions(r(1), r(2));
    // r1: the input region; r2: the stack, or the input itself.
    assert!(fires(
        "mov %r2, %r10\njeq %r1, %r2, +0\nexit",
        mem(),
        1,
        across
    ));
    assert!(!fires(
        "mov %r2, %r1\nadd %r2, 4\njeq %r1, %r2, +0\nexit",
        mem(),
        2,
        across
    ));
    // A number that is not an address is no pointer.
    assert!(!fires(
        "mov %r2, 5\njeq %r1, %r2, +0\nexit",
        mem(),
        1,
        across
    ));
    // The frame pointer stored into the input escapes; into the stack it does not; a number
    // is no address.
    let escapes = |value: u8, dst: u8, off: i16| WatchCond::AddressEscapes {
        value: r(value),
        dst: r(dst),
        off,
    };
    assert!(fires(
        "stxdw [%r1], %r10\nexit",
        mem(),
        0,
        escapes(10, 1, 0)
    ));
    assert!(!fires(
        "stxdw [%r10-8], %r1\nexit",
        mem(),
        0,
        escapes(1, 10, -8)
    ));
    assert!(!fires(
        "mov %r2, 5\nstxdw [%r1], %r2\nexit",
        mem(),
        1,
        escapes(2, 1, 0)
    ));
}

#[test]
fn a_loop_head_past_its_bound() {
    let src = "mov %r0, 0\nl:\nadd %r0, 1\njlt %r0, 10, l\nexit";
    assert!(fires(src, None, 1, WatchCond::Visits(9)));
    assert!(!fires(src, None, 1, WatchCond::Visits(10)));
    assert!(fires("mov %r0, 0\nexit", None, 1, WatchCond::Reached));
    assert!(!fires(
        "ja +1\nmov %r0, 0\nmov %r0, 1\nexit",
        None,
        1,
        WatchCond::Reached
    ));
}
