//! Program types, and how a section name selects one.
//!
//! The rules follow libbpf's `SEC()` conventions (`xdp`, `tc`, `kprobe/...`, `cgroup/connect4`,
//! ...), widened the way older loaders (iproute2, bcc, the Linux samples, PREVAIL) read them: a
//! name matches a rule when it equals the rule's prefix or continues it with `/`, `_`, `-`, `.` or
//! a digit, so `xdp_prog`, `xdp1` and `kprobe/sys_write` all select their type. Cilium-style
//! numeric sections (`2/7`, `1/0x1010`) carry no type; the caller names one (default: tc). A name
//! no rule matches is [`ProgramType::Unknown`]; the caller can always override the guess.

use std::fmt;

/// The Linux program types Vouch knows, named as libbpf and `bpftool` name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProgramType {
    SocketFilter,
    Kprobe,
    SchedCls,
    SchedAct,
    Tracepoint,
    Xdp,
    PerfEvent,
    CgroupSkb,
    CgroupSock,
    LwtIn,
    LwtOut,
    LwtXmit,
    SockOps,
    SkSkb,
    CgroupDevice,
    SkMsg,
    RawTracepoint,
    CgroupSockAddr,
    LwtSeg6local,
    LircMode2,
    SkReuseport,
    FlowDissector,
    CgroupSysctl,
    RawTracepointWritable,
    CgroupSockopt,
    Tracing,
    StructOps,
    Ext,
    Lsm,
    SkLookup,
    Syscall,
    Netfilter,
    /// The section name selects no type and none was given.
    Unknown,
}

impl ProgramType {
    /// Tracing programs: Linux loads them only for callers with `CAP_PERFMON`, and for those
    /// `bpf_allow_ptr_leaks()` holds (it is `perfmon_capable()`). Leaking kernel addresses
    /// (into maps, `bpf_trace_printk`, r0) and letting helpers read uninitialised stack is
    /// therefore part of their contract, not a bug.
    pub fn is_tracing(self) -> bool {
        matches!(
            self,
            ProgramType::Kprobe
                | ProgramType::Tracepoint
                | ProgramType::PerfEvent
                | ProgramType::RawTracepoint
                | ProgramType::RawTracepointWritable
                | ProgramType::Tracing
                | ProgramType::Lsm
        )
    }

    /// Types whose context holds the traced function's arguments as BTF-typed values (fentry,
    /// fexit, tp_btf, iter, LSM): Linux turns loads through them into fault-tolerant
    /// `PROBE_MEM` loads, so programs dereference them directly.
    pub fn has_btf_args(self) -> bool {
        matches!(self, ProgramType::Tracing | ProgramType::Lsm)
    }
}

/// Every type with its name, in uapi order.
pub const ALL: [(ProgramType, &str); 33] = [
    (ProgramType::SocketFilter, "socket_filter"),
    (ProgramType::Kprobe, "kprobe"),
    (ProgramType::SchedCls, "sched_cls"),
    (ProgramType::SchedAct, "sched_act"),
    (ProgramType::Tracepoint, "tracepoint"),
    (ProgramType::Xdp, "xdp"),
    (ProgramType::PerfEvent, "perf_event"),
    (ProgramType::CgroupSkb, "cgroup_skb"),
    (ProgramType::CgroupSock, "cgroup_sock"),
    (ProgramType::LwtIn, "lwt_in"),
    (ProgramType::LwtOut, "lwt_out"),
    (ProgramType::LwtXmit, "lwt_xmit"),
    (ProgramType::SockOps, "sock_ops"),
    (ProgramType::SkSkb, "sk_skb"),
    (ProgramType::CgroupDevice, "cgroup_device"),
    (ProgramType::SkMsg, "sk_msg"),
    (ProgramType::RawTracepoint, "raw_tracepoint"),
    (ProgramType::CgroupSockAddr, "cgroup_sock_addr"),
    (ProgramType::LwtSeg6local, "lwt_seg6local"),
    (ProgramType::LircMode2, "lirc_mode2"),
    (ProgramType::SkReuseport, "sk_reuseport"),
    (ProgramType::FlowDissector, "flow_dissector"),
    (ProgramType::CgroupSysctl, "cgroup_sysctl"),
    (
        ProgramType::RawTracepointWritable,
        "raw_tracepoint_writable",
    ),
    (ProgramType::CgroupSockopt, "cgroup_sockopt"),
    (ProgramType::Tracing, "tracing"),
    (ProgramType::StructOps, "struct_ops"),
    (ProgramType::Ext, "ext"),
    (ProgramType::Lsm, "lsm"),
    (ProgramType::SkLookup, "sk_lookup"),
    (ProgramType::Syscall, "syscall"),
    (ProgramType::Netfilter, "netfilter"),
    (ProgramType::Unknown, "unknown"),
];

impl ProgramType {
    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// Parses a type name as `--type` takes it: the names above, plus the common aliases
    /// `tc`, `classifier`, `action`, `socket`, `cgroup_skb`, `sockops`, `fentry`, ...
    pub fn from_name(name: &str) -> Option<ProgramType> {
        if let Some((t, _)) = ALL.iter().find(|(_, n)| *n == name) {
            return Some(*t);
        }
        Some(match name {
            "tc" | "classifier" | "tcx" => ProgramType::SchedCls,
            "action" => ProgramType::SchedAct,
            "socket" => ProgramType::SocketFilter,
            "sockops" => ProgramType::SockOps,
            "fentry" | "fexit" | "tp_btf" | "iter" | "fmod_ret" => ProgramType::Tracing,
            "raw_tp" => ProgramType::RawTracepoint,
            "tp" => ProgramType::Tracepoint,
            "uprobe" | "kretprobe" | "uretprobe" | "usdt" | "ksyscall" => ProgramType::Kprobe,
            _ => return None,
        })
    }
}

impl fmt::Display for ProgramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Section-name prefixes, most specific first (the first match wins).
const RULES: &[(&str, ProgramType)] = &[
    ("socket", ProgramType::SocketFilter),
    ("sk_reuseport", ProgramType::SkReuseport),
    ("kprobe.multi", ProgramType::Kprobe),
    ("kretprobe.multi", ProgramType::Kprobe),
    ("uprobe.multi", ProgramType::Kprobe),
    ("uretprobe.multi", ProgramType::Kprobe),
    ("kprobe", ProgramType::Kprobe),
    ("kretprobe", ProgramType::Kprobe),
    ("uprobe", ProgramType::Kprobe),
    ("uretprobe", ProgramType::Kprobe),
    ("ksyscall", ProgramType::Kprobe),
    ("kretsyscall", ProgramType::Kprobe),
    ("usdt", ProgramType::Kprobe),
    ("tcx", ProgramType::SchedCls),
    ("netkit", ProgramType::SchedCls),
    ("tc", ProgramType::SchedCls),
    ("classifier", ProgramType::SchedCls),
    ("action", ProgramType::SchedAct),
    ("raw_tracepoint.w", ProgramType::RawTracepointWritable),
    ("raw_tp.w", ProgramType::RawTracepointWritable),
    ("raw_tracepoint", ProgramType::RawTracepoint),
    ("raw_tp", ProgramType::RawTracepoint),
    ("tracepoint", ProgramType::Tracepoint),
    ("tp_btf", ProgramType::Tracing),
    ("tp", ProgramType::Tracepoint),
    ("fentry", ProgramType::Tracing),
    ("fmod_ret", ProgramType::Tracing),
    ("fexit", ProgramType::Tracing),
    ("iter", ProgramType::Tracing),
    ("freplace", ProgramType::Ext),
    ("lsm_cgroup", ProgramType::Lsm),
    ("lsm", ProgramType::Lsm),
    ("syscall", ProgramType::Syscall),
    ("xdp", ProgramType::Xdp),
    ("perf_event", ProgramType::PerfEvent),
    ("perf_section", ProgramType::PerfEvent),
    ("lwt_in", ProgramType::LwtIn),
    ("lwt_out", ProgramType::LwtOut),
    ("lwt_xmit", ProgramType::LwtXmit),
    ("lwt_seg6local", ProgramType::LwtSeg6local),
    ("sockops", ProgramType::SockOps),
    ("sk_skb", ProgramType::SkSkb),
    ("sk_msg", ProgramType::SkMsg),
    ("lirc_mode2", ProgramType::LircMode2),
    ("flow_dissector", ProgramType::FlowDissector),
    ("cgroup_skb", ProgramType::CgroupSkb),
    ("cgroup/skb", ProgramType::CgroupSkb),
    ("cgroup/sock_create", ProgramType::CgroupSock),
    ("cgroup/sock_release", ProgramType::CgroupSock),
    ("cgroup/post_bind", ProgramType::CgroupSock),
    ("cgroup/sockopt", ProgramType::CgroupSockopt),
    ("cgroup/getsockopt", ProgramType::CgroupSockopt),
    ("cgroup/setsockopt", ProgramType::CgroupSockopt),
    ("cgroup/sock", ProgramType::CgroupSock),
    ("cgroup/dev", ProgramType::CgroupDevice),
    ("cgroup/sysctl", ProgramType::CgroupSysctl),
    ("cgroup/bind", ProgramType::CgroupSockAddr),
    ("cgroup/connect", ProgramType::CgroupSockAddr),
    ("cgroup/getpeername", ProgramType::CgroupSockAddr),
    ("cgroup/getsockname", ProgramType::CgroupSockAddr),
    ("cgroup/sendmsg", ProgramType::CgroupSockAddr),
    ("cgroup/recvmsg", ProgramType::CgroupSockAddr),
    ("struct_ops", ProgramType::StructOps),
    ("sk_lookup", ProgramType::SkLookup),
    ("netfilter", ProgramType::Netfilter),
];

/// What a section name says about the program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionType {
    /// The name selects this type.
    Known(ProgramType),
    /// A Cilium-style numeric section (`2/7`): the caller must name the type.
    Numeric,
    /// No rule matches.
    Unknown,
}

/// Classifies a section name.
pub fn section_type(section: &str) -> SectionType {
    if is_numeric(section) {
        return SectionType::Numeric;
    }
    for (prefix, ty) in RULES {
        if let Some(rest) = section.strip_prefix(prefix)
            && rest
                .chars()
                .next()
                .is_none_or(|c| matches!(c, '/' | '_' | '-' | '.' | '0'..='9'))
        {
            return SectionType::Known(*ty);
        }
    }
    SectionType::Unknown
}

/// `2/7`, `1/0x1010`, `2`: numbers (decimal or hex) separated by slashes.
fn is_numeric(section: &str) -> bool {
    !section.is_empty()
        && section.split('/').all(|part| {
            let digits = part.strip_prefix("0x").unwrap_or(part);
            !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_hexdigit())
                && (part.starts_with("0x") || part.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The program type for a section: `overridden` if given, else what the name says, with numeric
/// sections taking `numeric_default`.
pub fn program_type_for(
    section: &str,
    overridden: Option<ProgramType>,
    numeric_default: ProgramType,
) -> ProgramType {
    if let Some(t) = overridden {
        return t;
    }
    match section_type(section) {
        SectionType::Known(t) => t,
        SectionType::Numeric => numeric_default,
        SectionType::Unknown => ProgramType::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_select_types() {
        let cases = [
            ("xdp", ProgramType::Xdp),
            ("xdp_prog", ProgramType::Xdp),
            ("xdp1", ProgramType::Xdp),
            ("xdp.frags/devmap", ProgramType::Xdp),
            ("tc", ProgramType::SchedCls),
            ("tc/ingress", ProgramType::SchedCls),
            ("tcx/egress", ProgramType::SchedCls),
            ("tc_mark", ProgramType::SchedCls),
            ("classifier", ProgramType::SchedCls),
            ("action/foo", ProgramType::SchedAct),
            ("socket", ProgramType::SocketFilter),
            ("socket2", ProgramType::SocketFilter),
            ("socket_filter", ProgramType::SocketFilter),
            ("kprobe/do_sys_open", ProgramType::Kprobe),
            ("kretprobe/tcp_v4_connect", ProgramType::Kprobe),
            ("uretprobe/readline", ProgramType::Kprobe),
            ("usdt", ProgramType::Kprobe),
            ("ksyscall/kill", ProgramType::Kprobe),
            (
                "tracepoint/syscalls/sys_enter_execve",
                ProgramType::Tracepoint,
            ),
            ("tp/sched/sched_process_exec", ProgramType::Tracepoint),
            ("tp_btf/sched_switch", ProgramType::Tracing),
            ("raw_tracepoint/sys_enter", ProgramType::RawTracepoint),
            ("raw_tp.w/foo", ProgramType::RawTracepointWritable),
            ("perf_event", ProgramType::PerfEvent),
            ("cgroup/skb", ProgramType::CgroupSkb),
            ("cgroup_skb/egress", ProgramType::CgroupSkb),
            ("cgroup/sock", ProgramType::CgroupSock),
            ("cgroup/sock1", ProgramType::CgroupSock),
            ("cgroup/sock_create", ProgramType::CgroupSock),
            ("cgroup/connect4", ProgramType::CgroupSockAddr),
            ("cgroup/sendmsg6", ProgramType::CgroupSockAddr),
            ("cgroup/getsockopt", ProgramType::CgroupSockopt),
            ("sockops", ProgramType::SockOps),
            ("sk_skb/stream_verdict", ProgramType::SkSkb),
            ("sk_msg", ProgramType::SkMsg),
            ("fentry/do_unlinkat", ProgramType::Tracing),
            ("fexit/do_unlinkat", ProgramType::Tracing),
            ("lsm/file_open", ProgramType::Lsm),
            ("iter/task", ProgramType::Tracing),
            ("struct_ops/foo", ProgramType::StructOps),
            ("lwt_xmit", ProgramType::LwtXmit),
        ];
        for (section, want) in cases {
            assert_eq!(section_type(section), SectionType::Known(want), "{section}");
        }
    }

    #[test]
    fn numeric_and_unknown_sections() {
        assert_eq!(section_type("2/7"), SectionType::Numeric);
        assert_eq!(section_type("1/0x1010"), SectionType::Numeric);
        assert_eq!(section_type("bind"), SectionType::Unknown);
        assert_eq!(section_type("tcp"), SectionType::Unknown);
        assert_eq!(section_type("xdpfoo"), SectionType::Unknown);
        assert_eq!(section_type(""), SectionType::Unknown);
        assert_eq!(
            program_type_for("2/7", None, ProgramType::SchedCls),
            ProgramType::SchedCls
        );
        assert_eq!(
            program_type_for("xdp", Some(ProgramType::SchedCls), ProgramType::Xdp),
            ProgramType::SchedCls
        );
    }

    #[test]
    fn names_round_trip() {
        for (t, n) in ALL {
            assert_eq!(ProgramType::from_name(n), Some(t));
            assert_eq!(t.name(), n);
        }
        assert_eq!(ProgramType::from_name("tc"), Some(ProgramType::SchedCls));
        assert_eq!(ProgramType::from_name("nonsense"), None);
    }
}
