//! Socket helpers: lookups and references, casts between socket types, socket options, TCP header
//! options and SYN cookies (net/core/filter.c). Lookups return references the program must
//! release with `sk_release`; casts and `sk_fullsock` return borrowed pointers.

use super::shorthand::*;
use super::{Access, Arg, Family, HelperProto, Ret};
use crate::platform::ProgramType as T;

const LOOKUP: &[Arg] = &[CTX, MEM_R, SIZE, ANY, ANY];
const OWNED: Ret = Ret::SocketOrNull {
    needs_release: true,
};
const BORROWED: Ret = Ret::SocketOrNull {
    needs_release: false,
};
const TC_CGROUP_SKB: &[T] = &[T::SchedCls, T::SchedAct, T::CgroupSkb];
const SOCKOPT: &[T] = &[T::SockOps, T::CgroupSockAddr];
const IPV4_HEADER: Arg = Arg::FixedMem {
    size: 20,
    access: Access::Read,
};
const IPV6_HEADER: Arg = Arg::FixedMem {
    size: 40,
    access: Access::Read,
};
const TCP_HEADER: Arg = Arg::FixedMem {
    size: 20,
    access: Access::Read,
};
const SYNCOOKIE_CHECK: &[Arg] = &[SOCK, MEM_R, SIZE, MEM_R, SIZE];

/// Who may cast sockets: the programs of Linux's `bpf_sk_base_func_proto` and the
/// BTF tracing ones.
const CASTERS: &[T] = &[
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
    T::Tracing,
    T::Lsm,
];

/// An `skc_to_*` cast of a socket to a more specific BTF type, NULL if it is not one. Every cast
/// begins `if (sk && ...)`, so a socket that may be NULL (a traced function's argument) is
/// accepted unchecked, as Linux accepts it.
const fn cast(id: i32, name: &'static str, to: &'static str) -> HelperProto {
    helper(
        id,
        name,
        &[Arg::Socket { nullable: true }],
        ret_btf_or_null(to),
    )
    .only(CASTERS)
}

pub(super) const SOCKETS: &[HelperProto] = &[
    // Lookups and references.
    helper(84, "sk_lookup_tcp", LOOKUP, OWNED).only(SOCKET_LOOKUP),
    helper(85, "sk_lookup_udp", LOOKUP, OWNED).only(SOCKET_LOOKUP),
    helper(99, "skc_lookup_tcp", LOOKUP, OWNED).only(SOCKET_LOOKUP),
    helper(86, "sk_release", &[Arg::OwnedSocket], INT).only(&[
        T::CgroupSkb,
        T::SchedCls,
        T::SchedAct,
        T::Xdp,
        T::SkSkb,
        T::CgroupSockAddr,
        T::SkLookup,
    ]),
    helper(95, "sk_fullsock", &[SOCK], BORROWED).only(TC_CGROUP_SKB),
    helper(96, "tcp_sock", &[SOCK], Ret::TcpSockOrNull).only(&[
        T::SchedCls,
        T::SchedAct,
        T::CgroupSkb,
        T::SockOps,
        T::CgroupSockopt,
    ]),
    helper(98, "get_listener_sock", &[SOCK], BORROWED).only(TC_CGROUP_SKB),
    helper(124, "sk_assign", &[CTX, SOCK, ANY], INT).only(TC),
    helper(128, "sk_cgroup_id", &[SOCK], INT).only(&[T::CgroupSkb]),
    helper(129, "sk_ancestor_cgroup_id", &[SOCK, ANY], INT).only(&[T::CgroupSkb]),
    // Casts.
    cast(136, "skc_to_tcp6_sock", "tcp6_sock"),
    cast(137, "skc_to_tcp_sock", "tcp_sock"),
    cast(138, "skc_to_tcp_timewait_sock", "tcp_timewait_sock"),
    cast(139, "skc_to_tcp_request_sock", "tcp_request_sock"),
    cast(140, "skc_to_udp6_sock", "udp6_sock"),
    cast(178, "skc_to_unix_sock", "unix_sock"),
    cast(196, "skc_to_mptcp_sock", "mptcp_sock"),
    helper(
        162,
        "sock_from_file",
        &[btf("file")],
        ret_btf_or_null("socket"),
    )
    .only(BTF_TRACING),
    // Socket options (sock_ops and cgroup_sock_addr take the ctx; see `variants.rs` for the
    // socket-taking form of cgroup_sockopt and struct_ops).
    helper(49, "setsockopt", &[CTX, ANY, ANY, MEM_R, SIZE], INT).only(SOCKOPT),
    helper(57, "getsockopt", &[CTX, ANY, ANY, MEM_W, SIZE], INT).only(SOCKOPT),
    helper(64, "bind", &[CTX, MEM_R, SIZE], INT).only(&[T::CgroupSockAddr]),
    helper(59, "sock_ops_cb_flags_set", &[CTX, ANY], INT)
        .leaks()
        .families(&[Family::SockOps]),
    helper(142, "load_hdr_opt", &[CTX, MEM_RW, SIZE, ANY], INT).families(&[Family::SockOps]),
    helper(143, "store_hdr_opt", &[CTX, MEM_R, SIZE, ANY], INT)
        .changes_packet()
        .families(&[Family::SockOps]),
    helper(144, "reserve_hdr_opt", &[CTX, ANY, ANY], INT).families(&[Family::SockOps]),
    helper(116, "tcp_send_ack", &[btf("tcp_sock"), ANY], INT).only(&[T::StructOps]),
    // SYN cookies.
    helper(100, "tcp_check_syncookie", SYNCOOKIE_CHECK, INT)
        .gpl()
        .only(TC_XDP),
    helper(110, "tcp_gen_syncookie", SYNCOOKIE_CHECK, INT)
        .gpl()
        .only(TC_XDP),
    helper(
        204,
        "tcp_raw_gen_syncookie_ipv4",
        &[IPV4_HEADER, MEM_RW, SIZE],
        INT,
    )
    .gpl()
    .only(TC_XDP),
    helper(
        205,
        "tcp_raw_gen_syncookie_ipv6",
        &[IPV6_HEADER, MEM_RW, SIZE],
        INT,
    )
    .gpl()
    .only(TC_XDP),
    helper(
        206,
        "tcp_raw_check_syncookie_ipv4",
        &[IPV4_HEADER, TCP_HEADER],
        INT,
    )
    .gpl()
    .only(TC_XDP),
    helper(
        207,
        "tcp_raw_check_syncookie_ipv6",
        &[IPV6_HEADER, TCP_HEADER],
        INT,
    )
    .gpl()
    .only(TC_XDP),
];
