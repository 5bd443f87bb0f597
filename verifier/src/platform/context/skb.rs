//! `struct __sk_buff` as each skb program type sees it.
//!
//! One table lists every field once with the program types that may read and write it (from
//! `bpf_skb_is_valid_access` and the per-type filters `sk_filter_is_valid_access`,
//! `cg_skb_is_valid_access`, `lwt_is_valid_access`, `tc_cls_act_is_valid_access`,
//! `sk_skb_is_valid_access`, `flow_dissector_is_valid_access` in net/core/filter.c); each type's
//! layout is derived from it at compile time. A field a type can neither read nor write stays in
//! its layout and admits nothing.

use super::{ContextLayout, CtxField, FieldKind, PacketEnd, PacketMeta, PacketStart};

/// The skb program kinds, as bits.
const SF: u8 = 1; // socket_filter
const CG: u8 = 2; // cgroup_skb
const LWT: u8 = 4; // lwt_in, lwt_out, lwt_xmit, lwt_seg6local
const TC: u8 = 8; // sched_cls, sched_act
const SK: u8 = 16; // sk_skb
const FD: u8 = 32; // flow_dissector
/// The types that read the common skb fields (all but the flow dissector).
const ALL5: u8 = SF | CG | LWT | TC | SK;
const NONE: u8 = 0;

/// A field of `__sk_buff` with who may load it and who may store it.
#[derive(Clone, Copy)]
struct Rule {
    field: CtxField,
    read: u8,
    write: u8,
}

const fn rule(field: CtxField, read: u8, write: u8) -> Rule {
    Rule { field, read, write }
}

/// A u32 scalar with narrow loads (the default of `bpf_skb_is_valid_access`).
const fn u32_field(offset: u32) -> CtxField {
    CtxField::read(offset, 4).narrow()
}

const RULES: &[Rule] = &[
    rule(u32_field(0), ALL5, NONE),                        // len
    rule(u32_field(4), ALL5, NONE),                        // pkt_type
    rule(u32_field(8), SF | CG | LWT | TC, CG | LWT | TC), // mark
    rule(u32_field(12), ALL5, TC),                         // queue_mapping
    rule(u32_field(16), ALL5, NONE),                       // protocol
    rule(u32_field(20), ALL5, NONE),                       // vlan_present
    rule(u32_field(24), ALL5, NONE),                       // vlan_tci
    rule(u32_field(28), ALL5, NONE),                       // vlan_proto
    rule(u32_field(32), ALL5, CG | LWT | TC | SK),         // priority
    rule(u32_field(36), ALL5, NONE),                       // ingress_ifindex
    rule(u32_field(40), ALL5, NONE),                       // ifindex
    rule(u32_field(44), ALL5, TC | SK),                    // tc_index
    // cb[5]: any width, loads and stores alike, within the 20 bytes.
    rule(CtxField::read(48, 1).array(20), ALL5, SF | CG | LWT | TC),
    rule(CtxField::read(48, 2).array(10), ALL5, SF | CG | LWT | TC),
    rule(CtxField::read(48, 4).array(5), ALL5, SF | CG | LWT | TC),
    rule(CtxField::read(48, 8).array(2), ALL5, SF | CG | LWT | TC),
    rule(u32_field(68), ALL5, NONE), // hash
    rule(u32_field(72), TC, TC),     // tc_classid
    rule(
        CtxField::read(76, 4).holds(PacketStart),
        CG | LWT | TC | SK | FD,
        NONE,
    ), // data
    rule(
        CtxField::read(80, 4).holds(PacketEnd),
        CG | LWT | TC | SK | FD,
        NONE,
    ), // data_end
    rule(u32_field(84), ALL5, NONE), // napi_id
    // The socket's addresses and ports.
    rule(u32_field(88), CG | SK, NONE),                   // family
    rule(CtxField::read(92, 4), CG | SK, NONE),           // remote_ip4
    rule(CtxField::read(96, 4), CG | SK, NONE),           // local_ip4
    rule(CtxField::read(100, 4).array(4), CG | SK, NONE), // remote_ip6
    rule(CtxField::read(116, 4).array(4), CG | SK, NONE), // local_ip6
    rule(u32_field(132), CG | SK, NONE),                  // remote_port
    rule(u32_field(136), CG | SK, NONE),                  // local_port
    rule(CtxField::read(140, 4).holds(PacketMeta), TC, NONE), // data_meta
    rule(CtxField::read(144, 8).holds(FieldKind::FlowKeys), FD, NONE), // flow_keys
    rule(CtxField::read(152, 8), CG | TC, CG | TC),       // tstamp
    rule(u32_field(160), TC, NONE),                       // wire_len
    rule(u32_field(164), ALL5, NONE),                     // gso_segs
    rule(
        CtxField::read(168, 8).holds(FieldKind::SocketOrNull),
        ALL5,
        NONE,
    ), // sk
    rule(u32_field(176), ALL5, NONE),                     // gso_size
    rule(CtxField::read(180, 1), TC, NONE),               // tstamp_type
    rule(CtxField::read(184, 8), CG | TC, NONE),          // hwtstamp
    // Padding and the upper halves of 8-byte fields admit nothing; listed so that the table
    // covers every byte and a test can check it.
    rule(CtxField::read(148, 4), NONE, NONE), // flow_keys, upper half
    rule(CtxField::read(156, 4), NONE, NONE), // tstamp, upper half
    rule(CtxField::read(172, 4), NONE, NONE), // sk, upper half
    rule(CtxField::read(181, 1), NONE, NONE), // padding
    rule(CtxField::read(182, 2), NONE, NONE), // padding
    rule(CtxField::read(188, 4), NONE, NONE), // hwtstamp, upper half
];

const N: usize = RULES.len();

/// The fields of `RULES` with the rights of the program kind `kind`.
const fn fields(kind: u8) -> [CtxField; N] {
    let mut out = [CtxField::read(0, 1); N];
    let mut i = 0;
    while i < N {
        let r = RULES[i];
        out[i] = CtxField {
            read: r.read & kind != 0,
            write: r.write & kind != 0,
            ..r.field
        };
        i += 1;
    }
    out
}

const fn sk_buff(fields: &'static [CtxField]) -> ContextLayout {
    ContextLayout {
        name: "struct __sk_buff",
        size: 192,
        fields,
        any_read: false,
    }
}

static SOCKET_FILTER_FIELDS: [CtxField; N] = fields(SF);
static CGROUP_SKB_FIELDS: [CtxField; N] = fields(CG);
static LWT_FIELDS: [CtxField; N] = fields(LWT);
static TC_FIELDS: [CtxField; N] = fields(TC);
static SK_SKB_FIELDS: [CtxField; N] = fields(SK);
static FLOW_DISSECTOR_FIELDS: [CtxField; N] = fields(FD);

/// Socket filters: no packet pointers, no socket addresses; only `cb` is writable.
pub(super) static SOCKET_FILTER: ContextLayout = sk_buff(&SOCKET_FILTER_FIELDS);
/// cgroup_skb: packet (not meta) pointers for a privileged loader; writes `mark`, `priority`,
/// `cb`, `tstamp`.
pub(super) static CGROUP_SKB: ContextLayout = sk_buff(&CGROUP_SKB_FIELDS);
/// lwt_*: packet pointers; writes `mark`, `priority`, `cb`.
pub(super) static LWT_SKB: ContextLayout = sk_buff(&LWT_FIELDS);
/// tc: packet and meta pointers; writes `mark`, `tc_index`, `priority`, `tc_classid`, `cb`,
/// `tstamp`, `queue_mapping`.
pub(super) static TC_SKB: ContextLayout = sk_buff(&TC_FIELDS);
/// sk_skb: packet pointers; no `mark`; writes `tc_index` and `priority`.
pub(super) static SK_SKB: ContextLayout = sk_buff(&SK_SKB_FIELDS);
/// flow_dissector: only `data`, `data_end` and `flow_keys`, read only.
pub(super) static FLOW_DISSECTOR: ContextLayout = sk_buff(&FLOW_DISSECTOR_FIELDS);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte of `__sk_buff` is described by some rule, so no field was forgotten.
    #[test]
    fn rules_cover_the_whole_structure() {
        let mut covered = [false; 192];
        for r in RULES {
            let f = r.field;
            let start = f.offset as usize;
            covered[start..start + (f.size * f.count) as usize].fill(true);
        }
        let gaps: Vec<usize> = (0..192).filter(|&b| !covered[b]).collect();
        assert!(
            gaps.is_empty(),
            "bytes of __sk_buff without a rule: {gaps:?}"
        );
    }
}
