//! Per-program-type variants: where Linux gives some program types a different prototype under
//! the same helper id, the family tables hold the common one and this table the others. Each
//! variant lists exactly the types that get it, and those types are not offered the common
//! prototype (checked by a test), so [`super::proto_for`] is unambiguous.

use super::shorthand::*;
use super::{Arg, HelperProto, Ret};
use crate::platform::ProgramType as T;

const SOCKOPT_BY_SOCKET: &[T] = &[T::CgroupSockopt, T::StructOps];

pub(super) const VARIANTS: &[HelperProto] = &[
    // Programs running in process context read the classid of the current task, with no ctx
    // (`bpf_get_cgroup_classid_curr_proto`).
    helper(17, "get_cgroup_classid", &[], INT).only(&[T::CgroupSock, T::CgroupSockAddr, T::SkMsg]),
    // BTF programs and sk_reuseport pass a socket pointer (`bpf_get_socket_ptr_cookie_proto`).
    helper(
        46,
        "get_socket_cookie",
        &[Arg::Socket { nullable: true }],
        INT,
    )
    .only(&[T::Tracing, T::Lsm, T::SkReuseport]),
    // cgroup_sockopt and struct_ops (tcp congestion control) name the socket, not the ctx
    // (`bpf_sk_setsockopt_proto`, `bpf_sk_getsockopt_proto`).
    helper(49, "setsockopt", &[SOCK, ANY, ANY, MEM_R, SIZE], INT).only(SOCKOPT_BY_SOCKET),
    helper(57, "getsockopt", &[SOCK, ANY, ANY, MEM_W, SIZE], INT).only(SOCKOPT_BY_SOCKET),
    // cgroup_sock programs' ctx is the socket (`bpf_sk_storage_get_cg_sock_proto`).
    helper(
        107,
        "sk_storage_get",
        &[MAP, CTX, Arg::MapValueOrNull, ANY],
        Ret::MapValueOrNull,
    )
    .only(&[T::CgroupSock]),
    // sk_lookup selects a socket, or none (`bpf_sk_lookup_assign_proto`).
    helper(
        124,
        "sk_assign",
        &[CTX, Arg::Socket { nullable: true }, ANY],
        INT,
    )
    .only(&[T::SkLookup]),
    // BTF programs pass the xdp_buff itself (`bpf_xdp_get_buff_len_trace_proto`).
    helper(188, "xdp_get_buff_len", &[btf("xdp_buff")], INT).only(BTF_TRACING),
];
