//! Context layouts: what a program may read and write in the structure r1 points to at entry,
//! per program type.
//!
//! Written from the public uapi headers (`struct xdp_md`, `struct __sk_buff`, `struct
//! bpf_sock_addr`, `struct bpf_sock_ops`, `struct pt_regs`, ...) and the `*_is_valid_access`
//! functions of the Linux verifier that decide, per field, which loads and stores are allowed and
//! which fields hold pointers (`data`, `data_end`, `data_meta`, `sk`, ...). Offsets and sizes were
//! checked with `offsetof` against the Linux 6.1 uapi header (see the tests).
//!
//! Decisions where Linux depends on more than the program type:
//! - **Attach types are not modelled; a layout is the union over a type's attach points.**
//!   `cgroup_sock` may write `bound_dev_if`/`mark`/`priority` (Linux: only sock_create/release)
//!   and read `src_ip4`/`src_ip6`/`src_port` (Linux: only post_bind); `cgroup_sock_addr` may read
//!   and write `user_ip4`, `user_ip6`, `user_port`, `msg_src_ip4`, `msg_src_ip6` (Linux: the
//!   address family and, for `msg_src_*`, sendmsg decide); `cgroup_sockopt` may write `retval`
//!   (getsockopt only) and `level`/`optname` (setsockopt only); XDP may read `egress_ifindex`
//!   (devmap programs only). All of these are numbers, so the union never lets a program reach
//!   memory it should not; it can accept a program Linux refuses at load time for that hook.
//! - **A privileged loader** (CAP_BPF/CAP_PERFMON): cgroup_skb sees `data`/`data_end` and may
//!   write `tstamp`.
//! - Pointers typed by BTF (fentry/fexit/lsm/tp_btf arguments, raw_tracepoint.w's buffer) are
//!   read as numbers: they cannot be dereferenced without `probe_read`. Telling which argument is
//!   a pointer needs the attach target's BTF, which the layout does not have.

use crate::platform::ProgramType;

/// What a context field holds, as the analysis sees a load from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A number.
    Scalar,
    /// Pointer to the first byte of packet data (`xdp_md.data`, `__sk_buff.data`).
    PacketStart,
    /// Pointer one past the last byte of packet data (`data_end`).
    PacketEnd,
    /// Pointer to the start of packet metadata (`data_meta`), at or before `PacketStart`.
    PacketMeta,
    /// Pointer to a socket (`__sk_buff.sk`, `bpf_sock_addr.sk`, ...), possibly NULL.
    SocketOrNull,
    /// Pointer to a socket, never NULL (Linux's `PTR_TO_SOCKET`: `bpf_sock_addr.sk`,
    /// `sk_msg_md.sk`, `bpf_sockopt.sk`, `sk_reuseport_md.sk`). Added because `SocketOrNull`
    /// would demand a NULL check Linux does not, refusing e.g. `sk_storage_get(&m, ctx->sk, ..)`.
    Socket,
    /// Pointer to the flow dissector's `struct bpf_flow_keys` (56 bytes, readable and writable,
    /// never NULL: Linux's `PTR_TO_FLOW_KEYS`, `__sk_buff.flow_keys`). Added because no other
    /// kind describes a kernel buffer the program may write.
    FlowKeys,
    /// Pointer to a kernel object of the named BTF type, possibly NULL.
    BtfIdOrNull(&'static str),
    /// Pointer to a kernel object of the named BTF type, never NULL (an iterator's `meta`).
    BtfId(&'static str),
    /// An argument of the traced function (fentry/fexit/tp_btf/LSM) or an iterator's context
    /// field. Its BTF type, which says whether it is a pointer, is in the kernel's BTF, not the
    /// object's; it is modelled as a kernel pointer, which may be read directly (Linux reads
    /// through it with fault-tolerant loads) or used as a number.
    BtfArg,
}

/// One field (or a run of fields with the same rules, like `cb[5]` or `args[]`).
///
/// An access of `n` bytes at offset `o` is admitted by the field when it is aligned (`o % n ==
/// 0`), lies inside one element, and either is exactly `size` bytes or is a narrower load of a
/// `narrow_read` field (`n` a power of two below `size`, as Linux's `bpf_ctx_narrow_access_ok`).
/// Stores are always exactly `size` bytes. Fields may overlap: Linux often accepts several widths
/// at one offset (`__sk_buff.cb` by 1, 2, 4 or 8 bytes; `bpf_sock_addr.user_ip6` as u32s or as
/// two u64s), and each width is one field; an access is allowed when some field admits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxField {
    /// Byte offset of the field in the context.
    pub offset: u32,
    /// Size of the field (or of each element of an array field) in bytes.
    pub size: u32,
    /// Number of consecutive elements with these rules (1 for a plain field).
    pub count: u32,
    pub read: bool,
    pub write: bool,
    /// Loads narrower than `size` are allowed (Linux's narrow loads for most scalar fields).
    pub narrow_read: bool,
    pub kind: FieldKind,
}

/// The context of one program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextLayout {
    /// The C structure, for messages (`struct xdp_md`).
    pub name: &'static str,
    /// Size in bytes; every access must be inside it.
    pub size: u32,
    /// Fields; an access that does not fall inside one field with the right rights is refused.
    /// Empty with `any_read` for raw contexts (tracepoints, pt_regs), where any aligned read
    /// inside `size` is a scalar.
    pub fields: &'static [CtxField],
    /// Any aligned read inside `size` is allowed and yields a number (tracing contexts).
    pub any_read: bool,
}

impl ContextLayout {
    /// What a load (`write == false`) or store of `size` bytes at `offset` reaches, or `None` if
    /// the access is not allowed. This is the one place the rules of [`CtxField`] are applied.
    pub fn access(&self, offset: i64, size: u32, write: bool) -> Option<FieldKind> {
        if !matches!(size, 1 | 2 | 4 | 8) || offset < 0 || offset % i64::from(size) != 0 {
            return None;
        }
        let end = offset.checked_add(i64::from(size))?;
        if end > i64::from(self.size) {
            return None;
        }
        if self.any_read && !write {
            return Some(FieldKind::Scalar);
        }
        self.fields
            .iter()
            .find(|f| f.admits(offset, size, write))
            .map(|f| f.kind)
    }
}

impl CtxField {
    fn admits(&self, offset: i64, size: u32, write: bool) -> bool {
        let relative = offset - i64::from(self.offset);
        let span = i64::from(self.size) * i64::from(self.count);
        if relative < 0 || relative >= span {
            return false;
        }
        let within = relative % i64::from(self.size);
        if within + i64::from(size) > i64::from(self.size) {
            return false;
        }
        let width_ok = size == self.size
            || (!write && self.narrow_read && self.kind == FieldKind::Scalar && size < self.size);
        width_ok && if write { self.write } else { self.read }
    }

    /// A read-only field of `size` bytes, loaded whole.
    const fn read(offset: u32, size: u32) -> CtxField {
        CtxField {
            offset,
            size,
            count: 1,
            read: true,
            write: false,
            narrow_read: false,
            kind: FieldKind::Scalar,
        }
    }

    const fn narrow(self) -> CtxField {
        CtxField {
            narrow_read: true,
            ..self
        }
    }

    const fn writable(self) -> CtxField {
        CtxField {
            write: true,
            ..self
        }
    }

    const fn array(self, count: u32) -> CtxField {
        CtxField { count, ..self }
    }

    const fn holds(self, kind: FieldKind) -> CtxField {
        CtxField { kind, ..self }
    }
}

/// The context layout of a program loaded from ELF section `section`: the program type's
/// ([`layout`]), except for iterators (`iter/task`, ...), whose context depends on the target
/// the section names (see `iter.rs`).
pub fn layout_for(program_type: ProgramType, section: &str) -> Option<&'static ContextLayout> {
    let target = section
        .strip_prefix("iter/")
        .or_else(|| section.strip_prefix("iter.s/"));
    match target {
        Some(t) if program_type == ProgramType::Tracing => iter::layout(t).or(layout(program_type)),
        _ => layout(program_type),
    }
}

pub use iter::pointer_field as kernel_pointer_field;

/// The BTF name of a pointer to a socket as programs see it through the UAPI: `struct bpf_sock`
/// (what `bpf_sk_lookup_*`, `bpf_skc_lookup_tcp`, `bpf_sk_fullsock` return and `__sk_buff.sk`
/// holds). Its fields are read directly (Linux rewrites the loads), unlike other kernel objects.
pub const BPF_SOCK: &str = "bpf_sock";

/// Whether an `n`-byte load at offset `off` of a `struct bpf_sock` is one Linux allows for every
/// such pointer (`bpf_sock_common_is_valid_access`, the stricter rule, since a lookup may give a
/// `sock_common`): `bound_dev_if` whole; `family`, `state`, `src_port`, `rx_queue_mapping` and
/// the addresses as their 4 bytes or an aligned narrower part; `dst_port` as 4 or 2 bytes at
/// its offset or one of its 2 bytes. Never `type`, `protocol`, `mark`, `priority` (not in a
/// `sock_common`), never 8 bytes, never outside the 80-byte struct.
pub fn bpf_sock_readable(off: i64, n: usize) -> bool {
    let n = n as i64;
    if !(0..80).contains(&off) || !matches!(n, 1 | 2 | 4) || off % n != 0 {
        return false;
    }
    match off {
        // bound_dev_if
        0 => n == 4,
        // family, src_port, state, rx_queue_mapping: the field's own offset only.
        4 | 44 | 72 | 76 => true,
        // src_ip4, src_ip6[4], dst_ip4, dst_ip6[4]: any aligned part.
        24..=43 | 52..=71 => true,
        // dst_port (a __be16 followed by 2 bytes Linux reads as zero).
        48 => true,
        49 => n == 1,
        _ => false,
    }
}

/// The context layout of a program type, if it has a fixed one. `None` for [`ProgramType::Unknown`]
/// and for types whose context Vouch cannot describe: `syscall` (a user buffer whose size is known
/// only when the program runs), `struct_ops` and `ext` (the context is the target's), and
/// `netfilter` (BTF pointers only).
pub fn layout(program_type: ProgramType) -> Option<&'static ContextLayout> {
    use ProgramType as T;
    Some(match program_type {
        T::Xdp => &XDP_MD,
        T::SocketFilter => &skb::SOCKET_FILTER,
        T::SchedCls | T::SchedAct => &skb::TC_SKB,
        T::CgroupSkb => &skb::CGROUP_SKB,
        T::LwtIn | T::LwtOut | T::LwtXmit | T::LwtSeg6local => &skb::LWT_SKB,
        T::SkSkb => &skb::SK_SKB,
        T::FlowDissector => &skb::FLOW_DISSECTOR,
        T::Kprobe => &PT_REGS,
        T::Tracepoint => &TRACEPOINT,
        T::RawTracepoint | T::RawTracepointWritable => &RAW_TRACEPOINT,
        T::Tracing | T::Lsm => &BTF_ARGS,
        T::PerfEvent => &PERF_EVENT,
        T::CgroupSock => &sock::BPF_SOCK,
        T::CgroupSockAddr => &sock::SOCK_ADDR,
        T::SockOps => &sock::SOCK_OPS,
        T::SkMsg => &sock::SK_MSG,
        T::SkLookup => &sock::SK_LOOKUP,
        T::SkReuseport => &sock::SK_REUSEPORT,
        T::CgroupSockopt => &sock::SOCKOPT,
        T::CgroupDevice => &CGROUP_DEVICE,
        T::CgroupSysctl => &SYSCTL,
        T::LircMode2 => &LIRC_MODE2,
        T::Syscall | T::StructOps | T::Ext | T::Netfilter | T::Unknown => return None,
    })
}

/// Whether the program type may store through packet pointers (Linux's
/// `may_access_direct_pkt_data` for writes). Loads are allowed wherever a packet pointer exists.
pub fn direct_packet_write(program_type: ProgramType) -> bool {
    use ProgramType as T;
    matches!(
        program_type,
        T::SchedCls | T::SchedAct | T::Xdp | T::LwtXmit | T::SkSkb | T::SkMsg | T::CgroupSockopt
    )
}

use CtxField as F;
use FieldKind::{PacketEnd, PacketMeta, PacketStart};

mod iter;
mod skb;
mod sock;
#[cfg(test)]
mod tests;

/// `struct xdp_md`: six u32, loaded whole; nothing is writable (`rx_queue_index` only for
/// device-offloaded programs, which Vouch does not verify).
static XDP_MD: ContextLayout = ContextLayout {
    name: "struct xdp_md",
    size: 24,
    fields: &[
        F::read(0, 4).holds(PacketStart),
        F::read(4, 4).holds(PacketEnd),
        F::read(8, 4).holds(PacketMeta),
        F::read(12, 4), // ingress_ifindex
        F::read(16, 4), // rx_queue_index
        F::read(20, 4), // egress_ifindex (devmap programs)
    ],
    any_read: false,
};

/// `struct pt_regs` of x86-64: 21 u64; any aligned read inside it (`kprobe_prog_is_valid_access`).
static PT_REGS: ContextLayout = ContextLayout {
    name: "struct pt_regs (x86-64)",
    size: 168,
    fields: &[],
    any_read: true,
};

/// A perf tracepoint record: reads at offsets 8 to `PERF_MAX_TRACE_SIZE` (2048), aligned to their
/// size; the first 8 bytes hold a hidden pointer (`tp_prog_is_valid_access`). Elements of 8
/// bytes with narrow loads express exactly that.
static TRACEPOINT: ContextLayout = ContextLayout {
    name: "tracepoint record",
    size: 2048,
    fields: &[F::read(8, 8).array(255).narrow()],
    any_read: false,
};

/// `struct bpf_raw_tracepoint_args`: `u64 args[]`, up to `MAX_BPF_FUNC_ARGS` (12); any aligned
/// read (`bpf_tracing_ctx_access`).
static RAW_TRACEPOINT: ContextLayout = ContextLayout {
    name: "struct bpf_raw_tracepoint_args",
    size: 96,
    fields: &[],
    any_read: true,
};

/// fentry/fexit/tp_btf/iter/lsm: `u64 args[]`, up to 12, each read whole (`btf_ctx_access`
/// requires offsets that are multiples of 8).
static BTF_ARGS: ContextLayout = ContextLayout {
    name: "u64 args[12] (BTF function arguments)",
    size: 96,
    fields: &[F::read(0, 8).array(12).holds(FieldKind::BtfArg)],
    any_read: false,
};

/// `struct bpf_perf_event_data`: the sampled `pt_regs` read by u64, then `sample_period` and
/// `addr` (narrow loads allowed).
static PERF_EVENT: ContextLayout = ContextLayout {
    name: "struct bpf_perf_event_data",
    size: 184,
    fields: &[
        F::read(0, 8).array(21),
        F::read(168, 8).narrow(), // sample_period
        F::read(176, 8).narrow(), // addr
    ],
    any_read: false,
};

/// `struct bpf_cgroup_dev_ctx`: read only; `access_type` allows narrow loads.
static CGROUP_DEVICE: ContextLayout = ContextLayout {
    name: "struct bpf_cgroup_dev_ctx",
    size: 12,
    fields: &[
        F::read(0, 4).narrow(), // access_type
        F::read(4, 4),          // major
        F::read(8, 4),          // minor
    ],
    any_read: false,
};

/// `struct bpf_sysctl`: `write` read only, `file_pos` readable and writable (stores of 4 bytes).
static SYSCTL: ContextLayout = ContextLayout {
    name: "struct bpf_sysctl",
    size: 8,
    fields: &[F::read(0, 4).narrow(), F::read(4, 4).narrow().writable()],
    any_read: false,
};

/// lirc_mode2: one u32 sample, read whole.
static LIRC_MODE2: ContextLayout = ContextLayout {
    name: "u32 (lirc sample)",
    size: 4,
    fields: &[F::read(0, 4)],
    any_read: false,
};
