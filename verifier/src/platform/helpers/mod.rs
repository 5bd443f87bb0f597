//! Prototypes of the Linux helper functions: what each argument must be, what the helper returns,
//! what it may do to the packet, and which program types may call it.
//!
//! The tables are declarative, one file per family (`maps`, `packet`, `tracing`, `sockets`, ...),
//! written from the public Linux sources (the `bpf_func_proto` definitions in kernel/bpf/helpers.c,
//! net/core/filter.c, kernel/trace/bpf_trace.c, ... and the uapi documentation). The analysis
//! reads them through [`proto`]; nothing else in the verifier knows a helper by number.

use crate::platform::ProgramType;

/// Whether memory passed to a helper is read, written, or both by the helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// The helper reads it: every byte must be initialised (strict policy).
    Read,
    /// The helper only writes it: it may be uninitialised; afterwards it is initialised.
    Write,
}

/// What a helper argument must be (Linux's `enum bpf_arg_type`, as far as the analysis checks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// Any initialised value, number or pointer (`ARG_ANYTHING`). Pointers passed here leak
    /// under the strict policy only if the helper copies them out; see [`HelperProto::leaks_args`].
    Anything,
    /// A map reference from `lddw src=1` (`ARG_CONST_MAP_PTR`). The first such argument is "the
    /// map" that `MapKey`/`MapValue` arguments and `MapValueOrNull` returns refer to.
    MapPtr,
    /// Pointer to `key_size` readable, initialised bytes (stack, map value, ...) (`ARG_PTR_TO_MAP_KEY`).
    MapKey,
    /// Pointer to `value_size` readable, initialised bytes (`ARG_PTR_TO_MAP_VALUE`).
    MapValue,
    /// Pointer to `value_size` writable bytes, possibly uninitialised (`ARG_PTR_TO_UNINIT_MAP_VALUE`).
    MapValueOut,
    /// Pointer to memory whose size is the next argument (`ARG_PTR_TO_MEM` with `Read`,
    /// `ARG_PTR_TO_UNINIT_MEM` with `Write`); `nullable` if NULL is allowed (then size must be 0).
    Mem { access: Access, nullable: bool },
    /// Pointer to exactly `size` bytes (`ARG_PTR_TO_FIXED_SIZE_MEM`, `ARG_PTR_TO_LONG` = 8, ...).
    FixedMem { size: u32, access: Access },
    /// The size of the preceding `Mem` argument: a number known to be in `[1, ∞)`, or `[0, ∞)`
    /// when `zero_ok` (`ARG_CONST_SIZE`, `ARG_CONST_SIZE_OR_ZERO`).
    Size { zero_ok: bool },
    /// The size of memory the helper allocates (`ARG_CONST_ALLOC_SIZE_OR_ZERO`): a number, its
    /// upper bound becomes the size of the returned region.
    AllocSize,
    /// The program's context pointer, unmodified (`ARG_PTR_TO_CTX`); `nullable` adds NULL.
    Ctx { nullable: bool },
    /// A pointer to a socket (`ARG_PTR_TO_SOCKET`, `ARG_PTR_TO_SOCK_COMMON`, `ARG_PTR_TO_BTF_ID_SOCK_COMMON`, ...).
    Socket { nullable: bool },
    /// A pointer to a kernel object of the named BTF type (`ARG_PTR_TO_BTF_ID`).
    BtfId { name: &'static str, nullable: bool },
    /// Pointer to a `struct bpf_spin_lock` inside a map value (`ARG_PTR_TO_SPIN_LOCK`).
    SpinLock,
    /// Pointer to a `struct bpf_timer` inside a map value (`ARG_PTR_TO_TIMER`).
    Timer,
    /// A callback: a function reference from `lddw src=4` (`ARG_PTR_TO_FUNC`).
    Callback,
    /// Pointer to a NUL-terminated string in read-only map memory (`ARG_PTR_TO_CONST_STR`).
    ConstStr,
    /// Memory returned by `bpf_ringbuf_reserve` (`ARG_PTR_TO_ALLOC_MEM | OBJ_RELEASE`), released by
    /// the call.
    RingbufRecord,
    /// Pointer to a `struct bpf_dynptr` on the stack (`ARG_PTR_TO_DYNPTR`).
    Dynptr { access: Access },
    /// Pointer to stack memory (`ARG_PTR_TO_STACK`), `nullable` adds NULL.
    Stack { nullable: bool },
    /// A pointer to a per-CPU kernel object (`ARG_PTR_TO_PERCPU_BTF_ID`).
    PercpuBtfId,
    /// A pointer to a kptr field of a map value (`ARG_PTR_TO_KPTR`).
    Kptr,
}

/// What a helper returns in r0 (Linux's `enum bpf_return_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A number (`RET_INTEGER`).
    Integer,
    /// Nothing: r0 is uninitialised after the call (`RET_VOID`).
    Void,
    /// Pointer to a value of the map argument, or NULL (`RET_PTR_TO_MAP_VALUE_OR_NULL`).
    MapValueOrNull,
    /// Pointer to a socket or NULL; `needs_release` when the program must release it
    /// (`RET_PTR_TO_SOCKET_OR_NULL` from lookups) .
    SocketOrNull { needs_release: bool },
    /// Pointer to `tcp_sock` or NULL (`RET_PTR_TO_TCP_SOCK_OR_NULL`).
    TcpSockOrNull,
    /// Pointer to memory of the size given by the `AllocSize` argument, or NULL; must be submitted
    /// or discarded (`RET_PTR_TO_ALLOC_MEM_OR_NULL`, `bpf_ringbuf_reserve`).
    RingbufRecordOrNull,
    /// Pointer to a kernel object of the named BTF type (`RET_PTR_TO_BTF_ID`), or NULL.
    BtfId { name: &'static str, nullable: bool },
    /// Pointer to read-only memory of a fixed size, or NULL (`RET_PTR_TO_MEM_OR_BTF_ID`, e.g.
    /// `bpf_this_cpu_ptr` of a ksym).
    MemOrNull { size: u32 },
}

/// Coarse families of program types, for helper availability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Every program type (the "base" helpers: map ops, ktime, prandom, tail call, ...).
    Any,
    /// kprobe, tracepoint, raw_tracepoint, perf_event, tracing (fentry/fexit/iter), lsm.
    Tracing,
    /// Programs with an `__sk_buff` context: socket filter, tc, cgroup_skb, lwt, sk_skb, ...
    Skb,
    /// tc programs only (`sched_cls`, `sched_act`): the skb helpers that modify or redirect.
    Tc,
    Xdp,
    /// cgroup socket programs: cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_sockopt, ...
    CgroupSock,
    SockOps,
    SkMsg,
    SkSkb,
    /// Only the program types listed explicitly in [`HelperProto::types`].
    Listed,
}

/// A helper's prototype and contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperProto {
    pub id: i32,
    /// Name without the `bpf_` prefix, as in the uapi `__BPF_FUNC_MAPPER`.
    pub name: &'static str,
    pub ret: Ret,
    /// The arguments in order (r1, r2, ...); registers past the last are not read.
    pub args: &'static [Arg],
    /// Who may call it.
    pub families: &'static [Family],
    /// Extra program types allowed beyond `families` (or the only ones, with `Family::Listed`).
    pub types: &'static [ProgramType],
    /// The helper may move or resize packet data (Linux's `bpf_helper_changes_pkt_data`): every
    /// packet pointer is invalid after the call.
    pub changes_packet_data: bool,
    /// Only GPL-compatible programs may call it.
    pub gpl_only: bool,
    /// The helper copies what its `Anything` arguments point to or hold out to user space or
    /// another program (e.g. `trace_printk`, `perf_event_output` data), so a pointer passed there
    /// leaks under the strict policy.
    pub leaks_args: bool,
}

/// The prototype of helper `id`, if Vouch knows it.
pub fn proto(id: i32) -> Option<&'static HelperProto> {
    ALL.iter()
        .flat_map(|family| family.iter())
        .find(|p| p.id == id)
}

/// Every known prototype, grouped by family file.
const ALL: &[&[HelperProto]] = &[];
