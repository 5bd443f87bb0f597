//! Tracing programs typed from a kernel BTF (`platform::kernel_btf`): what the typing lets a
//! program do and what it refuses, on the miniature kernel of `platform::kernel_btf::tests`.
//! Each refusal has its accepted counterpart.

use super::{Input, Options, Verdict, verify};
use crate::isa::asm::assemble;
use crate::platform::ProgramType;
use crate::platform::kernel_btf::tests::kernel;

/// The verdict and first error of `src`, loaded from `section`, with or without the BTF.
fn check(section: &str, src: &str, with_btf: bool) -> (Verdict, String) {
    let insns = assemble(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let btf = kernel();
    let program_type = if section.starts_with("lsm") {
        ProgramType::Lsm
    } else {
        ProgramType::Tracing
    };
    let r = verify(
        Input {
            insns: &insns,
            program_type,
            section,
            maps: &[],
            kernel_btf: with_btf.then_some(&btf),
        },
        &Options::default(),
    );
    let first = r
        .diagnostics
        .first()
        .map(|d| d.to_string())
        .unwrap_or_default();
    (r.verdict, first)
}

fn accepted(section: &str, src: &str) {
    let (v, e) = check(section, src, true);
    assert_eq!(v, Verdict::Accepted, "{section}:\n{src}\n{e}");
}

fn rejected(section: &str, src: &str, why: &str) {
    let (v, e) = check(section, src, true);
    assert_eq!(v, Verdict::Rejected, "{section}:\n{src}");
    assert!(
        e.contains(why),
        "{section}:\n{src}\nexpected `{why}` in: {e}"
    );
}

/// `fentry/tcp_close(struct sock *sk, long timeout)`.
const CLOSE: &str = "fentry/tcp_close";

#[test]
fn integer_arguments_cannot_be_dereferenced() {
    let deref_timeout = "ldxdw %r2, [%r1+8]\nldxdw %r0, [%r2]\nmov %r0, 0\nexit";
    rejected(CLOSE, deref_timeout, "is a number");
    // Without the kernel's BTF the argument is an untyped kernel value, read fault-tolerantly.
    assert_eq!(check(CLOSE, deref_timeout, false).0, Verdict::Accepted);
    accepted(CLOSE, "ldxdw %r2, [%r1]\nldxh %r0, [%r2]\nmov %r0, 0\nexit");
}

#[test]
fn argument_slots_are_read_whole() {
    rejected(
        CLOSE,
        "ldxw %r2, [%r1+4]\nmov %r0, 0\nexit",
        "not the start of one",
    );
    rejected(CLOSE, "ldxdw %r2, [%r1+96]\nmov %r0, 0\nexit", "ctx[0..12]");
    // fexit reads the return value of a function that has one.
    accepted("fexit/sk_filter", "ldxdw %r2, [%r1+8]\nmov %r0, 0\nexit");
    // A slot past the arguments is untyped, as without the BTF: programs read such slots in
    // branches for other kernel versions.
    accepted(
        CLOSE,
        "ldxdw %r2, [%r1+56]\nldxdw %r0, [%r2]\nmov %r0, 0\nexit",
    );
}

#[test]
fn struct_reads_stay_inside_the_struct_and_its_members() {
    rejected(
        CLOSE,
        "ldxdw %r2, [%r1]\nldxw %r0, [%r2+48]\nmov %r0, 0\nexit",
        "outside `struct sock`",
    );
    rejected(
        CLOSE,
        "ldxdw %r2, [%r1]\nldxw %r0, [%r2+24]\nmov %r0, 0\nexit",
        "is a pointer",
    );
    // sk->sk_socket->state, the pointer read whole and walked.
    accepted(
        CLOSE,
        "ldxdw %r2, [%r1]\nldxdw %r3, [%r2+24]\nldxw %r0, [%r3]\nmov %r0, 0\nexit",
    );
    rejected(
        CLOSE,
        "ldxdw %r2, [%r1]\nldxdw %r3, [%r2+24]\nldxw %r0, [%r3+8]\nmov %r0, 0\nexit",
        "outside `struct socket`",
    );
    // The same through pointer arithmetic (`&sk->sk_socket`).
    accepted(
        CLOSE,
        "ldxdw %r2, [%r1]\nadd %r2, 24\nldxdw %r3, [%r2]\nldxw %r0, [%r3]\nmov %r0, 0\nexit",
    );
    // A number read from a struct cannot be dereferenced.
    rejected(
        CLOSE,
        "ldxdw %r2, [%r1]\nldxw %r3, [%r2+32]\nldxw %r0, [%r3]\nmov %r0, 0\nexit",
        "is a number",
    );
}

#[test]
fn typed_pointers_may_be_null() {
    // skc_to_tcp_sock handles NULL itself: no check needed.
    accepted(CLOSE, "ldxdw %r1, [%r1]\ncall 137\nmov %r0, 0\nexit");
    // task_pt_regs does not: the tracepoint's `prev` must be checked first.
    let tp = "tp_btf/sched_switch";
    rejected(tp, "ldxdw %r1, [%r1+8]\ncall 175\nmov %r0, 0\nexit", "NULL");
    accepted(
        tp,
        "ldxdw %r1, [%r1+8]\njeq %r1, 0, +1\ncall 175\nmov %r0, 0\nexit",
    );
    // A copy made before the check is covered by it.
    accepted(
        tp,
        "ldxdw %r6, [%r1+8]\nmov %r1, %r6\njeq %r6, 0, +1\ncall 175\nmov %r0, 0\nexit",
    );
    // The NULL branch is analysed, not assumed away: its uninitialised read is found.
    rejected(
        CLOSE,
        "ldxdw %r2, [%r1]\njne %r2, 0, +1\nldxdw %r0, [%r10-8]\nmov %r0, 0\nexit",
        "uninitialised",
    );
}

#[test]
fn lsm_hooks_are_typed_by_their_bpf_lsm_function() {
    accepted(
        "lsm/file_open",
        "ldxdw %r2, [%r1]\nldxw %r3, [%r2]\nldxdw %r0, [%r1+8]\nexit",
    );
    rejected(
        "lsm/file_open",
        "ldxdw %r2, [%r1]\nldxw %r3, [%r2+8]\nmov %r0, 0\nexit",
        "outside `struct socket`",
    );
}

#[test]
fn helpers_take_structs_nested_at_an_offset() {
    // bpf_d_path(&file->f_path, buf, 16) in fentry/vfs_read(struct file *file).
    let d_path = |add: &str, check: &str| {
        format!(
            "ldxdw %r6, [%r1]\n{check}stdw [%r10-16], 0\nstdw [%r10-8], 0\nmov %r1, %r6\n{add}\
             mov %r2, %r10\nadd %r2, -16\nmov %r3, 16\ncall 147\nout:\nmov %r0, 0\nexit"
        )
    };
    let checked = "jeq %r6, 0, out\n";
    accepted("fentry/vfs_read", &d_path("add %r1, 8\n", checked));
    rejected(
        "fentry/vfs_read",
        &d_path("", checked),
        "must be a pointer to the start of a `struct path`",
    );
    rejected(
        "fentry/vfs_read",
        &d_path("add %r1, 16\n", checked),
        "must be a pointer to the start of a `struct path`",
    );
    rejected("fentry/vfs_read", &d_path("add %r1, 8\n", ""), "NULL");
}

/// A pointer that must be NULL-checked before a load is not below one that may be read
/// unchecked (`probe_mem`), so a loop head holding the latter is not "stable" when the former
/// arrives; their join must be checked.
#[test]
fn must_check_pointers_are_not_covered_by_probe_mem_ones() {
    use super::state::{join_value, leq_value};
    use super::value::{Ptr, Region, Value};
    use crate::domain::scalar::Scalar;
    let ptr = |probe_mem| {
        Value::Ptr(Ptr {
            region: Region::Kernel { btf_name: "sock" },
            off: Scalar::constant(0),
            nullable: true,
            null_id: 0,
            probe_mem,
        })
    };
    let (must_check, readable) = (ptr(false), ptr(true));
    assert!(!leq_value(&must_check, &readable));
    assert!(leq_value(&readable, &must_check));
    assert_eq!(join_value(&must_check, &readable), must_check);
}
