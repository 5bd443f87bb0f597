//! Packet helpers: reading, writing, resizing and redirecting `__sk_buff`, `xdp_md` and `sk_msg_md`
//! packets (net/core/filter.c). `changes_packet` marks exactly the helpers of Linux's
//! `bpf_helper_changes_pkt_data`; the lwt seg6 helpers and `sock_ops`'s `store_hdr_opt` (in
//! `sockets.rs`) complete that list.

use super::shorthand::*;
use super::{Access, Arg, Family, HelperProto};
use crate::platform::ProgramType as T;

/// `skb_load_bytes` also reads through flow_dissector and sk_reuseport contexts.
const SKB_LOAD: &[T] = &[T::FlowDissector, T::SkReuseport];
/// The skb programs that may write and resize the packet through helpers.
const TC_LWT_XMIT_SK_SKB: &[T] = &[T::SchedCls, T::SchedAct, T::LwtXmit, T::SkSkb];
const SOCKET_OF_SKB: &[T] = &[
    T::SocketFilter,
    T::CgroupSkb,
    T::SchedCls,
    T::SchedAct,
    T::SkSkb,
];
const TC_CGROUP_SKB: &[T] = &[T::SchedCls, T::SchedAct, T::CgroupSkb];
const TC_XDP_LWT: &[T] = &[
    T::SchedCls,
    T::SchedAct,
    T::Xdp,
    T::LwtIn,
    T::LwtOut,
    T::LwtXmit,
    T::LwtSeg6local,
];
const TC_LWT_SK_SKB: &[T] = &[
    T::SchedCls,
    T::SchedAct,
    T::LwtIn,
    T::LwtOut,
    T::LwtXmit,
    T::LwtSeg6local,
    T::SkSkb,
];
const TC_SK_SKB: &[T] = &[T::SchedCls, T::SchedAct, T::SkSkb];
const SEG6: &[T] = &[T::LwtSeg6local];
/// `mtu_len` of `check_mtu`: read as input, overwritten with the MTU.
const MTU_LEN: Arg = Arg::FixedMem {
    size: 4,
    access: Access::ReadWrite,
};

pub(super) const PACKET: &[HelperProto] = &[
    // __sk_buff: bytes.
    helper(26, "skb_load_bytes", &[CTX, ANY, MEM_W, SIZE], INT)
        .families_and(&[Family::Skb], SKB_LOAD),
    helper(
        68,
        "skb_load_bytes_relative",
        &[CTX, ANY, MEM_W, SIZE, ANY],
        INT,
    )
    .only(&[
        T::SocketFilter,
        T::CgroupSkb,
        T::SchedCls,
        T::SchedAct,
        T::SkReuseport,
    ]),
    helper(9, "skb_store_bytes", &[CTX, ANY, MEM_R, SIZE, ANY], INT)
        .changes_packet()
        .only(TC_LWT_XMIT_SK_SKB),
    helper(39, "skb_pull_data", &[CTX, ANY], INT)
        .changes_packet()
        .only(TC_LWT_SK_SKB),
    // __sk_buff: checksums.
    helper(10, "l3_csum_replace", &[CTX, ANY, ANY, ANY, ANY], INT)
        .changes_packet()
        .leaks()
        .only(TC_LWT_XMIT),
    helper(11, "l4_csum_replace", &[CTX, ANY, ANY, ANY, ANY], INT)
        .changes_packet()
        .leaks()
        .only(TC_LWT_XMIT),
    helper(
        28,
        "csum_diff",
        &[MEM_R_OR_NULL, SIZE0, MEM_R_OR_NULL, SIZE0, ANY],
        INT,
    )
    .leaks()
    .only(TC_XDP_LWT),
    helper(40, "csum_update", &[CTX, ANY], INT)
        .leaks()
        .only(TC_LWT_XMIT),
    helper(135, "csum_level", &[CTX, ANY], INT).only(TC_LWT_XMIT),
    // __sk_buff: resizing and rewriting.
    helper(18, "skb_vlan_push", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .leaks()
        .only(TC),
    helper(19, "skb_vlan_pop", &[CTX], INT)
        .changes_packet()
        .only(TC),
    helper(31, "skb_change_proto", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .only(TC),
    helper(32, "skb_change_type", &[CTX, ANY], INT).only(TC),
    helper(38, "skb_change_tail", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .only(TC_LWT_XMIT_SK_SKB),
    helper(43, "skb_change_head", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .only(TC_LWT_XMIT_SK_SKB),
    helper(50, "skb_adjust_room", &[CTX, ANY, ANY, ANY], INT)
        .changes_packet()
        .only(TC_SK_SKB),
    helper(97, "skb_ecn_set_ce", &[CTX], INT).only(TC_CGROUP_SKB),
    helper(192, "skb_set_tstamp", &[CTX, ANY, ANY], INT)
        .leaks()
        .only(TC),
    // __sk_buff: metadata.
    helper(17, "get_cgroup_classid", &[CTX], INT).only(TC_LWT),
    helper(24, "get_route_realm", &[CTX], INT).only(TC_LWT),
    helper(34, "get_hash_recalc", &[CTX], INT).only(TC_LWT),
    helper(41, "set_hash_invalid", &[CTX], INT).only(TC_LWT_XMIT),
    helper(48, "set_hash", &[CTX, ANY], INT).leaks().only(TC),
    helper(46, "get_socket_cookie", &[CTX], INT).only(&[
        T::SocketFilter,
        T::CgroupSkb,
        T::SchedCls,
        T::SchedAct,
        T::SkSkb,
        T::CgroupSock,
        T::CgroupSockAddr,
        T::SockOps,
    ]),
    helper(47, "get_socket_uid", &[CTX], INT).only(SOCKET_OF_SKB),
    helper(122, "get_netns_cookie", &[Arg::Ctx { nullable: true }], INT).only(&[
        T::CgroupSock,
        T::CgroupSockAddr,
        T::SockOps,
        T::SkMsg,
        T::CgroupSockopt,
    ]),
    helper(79, "skb_cgroup_id", &[CTX], INT).only(TC_CGROUP_SKB),
    helper(83, "skb_ancestor_cgroup_id", &[CTX, ANY], INT).only(TC_CGROUP_SKB),
    helper(151, "skb_cgroup_classid", &[CTX], INT).only(TC),
    helper(66, "skb_get_xfrm_state", &[CTX, ANY, MEM_W, SIZE, ANY], INT).only(TC),
    // __sk_buff: tunnels.
    helper(20, "skb_get_tunnel_key", &[CTX, MEM_W, SIZE, ANY], INT).only(TC_LWT_XMIT),
    helper(21, "skb_set_tunnel_key", &[CTX, MEM_R, SIZE, ANY], INT).only(TC_LWT_XMIT),
    helper(29, "skb_get_tunnel_opt", &[CTX, MEM_W, SIZE], INT).only(TC_LWT_XMIT),
    helper(30, "skb_set_tunnel_opt", &[CTX, MEM_R, SIZE], INT).only(TC_LWT_XMIT),
    // Redirects and routing.
    helper(13, "clone_redirect", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .only(TC_LWT_XMIT),
    helper(23, "redirect", &[ANY, ANY], INT).only(&[T::SchedCls, T::SchedAct, T::LwtXmit, T::Xdp]),
    helper(
        152,
        "redirect_neigh",
        &[ANY, MEM_R_OR_NULL, SIZE0, ANY],
        INT,
    )
    .only(TC),
    helper(155, "redirect_peer", &[ANY, ANY], INT).only(TC),
    helper(69, "fib_lookup", &[CTX, MEM_RW, SIZE, ANY], INT)
        .gpl()
        .only(TC_XDP),
    helper(163, "check_mtu", &[CTX, ANY, MTU_LEN, ANY, ANY], INT)
        .gpl()
        .only(TC_XDP),
    // lwt.
    helper(73, "lwt_push_encap", &[CTX, ANY, MEM_R, SIZE], INT)
        .changes_packet()
        .only(&[T::LwtIn, T::LwtXmit]),
    helper(74, "lwt_seg6_store_bytes", &[CTX, ANY, MEM_R, SIZE], INT)
        .changes_packet()
        .only(SEG6),
    helper(75, "lwt_seg6_adjust_srh", &[CTX, ANY, ANY], INT)
        .changes_packet()
        .only(SEG6),
    helper(76, "lwt_seg6_action", &[CTX, ANY, MEM_R, SIZE], INT)
        .changes_packet()
        .only(SEG6),
    // XDP.
    helper(44, "xdp_adjust_head", &[CTX, ANY], INT)
        .changes_packet()
        .families(&[Family::Xdp]),
    helper(54, "xdp_adjust_meta", &[CTX, ANY], INT)
        .changes_packet()
        .families(&[Family::Xdp]),
    helper(65, "xdp_adjust_tail", &[CTX, ANY], INT)
        .changes_packet()
        .families(&[Family::Xdp]),
    helper(188, "xdp_get_buff_len", &[CTX], INT).families(&[Family::Xdp]),
    helper(189, "xdp_load_bytes", &[CTX, ANY, MEM_W, SIZE], INT).families(&[Family::Xdp]),
    // Linux declared the source buffer ARG_PTR_TO_UNINIT_MEM until it was fixed to a read-only
    // memory argument; the helper reads it, so it must be initialised.
    helper(190, "xdp_store_bytes", &[CTX, ANY, MEM_R, SIZE], INT).families(&[Family::Xdp]),
    // sk_msg.
    helper(61, "msg_apply_bytes", &[CTX, ANY], INT).families(&[Family::SkMsg]),
    helper(62, "msg_cork_bytes", &[CTX, ANY], INT).families(&[Family::SkMsg]),
    helper(63, "msg_pull_data", &[CTX, ANY, ANY, ANY], INT)
        .changes_packet()
        .families(&[Family::SkMsg]),
    helper(90, "msg_push_data", &[CTX, ANY, ANY, ANY], INT)
        .changes_packet()
        .families(&[Family::SkMsg]),
    helper(91, "msg_pop_data", &[CTX, ANY, ANY, ANY], INT)
        .changes_packet()
        .families(&[Family::SkMsg]),
];
