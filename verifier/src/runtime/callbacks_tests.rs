//! Callback helpers and legacy loads, run by both engines: every program runs in the
//! interpreter and through the JIT, on separate runtimes set up alike, and the two must agree
//! (r0 or trap, context, maps) before the result is checked.

use super::super::helpers::tests::map;
use super::super::vm::{Outcome, run};
use super::super::{KernelMemory, RunInput, RuntimeConfig, maps::types, native};
use super::*;
use crate::analysis::MapInfo;
use crate::interp::{Config, Trap};
use crate::isa::asm::assemble;
use crate::isa::{Imm64Kind, Insn};
use crate::jit::load::Loaded;
use crate::platform::ProgramType;

/// Functions assembled one after the other; `lddw %rX, func(N)` in any of them refers to the
/// start of function `N` (the assembler only knows relative offsets).
fn program(functions: &[&str]) -> Vec<Insn> {
    let parts: Vec<Vec<Insn>> = functions
        .iter()
        .map(|f| assemble(f).expect("assembles"))
        .collect();
    let starts: Vec<usize> = parts
        .iter()
        .scan(0, |at, p| {
            let s = *at;
            *at += p.len();
            Some(s)
        })
        .collect();
    let mut prog: Vec<Insn> = parts.concat();
    for (pc, insn) in prog.iter_mut().enumerate() {
        if let Insn::LoadImm64 {
            kind: Imm64Kind::Func,
            imm,
            ..
        } = insn
        {
            let target = starts[*imm as usize];
            *imm = target as i32 - pc as i32 - 1;
        }
    }
    prog
}

fn input(program_type: ProgramType, packet: Option<Vec<u8>>, meta_len: usize) -> RunInput {
    RunInput {
        program_type,
        ctx: vec![0; crate::platform::layout(program_type).map_or(192, |l| l.size as usize)],
        packet,
        meta_len,
        socket: 0,
        kernel_object: KernelMemory::default().base,
        args_from_ctx: false,
    }
}

fn kprobe() -> RunInput {
    input(ProgramType::Kprobe, None, 0)
}

/// Map contents: per map, (key, value) sorted by key.
type MapContents = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

/// What both engines must agree on.
fn effects(
    out: Result<Outcome, Trap>,
    rt: &mut Runtime,
) -> (Result<(u64, Vec<u8>), Trap>, MapContents) {
    let maps = rt
        .maps
        .iter_mut()
        .map(|m| {
            let mut keys = m.keys();
            keys.sort();
            keys.into_iter()
                .map(|k| {
                    (
                        k.clone(),
                        m.lookup(&k).map(|v| v.to_vec()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .collect();
    (out.map(|o| (o.r0, o.ctx)), maps)
}

/// Runs `prog` in both engines on runtimes with `maps`, each prepared by `setup`; returns the
/// interpreter's result after checking the JIT's is the same.
fn both(
    maps: &[MapInfo],
    setup: impl Fn(&mut Runtime),
    prog: &[Insn],
    input: &RunInput,
) -> Result<u64, Trap> {
    both_programs(maps, setup, &[prog], input)
}

/// [`both`] for program 0 of `progs`, the others being tail-call targets (by index).
fn both_programs(
    maps: &[MapInfo],
    setup: impl Fn(&mut Runtime),
    progs: &[&[Insn]],
    input: &RunInput,
) -> Result<u64, Trap> {
    let make = || {
        let mut rt = Runtime::new(maps, RuntimeConfig::default()).expect("runtime");
        setup(&mut rt);
        rt
    };
    let (mut rt_i, mut rt_j) = (make(), make());
    let interp = run(&mut rt_i, progs, 0, input, Config::default());
    let loaded: Vec<Loaded> = progs
        .iter()
        .map(|p| {
            let image = crate::jit::compile(p, maps, Some(input.program_type)).expect("compiles");
            Loaded::new(&image).expect("loads")
        })
        .collect();
    let natives: Vec<Option<&Loaded>> = loaded.iter().map(Some).collect();
    // SAFETY: the test programs touch only their stack, their context argument, map values
    // handed to them and the packet within bounds.
    let jit = unsafe { native::run(&mut rt_j, &natives, 0, input) };
    let (i, j) = (effects(interp, &mut rt_i), effects(jit, &mut rt_j));
    assert_eq!(i, j, "interpreter (left) and JIT (right) differ");
    i.0.map(|(r0, _)| r0)
}

fn no_setup(_: &mut Runtime) {}

/// bpf_loop(r1 = nr, counter on the stack, flags): r0 = calls << 32 | counter.
fn counting_loop(nr: &str, flags: i32, stop_at: i32) -> Vec<Insn> {
    program(&[
        &format!(
            "stdw [%r10-8], 0
             {nr}
             lddw %r2, func(1)
             mov %r3, %r10
             add %r3, -8
             mov %r4, {flags}
             call 181
             ldxdw %r1, [%r10-8]
             lsh %r0, 32
             or %r0, %r1
             exit"
        ),
        &format!(
            "ldxdw %r3, [%r2]
             add %r3, 1
             stxdw [%r2], %r3
             mov %r0, 0
             jne %r1, {stop_at}, +1
             mov %r0, 1
             exit"
        ),
    ])
}

#[test]
fn bpf_loop_counts_calls_and_stops_when_the_callback_returns_1() {
    let run = |prog: &[Insn]| both(&[], no_setup, prog, &kprobe()).expect("runs");
    assert_eq!(run(&counting_loop("mov %r1, 10", 0, 5)), 6 << 32 | 6);
    assert_eq!(run(&counting_loop("mov %r1, 10", 0, -1)), 10 << 32 | 10);
    // nr_loops is a u32: the upper half is ignored.
    assert_eq!(
        run(&counting_loop("lddw %r1, 0x100000003", 0, -1)),
        3 << 32 | 3
    );
    // The largest nr_loops is allowed (the callback stops at once).
    assert_eq!(run(&counting_loop("mov %r1, 0x800000", 0, 0)), 1 << 32 | 1);
}

#[test]
fn bpf_loop_with_no_calls_bad_flags_or_too_many_loops() {
    let run = |prog: &[Insn]| both(&[], no_setup, prog, &kprobe()).expect("runs");
    assert_eq!(run(&counting_loop("mov %r1, 0", 0, -1)), 0);
    let einval = (-22i64 as u64) << 32;
    assert_eq!(run(&counting_loop("mov %r1, 10", 1, -1)), einval);
    let e2big = (-7i64 as u64) << 32;
    assert_eq!(run(&counting_loop("mov %r1, 0x800001", 0, -1)), e2big);
}

/// for_each_map_elem over map 0: r0 = calls << 32 | sum of the u64 values visited; stops after
/// the element whose value is `stop_at`.
fn summing_for_each(stop_at: i32) -> Vec<Insn> {
    program(&[
        "stdw [%r10-8], 0
         lddw %r1, map_idx(0)
         lddw %r2, func(1)
         mov %r3, %r10
         add %r3, -8
         mov %r4, 0
         call 164
         ldxdw %r1, [%r10-8]
         lsh %r0, 32
         or %r0, %r1
         exit",
        &format!(
            "ldxdw %r5, [%r3]
             ldxdw %r0, [%r4]
             add %r0, %r5
             stxdw [%r4], %r0
             mov %r0, 0
             jne %r5, {stop_at}, +1
             mov %r0, 1
             exit"
        ),
    ])
}

#[test]
fn for_each_map_elem_sums_an_array_and_stops_early() {
    let maps = [map(types::ARRAY, 4, 8, 4)];
    let setup = |rt: &mut Runtime| {
        for i in 0..4u32 {
            let v = u64::from(i + 1).to_le_bytes();
            rt.maps[0].update(&i.to_le_bytes(), &v, 0).expect("set");
        }
    };
    let run = |stop| both(&maps, setup, &summing_for_each(stop), &kprobe()).expect("runs");
    assert_eq!(run(-1), 4 << 32 | 10);
    assert_eq!(run(2), 2 << 32 | 3);
}

#[test]
fn for_each_map_elem_sums_a_hash_map_and_stops_early() {
    let maps = [map(types::HASH, 4, 8, 8)];
    let setup = |rt: &mut Runtime| {
        for (k, v) in [(30u32, 300u64), (10, 100), (20, 200)] {
            rt.maps[0]
                .update(&k.to_le_bytes(), &v.to_le_bytes(), 0)
                .expect("set");
        }
    };
    let run = |stop| both(&maps, setup, &summing_for_each(stop), &kprobe()).expect("runs");
    assert_eq!(run(-1), 3 << 32 | 600);
    // Keys in order: 10, 20, then stop.
    assert_eq!(run(200), 2 << 32 | 300);
    // An empty map: no call.
    let empty = both(&maps, no_setup, &summing_for_each(-1), &kprobe());
    assert_eq!(empty, Ok(0));
}

#[test]
fn for_each_map_elem_key_is_read_only_and_flags_must_be_0() {
    let maps = [map(types::ARRAY, 4, 8, 2)];
    let write_key = program(&[
        "lddw %r1, map_idx(0)
         lddw %r2, func(1)
         mov %r3, 0
         mov %r4, 0
         call 164
         exit",
        "stw [%r2], 7
         mov %r0, 0
         exit",
    ]);
    // The verifier rejects such a program, so only the interpreter checks it at run time.
    let mut rt = Runtime::new(&maps, RuntimeConfig::default()).expect("runtime");
    let r = run(&mut rt, &[&write_key], 0, &kprobe(), Config::default());
    assert!(matches!(r, Err(Trap::Memory { pc: 8, .. })), "{r:?}");
    let flags = program(&[
        "lddw %r1, map_idx(0)
         lddw %r2, func(1)
         mov %r3, 0
         mov %r4, 1
         call 164
         exit",
        "mov %r0, 0
         exit",
    ]);
    assert_eq!(both(&maps, no_setup, &flags, &kprobe()), Ok(-22i64 as u64));
}

/// The callback's stack is its own frame (another r10): its writes do not reach the caller's
/// stack, whose bytes it still reads through its context pointer.
#[test]
fn a_callback_gets_its_own_stack_frame() {
    let prog = program(&[
        "stdw [%r10-8], 0x1111
         stdw [%r10-16], 0
         mov %r1, 1
         lddw %r2, func(1)
         mov %r3, %r10
         add %r3, -16
         mov %r4, 0
         call 181
         ldxdw %r0, [%r10-16]
         mov %r1, %r10
         sub %r1, %r0
         jeq %r1, 0, +1
         mov %r1, 1
         lsh %r1, 32
         ldxdw %r0, [%r10-8]
         or %r0, %r1
         exit",
        // The callback: its own [r10-8] gets 0xdead; it stores its r10 through ctx (which
        // points at the caller's [r10-16]) and reads the caller's [r10-8] back unchanged.
        "stdw [%r10-8], 0xdead
         ldxdw %r3, [%r10-8]
         jne %r3, 0xdead, +3
         ldxdw %r3, [%r2+8]
         jne %r3, 0x1111, +1
         stxdw [%r2], %r10
         mov %r0, 0
         exit",
    ]);
    assert_eq!(both(&[], no_setup, &prog, &kprobe()), Ok(1 << 32 | 0x1111));
}

/// Callbacks nest (bpf_loop inside a bpf_loop callback), and registers come back: r6 survives
/// the helper call, r1-r5 too (both engines keep them across helper calls).
#[test]
fn nested_callbacks_and_preserved_registers() {
    let prog = program(&[
        "stdw [%r10-8], 0
         mov %r6, 100
         mov %r1, 3
         lddw %r2, func(1)
         mov %r3, %r10
         add %r3, -8
         mov %r4, 0
         call 181
         ldxdw %r0, [%r10-8]
         add %r0, %r6
         add %r0, %r4
         exit",
        // Outer callback: 4 inner calls each.
        "mov %r1, 4
         mov %r3, %r2
         lddw %r2, func(2)
         mov %r4, 0
         call 181
         mov %r0, 0
         exit",
        "ldxdw %r3, [%r2]
         add %r3, 1
         stxdw [%r2], %r3
         mov %r0, 0
         exit",
    ]);
    assert_eq!(both(&[], no_setup, &prog, &kprobe()), Ok(12 + 100));
}

/// A callback is a frame like a local call's: 7 nested local calls leave no room for it.
#[test]
fn a_callback_past_the_frame_limit_traps_in_both_engines() {
    // Functions 0-6 each call the next, so function 7 runs in the eighth and last frame.
    let chain: Vec<Insn> = (0..7)
        .flat_map(|_| assemble("call local +1\nexit").expect("assembles"))
        .collect();
    // Function 7: bpf_loop with callback function 8.
    let tail = program(&[
        "mov %r1, 1
         lddw %r2, func(1)
         mov %r3, 0
         mov %r4, 0
         call 181
         exit",
        "mov %r0, 0
         exit",
    ]);
    let prog: Vec<Insn> = chain.into_iter().chain(tail).collect();
    let r = both(&[], no_setup, &prog, &kprobe());
    assert!(matches!(r, Err(Trap::CallDepth { pc: 19, .. })), "{r:?}");
}

/// A helper failing inside a callback is reported at the callback's own call, in both engines.
#[test]
fn a_helper_error_inside_a_callback_names_its_pc() {
    let prog = program(&[
        "mov %r1, 2
         lddw %r2, func(1)
         mov %r3, 0
         mov %r4, 0
         call 181
         exit",
        "mov %r1, 0
         call 1
         mov %r0, 0
         exit",
    ]);
    let r = both(&[], no_setup, &prog, &kprobe());
    assert!(matches!(r, Err(Trap::Helper { pc: 8, id: 1, .. })), "{r:?}");
}

/// Linux reads `ld_abs`/`ld_ind` from `skb->data`, not from the metadata in front of it.
#[test]
fn legacy_loads_read_from_data_not_data_meta() {
    let packet: Vec<u8> = (0x10..0x50).collect();
    let tc = input(ProgramType::SchedCls, Some(packet), 8);
    let prog = assemble(
        "ldabsb 0
         mov %r6, %r0
         lsh %r6, 32
         mov %r7, 2
         ldindh %r7, 1
         or %r0, %r6
         exit",
    )
    .expect("assembles");
    // Byte 0 of data is 0x10; bytes 3-4 are 0x13 0x14. From data_meta they would be metadata.
    assert_eq!(both(&[], no_setup, &prog, &tc), Ok(0x10 << 32 | 0x1314));
    // Past data_end: the program ends with r0 = 0.
    let far = assemble("ldabsw 62\nmov %r0, 1\nexit").expect("assembles");
    assert_eq!(both(&[], no_setup, &far, &tc), Ok(0));
}

#[test]
fn find_vma_timer_and_user_ringbuf_drain_never_call_back() {
    let find_vma = program(&[
        "mov %r1, 0
         mov %r2, 0
         lddw %r3, func(1)
         mov %r4, 0
         mov %r5, 0
         call 180
         exit",
        "mov %r0, 1
         exit",
    ]);
    assert_eq!(both(&[], no_setup, &find_vma, &kprobe()), Ok(-2i64 as u64));
    let maps = [map(types::ARRAY, 4, 16, 1)];
    let timer = program(&[
        "stw [%r10-4], 0
         lddw %r1, map_idx(0)
         mov %r2, %r10
         add %r2, -4
         call 1
         jeq %r0, 0, +4
         mov %r1, %r0
         lddw %r2, func(1)
         call 170
         exit",
        "mov %r0, 1
         exit",
    ]);
    assert_eq!(both(&maps, no_setup, &timer, &kprobe()), Ok(0));
}

/// `lddw src=4` in the JIT: the same bytes from every compilation, the same bytes wherever they
/// are loaded (a RIP-relative `lea` of the thunk, no absolute address), and each copy runs.
#[test]
fn callback_images_are_deterministic_and_position_independent() {
    let prog = counting_loop("mov %r1, 10", 0, 5);
    let compile = || crate::jit::compile(&prog, &[], Some(ProgramType::Kprobe)).expect("compiles");
    let image = compile();
    assert_eq!(image.to_bytes(), compile().to_bytes());
    assert_eq!(image.callbacks.len(), 1);
    // The only RIP-relative operand is the lea of the thunk.
    let mut dec = iced_x86::Decoder::with_ip(64, &image.code, 0, iced_x86::DecoderOptions::NONE);
    let rip_relative: Vec<(iced_x86::Mnemonic, u64)> = dec
        .iter()
        .filter(|i| i.is_ip_rel_memory_operand())
        .map(|i| (i.mnemonic(), i.ip_rel_memory_address()))
        .collect();
    let thunk = u64::from(image.callbacks[0]);
    assert_eq!(rip_relative, vec![(iced_x86::Mnemonic::Lea, thunk)]);
    let (a, b) = (
        Loaded::new(&image).expect("loads"),
        Loaded::new(&image).expect("loads"),
    );
    assert_ne!(a.code_address(), b.code_address());
    for l in [&a, &b] {
        assert_eq!(l.thunks(), [l.code_address() + thunk]);
        let mut rt = Runtime::new(&[], RuntimeConfig::default()).expect("runtime");
        // SAFETY: the program touches only its stack.
        let out = unsafe { native::run(&mut rt, &[Some(l)], 0, &kprobe()) };
        assert_eq!(out.map(|o| o.r0), Ok(6 << 32 | 6));
    }
}

/// A tail call inside a callback ends the program, callback and helper included, and runs the
/// target (the loop does not go on), in both engines.
#[test]
fn a_tail_call_inside_a_callback_ends_the_program() {
    let maps = [map(types::PROG_ARRAY, 4, 4, 1), map(types::ARRAY, 4, 8, 1)];
    let setup = |rt: &mut Runtime| {
        rt.maps[0]
            .update(&0u32.to_le_bytes(), &1u32.to_le_bytes(), 0)
            .expect("set");
    };
    let main = program(&[
        "stxdw [%r10-8], %r1
         mov %r1, 5
         lddw %r2, func(1)
         mov %r3, %r10
         add %r3, -8
         mov %r4, 0
         call 181
         mov %r0, 7
         exit",
        // Counts its calls in map 1's value, then tail-calls program 1 with the context.
        "mov %r6, %r2
         stw [%r10-4], 0
         lddw %r1, map_idx(1)
         mov %r2, %r10
         add %r2, -4
         call 1
         jeq %r0, 0, +2
         mov %r1, 1
         lock add [%r0+0], %r1
         ldxdw %r1, [%r6]
         lddw %r2, map_idx(0)
         mov %r3, 0
         call 12
         mov %r0, 0
         exit",
    ]);
    let target = assemble("mov %r0, 42\nexit").expect("assembles");
    let r = both_programs(&maps, setup, &[&main, &target], &kprobe());
    assert_eq!(r, Ok(42));
}
