//! The remaining base helpers and the cgroup ones: time, randomness, CPU ids, strings, spin
//! locks, timers, loops, dynptrs, kptrs, cgroup return values and sysctl access
//! (kernel/bpf/helpers.c, kernel/bpf/bpf_iter.c, kernel/bpf/cgroup.c).

use super::shorthand::*;
use super::{Access, Arg, HelperProto, Ret};
use crate::platform::ProgramType as T;

const TIMER: Arg = Arg::Timer;
const DYNPTR: Arg = Arg::Dynptr {
    access: Access::Read,
};
const SYSCTL: &[T] = &[T::CgroupSysctl];
/// `ktime_get_coarse_ns` is not NMI-safe, so tracing programs do not get it: the networking
/// programs of Linux's `bpf_sk_base_func_proto`, cgroup_sock, cgroup_sysctl and sk_reuseport do.
const COARSE_TIME: &[T] = &[
    T::SocketFilter,
    T::CgroupSkb,
    T::SchedCls,
    T::SchedAct,
    T::Xdp,
    T::CgroupSockAddr,
    T::SockOps,
    T::SkMsg,
    T::SkSkb,
    T::FlowDissector,
    T::LwtIn,
    T::LwtOut,
    T::LwtXmit,
    T::LwtSeg6local,
    T::SkLookup,
    T::CgroupSock,
    T::CgroupSysctl,
    T::SkReuseport,
];

pub(super) const MISC: &[HelperProto] = &[
    // Time, randomness, CPU.
    helper(5, "ktime_get_ns", &[], INT),
    helper(125, "ktime_get_boot_ns", &[], INT),
    helper(208, "ktime_get_tai_ns", &[], INT),
    helper(160, "ktime_get_coarse_ns", &[], INT).only(COARSE_TIME),
    helper(118, "jiffies64", &[], INT),
    helper(7, "get_prandom_u32", &[], INT),
    helper(8, "get_smp_processor_id", &[], INT),
    helper(42, "get_numa_node_id", &[], INT),
    // Strings.
    helper(105, "strtol", &[MEM_R, SIZE, ANY, OUT_U64], INT),
    helper(106, "strtoul", &[MEM_R, SIZE, ANY, OUT_U64], INT),
    helper(182, "strncmp", &[MEM_R, SIZE, Arg::ConstStr], INT),
    // Locks, timers, loops.
    helper(93, "spin_lock", &[Arg::SpinLock], VOID),
    helper(94, "spin_unlock", &[Arg::SpinLock], VOID),
    helper(169, "timer_init", &[TIMER, MAP, ANY], INT).gpl(),
    helper(170, "timer_set_callback", &[TIMER, Arg::Callback], INT).gpl(),
    helper(171, "timer_start", &[TIMER, ANY, ANY], INT).gpl(),
    helper(172, "timer_cancel", &[TIMER], INT).gpl(),
    helper(181, "loop", &[ANY, Arg::Callback, STACK_OR_NULL, ANY], INT),
    // Kernel pointers stored in maps: the BTF type is that of the kptr field.
    helper(
        194,
        "kptr_xchg",
        &[Arg::Kptr, btf_or_null("")],
        ret_btf_or_null(""),
    ),
    // Dynptrs. `dynptr_data` returns a slice whose size is its third argument (Linux's
    // ARG_CONST_ALLOC_SIZE_OR_ZERO with RET_PTR_TO_DYNPTR_MEM_OR_NULL); the types have no return
    // kind sized by an argument other than ring buffer records, so it is described as returning
    // zero accessible bytes: sound, but programs that use the slice are refused.
    helper(
        197,
        "dynptr_from_mem",
        &[
            MEM_W,
            SIZE0,
            ANY,
            Arg::Dynptr {
                access: Access::Write,
            },
        ],
        INT,
    ),
    helper(201, "dynptr_read", &[MEM_W, SIZE0, DYNPTR, ANY, ANY], INT),
    helper(202, "dynptr_write", &[DYNPTR, ANY, MEM_R, SIZE0, ANY], INT),
    helper(
        203,
        "dynptr_data",
        &[DYNPTR, ANY, ANY],
        Ret::MemOrNull { size: 0 },
    ),
    // Cgroup programs: the syscall's return value, sysctl values.
    helper(186, "get_retval", &[], INT).only(CGROUP_RETVAL),
    helper(187, "set_retval", &[ANY], INT)
        .leaks()
        .only(CGROUP_RETVAL),
    helper(101, "sysctl_get_name", &[CTX, MEM_RW, SIZE, ANY], INT).only(SYSCTL),
    helper(102, "sysctl_get_current_value", &[CTX, MEM_W, SIZE], INT).only(SYSCTL),
    helper(103, "sysctl_get_new_value", &[CTX, MEM_W, SIZE], INT).only(SYSCTL),
    helper(104, "sysctl_set_new_value", &[CTX, MEM_R, SIZE], INT).only(SYSCTL),
];
