//! Context accesses: the fields a program type may read and write (`platform::context`), and a
//! tracing program's arguments typed from the kernel's BTF (`platform::kernel_btf`), with what
//! each load yields.

use super::{fmt_range, range};
use crate::analysis::state::{State, V_META, V_PACKET_SIZE};
use crate::analysis::transfer::Env;
use crate::analysis::value::{Ptr, Region, Value, srange};
use crate::domain::scalar::Scalar;
use crate::domain::zone::Var;
use crate::platform::context::{BPF_SOCK, FieldKind};
use crate::platform::kernel_btf::ArgKind;

/// A load of `n` bytes at `p + off` from the context: what the field holds (a number, a packet
/// pointer related to `packet_size`, a socket, a typed kernel object), or a refusal naming the
/// rule it breaks.
pub(super) fn ctx_load(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    p: &Ptr,
    off: i16,
    n: usize,
) -> (Value, Option<Var>) {
    let unknown = Value::Num(Scalar::zero_extend_load(n));
    let (lo, hi) = range(p, off);
    if lo != hi {
        env.fail(
            pc,
            "ctx",
            format!("context access at a variable offset {}", fmt_range(lo, hi)),
            vec![],
        );
        return (unknown, None);
    }
    if let Some(attach) = &env.attach {
        // A tracing program's arguments, typed from the kernel's BTF (`access` checks the
        // offset is a slot's start, which aligns every load size).
        let kind = attach.access(lo as i64, n as u32);
        return match kind {
            Ok(kind) => (kernel_value(state, kind, pc, n), None),
            Err(why) => {
                env.fail(pc, "ctx", why, vec![]);
                (unknown, None)
            }
        };
    }
    let Some(layout) = env.layout else {
        // No known layout (unknown program type): allow reads inside a generous bound, as
        // numbers. This is sound: the values are unknown numbers.
        if lo < 0 || lo + n as i128 > 4096 {
            env.fail(
                pc,
                "ctx",
                format!("context read at offset {lo} is out of bounds"),
                vec![],
            );
        }
        return (unknown, None);
    };
    if lo < 0 || lo + n as i128 > i128::from(layout.size) {
        env.fail(
            pc,
            "ctx",
            format!(
                "{n}-byte read at offset {lo} is outside {} ({} bytes)",
                layout.name, layout.size
            ),
            vec![],
        );
        return (unknown, None);
    }
    let Some(kind) = layout.access(lo as i64, n as u32, false) else {
        env.fail(
            pc,
            "ctx",
            format!(
                "{n}-byte read at offset {lo} of {} is not allowed for {} programs",
                layout.name, env.program_type
            ),
            vec![],
        );
        return (unknown, None);
    };
    let packet_ptr = |var: Var| {
        let (lo, hi) = state.zone.interval(var);
        let off = srange(lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX));
        (
            Value::Ptr(Ptr {
                region: Region::Packet,
                off,
                nullable: false,
                null_id: 0,
                probe_mem: false,
            }),
            Some(var),
        )
    };
    match kind {
        FieldKind::Scalar => (unknown, None),
        FieldKind::PacketStart => (Value::ptr(Region::Packet, 0), None),
        // data_end is the packet pointer at offset packet_size; data_meta at meta_offset.
        FieldKind::PacketEnd => packet_ptr(V_PACKET_SIZE),
        FieldKind::PacketMeta => packet_ptr(V_META),
        FieldKind::SocketOrNull => (kernel_or_null(BPF_SOCK), None),
        FieldKind::Socket => (Value::ptr(Region::Kernel { btf_name: BPF_SOCK }, 0), None),
        FieldKind::FlowKeys => (
            Value::ptr(
                Region::Mem {
                    size: 56,
                    ringbuf: false,
                },
                0,
            ),
            None,
        ),
        FieldKind::BtfIdOrNull(name) => (kernel_or_null(name), None),
        FieldKind::BtfId(name) => (Value::ptr(Region::Kernel { btf_name: name }, 0), None),
        FieldKind::BtfArg => (
            Value::ptr(
                Region::Kernel {
                    btf_name: "traced function argument",
                },
                0,
            ),
            None,
        ),
    }
}

/// The value a typed kernel read yields (see `platform::kernel_btf`). A struct pointer may be
/// NULL (a traced function's argument, a field): loads through it need no check (Linux makes
/// them fault-tolerant), helpers that do not accept NULL do. Its id is the instruction's, so a
/// check covers the copies.
pub(super) fn kernel_value(state: &mut State, kind: ArgKind, pc: usize, n: usize) -> Value {
    match kind {
        ArgKind::Scalar => Value::Num(Scalar::zero_extend_load(n)),
        ArgKind::Struct(btf_name) => {
            let null_id = pc as u32 + 1;
            state.detach_null_id(null_id);
            Value::Ptr(Ptr {
                region: Region::Kernel { btf_name },
                off: Scalar::constant(0),
                nullable: true,
                null_id,
                probe_mem: true,
            })
        }
        ArgKind::Untyped => Value::ptr(
            Region::Kernel {
                btf_name: "kernel field",
            },
            0,
        ),
    }
}

pub(super) fn kernel_or_null(btf_name: &'static str) -> Value {
    Value::Ptr(Ptr {
        region: Region::Kernel { btf_name },
        off: Scalar::constant(0),
        nullable: true,
        null_id: 0,
        probe_mem: false,
    })
}

pub(super) fn ctx_store(env: &mut Env<'_>, pc: usize, p: &Ptr, off: i16, n: usize, is_ptr: bool) {
    let (lo, hi) = range(p, off);
    if lo != hi {
        env.fail(
            pc,
            "ctx",
            format!("context write at a variable offset {}", fmt_range(lo, hi)),
            vec![],
        );
        return;
    }
    let Some(layout) = env.layout else {
        env.fail(
            pc,
            "ctx",
            format!(
                "{} programs have no writable context fields known to Vouch",
                env.program_type
            ),
            vec![],
        );
        return;
    };
    if layout.access(lo as i64, n as u32, true).is_none() {
        env.fail(
            pc,
            "ctx",
            format!(
                "{n}-byte write at offset {lo} of {} is not allowed for {} programs",
                layout.name, env.program_type
            ),
            vec![],
        );
    }
    if is_ptr && !env.leaks_allowed() {
        env.fail(
            pc,
            "leak",
            "stores a pointer into the context".into(),
            vec![],
        );
    }
}
