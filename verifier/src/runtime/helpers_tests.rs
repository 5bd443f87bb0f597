use super::super::vm::{Outcome, run};
use super::super::{KernelMemory, RunInput, RuntimeConfig, maps::types};
use super::*;
use crate::analysis::MapInfo;
use crate::interp::{Config, FaultReason, Trap};
use crate::isa::asm::assemble;

/// A writable map named after its type (`m1` for a hash map); shared with the callback tests.
pub(in crate::runtime) fn map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> MapInfo {
    MapInfo {
        name: format!("m{map_type}"),
        map_type,
        key_size,
        value_size,
        max_entries,
        read_only: false,
        frozen: None,
        inner: None,
    }
}

fn runtime(maps: &[MapInfo]) -> Runtime {
    Runtime::new(maps, RuntimeConfig::default()).expect("runtime")
}

fn input(t: ProgramType, packet: Option<Vec<u8>>) -> RunInput {
    RunInput {
        program_type: t,
        ctx: vec![0; 192],
        packet,
        meta_len: 0,
        socket: 0,
        kernel_object: KernelMemory::default().base,
        args_from_ctx: false,
    }
}

fn exec(rt: &mut Runtime, asm: &str, input: &RunInput) -> Result<Outcome, Trap> {
    let prog = assemble(asm).expect("assembles");
    run(rt, &[&prog], 0, input, Config::default())
}

fn kprobe() -> RunInput {
    input(ProgramType::Kprobe, None)
}

#[test]
fn lookup_update_delete_through_the_program() {
    let mut rt = runtime(&[map(types::HASH, 4, 8, 4)]);
    rt.maps[0]
        .update(&3u32.to_le_bytes(), &[7; 8], 0)
        .expect("seed");
    // key 3 on the stack; lookup; add 1 to the value; return the old first byte.
    let asm = "
        stw [%r10-4], 3
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +4
        ldxb %r6, [%r0]
        add %r6, 1
        stxb [%r0], %r6
        mov %r0, %r6
        exit";
    let out = exec(&mut rt, asm, &kprobe()).expect("runs");
    assert_eq!(out.r0, 8);
    assert_eq!(
        rt.maps[0].lookup(&3u32.to_le_bytes()).map(|v| v.to_vec()),
        Some(vec![8, 7, 7, 7, 7, 7, 7, 7])
    );
    // update with BPF_NOEXIST on an existing key: -EEXIST in r0.
    let asm = "
        stw [%r10-4], 3
        stdw [%r10-16], 0
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 1
        call 2
        exit";
    let out = exec(&mut rt, asm, &kprobe()).expect("runs");
    assert_eq!(out.r0 as i64, -17);
}

#[test]
fn deleted_value_stays_readable_during_the_run() {
    let mut rt = runtime(&[map(types::HASH, 4, 8, 4)]);
    rt.maps[0]
        .update(&1u32.to_le_bytes(), &[42; 8], 0)
        .expect("seed");
    let asm = "
        stw [%r10-4], 1
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +7
        mov %r6, %r0
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -4
        call 3
        ldxb %r0, [%r6]
        exit";
    let out = exec(&mut rt, asm, &kprobe()).expect("runs");
    assert_eq!(out.r0, 42);
    assert!(rt.maps[0].is_empty());
}

#[test]
fn ringbuf_records_reach_the_sink_and_die_on_submit() {
    let mut rt = runtime(&[map(types::RINGBUF, 0, 0, 4096)]);
    let reserve = "
        lddw %r1, map_idx(0)
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, +5
        stdw [%r0], 0x1234
        mov %r6, %r0
        mov %r1, %r0
        mov %r2, 0
        call NNN
        mov %r0, 0
        exit";
    exec(&mut rt, &reserve.replace("NNN", "132"), &kprobe()).expect("submit");
    exec(&mut rt, &reserve.replace("NNN", "133"), &kprobe()).expect("discard");
    assert_eq!(rt.sinks.ringbuf.len(), 1);
    assert_eq!(rt.sinks.ringbuf[0].data, 0x1234u64.to_le_bytes().to_vec());
    // Writing to the record after submitting it faults.
    let after = reserve
        .replace("NNN", "132")
        .replace("        mov %r0, 0\n", "        stdw [%r6], 1\n");
    let err = exec(&mut rt, &after, &kprobe()).expect_err("use after submit");
    assert!(
        matches!(err, Trap::Memory { fault, .. } if matches!(fault.reason, FaultReason::Released { .. }))
    );
    // Reserving more than the ring holds gives NULL.
    let big = reserve
        .replace("mov %r2, 8", "mov %r2, 5000")
        .replace("NNN", "132");
    assert_eq!(exec(&mut rt, &big, &kprobe()).expect("runs").r0, 0);
}

#[test]
fn probe_read_bounds_and_sources() {
    let mut config = RuntimeConfig::default();
    config.kernel.bytes = (0..64).collect();
    config.kernel.unknown = UnknownReads::Fault;
    let base = config.kernel.base;
    let mut rt = Runtime::new(&[], config).expect("runtime");
    let read = |size: i64, src: u64| {
        format!(
            "mov %r1, %r10
             add %r1, -8
             mov %r2, {size}
             lddw %r3, {src:#x}
             call 113
             ldxdw %r1, [%r10-8]
             jeq %r0, 0, +1
             exit
             mov %r0, %r1
             exit"
        )
    };
    let out = exec(&mut rt, &read(8, base + 8), &kprobe()).expect("kernel read");
    assert_eq!(out.r0, u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
    // Outside the kernel buffer under the Fault policy: -EFAULT.
    let out = exec(&mut rt, &read(8, base + 60), &kprobe()).expect("runs");
    assert_eq!(out.r0 as i64, -14);
    // A destination too small for the size is a fault of the program, not a panic.
    let err = exec(&mut rt, &read(16, base), &kprobe()).expect_err("overflows the stack");
    assert!(matches!(
        err,
        Trap::Helper {
            error: HelperError::Fault(_),
            ..
        }
    ));
    let err = exec(&mut rt, &read(-1, base), &kprobe()).expect_err("hostile size");
    assert!(matches!(
        err,
        Trap::Helper {
            error: HelperError::Fault(_),
            ..
        }
    ));
}

#[test]
fn trace_printk_formats_into_the_sink() {
    let mut rt = runtime(&[]);
    // "x=%d\0" on the stack.
    let asm = "
        stw [%r10-8], 0x64253d78
        stw [%r10-4], 0
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        mov %r3, -3
        call 6
        exit";
    let out = exec(&mut rt, asm, &kprobe()).expect("runs");
    assert_eq!(rt.sinks.trace, vec!["x=-3".to_string()]);
    assert_eq!(out.r0, 4);
}

#[test]
fn tail_call_runs_the_target_or_falls_through() {
    let mut rt = runtime(&[map(types::PROG_ARRAY, 4, 4, 4)]);
    rt.maps[0]
        .update(&0u32.to_le_bytes(), &1u32.to_le_bytes(), 0)
        .expect("slot 0");
    let caller = assemble(
        "mov %r6, %r1
         lddw %r2, map_idx(0)
         mov %r3, 0
         call 12
         mov %r1, %r6
         lddw %r2, map_idx(0)
         mov %r3, 2
         call 12
         mov %r0, 99
         exit",
    )
    .expect("asm");
    let target = assemble("mov %r0, 7\nexit").expect("asm");
    let out = run(
        &mut rt,
        &[&caller, &target],
        0,
        &kprobe(),
        Config::default(),
    )
    .expect("runs");
    assert_eq!((out.r0, out.tail_calls), (7, 1));
    // Slot 0 empty: both tail calls fail and the caller goes on.
    rt.maps[0].delete(&0u32.to_le_bytes()).expect("clear");
    let out = run(
        &mut rt,
        &[&caller, &target],
        0,
        &kprobe(),
        Config::default(),
    )
    .expect("runs");
    assert_eq!((out.r0, out.tail_calls), (99, 0));
}

#[test]
fn unknown_helper_is_named() {
    let mut rt = runtime(&[]);
    let err = exec(&mut rt, "call 69\nexit", &kprobe()).expect_err("fib_lookup");
    match err {
        Trap::Helper {
            error: HelperError::Unsupported(what),
            ..
        } => assert_eq!(what, "fib_lookup"),
        other => panic!("unexpected {other:?}"),
    }
    // A map argument that is not a map is refused, not trusted.
    let err = exec(&mut rt, "mov %r1, 0\nmov %r2, 0\ncall 1\nexit", &kprobe()).expect_err("no map");
    assert!(matches!(
        err,
        Trap::Helper {
            error: HelperError::Failed(_),
            ..
        }
    ));
}

#[test]
fn fallback_checks_arguments_from_the_prototype() {
    let mut rt = runtime(&[]);
    rt.config.fallback_by_prototype = true;
    // get_current_comm is modelled; snprintf_btf (id 149) is not: its buffer must be writable.
    let ok = exec(
        &mut rt,
        "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 16\nldxb %r0, [%r10-16]\nexit",
        &kprobe(),
    );
    assert_eq!(ok.expect("comm").r0, u64::from(b'v'));
    let err = exec(&mut rt, "mov %r1, %r10\nadd %r1, -8\nmov %r2, 64\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 149\nexit", &kprobe())
        .expect_err("64 bytes do not fit in 8");
    assert!(matches!(
        err,
        Trap::Helper {
            error: HelperError::Fault(_),
            ..
        }
    ));
}

#[test]
fn a_run_reports_the_records_and_locks_it_still_holds() {
    let mut rt = runtime(&[map(types::RINGBUF, 0, 0, 4096), map(types::ARRAY, 4, 8, 1)]);
    // Reserve and never submit: one record held at the end.
    let leak = "
        lddw %r1, map_idx(0)
        mov %r2, 8
        mov %r3, 0
        call 131
        mov %r0, 0
        exit";
    let out = exec(&mut rt, leak, &kprobe()).expect("runs");
    assert_eq!((out.records_held, out.locks_held), (1, 0));
    // Lock the value of element 0 twice and unlock once: one lock held. NNN unlocks.
    let lock = "
        stw [%r10-4], 0
        lddw %r1, map_idx(1)
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, +6
        mov %r6, %r0
        mov %r1, %r6
        call 93
        mov %r1, %r6
        call 94
        mov %r1, %r6
        call NNN
        mov %r0, 0
        exit";
    let out = exec(&mut rt, &lock.replace("NNN", "93"), &kprobe()).expect("runs");
    assert_eq!((out.records_held, out.locks_held), (0, 1));
    let out = exec(&mut rt, &lock.replace("NNN", "94"), &kprobe()).expect("runs");
    assert_eq!((out.records_held, out.locks_held), (0, 0));
}

#[test]
fn tail_call_through_a_map_that_is_not_a_prog_array_fails() {
    let mut rt = runtime(&[map(types::ARRAY, 4, 4, 4)]);
    let caller = "
        lddw %r2, map_idx(0)
        mov %r3, 0
        call 12
        mov %r0, 99
        exit";
    let err = exec(&mut rt, caller, &kprobe()).expect_err("not a prog_array");
    assert!(
        matches!(&err, Trap::Helper { pc: 3, id: 12, error: HelperError::Failed(m) } if m.contains("not a prog_array")),
        "{err:?}"
    );
}
