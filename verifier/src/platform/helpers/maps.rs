//! Map helpers: element operations, local storages, ring buffers, perf event output, tail calls
//! and redirects through maps (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c, kernel/bpf/core.c,
//! kernel/bpf/stackmap.c, net/core/sock_map.c, net/core/bpf_sk_storage.c, kernel/bpf/*_storage.c).

use super::shorthand::*;
use super::{Access, Arg, Family, HelperProto, Ret};
use crate::platform::ProgramType as T;

const VALUE_OR_NULL: Arg = Arg::MapValueOrNull;

pub(super) const MAPS: &[HelperProto] = &[
    helper(1, "map_lookup_elem", &[MAP, KEY], Ret::MapValueOrNull),
    helper(2, "map_update_elem", &[MAP, KEY, VALUE, ANY], INT),
    helper(3, "map_delete_elem", &[MAP, KEY], INT),
    helper(87, "map_push_elem", &[MAP, VALUE, ANY], INT),
    helper(88, "map_pop_elem", &[MAP, Arg::MapValueOut], INT),
    helper(89, "map_peek_elem", &[MAP, Arg::MapValueOut], INT),
    helper(
        195,
        "map_lookup_percpu_elem",
        &[MAP, KEY, ANY],
        Ret::MapValueOrNull,
    ),
    helper(
        164,
        "for_each_map_elem",
        &[MAP, Arg::Callback, STACK_OR_NULL, ANY],
        INT,
    ),
    // Linux declares RET_VOID, but on failure execution continues after the call and the uapi
    // documents a negative error in r0, which programs return; r0 is a number either way.
    helper(12, "tail_call", &[CTX, MAP, ANY], INT),
    // Local storages. The value argument is the initial value on create; NULL means zeroes.
    helper(81, "get_local_storage", &[MAP, ANY], Ret::MapValue).only(CGROUP_STORAGE),
    helper(
        107,
        "sk_storage_get",
        &[MAP, SOCK, VALUE_OR_NULL, ANY],
        Ret::MapValueOrNull,
    )
    .only(SK_STORAGE),
    helper(108, "sk_storage_delete", &[MAP, SOCK], INT).only(SK_STORAGE),
    helper(
        145,
        "inode_storage_get",
        &[MAP, btf_or_null("inode"), VALUE_OR_NULL, ANY],
        Ret::MapValueOrNull,
    )
    .only(&[T::Lsm]),
    helper(
        146,
        "inode_storage_delete",
        &[MAP, btf_or_null("inode")],
        INT,
    )
    .only(&[T::Lsm]),
    helper(
        156,
        "task_storage_get",
        &[MAP, btf_or_null("task_struct"), VALUE_OR_NULL, ANY],
        Ret::MapValueOrNull,
    )
    .families(&[Family::Tracing]),
    helper(
        157,
        "task_storage_delete",
        &[MAP, btf_or_null("task_struct")],
        INT,
    )
    .families(&[Family::Tracing]),
    helper(
        210,
        "cgrp_storage_get",
        &[MAP, btf_or_null("cgroup"), VALUE_OR_NULL, ANY],
        Ret::MapValueOrNull,
    ),
    helper(
        211,
        "cgrp_storage_delete",
        &[MAP, btf_or_null("cgroup")],
        INT,
    ),
    // Ring buffers.
    helper(130, "ringbuf_output", &[MAP, MEM_R, SIZE0, ANY], INT),
    helper(
        131,
        "ringbuf_reserve",
        &[MAP, Arg::AllocSize, ANY],
        Ret::RingbufRecordOrNull,
    ),
    helper(132, "ringbuf_submit", &[Arg::RingbufRecord, ANY], VOID),
    helper(133, "ringbuf_discard", &[Arg::RingbufRecord, ANY], VOID),
    helper(134, "ringbuf_query", &[MAP, ANY], INT),
    helper(
        198,
        "ringbuf_reserve_dynptr",
        &[
            MAP,
            ANY,
            ANY,
            Arg::Dynptr {
                access: Access::Write,
            },
        ],
        INT,
    ),
    helper(
        199,
        "ringbuf_submit_dynptr",
        &[
            Arg::Dynptr {
                access: Access::Read,
            },
            ANY,
        ],
        VOID,
    ),
    helper(
        200,
        "ringbuf_discard_dynptr",
        &[
            Arg::Dynptr {
                access: Access::Read,
            },
            ANY,
        ],
        VOID,
    ),
    helper(
        209,
        "user_ringbuf_drain",
        &[MAP, Arg::Callback, STACK_OR_NULL, ANY],
        INT,
    ),
    // Perf event arrays and stack maps.
    helper(25, "perf_event_output", &[CTX, MAP, ANY, MEM_R, SIZE0], INT)
        .gpl()
        .families_and(
            &[Family::Tracing, Family::Skb, Family::Xdp],
            &[
                T::CgroupSock,
                T::CgroupSockAddr,
                T::SockOps,
                T::SkMsg,
                T::SkLookup,
                T::CgroupDevice,
                T::CgroupSysctl,
                T::CgroupSockopt,
            ],
        ),
    helper(
        111,
        "skb_output",
        &[btf("sk_buff"), MAP, ANY, MEM_R, SIZE0],
        INT,
    )
    .gpl()
    .only(BTF_TRACING),
    helper(
        121,
        "xdp_output",
        &[btf("xdp_buff"), MAP, ANY, MEM_R, SIZE0],
        INT,
    )
    .gpl()
    .only(BTF_TRACING),
    helper(22, "perf_event_read", &[MAP, ANY], INT)
        .gpl()
        .families(&[Family::Tracing]),
    helper(55, "perf_event_read_value", &[MAP, ANY, MEM_W, SIZE], INT)
        .gpl()
        .families(&[Family::Tracing]),
    helper(27, "get_stackid", &[CTX, MAP, ANY], INT)
        .gpl()
        .families(&[Family::Tracing]),
    // Cgroup arrays.
    helper(33, "skb_under_cgroup", &[CTX, MAP, ANY], INT).only(TC_LWT),
    helper(37, "current_task_under_cgroup", &[MAP, ANY], INT).families(&[Family::Tracing]),
    // Redirects and socket maps.
    helper(51, "redirect_map", &[MAP, ANY, ANY], INT).families(&[Family::Xdp]),
    helper(53, "sock_map_update", &[CTX, MAP, KEY, ANY], INT).families(&[Family::SockOps]),
    helper(70, "sock_hash_update", &[CTX, MAP, KEY, ANY], INT).families(&[Family::SockOps]),
    helper(52, "sk_redirect_map", &[CTX, MAP, ANY, ANY], INT).families(&[Family::SkSkb]),
    helper(72, "sk_redirect_hash", &[CTX, MAP, KEY, ANY], INT).families(&[Family::SkSkb]),
    helper(60, "msg_redirect_map", &[CTX, MAP, ANY, ANY], INT).families(&[Family::SkMsg]),
    helper(71, "msg_redirect_hash", &[CTX, MAP, KEY, ANY], INT).families(&[Family::SkMsg]),
    helper(82, "sk_select_reuseport", &[CTX, MAP, KEY, ANY], INT).only(&[T::SkReuseport]),
];
