//! Prototypes of the Linux helper functions: what each argument must be, what the helper returns,
//! what it may do to the packet, and which program types may call it.
//!
//! The tables are declarative, one file per family (`maps`, `packet`, `sockets`, `tracing`,
//! `misc`), written from the public Linux sources (the `bpf_func_proto` definitions in
//! kernel/bpf/helpers.c, net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/cgroup.c, ... and
//! the uapi documentation). The analysis reads them through [`proto`] / [`proto_for`]; nothing
//! else in the verifier knows a helper by number.
//!
//! Conventions the tables follow:
//! - **Availability** is Linux's `*_func_proto` switches for a fully privileged loader (CAP_BPF,
//!   CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN) on a recent kernel (6.x): e.g. `trace_printk` and
//!   `probe_read_kernel` are in the base set every program type gets. Attach types are not
//!   modelled: a helper Linux offers to only some attach points of a type (`bind` for connect
//!   hooks, `seq_printf` for iterators) is offered to the whole type.
//! - **One prototype per id.** Where Linux hands some program types a different prototype under
//!   the same id (e.g. `get_socket_cookie` takes the ctx in networking programs but a BTF socket in
//!   tracing programs), the common one is in the family tables and the others are in
//!   `variants.rs`; [`proto_for`] picks the right one for a program type.
//! - **`leaks_args`** is set when the *value* of an `Anything` argument becomes observable outside
//!   the program: printed (`trace_printk`), returned to user space (`override_return`,
//!   `set_retval`), written into the packet or skb metadata (`l3_csum_replace`, `skb_vlan_push`,
//!   `set_hash`, `skb_set_tstamp`), or folded into the return value (`csum_diff`'s seed,
//!   `csum_update`, `sock_ops_cb_flags_set`). Memory arguments are not covered by the flag: the
//!   analysis checks what a `Mem` buffer holds for every helper that reads one.

mod maps;
mod misc;
mod packet;
mod shorthand;
mod sockets;
mod tracing;
mod variants;

#[cfg(test)]
mod tests;

use crate::platform::ProgramType;
use crate::platform::helper_ids::HELPER_NAMES;

/// Whether memory passed to a helper is read, written, or both by the helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// The helper reads it: every byte must be initialised (strict policy).
    Read,
    /// The helper only writes it: it may be uninitialised; afterwards it is initialised.
    Write,
    /// The helper reads and may write it (`ARG_PTR_TO_MEM` without `MEM_RDONLY`: `fib_lookup`'s
    /// params, `check_mtu`'s `mtu_len`, `snprintf`'s output): every byte must be initialised
    /// *and* writable (not read-only map memory such as `.rodata`).
    ReadWrite,
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
    /// Like [`Arg::MapValue`], or NULL (`ARG_PTR_TO_MAP_VALUE_OR_NULL`: the initial value passed
    /// to `sk_storage_get`, `task_storage_get`, ...; programs usually pass 0). Added because
    /// `MapValue` cannot say "NULL is fine".
    MapValueOrNull,
    /// Pointer to `value_size` writable bytes, possibly uninitialised (`ARG_PTR_TO_UNINIT_MAP_VALUE`).
    MapValueOut,
    /// Pointer to memory whose size is the next argument (`ARG_PTR_TO_MEM` with `Read` or
    /// `ReadWrite`, `ARG_PTR_TO_UNINIT_MEM` with `Write`); `nullable` if NULL is allowed (then
    /// size must be 0).
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
    /// A socket the program holds a reference to (returned by a lookup whose return is
    /// `SocketOrNull { needs_release: true }`), released by the call
    /// (`ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE`: `sk_release`). Added because `Socket`
    /// cannot say that the call ends the reference, which the analysis must track to find leaks
    /// and uses after release.
    OwnedSocket,
    /// A pointer to a kernel object of the named BTF type (`ARG_PTR_TO_BTF_ID`). An empty name
    /// means "the type Linux infers from the map's BTF" (`kptr_xchg`).
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
    /// A value a printf-like helper formats if, and only if, its format string asks for it:
    /// `trace_printk`'s r3-r5. Linux does not check these registers at all (`ARG_DONTCARE`), so a
    /// program may leave them uninitialised when the format has fewer conversions. Under the
    /// strict policy the register must hold an initialised number (a pointer, or a stale value
    /// that may be a kernel address, would be printed); with `--allow-ptr-leaks` anything goes,
    /// as in Linux. Added because `Anything` would reject the common `bpf_printk("x\n")` (r3-r5
    /// unset) and omitting the registers would miss the leak.
    FormatArg,
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
    /// Pointer to a value of the map argument, never NULL (`RET_PTR_TO_MAP_VALUE`:
    /// `get_local_storage`). Added because `MapValueOrNull` would demand a NULL check Linux does
    /// not require.
    MapValue,
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
    /// kprobe, tracepoint, raw_tracepoint (and its writable form), perf_event, tracing
    /// (fentry/fexit/iter), lsm, syscall: the types whose helpers come from Linux's
    /// `bpf_tracing_func_proto`.
    Tracing,
    /// Programs with an `__sk_buff` context: socket filter, tc, cgroup_skb, lwt, sk_skb (not
    /// flow_dissector, which gets only `skb_load_bytes`).
    Skb,
    /// tc programs only (`sched_cls`, `sched_act`): the skb helpers that modify or redirect.
    Tc,
    Xdp,
    /// cgroup socket programs: cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_sockopt.
    CgroupSock,
    SockOps,
    SkMsg,
    SkSkb,
    /// Only the program types listed explicitly in [`HelperProto::types`].
    Listed,
}

impl Family {
    /// Whether `program_type` belongs to the family. [`ProgramType::Unknown`] belongs to none.
    pub fn contains(self, program_type: ProgramType) -> bool {
        use ProgramType as T;
        match self {
            Family::Any => program_type != T::Unknown,
            Family::Tracing => matches!(
                program_type,
                T::Kprobe
                    | T::Tracepoint
                    | T::RawTracepoint
                    | T::RawTracepointWritable
                    | T::PerfEvent
                    | T::Tracing
                    | T::Lsm
                    | T::Syscall
            ),
            Family::Skb => matches!(
                program_type,
                T::SocketFilter
                    | T::SchedCls
                    | T::SchedAct
                    | T::CgroupSkb
                    | T::LwtIn
                    | T::LwtOut
                    | T::LwtXmit
                    | T::LwtSeg6local
                    | T::SkSkb
            ),
            Family::Tc => matches!(program_type, T::SchedCls | T::SchedAct),
            Family::Xdp => program_type == T::Xdp,
            Family::CgroupSock => matches!(
                program_type,
                T::CgroupSock | T::CgroupSockAddr | T::SockOps | T::CgroupSockopt
            ),
            Family::SockOps => program_type == T::SockOps,
            Family::SkMsg => program_type == T::SkMsg,
            Family::SkSkb => program_type == T::SkSkb,
            Family::Listed => false,
        }
    }
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
    /// The helper copies what its `Anything` (or `FormatArg`) arguments hold out to user space or
    /// another program (e.g. `trace_printk`'s format arguments; the module doc lists the rule), so
    /// a pointer passed there leaks under the strict policy.
    pub leaks_args: bool,
}

impl HelperProto {
    /// Whether a program of `program_type` may call this helper (with this prototype).
    pub fn allowed_in(&self, program_type: ProgramType) -> bool {
        program_type != ProgramType::Unknown
            && (self.families.iter().any(|f| f.contains(program_type))
                || self.types.contains(&program_type))
    }
}

/// The prototype of helper `id`, if Vouch knows it: the one most program types get. Use
/// [`proto_for`] when the program type is known.
pub fn proto(id: i32) -> Option<&'static HelperProto> {
    let index = usize::try_from(id).ok()?;
    BY_ID.get(index).copied().flatten()
}

/// The prototype of helper `id` as a program of `program_type` sees it: the type's own variant
/// where Linux has one (see `variants.rs`), else [`proto`]. Whether the type may call the helper at
/// all is [`HelperProto::allowed_in`].
pub fn proto_for(id: i32, program_type: ProgramType) -> Option<&'static HelperProto> {
    variants::VARIANTS
        .iter()
        .find(|p| p.id == id && p.allowed_in(program_type))
        .or_else(|| proto(id))
}

/// Every known prototype, grouped by family file.
const ALL: &[&[HelperProto]] = &[
    maps::MAPS,
    packet::PACKET,
    sockets::SOCKETS,
    tracing::TRACING,
    misc::MISC,
];

/// Number of helper ids the uapi header defines (index 0, `unspec`, is not a helper).
const ID_COUNT: usize = HELPER_NAMES.len();

/// `ALL` indexed by id, built at compile time; a duplicate or out-of-range id fails the build.
static BY_ID: [Option<&HelperProto>; ID_COUNT] = index_by_id(ALL);

const fn index_by_id(
    families: &'static [&'static [HelperProto]],
) -> [Option<&'static HelperProto>; ID_COUNT] {
    let mut table: [Option<&'static HelperProto>; ID_COUNT] = [None; ID_COUNT];
    let mut f = 0;
    while f < families.len() {
        let family = families[f];
        let mut i = 0;
        while i < family.len() {
            let p = &family[i];
            assert!(
                p.id > 0 && (p.id as usize) < ID_COUNT,
                "helper id out of range"
            );
            assert!(table[p.id as usize].is_none(), "duplicate helper id");
            table[p.id as usize] = Some(p);
            i += 1;
        }
        f += 1;
    }
    table
}

/// Every prototype: the family tables, then the per-type variants (for tests and listings).
pub fn all() -> impl Iterator<Item = &'static HelperProto> {
    ALL.iter()
        .flat_map(|family| family.iter())
        .chain(variants::VARIANTS.iter())
}
