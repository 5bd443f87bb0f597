//! Contexts of BPF iterators (`SEC("iter/task")`, ...): `struct bpf_iter__<target>`.
//!
//! An iterator program runs once per object the kernel walks (a task, a socket, a map...) and
//! once more at the end with the object pointer NULL. Its context is not the `u64 args[]` of
//! other tracing programs but a small structure of 8-byte slots (`__bpf_md_ptr`): the
//! `struct bpf_iter_meta *` first (never NULL; its `seq` is the `seq_file` that
//! `bpf_seq_printf`/`bpf_seq_write` take), then the target's fields, object pointers being
//! `PTR_TO_BTF_ID_OR_NULL`. Linux takes the layouts from its own BTF (`bpf_iter_reg`'s
//! `ctx_arg_info`); they are written here from the kernel's `DEFINE_BPF_ITER_FUNC` declarations
//! (kernel/bpf/task_iter.c, net/ipv4/tcp_ipv4.c, ...), which have not changed since they were
//! added. Targets not listed (e.g. `bpf_map_elem`, whose key and value buffers are sized by
//! the map the iterator is attached to) keep the generic tracing context, whose pointers are
//! untyped: safe, only less precise.

use super::{ContextLayout, CtxField, FieldKind};
use CtxField as F;
use FieldKind::{BtfId, BtfIdOrNull};

/// `struct bpf_iter_meta *meta`, first in every iterator context.
const META: CtxField = F::read(0, 8).holds(BtfId("bpf_iter_meta"));

/// An iterator context: `meta`, then one object pointer at offset 8, possibly NULL.
macro_rules! one_object {
    ($name:literal, $object:literal) => {
        ContextLayout {
            name: concat!("struct bpf_iter__", $name),
            size: 16,
            fields: &[META, F::read(8, 8).holds(BtfIdOrNull($object))],
            any_read: false,
        }
    };
}

static TASK: ContextLayout = one_object!("task", "task_struct");
static BPF_MAP: ContextLayout = one_object!("bpf_map", "bpf_map");
static BPF_PROG: ContextLayout = one_object!("bpf_prog", "bpf_prog");
static BPF_LINK: ContextLayout = one_object!("bpf_link", "bpf_link");
static CGROUP: ContextLayout = one_object!("cgroup", "cgroup");
static IPV6_ROUTE: ContextLayout = one_object!("ipv6_route", "fib6_info");
static NETLINK: ContextLayout = one_object!("netlink", "netlink_sock");
static KSYM: ContextLayout = one_object!("ksym", "kallsym_iter");

/// `task`, `u32 fd` (8-aligned), `file`.
static TASK_FILE: ContextLayout = ContextLayout {
    name: "struct bpf_iter__task_file",
    size: 32,
    fields: &[
        META,
        F::read(8, 8).holds(BtfIdOrNull("task_struct")),
        F::read(16, 4).narrow(),
        F::read(24, 8).holds(BtfIdOrNull("file")),
    ],
    any_read: false,
};

/// `task`, `vma`.
static TASK_VMA: ContextLayout = ContextLayout {
    name: "struct bpf_iter__task_vma",
    size: 24,
    fields: &[
        META,
        F::read(8, 8).holds(BtfIdOrNull("task_struct")),
        F::read(16, 8).holds(BtfIdOrNull("vm_area_struct")),
    ],
    any_read: false,
};

/// A socket iterator's context: `meta`, the socket (possibly NULL), `uid_t uid` (8-aligned).
macro_rules! socket_and_uid {
    ($name:literal, $object:literal) => {
        ContextLayout {
            name: concat!("struct bpf_iter__", $name),
            size: 24,
            fields: &[
                META,
                F::read(8, 8).holds(BtfIdOrNull($object)),
                F::read(16, 4).narrow(),
            ],
            any_read: false,
        }
    };
}

static TCP: ContextLayout = socket_and_uid!("tcp", "sock_common");
static UNIX: ContextLayout = socket_and_uid!("unix", "unix_sock");

/// `udp_sk`, `uid_t uid`, `int bucket` (each 8-aligned).
static UDP: ContextLayout = ContextLayout {
    name: "struct bpf_iter__udp",
    size: 32,
    fields: &[
        META,
        F::read(8, 8).holds(BtfIdOrNull("udp_sock")),
        F::read(16, 4).narrow(),
        F::read(24, 4).narrow(),
    ],
    any_read: false,
};

/// The context of iterator `target` (the part of the section name after `iter/`), if known.
pub fn layout(target: &str) -> Option<&'static ContextLayout> {
    Some(match target {
        "task" => &TASK,
        "task_file" => &TASK_FILE,
        "task_vma" => &TASK_VMA,
        "tcp" => &TCP,
        "udp" => &UDP,
        "unix" => &UNIX,
        "bpf_map" => &BPF_MAP,
        "bpf_prog" => &BPF_PROG,
        "bpf_link" => &BPF_LINK,
        "cgroup" => &CGROUP,
        "ipv6_route" => &IPV6_ROUTE,
        "netlink" => &NETLINK,
        "ksym" => &KSYM,
        _ => return None,
    })
}

/// The type of the object an 8-byte field of kernel structure `object` at `offset` points to,
/// for the fields through which iterator programs reach what helpers take: `meta->seq`.
pub fn pointer_field(object: &str, offset: i64) -> Option<&'static str> {
    match (object, offset) {
        ("bpf_iter_meta", 0) => Some("seq_file"),
        _ => None,
    }
}
