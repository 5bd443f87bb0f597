//! The socket program contexts: `struct bpf_sock`, `bpf_sock_addr`, `bpf_sock_ops`, `sk_msg_md`,
//! `bpf_sk_lookup`, `sk_reuseport_md` and `bpf_sockopt` (from the matching `*_is_valid_access`
//! functions of net/core/filter.c and kernel/bpf/cgroup.c). Attach-type differences are merged
//! as described in the parent module.

use super::{ContextLayout, CtxField as F, FieldKind, PacketEnd, PacketStart};

const SOCKET: FieldKind = FieldKind::Socket;
const SOCKET_OR_NULL: FieldKind = FieldKind::SocketOrNull;

/// `struct bpf_sock` of cgroup_sock programs (`sock_filter_is_valid_access`).
pub(super) static BPF_SOCK: ContextLayout = ContextLayout {
    name: "struct bpf_sock",
    size: 80,
    fields: &[
        F::read(0, 4).writable(),         // bound_dev_if (sock_create/release)
        F::read(4, 4).narrow(),           // family
        F::read(8, 4).narrow(),           // type
        F::read(12, 4).narrow(),          // protocol
        F::read(16, 4).writable(),        // mark (sock_create/release)
        F::read(20, 4).writable(),        // priority (sock_create/release)
        F::read(24, 4).narrow(),          // src_ip4 (post_bind4)
        F::read(28, 4).narrow().array(4), // src_ip6 (post_bind6)
        F::read(44, 4).narrow(),          // src_port (post_bind)
        F::read(48, 4),                   // dst_port with its zero padding
        F::read(48, 2).narrow(),          // dst_port alone
        F::read(52, 4).narrow(),          // dst_ip4
        F::read(56, 4).narrow().array(4), // dst_ip6
        F::read(72, 4).narrow(),          // state
        F::read(76, 4).narrow(),          // rx_queue_mapping
    ],
    any_read: false,
};

/// `struct bpf_sock_addr` of cgroup_sock_addr programs (`sock_addr_is_valid_access`). The
/// addresses and port may be rewritten; IPv6 addresses also by aligned u64.
pub(super) static SOCK_ADDR: ContextLayout = ContextLayout {
    name: "struct bpf_sock_addr",
    size: 72,
    fields: &[
        F::read(0, 4),                               // user_family
        F::read(4, 4).narrow().writable(),           // user_ip4
        F::read(8, 4).narrow().writable().array(4),  // user_ip6
        F::read(8, 8).writable().array(2),           // user_ip6, by u64
        F::read(24, 4).narrow().writable(),          // user_port
        F::read(28, 4),                              // family
        F::read(32, 4),                              // type
        F::read(36, 4),                              // protocol
        F::read(40, 4).narrow().writable(),          // msg_src_ip4 (sendmsg4)
        F::read(44, 4).narrow().writable().array(4), // msg_src_ip6 (sendmsg6)
        F::read(48, 8).writable(),                   // msg_src_ip6[1..3], by u64
        F::read(64, 8).holds(SOCKET),                // sk
    ],
    any_read: false,
};

/// `struct bpf_sock_ops` (`sock_ops_is_valid_access`): u32 fields read whole, `reply` and
/// `sk_txhash` writable, then u64 counters and pointers.
pub(super) static SOCK_OPS: ContextLayout = ContextLayout {
    name: "struct bpf_sock_ops",
    size: 216,
    fields: &[
        F::read(0, 4).array(42),               // op .. sk_txhash
        F::read(4, 4).writable(),              // reply
        F::read(164, 4).writable(),            // sk_txhash
        F::read(168, 8).array(2),              // bytes_received, bytes_acked
        F::read(184, 8).holds(SOCKET_OR_NULL), // sk
        F::read(192, 8).holds(PacketStart),    // skb_data
        F::read(200, 8).holds(PacketEnd),      // skb_data_end
        F::read(208, 4),                       // skb_len
        F::read(212, 4).narrow(),              // skb_tcp_flags
    ],
    any_read: false,
};

/// `struct sk_msg_md` (`sk_msg_is_valid_access`): read only; `data`/`data_end` are packet
/// pointers into the message.
pub(super) static SK_MSG: ContextLayout = ContextLayout {
    name: "struct sk_msg_md",
    size: 80,
    fields: &[
        F::read(0, 8).holds(PacketStart), // data
        F::read(8, 8).holds(PacketEnd),   // data_end
        F::read(16, 4),                   // family
        F::read(20, 4),                   // remote_ip4
        F::read(24, 4),                   // local_ip4
        F::read(28, 4).array(4),          // remote_ip6
        F::read(44, 4).array(4),          // local_ip6
        F::read(60, 4),                   // remote_port
        F::read(64, 4),                   // local_port
        F::read(68, 4),                   // size
        F::read(72, 8).holds(SOCKET),     // sk
    ],
    any_read: false,
};

/// `struct bpf_sk_lookup` (`sk_lookup_is_valid_access`): read only.
pub(super) static SK_LOOKUP: ContextLayout = ContextLayout {
    name: "struct bpf_sk_lookup",
    size: 72,
    fields: &[
        F::read(0, 8).holds(SOCKET_OR_NULL), // sk
        F::read(8, 4).narrow(),              // family
        F::read(12, 4).narrow(),             // protocol
        F::read(16, 4).narrow(),             // remote_ip4
        F::read(20, 4).narrow().array(4),    // remote_ip6
        F::read(36, 4),                      // remote_port with its zero padding
        F::read(36, 2).narrow(),             // remote_port alone
        F::read(38, 2).narrow(),             // the zero padding alone
        F::read(40, 4).narrow(),             // local_ip4
        F::read(44, 4).narrow().array(4),    // local_ip6
        F::read(60, 4).narrow(),             // local_port
        F::read(64, 4).narrow(),             // ingress_ifindex
    ],
    any_read: false,
};

/// `struct sk_reuseport_md` (`sk_reuseport_is_valid_access`): read only.
pub(super) static SK_REUSEPORT: ContextLayout = ContextLayout {
    name: "struct sk_reuseport_md",
    size: 56,
    fields: &[
        F::read(0, 8).holds(PacketStart),     // data
        F::read(8, 8).holds(PacketEnd),       // data_end
        F::read(16, 4).narrow(),              // len
        F::read(20, 4),                       // eth_protocol, whole
        F::read(20, 2).array(2),              // eth_protocol by u16 (no byte loads)
        F::read(24, 4).narrow(),              // ip_protocol
        F::read(28, 4).narrow(),              // bind_inany
        F::read(32, 4),                       // hash
        F::read(40, 8).holds(SOCKET),         // sk
        F::read(48, 8).holds(SOCKET_OR_NULL), // migrating_sk
    ],
    any_read: false,
};

/// `struct bpf_sockopt` (`cg_sockopt_is_valid_access`): `optval`..`optval_end` is a packet the
/// program may read and write.
pub(super) static SOCKOPT: ContextLayout = ContextLayout {
    name: "struct bpf_sockopt",
    size: 40,
    fields: &[
        F::read(0, 8).holds(SOCKET),      // sk
        F::read(8, 8).holds(PacketStart), // optval
        F::read(16, 8).holds(PacketEnd),  // optval_end
        F::read(24, 4).writable(),        // level (setsockopt)
        F::read(28, 4).writable(),        // optname (setsockopt)
        F::read(32, 4).writable(),        // optlen
        F::read(36, 4).writable(),        // retval (getsockopt)
    ],
    any_read: false,
};
