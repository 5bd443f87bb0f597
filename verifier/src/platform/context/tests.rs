//! Checks of the context layouts against the uapi structures and Linux's access rules.

use super::*;
use crate::platform::program_type::ALL as TYPES;
use FieldKind::{Scalar, Socket, SocketOrNull};
use ProgramType as T;

/// `sizeof` of each context structure, printed once with `offsetof`/`sizeof` by a C program
/// compiled against /usr/include/linux/bpf.h (Linux 6.1 uapi), bpf_perf_event.h and the x86-64
/// asm/ptrace.h.
#[test]
fn sizes_match_the_uapi_structures() {
    let cases = [
        (T::Xdp, "struct xdp_md", 24),
        (T::SocketFilter, "struct __sk_buff", 192),
        (T::SchedCls, "struct __sk_buff", 192),
        (T::FlowDissector, "struct __sk_buff", 192),
        (T::Kprobe, "struct pt_regs (x86-64)", 168),
        (T::PerfEvent, "struct bpf_perf_event_data", 184),
        (T::CgroupSock, "struct bpf_sock", 80),
        (T::CgroupSockAddr, "struct bpf_sock_addr", 72),
        (T::SockOps, "struct bpf_sock_ops", 216),
        (T::SkMsg, "struct sk_msg_md", 80),
        (T::CgroupDevice, "struct bpf_cgroup_dev_ctx", 12),
        (T::CgroupSysctl, "struct bpf_sysctl", 8),
        (T::CgroupSockopt, "struct bpf_sockopt", 40),
        (T::SkLookup, "struct bpf_sk_lookup", 72),
        (T::SkReuseport, "struct sk_reuseport_md", 56),
        (T::Tracepoint, "tracepoint record", 2048),
        (T::RawTracepoint, "struct bpf_raw_tracepoint_args", 96),
        (T::Tracing, "u64 args[12] (BTF function arguments)", 96),
    ];
    for (t, name, size) in cases {
        let l = layout(t).expect("a layout");
        assert_eq!((l.name, l.size), (name, size), "{t}");
    }
    // pt_regs (21 u64) and raw tracepoint arguments are raw: any aligned read is a number.
    for t in [T::Kprobe, T::RawTracepoint, T::RawTracepointWritable] {
        assert!(
            layout(t).is_some_and(|l| l.any_read && l.fields.is_empty()),
            "{t}"
        );
    }
}

#[test]
fn every_type_but_the_documented_ones_has_a_layout() {
    for (t, _) in TYPES {
        let none = matches!(
            t,
            T::Syscall | T::StructOps | T::Ext | T::Netfilter | T::Unknown
        );
        assert_eq!(layout(t).is_none(), none, "{t}");
    }
}

#[test]
fn fields_are_aligned_and_inside_the_structure() {
    for (t, _) in TYPES {
        let Some(l) = layout(t) else { continue };
        assert!(
            l.any_read || !l.fields.is_empty(),
            "{t}: nothing accessible"
        );
        for f in l.fields {
            assert!(
                matches!(f.size, 1 | 2 | 4 | 8),
                "{t}: field at {}",
                f.offset
            );
            assert_eq!(
                f.offset % f.size,
                0,
                "{t}: field at {} misaligned",
                f.offset
            );
            assert!(
                f.offset + f.size * f.count <= l.size,
                "{t}: field at {}",
                f.offset
            );
            if f.kind != Scalar {
                assert!(
                    !f.write && !f.narrow_read,
                    "{t}: pointer field at {}",
                    f.offset
                );
                assert!(
                    f.size == 8 || (f.size == 4 && l.size <= 192),
                    "{t}: pointer size"
                );
            }
        }
    }
}

/// `(type, offset, size, write) -> what the access reaches`, `None` when refused.
#[test]
fn access_rules() {
    let cases: &[(ProgramType, i64, u32, bool, Option<FieldKind>)] = &[
        // xdp_md: data, data_end, data_meta at 0/4/8, u32 loads only, no stores.
        (T::Xdp, 0, 4, false, Some(PacketStart)),
        (T::Xdp, 4, 4, false, Some(PacketEnd)),
        (T::Xdp, 8, 4, false, Some(PacketMeta)),
        (T::Xdp, 0, 8, false, None),
        (T::Xdp, 12, 2, false, None),
        (T::Xdp, 12, 4, true, None),
        (T::Xdp, 24, 4, false, None),
        // __sk_buff in tc: data at 76, data_end at 80, data_meta at 140.
        (T::SchedCls, 76, 4, false, Some(PacketStart)),
        (T::SchedCls, 80, 4, false, Some(PacketEnd)),
        (T::SchedCls, 140, 4, false, Some(PacketMeta)),
        (T::SchedCls, 76, 2, false, None),
        (T::SchedCls, 8, 4, true, Some(Scalar)), // mark
        (T::SchedCls, 8, 2, true, None),
        (T::SchedCls, 10, 2, false, Some(Scalar)), // narrow load of mark
        (T::SchedCls, 72, 4, true, Some(Scalar)),  // tc_classid
        (T::SchedCls, 12, 4, true, Some(Scalar)),  // queue_mapping
        (T::SchedCls, 0, 4, true, None),           // len
        (T::SchedCls, 88, 4, false, None),         // family
        (T::SchedCls, 168, 8, false, Some(SocketOrNull)),
        (T::SchedCls, 172, 4, false, None),
        (T::SchedCls, 180, 1, false, Some(Scalar)), // tstamp_type
        (T::SchedCls, 152, 8, true, Some(Scalar)),  // tstamp
        (T::SchedCls, 184, 8, false, Some(Scalar)), // hwtstamp
        (T::SchedCls, 184, 8, true, None),
        (T::SchedCls, 144, 8, false, None), // flow_keys
        // cb[]: any width, loads and stores, inside the 20 bytes.
        (T::SchedCls, 48, 8, true, Some(Scalar)),
        (T::SchedCls, 56, 8, false, Some(Scalar)),
        (T::SchedCls, 64, 8, false, None),
        (T::SchedCls, 67, 1, true, Some(Scalar)),
        (T::SchedCls, 66, 2, true, Some(Scalar)),
        // Socket filters: no packet pointers, only cb writable.
        (T::SocketFilter, 76, 4, false, None),
        (T::SocketFilter, 80, 4, false, None),
        (T::SocketFilter, 8, 4, false, Some(Scalar)),
        (T::SocketFilter, 8, 4, true, None),
        (T::SocketFilter, 48, 4, true, Some(Scalar)),
        (T::SocketFilter, 72, 4, false, None),  // tc_classid
        (T::SocketFilter, 152, 8, false, None), // tstamp
        // cgroup_skb: packet but no meta; the socket's addresses.
        (T::CgroupSkb, 76, 4, false, Some(PacketStart)),
        (T::CgroupSkb, 140, 4, false, None),
        (T::CgroupSkb, 8, 4, true, Some(Scalar)),
        (T::CgroupSkb, 88, 4, false, Some(Scalar)),
        (T::CgroupSkb, 100, 4, false, Some(Scalar)),
        (T::CgroupSkb, 100, 2, false, None),
        (T::CgroupSkb, 160, 4, false, None), // wire_len
        // lwt and sk_skb.
        (T::LwtXmit, 76, 4, false, Some(PacketStart)),
        (T::LwtIn, 140, 4, false, None),
        (T::LwtOut, 44, 4, true, None), // tc_index
        (T::SkSkb, 8, 4, false, None),  // mark
        (T::SkSkb, 44, 4, true, Some(Scalar)),
        (T::SkSkb, 48, 4, true, None),
        (T::SkSkb, 132, 4, false, Some(Scalar)), // remote_port
        // flow_dissector: data, data_end, flow_keys only.
        (T::FlowDissector, 76, 4, false, Some(PacketStart)),
        (T::FlowDissector, 144, 8, false, Some(FieldKind::FlowKeys)),
        (T::FlowDissector, 0, 4, false, None),
        // pt_regs: any aligned read.
        (T::Kprobe, 0, 8, false, Some(Scalar)),
        (T::Kprobe, 160, 8, false, Some(Scalar)),
        (T::Kprobe, 164, 4, false, Some(Scalar)),
        (T::Kprobe, 164, 8, false, None),
        (T::Kprobe, 168, 1, false, None),
        (T::Kprobe, 0, 8, true, None),
        (T::Kprobe, -8, 8, false, None),
        // Tracepoints: offsets 8..2048, aligned.
        (T::Tracepoint, 0, 8, false, None),
        (T::Tracepoint, 4, 4, false, None),
        (T::Tracepoint, 8, 8, false, Some(Scalar)),
        (T::Tracepoint, 12, 4, false, Some(Scalar)),
        (T::Tracepoint, 13, 1, false, Some(Scalar)),
        (T::Tracepoint, 2040, 8, false, Some(Scalar)),
        (T::Tracepoint, 2048, 1, false, None),
        (T::Tracepoint, 8, 8, true, None),
        // Raw tracepoints and BTF programs.
        (T::RawTracepoint, 88, 8, false, Some(Scalar)),
        (T::RawTracepoint, 92, 4, false, Some(Scalar)),
        (T::RawTracepoint, 96, 8, false, None),
        (T::Tracing, 8, 8, false, Some(FieldKind::BtfArg)),
        (T::Tracing, 8, 4, false, None),
        (T::Lsm, 96, 8, false, None),
        // perf_event.
        (T::PerfEvent, 0, 8, false, Some(Scalar)),
        (T::PerfEvent, 0, 4, false, None),
        (T::PerfEvent, 168, 4, false, Some(Scalar)),
        (T::PerfEvent, 176, 8, false, Some(Scalar)),
        // bpf_sock, bpf_sock_addr, bpf_sock_ops, sk_msg_md.
        (T::CgroupSock, 16, 4, true, Some(Scalar)), // mark
        (T::CgroupSock, 4, 4, true, None),          // family
        (T::CgroupSock, 48, 2, false, Some(Scalar)),
        (T::CgroupSock, 50, 2, false, None),
        (T::CgroupSockAddr, 4, 4, true, Some(Scalar)), // user_ip4
        (T::CgroupSockAddr, 24, 4, true, Some(Scalar)), // user_port
        (T::CgroupSockAddr, 24, 2, true, None),
        (T::CgroupSockAddr, 8, 8, true, Some(Scalar)), // user_ip6 by u64
        (T::CgroupSockAddr, 48, 8, false, Some(Scalar)),
        (T::CgroupSockAddr, 0, 4, true, None), // user_family
        (T::CgroupSockAddr, 64, 8, false, Some(Socket)),
        (T::SockOps, 4, 4, true, Some(Scalar)),
        (T::SockOps, 8, 4, true, None),
        (T::SockOps, 20, 2, false, None),
        (T::SockOps, 184, 8, false, Some(SocketOrNull)),
        (T::SockOps, 192, 8, false, Some(PacketStart)),
        (T::SockOps, 200, 8, false, Some(PacketEnd)),
        (T::SockOps, 212, 1, false, Some(Scalar)),
        (T::SkMsg, 0, 8, false, Some(PacketStart)),
        (T::SkMsg, 8, 8, false, Some(PacketEnd)),
        (T::SkMsg, 0, 4, false, None),
        (T::SkMsg, 72, 8, false, Some(Socket)),
        (T::SkMsg, 68, 4, true, None),
        // sk_lookup, sk_reuseport, sockopt, device, sysctl.
        (T::SkLookup, 0, 8, false, Some(SocketOrNull)),
        (T::SkLookup, 36, 4, false, Some(Scalar)),
        (T::SkLookup, 38, 2, false, Some(Scalar)),
        (T::SkReuseport, 20, 1, false, None),
        (T::SkReuseport, 22, 2, false, Some(Scalar)),
        (T::SkReuseport, 40, 8, false, Some(Socket)),
        (T::CgroupSockopt, 8, 8, false, Some(PacketStart)),
        (T::CgroupSockopt, 16, 8, false, Some(PacketEnd)),
        (T::CgroupSockopt, 32, 4, true, Some(Scalar)),
        (T::CgroupSockopt, 0, 8, true, None),
        (T::CgroupDevice, 0, 1, false, Some(Scalar)),
        (T::CgroupDevice, 4, 2, false, None),
        (T::CgroupDevice, 4, 4, true, None),
        (T::CgroupSysctl, 4, 4, true, Some(Scalar)),
        (T::CgroupSysctl, 0, 4, true, None),
    ];
    for &(t, offset, size, write, want) in cases {
        let l = layout(t).expect("a layout");
        assert_eq!(
            l.access(offset, size, write),
            want,
            "{t}: {size} bytes at {offset}, write {write}"
        );
    }
}

#[test]
fn direct_packet_writes() {
    for t in [
        T::SchedCls,
        T::Xdp,
        T::LwtXmit,
        T::SkSkb,
        T::SkMsg,
        T::CgroupSockopt,
    ] {
        assert!(direct_packet_write(t), "{t}");
    }
    for t in [
        T::SocketFilter,
        T::CgroupSkb,
        T::LwtIn,
        T::FlowDissector,
        T::SockOps,
        T::Kprobe,
    ] {
        assert!(!direct_packet_write(t), "{t}");
    }
}
