//! Tracing helpers: reading kernel and user memory, printing, stacks, the current task, perf
//! events, function arguments of trampolines, LSM and syscall-program helpers, IR decoders
//! (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c, kernel/bpf/bpf_lsm.c, kernel/bpf/syscall.c,
//! drivers/media/rc/bpf-lirc.c).

use super::shorthand::*;
use super::{Arg, Family, HelperProto, Ret};
use crate::platform::ProgramType as T;

/// `probe_read*(dst, size, unsafe_ptr)`: the source is any address; the helper fault-checks it.
const PROBE_READ: &[Arg] = &[MEM_W, SIZE0, ANY];
/// The `bpf_tracing_func_proto` programs.
const TRACE: &[Family] = &[Family::Tracing];
const LIRC: &[T] = &[T::LircMode2];
const SYSCALL: &[T] = &[T::Syscall];

pub(super) const TRACING: &[HelperProto] = &[
    // Memory.
    helper(4, "probe_read", PROBE_READ, INT)
        .gpl()
        .families(TRACE),
    helper(45, "probe_read_str", PROBE_READ, INT)
        .gpl()
        .families(TRACE),
    helper(112, "probe_read_user", PROBE_READ, INT).gpl(),
    helper(113, "probe_read_kernel", PROBE_READ, INT).gpl(),
    helper(114, "probe_read_user_str", PROBE_READ, INT).gpl(),
    helper(115, "probe_read_kernel_str", PROBE_READ, INT).gpl(),
    helper(36, "probe_write_user", &[ANY, MEM_R, SIZE], INT)
        .gpl()
        .families(TRACE),
    helper(148, "copy_from_user", &[MEM_W, SIZE0, ANY], INT).families(TRACE),
    helper(
        191,
        "copy_from_user_task",
        &[MEM_W, SIZE0, ANY, btf("task_struct"), ANY],
        INT,
    )
    .gpl()
    .families(TRACE),
    helper(
        153,
        "per_cpu_ptr",
        &[Arg::PercpuBtfId, ANY],
        Ret::MemOrNull { size: 0 },
    ),
    helper(
        154,
        "this_cpu_ptr",
        &[Arg::PercpuBtfId],
        Ret::MemOrNull { size: 0 },
    ),
    // Printing.
    helper(
        6,
        "trace_printk",
        &[MEM_R, SIZE, Arg::FormatArg, Arg::FormatArg, Arg::FormatArg],
        INT,
    )
    .gpl()
    .leaks(),
    helper(
        177,
        "trace_vprintk",
        &[MEM_R, SIZE, MEM_R_OR_NULL, SIZE0],
        INT,
    )
    .gpl(),
    helper(
        165,
        "snprintf",
        &[MEM_RW_OR_NULL, SIZE0, Arg::ConstStr, MEM_R_OR_NULL, SIZE0],
        INT,
    )
    .gpl(),
    helper(149, "snprintf_btf", &[MEM_RW, SIZE, MEM_R, SIZE, ANY], INT),
    helper(
        126,
        "seq_printf",
        &[btf("seq_file"), MEM_R, SIZE, MEM_R_OR_NULL, SIZE0],
        INT,
    )
    .gpl()
    .only(&[T::Tracing]),
    helper(127, "seq_write", &[btf("seq_file"), MEM_R, SIZE0], INT)
        .gpl()
        .only(&[T::Tracing]),
    helper(
        150,
        "seq_printf_btf",
        &[btf("seq_file"), MEM_R, SIZE0, ANY],
        INT,
    )
    .gpl()
    .only(&[T::Tracing]),
    // Stacks.
    helper(67, "get_stack", &[CTX, MEM_W, SIZE0, ANY], INT)
        .gpl()
        .families(TRACE),
    helper(
        141,
        "get_task_stack",
        &[btf("task_struct"), MEM_W, SIZE0, ANY],
        INT,
    )
    .families(TRACE),
    helper(176, "get_branch_snapshot", &[MEM_W, SIZE0, ANY], INT)
        .gpl()
        .families(TRACE),
    // The current task.
    helper(14, "get_current_pid_tgid", &[], INT),
    helper(15, "get_current_uid_gid", &[], INT).families_and(TRACE, PROCESS_CONTEXT),
    helper(16, "get_current_comm", &[MEM_W, SIZE], INT)
        .families_and(TRACE, &[T::CgroupSock, T::CgroupSockAddr]),
    helper(35, "get_current_task", &[], INT).gpl(),
    helper(
        158,
        "get_current_task_btf",
        &[],
        Ret::BtfId {
            name: "task_struct",
            nullable: false,
        },
    )
    .gpl(),
    helper(
        175,
        "task_pt_regs",
        &[btf("task_struct")],
        Ret::BtfId {
            name: "pt_regs",
            nullable: false,
        },
    )
    .gpl(),
    helper(80, "get_current_cgroup_id", &[], INT),
    helper(123, "get_current_ancestor_cgroup_id", &[ANY], INT),
    helper(
        120,
        "get_ns_current_pid_tgid",
        &[ANY, ANY, MEM_W, SIZE],
        INT,
    ),
    helper(109, "send_signal", &[ANY], INT).families(TRACE),
    helper(117, "send_signal_thread", &[ANY], INT).families(TRACE),
    helper(
        180,
        "find_vma",
        &[btf("task_struct"), ANY, Arg::Callback, STACK_OR_NULL, ANY],
        INT,
    )
    .families(TRACE),
    // Probed functions and events.
    helper(58, "override_return", &[CTX, ANY], INT)
        .gpl()
        .leaks()
        .only(&[T::Kprobe]),
    helper(173, "get_func_ip", &[CTX], INT)
        .gpl()
        .families(TRACE),
    helper(174, "get_attach_cookie", &[CTX], INT).families(TRACE),
    helper(183, "get_func_arg", &[CTX, ANY, OUT_U64], INT).only(BTF_TRACING),
    helper(184, "get_func_ret", &[CTX, OUT_U64], INT).only(BTF_TRACING),
    helper(185, "get_func_arg_cnt", &[CTX], INT).only(BTF_TRACING),
    helper(56, "perf_prog_read_value", &[CTX, MEM_W, SIZE], INT)
        .gpl()
        .only(&[T::PerfEvent]),
    helper(
        119,
        "read_branch_records",
        &[CTX, MEM_RW_OR_NULL, SIZE0, ANY],
        INT,
    )
    .gpl()
    .only(&[T::PerfEvent]),
    // LSM.
    helper(147, "d_path", &[btf("path"), MEM_RW, SIZE0], INT).only(BTF_TRACING),
    helper(159, "bprm_opts_set", &[btf("linux_binprm"), ANY], INT).only(&[T::Lsm]),
    helper(161, "ima_inode_hash", &[btf("inode"), MEM_W, SIZE], INT).only(&[T::Lsm]),
    helper(193, "ima_file_hash", &[btf("file"), MEM_W, SIZE], INT).only(&[T::Lsm]),
    // Syscall programs.
    helper(166, "sys_bpf", &[ANY, MEM_R, SIZE], INT).only(SYSCALL),
    helper(167, "btf_find_by_name_kind", &[MEM_R, SIZE, ANY, ANY], INT).only(SYSCALL),
    helper(168, "sys_close", &[ANY], INT).only(SYSCALL),
    helper(
        179,
        "kallsyms_lookup_name",
        &[MEM_R, SIZE0, ANY, OUT_U64],
        INT,
    )
    .only(SYSCALL),
    // IR decoders (lirc_mode2).
    helper(77, "rc_repeat", &[CTX], INT).gpl().only(LIRC),
    helper(78, "rc_keydown", &[CTX, ANY, ANY, ANY], INT)
        .gpl()
        .only(LIRC),
    helper(92, "rc_pointer_rel", &[CTX, ANY, ANY], INT)
        .gpl()
        .only(LIRC),
];
