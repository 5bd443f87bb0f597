//! One small program per check: the unsafe version must be rejected with the right kind of
//! error, and the fixed version must be accepted. Adding a check means adding a row here.

use vouch_verifier::analysis::{Input, MapInfo, Options, Verdict, verify};
use vouch_verifier::isa::asm::assemble;
use vouch_verifier::platform::ProgramType;

fn maps() -> Vec<MapInfo> {
    let map = |name: &str, map_type, key_size, value_size, read_only| MapInfo {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries: 4,
        read_only,
        frozen: None,
        inner: None,
    };
    vec![
        map("hash", 1, 4, 8, false),
        map("array", 2, 4, 16, false),
        map("progs", 3, 4, 4, false),
        map("rodata", 2, 4, 8, true),
        map("hash_twin", 1, 4, 8, false),
        map("hash_small", 1, 4, 4, false),
    ]
}

/// XDP prologue: r2 = data, r3 = data_end (xdp_md: data at 0, data_end at 4).
const XDP: &str = "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\n";
/// Lookup of key 0 in the hash map; r0 = value or NULL.
const LOOKUP: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd(0)\ncall 1\n";

fn check(
    program_type: ProgramType,
    src: &str,
    options: &Options,
) -> (Verdict, Option<&'static str>, String) {
    check_in("", program_type, src, options)
}

/// [`check`] for a program from ELF section `section` (the attach point some contexts
/// depend on).
fn check_in(
    section: &str,
    program_type: ProgramType,
    src: &str,
    options: &Options,
) -> (Verdict, Option<&'static str>, String) {
    let insns = assemble(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let maps = maps();
    let r = verify(
        Input {
            insns: &insns,
            program_type,
            section,
            maps: &maps,
            kernel_btf: None,
        },
        options,
    );
    let first = r.diagnostics.first();
    (
        r.verdict,
        first.map(|d| d.kind),
        first.map(|d| d.to_string()).unwrap_or_default(),
    )
}

#[test]
fn every_check_rejects_its_unsafe_program_and_accepts_the_fix() {
    use ProgramType::{CgroupSkb, SchedCls, Xdp};
    let cases: Vec<(&str, ProgramType, String, Option<&str>)> = vec![
        // Packet bounds.
        (
            "packet read unchecked",
            Xdp,
            format!("{XDP}ldxb %r0, [%r2]\nexit"),
            Some("memory"),
        ),
        (
            "packet read checked",
            Xdp,
            format!(
                "{XDP}mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +1\nldxb %r0, [%r2+13]\nmov %r0, 0\nexit"
            ),
            None,
        ),
        (
            "packet read one past the check",
            Xdp,
            format!(
                "{XDP}mov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +1\nldxb %r0, [%r2+14]\nmov %r0, 0\nexit"
            ),
            Some("memory"),
        ),
        (
            "variable packet offset checked",
            Xdp,
            format!(
                "{XDP}ldxw %r5, [%r1+16]\nand %r5, 63\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 4\njgt %r6, %r3, +1\nldxw %r0, [%r4]\nmov %r0, 0\nexit"
            ),
            None,
        ),
        // Stack.
        (
            "stack below the frame",
            Xdp,
            "stb [%r10-513], 1\nmov %r0, 0\nexit".into(),
            Some("memory"),
        ),
        (
            "stack at the frame pointer",
            Xdp,
            "stb [%r10], 1\nmov %r0, 0\nexit".into(),
            Some("memory"),
        ),
        (
            "uninitialised stack read",
            Xdp,
            "ldxw %r0, [%r10-4]\nexit".into(),
            Some("uninit"),
        ),
        (
            "initialised stack read",
            Xdp,
            "stw [%r10-4], 7\nldxw %r0, [%r10-4]\nexit".into(),
            None,
        ),
        // Registers.
        (
            "uninitialised register",
            Xdp,
            "mov %r0, %r5\nexit".into(),
            Some("uninit"),
        ),
        ("r0 unset at exit", Xdp, "exit".into(), Some("uninit")),
        // Maps and NULL.
        (
            "missing NULL check",
            Xdp,
            format!("{LOOKUP}ldxdw %r0, [%r0]\nexit"),
            Some("null"),
        ),
        (
            "NULL checked",
            Xdp,
            format!("{LOOKUP}jeq %r0, 0, +2\nldxdw %r0, [%r0]\nexit\nmov %r0, 0\nexit"),
            None,
        ),
        (
            "NULL check on a copy",
            Xdp,
            format!(
                "{LOOKUP}mov %r6, %r0\njeq %r6, 0, +2\nldxdw %r0, [%r0]\nexit\nmov %r0, 0\nexit"
            ),
            None,
        ),
        (
            "map value out of bounds",
            Xdp,
            format!("{LOOKUP}jeq %r0, 0, +2\nldxdw %r0, [%r0+4]\nexit\nmov %r0, 0\nexit"),
            Some("memory"),
        ),
        (
            "write to read-only map",
            Xdp,
            "lddw %r1, map_value(3, 0)\nstdw [%r1], 1\nmov %r0, 0\nexit".into(),
            Some("memory"),
        ),
        (
            "uninitialised key",
            Xdp,
            "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd(0)\ncall 1\nmov %r0, 0\nexit".into(),
            Some("uninit"),
        ),
        (
            "key is not a pointer",
            Xdp,
            "mov %r2, 0\nlddw %r1, map_fd(0)\ncall 1\nmov %r0, 0\nexit".into(),
            Some("helper"),
        ),
        // A constant key outside an array map can never name an element.
        ("array update with key 4 of 4 entries", Xdp, "stw [%r10-4], 4\nstdw [%r10-16], 0\nstdw [%r10-24], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -24\nlddw %r1, map_fd(1)\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit".into(), Some("helper")),
        ("array update with key 3 of 4 entries", Xdp, "stw [%r10-4], 3\nstdw [%r10-16], 0\nstdw [%r10-24], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -24\nlddw %r1, map_fd(1)\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit".into(), None),
        // Leaks.
        (
            "pointer stored into a map",
            Xdp,
            format!("{LOOKUP}jeq %r0, 0, +1\nstxdw [%r0], %r10\nmov %r0, 0\nexit"),
            Some("leak"),
        ),
        (
            "pointer returned",
            Xdp,
            "mov %r0, %r10\nexit".into(),
            Some("leak"),
        ),
        (
            "pointer compared with a number",
            Xdp,
            "mov %r0, 0\njeq %r10, 5, +0\nexit".into(),
            Some("leak"),
        ),
        (
            "pointer times two",
            Xdp,
            "mov %r0, %r10\nmul %r0, 2\nexit".into(),
            Some("leak"),
        ),
        // Context.
        (
            "ctx read past the end",
            Xdp,
            "ldxw %r0, [%r1+64]\nexit".into(),
            Some("ctx"),
        ),
        (
            "ctx write to a read-only field",
            Xdp,
            "stw [%r1], 0\nmov %r0, 0\nexit".into(),
            Some("ctx"),
        ),
        (
            "tc may write mark",
            SchedCls,
            "stw [%r1+8], 1\nmov %r0, 0\nexit".into(),
            None,
        ),
        // Helpers.
        (
            "unknown helper",
            Xdp,
            "call 9999\nmov %r0, 0\nexit".into(),
            Some("helper"),
        ),
        (
            "tail call through a hash map",
            Xdp,
            "lddw %r2, map_fd(0)\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit".into(),
            Some("helper"),
        ),
        (
            "tail call through a program array",
            Xdp,
            "lddw %r2, map_fd(2)\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit".into(),
            None,
        ),
        (
            "stale packet pointer",
            SchedCls,
            "ldxw %r6, [%r1+76]\nmov %r2, 0\ncall 39\nldxb %r0, [%r6]\nexit".into(),
            Some("type"),
        ),
        // Return values and termination.
        (
            "cgroup_skb returns 2",
            CgroupSkb,
            "mov %r0, 2\nexit".into(),
            Some("exit"),
        ),
        (
            "cgroup_skb returns 1",
            CgroupSkb,
            "mov %r0, 1\nexit".into(),
            None,
        ),
        (
            "infinite loop",
            Xdp,
            "mov %r0, 0\nl:\nja l".into(),
            Some("termination"),
        ),
        (
            "counted loop",
            Xdp,
            "mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, 1\nadd %r1, 1\njlt %r1, 100, l\nexit".into(),
            None,
        ),
        (
            "loop bounded by packet data",
            Xdp,
            format!("{XDP}mov %r0, 0\nldxw %r5, [%r1+16]\nl:\nadd %r0, 1\njne %r0, %r5, l\nexit"),
            Some("termination"),
        ),
    ];
    let mut wrong = vec![];
    for (name, t, src, want) in cases {
        let (verdict, kind, first) = check(t, &src, &Options::default());
        let ok = match want {
            None => verdict == Verdict::Accepted,
            Some(k) => verdict == Verdict::Rejected && kind == Some(k),
        };
        if !ok {
            wrong.push(format!(
                "{name}: expected {want:?}, got {verdict} {kind:?}: {first}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `bpf_loop(10, cb, &counter, 0)` with a callback body; the callback starts at pc 10.
fn bpf_loop(body: &str) -> String {
    format!(
        "stdw [%r10-8], 0\nmov %r1, 10\nlddw %r2, func(7)\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nldxdw %r0, [%r10-8]\nexit\nmov %r0, 0\n{body}"
    )
}

#[test]
fn bpf_loop_callbacks_are_verified_in_place() {
    let opts = Options::default();
    // The callback increments the caller's counter through its context pointer.
    let ok = bpf_loop("ldxdw %r0, [%r2]\nadd %r0, 1\nstxdw [%r2], %r0\nmov %r0, 0\nexit");
    let (verdict, _, first) = check(ProgramType::Xdp, &ok, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    // Reading past the caller's 8-byte counter runs off the caller's stack frame.
    let oob = bpf_loop("ldxdw %r0, [%r2+8]\nmov %r0, 0\nexit");
    assert_eq!(check(ProgramType::Xdp, &oob, &opts).1, Some("memory"));
    // A callback must return 0 or 1.
    let bad_ret = bpf_loop("mov %r0, 2\nexit");
    assert_eq!(check(ProgramType::Xdp, &bad_ret, &opts).1, Some("exit"));
    // The callback's own registers start uninitialised (r3 is not passed).
    let uninit = bpf_loop("mov %r0, %r3\nexit");
    assert_eq!(check(ProgramType::Xdp, &uninit, &opts).1, Some("uninit"));
}

#[test]
fn division_by_zero_is_allowed_unless_strict() {
    let src = "ldxw %r0, [%r1+16]\nmov %r1, 10\ndiv %r1, %r0\nmov %r0, 0\nexit";
    assert_eq!(
        check(ProgramType::Xdp, src, &Options::default()).0,
        Verdict::Accepted
    );
    let strict = Options {
        strict_div: true,
        ..Options::default()
    };
    let (verdict, kind, _) = check(ProgramType::Xdp, src, &strict);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("division")));
}

#[test]
fn leaks_are_allowed_with_allow_ptr_leaks() {
    let lax = Options {
        allow_ptr_leaks: true,
        ..Options::default()
    };
    assert_eq!(
        check(ProgramType::Xdp, "mov %r0, %r10\nexit", &lax).0,
        Verdict::Accepted
    );
}

#[test]
fn interval_domain_cannot_prove_variable_packet_offsets_but_zone_can() {
    let src = format!(
        "{XDP}ldxw %r5, [%r1+16]\nand %r5, 63\nmov %r4, %r2\nadd %r4, %r5\nmov %r6, %r4\nadd %r6, 4\njgt %r6, %r3, +1\nldxw %r0, [%r4]\nmov %r0, 0\nexit"
    );
    assert_eq!(
        check(ProgramType::Xdp, &src, &Options::default()).0,
        Verdict::Accepted
    );
    let intervals = Options {
        relational: false,
        ..Options::default()
    };
    assert_eq!(
        check(ProgramType::Xdp, &src, &intervals).0,
        Verdict::Rejected
    );
}

/// A pointer stored into a map: a leak for a socket filter (any user may load one), part of
/// the contract of a kprobe (only `CAP_PERFMON` callers load those, and Linux lets them).
#[test]
fn tracing_programs_may_leak_pointers_others_may_not() {
    let leak = format!("{LOOKUP}jeq %r0, 0, +1\nstxdw [%r0], %r10\nmov %r0, 0\nexit");
    let (verdict, kind, _) = check(ProgramType::SocketFilter, &leak, &Options::default());
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("leak")));
    let (verdict, _, first) = check(ProgramType::Kprobe, &leak, &Options::default());
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// fentry arguments are read directly (Linux makes those loads fault-tolerant), but never
/// written through, and kernel pointers of other program types are not readable at all.
#[test]
fn fentry_arguments_are_readable_not_writable() {
    let opts = Options::default();
    let read = "ldxdw %r6, [%r1+8]\nldxdw %r2, [%r6+16]\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Tracing, read, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let write = "ldxdw %r6, [%r1+8]\nstdw [%r6+16], 1\nmov %r0, 0\nexit";
    assert_eq!(check(ProgramType::Tracing, write, &opts).1, Some("memory"));
    // Fields are read through too (`xdp->rxq->dev->ifindex`), with the same loads.
    let chase = "ldxdw %r6, [%r1+8]\nldxdw %r2, [%r6]\nldxw %r3, [%r2+4]\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Tracing, chase, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    // A socket from a tc program's context is not a BTF argument.
    let sk = "ldxdw %r6, [%r1+168]\njeq %r6, 0, +1\nldxdw %r2, [%r6+16]\nmov %r0, 0\nexit";
    assert_eq!(check(ProgramType::SchedCls, sk, &opts).1, Some("memory"));
}

/// `len = data_end - data; if (len < 14) return;` bounds the packet as well as comparing
/// the pointers does; one byte less is not enough for a 2-byte read at offset 12.
#[test]
fn packet_length_from_pointer_difference_bounds_the_packet() {
    let prog = |min: u32| {
        format!(
            "{XDP}mov %r4, %r3\nsub %r4, %r2\njslt %r4, {min}, +1\nldxh %r0, [%r2+12]\nmov %r0, 0\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &prog(14), &Options::default());
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    assert_eq!(
        check(ProgramType::Xdp, &prog(13), &Options::default()).1,
        Some("memory")
    );
}

/// `bpf_for_each_map_elem(&array, cb, &ctx, 0)` with `cb(map, key, value, ctx)` at pc 11.
fn for_each(body: &str) -> String {
    format!(
        "stdw [%r10-8], 0\nlddw %r1, map_fd(1)\nlddw %r2, func(7)\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 164\nldxdw %r0, [%r10-8]\nexit\n{body}"
    )
}

#[test]
fn for_each_map_elem_callbacks_see_the_maps_key_and_value() {
    let opts = Options::default();
    // Reads the 4-byte key and the last 8 bytes of the 16-byte value, counts in the caller.
    let ok = for_each(
        "ldxw %r5, [%r2]\nldxdw %r5, [%r3+8]\nldxdw %r0, [%r4]\nadd %r0, 1\nstxdw [%r4], %r0\nmov %r0, 0\nexit",
    );
    let (verdict, _, first) = check(ProgramType::Xdp, &ok, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    // Past the value's end.
    let oob = for_each("ldxdw %r5, [%r3+16]\nmov %r0, 0\nexit");
    assert_eq!(check(ProgramType::Xdp, &oob, &opts).1, Some("memory"));
    // The key is 4 bytes and read-only.
    let wide_key = for_each("ldxdw %r5, [%r2]\nmov %r0, 0\nexit");
    assert_eq!(check(ProgramType::Xdp, &wide_key, &opts).1, Some("memory"));
    let write_key = for_each("stw [%r2], 1\nmov %r0, 0\nexit");
    assert_eq!(check(ProgramType::Xdp, &write_key, &opts).1, Some("memory"));
    // The return value tells the helper whether to go on: 0 or 1.
    let bad_ret = for_each("mov %r0, 7\nexit");
    assert_eq!(check(ProgramType::Xdp, &bad_ret, &opts).1, Some("exit"));
}

/// Found by the PREVAIL cross-check (`tests/prevail.rs`): a 32-bit division divides by the
/// divisor's low half, which may be zero when the 64-bit value is not.
#[test]
fn strict_division_looks_at_the_low_half_in_32_bit_operations() {
    let strict = Options {
        strict_div: true,
        ..Options::default()
    };
    let src = |divisor: &str| {
        format!("lddw %r0, {divisor}\nmov %r1, 10\ndiv32 %r1, %r0\nmov %r0, 0\nexit")
    };
    let (verdict, kind, _) = check(ProgramType::Xdp, &src("0x100000000"), &strict);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("division")));
    let (verdict, _, first) = check(ProgramType::Xdp, &src("0x100000001"), &strict);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Found by the PREVAIL cross-check: two map value pointers may point into different entries,
/// so their distance would expose kernel addresses; packet pointers are one object.
#[test]
fn only_pointers_into_one_object_may_be_subtracted() {
    let two_lookups = format!(
        "{LOOKUP}jeq %r0, 0, +7\nmov %r6, %r0\n{LOOKUP}jeq %r0, 0, +1\nsub %r6, %r0\nmov %r0, 0\nexit"
    );
    let (verdict, kind, _) = check(ProgramType::Xdp, &two_lookups, &Options::default());
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("leak")));
    let packet = format!("{XDP}sub %r3, %r2\nmov %r0, 0\nexit");
    let (verdict, _, first) = check(ProgramType::Xdp, &packet, &Options::default());
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Found by the PREVAIL cross-check: `movsx` writes its destination without reading it.
#[test]
fn sign_extending_move_does_not_read_its_destination() {
    let src = "mov %r2, 384\nmovsx864 %r3, %r2\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, src, &Options::default());
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Found by the PREVAIL cross-check: unsigned comparisons of a pointer with 0 decide NULL-ness
/// (`p <= 0` is `p == 0`, `p < 0` never holds), like `==` and `!=` do.
#[test]
fn unsigned_comparisons_with_zero_check_null() {
    let opts = Options::default();
    let ctx = "jle %r1, 0, +1\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, ctx, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let checked = format!("{LOOKUP}jle %r0, 0, +1\nldxw %r0, [%r0]\nmov %r0, 0\nexit");
    let (verdict, _, first) = check(ProgramType::Xdp, &checked, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let never = format!("{LOOKUP}jlt %r0, 0, +1\nldxw %r0, [%r0]\nmov %r0, 0\nexit");
    let (verdict, kind, _) = check(ProgramType::Xdp, &never, &opts);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("null")));
}

/// Found by the PREVAIL cross-check: a signed comparison of a pointer with 0 reveals the top
/// bit of its address.
#[test]
fn signed_comparisons_of_pointers_with_zero_leak() {
    let src = "jslt %r1, 0, +0\nmov %r0, 0\nexit";
    let (verdict, kind, _) = check(ProgramType::Xdp, src, &Options::default());
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("leak")));
    let lax = Options {
        allow_ptr_leaks: true,
        ..Options::default()
    };
    assert_eq!(check(ProgramType::Xdp, src, &lax).0, Verdict::Accepted);
}

/// Found by the PREVAIL cross-check: a narrow store keeps the low bytes of a constant, which
/// read back as that constant (and a map key stored from a wider constant is its low half).
#[test]
fn narrow_stack_constants_read_back() {
    let opts = Options::default();
    let src = "mov %r0, -127\nstxb [%r10-1], %r0\nldxb %r0, [%r10-1]\njeq %r0, 129, +1\nldxdw %r0, [%r10+8]\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, src, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let key = "lddw %r1, 0x100000002\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd(1)\ncall 1\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, key, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Helpers trust kernel object pointers: only a pointer to the start of an object of the
/// right type is passed; an untyped fentry argument (its type is in the kernel's BTF) or an
/// interior pointer is refused.
#[test]
fn helpers_get_only_typed_kernel_objects_at_offset_zero() {
    let opts = Options::default();
    // bpf_get_task_stack(task, buf, 64, 0) with a 64-byte buffer on the stack.
    let stack_of = |task: &str| {
        format!(
            "{task}mov %r2, %r10\nadd %r2, -64\nmov %r3, 64\nmov %r4, 0\ncall 141\nmov %r0, 0\nexit"
        )
    };
    let current = stack_of("call 158\nmov %r1, %r0\n");
    let (verdict, _, first) = check(ProgramType::Tracing, &current, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let interior = stack_of("call 158\nmov %r1, %r0\nadd %r1, 8\n");
    assert_eq!(
        check(ProgramType::Tracing, &interior, &opts).1,
        Some("helper")
    );
    let untyped = stack_of("ldxdw %r1, [%r1]\n");
    assert_eq!(
        check(ProgramType::Tracing, &untyped, &opts).1,
        Some("helper")
    );
}

/// A program that needs more analysis than the budget allows is rejected, not analysed for
/// ever: by block visits, and by wall-clock time.
#[test]
fn the_analysis_budget_rejects_instead_of_running_on() {
    let src = "mov %r9, 0\nmov %r6, 0\nl0:\nmov %r7, 0\nl1:\nadd %r9, 3\nadd %r7, 1\njlt %r7, 100, l1\nadd %r6, 1\njlt %r6, 100, l0\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, src, &Options::default());
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let few_visits = Options {
        max_block_visits: 20,
        ..Options::default()
    };
    let (verdict, kind, _) = check(ProgramType::Xdp, src, &few_visits);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("budget")));
    let no_time = Options {
        time_limit: Some(std::time::Duration::ZERO),
        ..Options::default()
    };
    let (verdict, kind, _) = check(ProgramType::Xdp, src, &no_time);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("budget")));
}

/// `for (int i = 0; i < 20; i++)` as clang emits it: the counter is tested through a truncated
/// copy (`w4 = w2`, or `r4 = r2; r4 <<= 32; r4 >>= 32`), or counted with 32-bit adds. While the
/// counter fits in 32 bits those are copies, so the loop is bounded by its test; a test the
/// counter never fails (`!= 0` after it starts at 1) leaves it unbounded.
#[test]
fn int_loop_counters_keep_their_bound_through_truncation() {
    let opts = Options::default();
    let shifts = |test: &str| {
        format!(
            "mov %r2, 0\nl:\nadd %r2, 1\nmov %r4, %r2\nlsh %r4, 32\nrsh %r4, 32\n{test}\nmov %r0, 0\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &shifts("jne %r4, 20, l"), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let mov32 = "mov %r2, 0\nl:\nadd %r2, 1\nmov32 %r4, %r2\njlt %r4, 20, l\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, mov32, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let add32 = "mov %r2, 0\nl:\nadd32 %r2, 1\njlt %r2, 20, l\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, add32, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let endless = shifts("jne %r4, 0, l");
    assert_eq!(
        check(ProgramType::Xdp, &endless, &opts).1,
        Some("termination")
    );
}

/// Partly unrolled loops: the counter steps by the unroll factor and is tested for equality
/// (`i += 3; if i != 45`), and a pointer steps by another stride. Short loops are analysed one
/// iteration at a time, so the pointer stays exact and one iteration too many is caught;
/// longer ones rely on the counter's congruence (`i` is a multiple of 3, so `!= 120` ends it),
/// and a bound the counter steps over never ends.
#[test]
fn strided_loops_with_equality_exits() {
    let opts = Options::default();
    let writes = |bound: u32| {
        format!(
            "mov %r8, 0\nmov %r6, %r10\nadd %r6, -512\nl:\nstdw [%r6], 0\nstdw [%r6+8], 0\nadd %r6, 32\nadd %r8, 3\njne %r8, {bound}, l\nmov %r0, 0\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &writes(48), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, kind, first) = check(ProgramType::Xdp, &writes(51), &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
    let counts = |bound: u32| {
        format!("mov %r8, 0\nmov %r0, 0\nl:\nadd %r0, %r8\nadd %r8, 3\njne %r8, {bound}, l\nexit")
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &counts(300), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, kind, _) = check(ProgramType::Xdp, &counts(301), &opts);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("termination")));
}

/// A program that picks one of two maps per packet (Cilium's TCP and "any" connection tables)
/// passes either to the same helpers: maps with identical definitions are interchangeable, so
/// the two paths' map pointers join. Maps that differ (value size) do not.
#[test]
fn identical_maps_are_interchangeable() {
    let pick = |other: u32| {
        format!(
            "ldxw %r3, [%r1+12]\nlddw %r1, map_fd(0)\njeq %r3, 0, l\nlddw %r1, map_fd({other})\nl:\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, out\nldxdw %r0, [%r0]\nout:\nmov %r0, 0\nexit"
        )
    };
    let opts = Options::default();
    let (verdict, _, first) = check(ProgramType::Xdp, &pick(4), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, _, first) = check(ProgramType::Xdp, &pick(5), &opts);
    assert_eq!(verdict, Verdict::Rejected, "{first}");
}

/// A function whose result no caller uses may leave r0 unset (clang drops the assignment), as
/// Linux allows; a caller that reads it is rejected.
#[test]
fn functions_may_leave_r0_unset_if_callers_do_not_read_it() {
    let opts = Options::default();
    let unused = "call local f\nmov %r0, 2\nexit\nf:\nmov %r1, 1\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, unused, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let used = "call local f\nexit\nf:\nmov %r1, 1\nexit";
    let (verdict, kind, _) = check(ProgramType::Xdp, used, &opts);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("uninit")));
    // The same for a result that is a pointer on some paths and a number on others.
    let mixed = |after: &str| {
        format!(
            "ldxw %r6, [%r1+12]\nmov %r1, %r6\ncall local f\n{after}mov %r0, 2\nexit\n\
             f:\nmov %r0, 7\njne %r1, 0, +2\nlddw %r0, map_fd(0)\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &mixed(""), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, _, _) = check(ProgramType::Xdp, &mixed("add %r0, 1\n"), &opts);
    assert_eq!(verdict, Verdict::Rejected);
}

/// An iterator's context (`iter/task`): `meta` is never NULL and its `seq` is the `seq_file`
/// that `bpf_seq_write` takes; the task may be NULL (the last call) and must be checked before
/// a helper that wants a task gets it; nothing lies past the task.
#[test]
fn iterator_contexts_type_their_objects() {
    let opts = Options::default();
    let iter = |src: &str| check_in("iter/task", ProgramType::Tracing, src, &opts);
    // seq_write(meta->seq, &task->pid, 4), and get_task_stack(task, buf, 8, 0), after a check.
    let body = |seq: &str, guard: &str, ctx_off: u32| {
        format!(
            "ldxdw %r2, [%r1]\n{seq}ldxdw %r7, [%r1+{ctx_off}]\n{guard}\
             ldxw %r3, [%r7+1028]\nstxw [%r10-4], %r3\nmov %r1, %r6\nmov %r2, %r10\nadd %r2, -4\nmov %r3, 4\ncall 127\n\
             mov %r1, %r7\nmov %r2, %r10\nadd %r2, -16\nmov %r3, 8\nmov %r4, 0\ncall 141\n\
             out:\nmov %r0, 0\nexit"
        )
    };
    let seq = "ldxdw %r6, [%r2]\n";
    let guard = "jeq %r7, 0, out\n";
    let (verdict, _, first) = iter(&body(seq, guard, 8));
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    // No NULL check on the task.
    let (verdict, kind, first) = iter(&body(seq, "", 8));
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("null")),
        "{first}"
    );
    // meta itself is not a seq_file.
    let (verdict, kind, first) = iter(&body("mov %r6, %r2\n", guard, 8));
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("helper")),
        "{first}"
    );
    // Past the end of `struct bpf_iter__task`.
    let (verdict, kind, first) = iter(&body(seq, guard, 16));
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("ctx")), "{first}");
    // Other tracing programs keep untyped arguments, which helpers that want a task refuse.
    let (verdict, kind, first) = check_in(
        "fentry/f",
        ProgramType::Tracing,
        &body(seq, guard, 8),
        &opts,
    );
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("helper")),
        "{first}"
    );
}

/// An argument a helper takes as any number needs only to be initialised: a value that is a
/// pointer on some paths and a number on others may be a probe-read source in a tracing
/// program, where pointers may leak, but not where they may not (XDP).
#[test]
fn any_value_arguments_take_mixed_values_where_pointers_may_leak() {
    let opts = Options::default();
    // r3 = (r6 == 0) ? r10 - 8 : 12345, then bpf_probe_read_kernel(r10 - 16, 8, r3).
    let mixed = "ldxw %r6, [%r1+12]\nstdw [%r10-8], 0\nmov %r3, 12345\njne %r6, 0, +2\nmov %r3, %r10\nadd %r3, -8\n";
    let probe =
        format!("{mixed}mov %r1, %r10\nadd %r1, -16\nmov %r2, 8\ncall 113\nmov %r0, 0\nexit");
    let (verdict, _, first) = check(ProgramType::Kprobe, &probe, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    // Uninitialised is still refused.
    let uninit = "mov %r1, %r10\nadd %r1, -16\nmov %r2, 8\ncall 113\nmov %r0, 0\nexit";
    let (verdict, kind, _) = check(ProgramType::Kprobe, uninit, &opts);
    assert_eq!((verdict, kind), (Verdict::Rejected, Some("uninit")));
    // xdp_adjust_head(ctx, delta) with a delta that may be a stack address leaks it.
    let xdp = format!("{mixed}mov %r2, %r3\ncall 44\nmov %r0, 2\nexit");
    let (verdict, kind, first) = check(ProgramType::Xdp, &xdp, &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("leak")),
        "{first}"
    );
    let number = "mov %r2, 4\ncall 44\nmov %r0, 2\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, number, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Paths that set a live register to different constants stay apart (up to the disjunct
/// limit): switch arms that pick an (offset, size) pair for one helper call are each in bounds,
/// though the join of offsets and the join of sizes are not.
#[test]
fn constant_pairs_chosen_on_different_paths_stay_correlated() {
    let opts = Options::default();
    let pick = |size: u32| {
        format!(
            "ldxw %r6, [%r1+12]\nmov %r1, -16\nmov %r2, 16\njgt %r6, 5, +2\nmov %r1, -8\nmov %r2, {size}\n\
             add %r1, %r10\nmov %r3, 0\ncall 113\nmov %r0, 0\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Kprobe, &pick(8), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, kind, first) = check(ProgramType::Kprobe, &pick(9), &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("helper")),
        "{first}"
    );
}

/// A traced function's argument (or a field read through one) is untyped: it may be an integer
/// or NULL, so the path where it equals 0 is reachable and checked, and a comparison that bounds
/// it below any kernel address makes it a number (a CPU or IRQ index used to index a map value).
#[test]
fn untyped_kernel_arguments_may_be_zero_or_small_numbers() {
    let opts = Options::default();
    let fentry = |src: &str| check_in("fentry/f", ProgramType::Tracing, src, &opts);
    // if (arg == 0) read past the stack: must be found.
    let zero = "ldxdw %r2, [%r1]\njne %r2, 0, +2\nldxdw %r0, [%r10+8]\nexit\nmov %r0, 0\nexit";
    let (verdict, kind, first) = fentry(zero);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
    // The same through a field of the argument.
    let field = "ldxdw %r2, [%r1]\nldxdw %r2, [%r2+16]\njne %r2, 0, +2\nldxdw %r0, [%r10+8]\nexit\nmov %r0, 0\nexit";
    let (verdict, kind, first) = fentry(field);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
    // if (cpu <= 3) value[cpu] of a 16-byte array value: in bounds; `cpu <= 4` is not.
    let index = |bound: u32| {
        format!(
            "ldxdw %r6, [%r1]\n{LOOKUP}jeq %r0, 0, out\njgt %r6, {bound}, out\nlsh %r6, 2\nadd %r0, %r6\n\
             stw [%r0], 1\nout:\nmov %r0, 0\nexit"
        )
        .replace("map_fd(0)", "map_fd(1)")
    };
    let (verdict, _, first) = fentry(&index(3));
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, kind, first) = fentry(&index(4));
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
}

/// Two values of one map may be different entries: comparing them proves nothing, and the path
/// where they differ is checked. Pointers into one object (the stack) still compare by offset.
#[test]
fn pointers_to_different_entries_of_one_map_may_differ() {
    let opts = Options::default();
    let two = format!(
        "{LOOKUP}jeq %r0, 0, out\nmov %r6, %r0\n{LOOKUP}jeq %r0, 0, out\njeq %r0, %r6, out\n\
         ldxdw %r0, [%r10+8]\nout:\nmov %r0, 0\nexit"
    );
    let (verdict, kind, first) = check(ProgramType::Xdp, &two, &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
    let stack =
        "mov %r6, %r10\nmov %r7, %r10\njeq %r6, %r7, +1\nldxdw %r0, [%r10+8]\nmov %r0, 0\nexit";
    let (verdict, _, first) = check(ProgramType::Xdp, stack, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
}

/// Tracing programs' return values follow the attach kind (Linux's `check_return_code`):
/// fentry/fexit return 0, iterators 0 or 1, tp_btf and fmod_ret anything.
#[test]
fn tracing_return_values_follow_the_attach_kind() {
    let opts = Options::default();
    for (section, r0, ok) in [
        ("fentry/tcp_close", 0, true),
        ("fentry/tcp_close", 1, false),
        ("fexit.s/do_unlinkat", 7, false),
        ("iter/task", 1, true),
        ("iter/task", 2, false),
        ("tp_btf/sched_switch", 7, true),
        ("fmod_ret/security_file_open", -1, true),
    ] {
        let (verdict, kind, first) = check_in(
            section,
            ProgramType::Tracing,
            &format!("mov %r0, {r0}\nexit"),
            &opts,
        );
        if ok {
            assert_eq!(
                verdict,
                Verdict::Accepted,
                "{section} returning {r0}: {first}"
            );
        } else {
            assert_eq!(
                (verdict, kind),
                (Verdict::Rejected, Some("exit")),
                "{section} returning {r0}: {first}"
            );
        }
    }
}

/// clang compiles `ret = err < 0 ? -155 : 0` branch-free as `(err << 32 s>> 63) & -155` and then
/// tests the sign-extended copy of `ret`: the AND must keep `ret` within 32-bit signed range
/// (it is 0 or -155) so the copy stays tied to it, and `copy >= 0` proves `ret == 0` (Cilium's
/// NAT paths pick a NULL-able pointer only where `ret` is 0). The unsafe twin writes 555 bytes
/// below the frame on the `ret < 0` path, which is `ret == -155`.
#[test]
fn branch_free_selects_keep_their_value_in_range() {
    let opts = Options::default();
    let select = |on_negative: &str, on_zero: &str| {
        format!(
            "call 5\nmov %r9, %r0\nlsh %r9, 32\narsh %r9, 63\nand %r9, -155\nmov %r1, %r9\nlsh %r1, 32\narsh %r1, 32\njsgt %r1, -1, zero\n{on_negative}\nmov %r0, 0\nexit\nzero:\n{on_zero}\nmov %r0, 0\nexit"
        )
    };
    let store = |offset: i32| format!("mov %r2, %r10\nadd %r2, %r9\nstdw [%r2{offset}], 0");
    let safe = select(&store(-200), &store(-8));
    let (verdict, _, first) = check(ProgramType::Xdp, &safe, &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let unsafe_ = select(&store(-400), &store(-8));
    let (verdict, kind, first) = check(ProgramType::Xdp, &unsafe_, &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
}

/// A socket from `bpf_sk_lookup_tcp` (or `__sk_buff.sk`) is a `struct bpf_sock` whose fields
/// are read directly, as Linux allows (`sk->state`, `sk->dst_port`); fields a `sock_common`
/// lacks (`type`), 8-byte reads and reads past the struct are refused.
#[test]
fn socket_fields_are_readable_where_linux_allows() {
    let opts = Options::default();
    let lookup = |read: &str| {
        format!(
            "mov %r6, %r1\nstdw [%r10-16], 0\nstw [%r10-8], 0\nmov %r1, %r6\nmov %r2, %r10\nadd %r2, -16\nmov %r3, 12\nmov %r4, -1\nmov %r5, 0\ncall 84\njeq %r0, 0, out\nmov %r7, %r0\n{read}\nmov %r1, %r7\ncall 86\nout:\nmov %r0, 0\nexit"
        )
    };
    for ok in [
        "ldxw %r1, [%r7+72]",
        "ldxh %r1, [%r7+48]",
        "ldxb %r1, [%r7+4]",
        "ldxw %r1, [%r7+60]",
    ] {
        let (verdict, _, first) = check(ProgramType::SchedCls, &lookup(ok), &opts);
        assert_eq!(verdict, Verdict::Accepted, "{ok}: {first}");
    }
    for bad in [
        "ldxw %r1, [%r7+8]",
        "ldxdw %r1, [%r7+24]",
        "ldxw %r1, [%r7+80]",
        "ldxh %r1, [%r7+74]",
    ] {
        let (verdict, kind, first) = check(ProgramType::SchedCls, &lookup(bad), &opts);
        assert_eq!(
            (verdict, kind),
            (Verdict::Rejected, Some("memory")),
            "{bad}: {first}"
        );
    }
    // Unchecked, it may be NULL.
    let unchecked = lookup("ldxw %r1, [%r7+72]").replace("jeq %r0, 0, out\n", "");
    assert_eq!(
        check(ProgramType::SchedCls, &unchecked, &opts).0,
        Verdict::Rejected
    );
}

/// Ten paths that each spill a number to a different slot (ten shapes, more than a block
/// keeps) and leave either the context or a stack pointer in one slot: merging the most alike
/// paths must keep the two pointer kinds of that slot apart (Cloudflare's `cls_redirect` keeps
/// a header pointer into the packet or into a stack copy), so the load through it is checked
/// per kind. The unsafe twin points into uninitialised stack.
#[test]
fn spilled_pointers_of_different_kinds_stay_apart_when_paths_merge() {
    let opts = Options::default();
    let program = |target: i32| {
        let mut src = format!("mov %r6, %r1\nstdw [%r10{target}], 0\nldxw %r2, [%r6+12]\n");
        if target == -200 {
            src = "mov %r6, %r1\nldxw %r2, [%r6+12]\n".to_string();
        }
        for k in 0..9 {
            src += &format!("jeq %r2, {k}, a{k}\n");
        }
        src += "ja a9\n";
        for k in 0..10 {
            let slot = -16 - 8 * k;
            let pointer = if k < 5 {
                "stxdw [%r10-8], %r6\n".to_string()
            } else {
                format!("mov %r3, %r10\nadd %r3, {target}\nstxdw [%r10-8], %r3\n")
            };
            src += &format!("a{k}:\nstdw [%r10{slot}], {k}\n{pointer}mov %r3, 0\nja join\n");
        }
        src + "join:\nldxdw %r4, [%r10-8]\nldxw %r0, [%r4]\nmov %r0, 0\nexit"
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &program(-128), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, _, first) = check(ProgramType::Xdp, &program(-200), &opts);
    assert_eq!(verdict, Verdict::Rejected, "{first}");
}

/// A loop of 100 iterations whose counter and pointer advance by different strides (`i += 3`,
/// `p += 1`): widening cannot keep them related, so the first analysis, which walks loops one
/// iteration at a time only up to 32 iterations, loses the pointer's bound; the program is
/// then analysed again with long loops walked iteration by iteration (as Linux does) and
/// accepted. The unsafe twin runs 300 iterations and writes past the frame.
#[test]
fn long_loops_are_walked_when_widening_is_not_enough() {
    let opts = Options::default();
    let program = |bound: u32| {
        format!(
            "mov %r8, 0\nmov %r6, %r10\nadd %r6, -200\nl:\nstb [%r6], 0\nadd %r6, 1\nadd %r8, 3\njne %r8, {bound}, l\nmov %r0, 0\nexit"
        )
    };
    let (verdict, _, first) = check(ProgramType::Xdp, &program(300), &opts);
    assert_eq!(verdict, Verdict::Accepted, "{first}");
    let (verdict, kind, first) = check(ProgramType::Xdp, &program(900), &opts);
    assert_eq!(
        (verdict, kind),
        (Verdict::Rejected, Some("memory")),
        "{first}"
    );
}
