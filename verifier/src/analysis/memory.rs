//! Loads, stores and atomics: the memory-safety checks per region, and what a load yields.
//!
//! Every access `[base + off, base + off + size)` must lie inside the region the base points
//! into, for every offset the base may have: the stack frame (0..512), the packet
//! (`meta_offset..packet_size`, proved with the zone when offsets are variable), a map value
//! (`0..value_size`), helper memory (`0..size`), or one context field that allows the access.

use super::state::{Loc, State, V_META, V_PACKET_SIZE, var_of};
use super::transfer::{Env, check_usable};
use super::value::{Ptr, Region, Unusable, Value};
use crate::domain::scalar::Scalar;
use crate::domain::zone::Var;
use crate::isa::{AtomicOp, Insn, Operand, PacketMode, Size};
use crate::platform::ProgramType;
use crate::platform::context;
use ctx::{ctx_load, ctx_store, kernel_value};

mod ctx;

pub fn step(env: &mut Env<'_>, state: &mut State, pc: usize, insn: Insn) {
    match insn {
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => {
            let (value, relation) = match base(env, state, pc, src.index()) {
                Some(p) => load(env, state, pc, src.index(), &p, off, size),
                None => (Value::unknown(), None),
            };
            let dloc = Loc::Reg(dst.number());
            match (value, signed, relation) {
                (Value::Num(s), true, _) => state.set(
                    dloc,
                    Value::Num(super::value::sign_extend(&s, size.bytes() * 8)),
                ),
                (v, _, Some(var)) => state.copy(dloc, var, v),
                (v, _, None) => state.set(dloc, v),
            }
            state.reduce();
        }
        Insn::Store {
            size,
            dst,
            off,
            value,
        } => {
            let (v, var) = match value {
                Operand::Imm(i) => (Value::num(i as i64 as u64), None),
                Operand::Reg(r) => {
                    let v = state.regs[r.index()].clone();
                    if !check_usable(env, pc, r.index(), &v) {
                        return;
                    }
                    (v, Some(var_of(Loc::Reg(r.number()))))
                }
            };
            if let Some(p) = base(env, state, pc, dst.index()) {
                store(env, state, pc, dst.index(), &p, off, size, v, var);
            }
        }
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => {
            let v = state.regs[src.index()].clone();
            if !check_usable(env, pc, src.index(), &v) {
                return;
            }
            if !matches!(v, Value::Num(_)) {
                env.fail(
                    pc,
                    "leak",
                    format!("atomic operation with a pointer in r{}", src.index()),
                    vec![],
                );
            }
            if op == AtomicOp::CmpXchg && !matches!(state.regs[0], Value::Num(_)) {
                env.fail(
                    pc,
                    "type",
                    "cmpxchg compares with r0, which must hold a number".into(),
                    vec![],
                );
            }
            let Some(p) = base(env, state, pc, dst.index()) else {
                return;
            };
            if !matches!(
                p.region,
                Region::Stack { .. } | Region::MapValue { .. } | Region::Mem { .. }
            ) {
                env.fail(
                    pc,
                    "memory",
                    format!(
                        "atomic operations are allowed on the stack and map values, not on {}",
                        p.region
                    ),
                    vec![],
                );
            }
            let (old, _) = load(env, state, pc, dst.index(), &p, off, size);
            store(
                env,
                state,
                pc,
                dst.index(),
                &p,
                off,
                size,
                Value::unknown(),
                None,
            );
            let old = match old {
                Value::Num(s) => Value::Num(s),
                _ => Value::unknown(),
            };
            if fetch {
                let target = if op == AtomicOp::CmpXchg {
                    0
                } else {
                    src.index()
                };
                state.set(Loc::Reg(target as u8), old);
            }
        }
        Insn::LoadPacket { size, mode, .. } => legacy_packet_load(env, state, pc, size, mode),
        _ => {}
    }
}

/// The pointer a memory access goes through, or None (after reporting) when it is not one.
fn base(env: &mut Env<'_>, state: &State, pc: usize, r: usize) -> Option<Ptr> {
    let v = &state.regs[r];
    if !check_usable(env, pc, r, v) {
        return None;
    }
    match v {
        Value::Ptr(p) if p.nullable && !p.probe_mem => {
            env.fail(
                pc,
                "null",
                format!("r{r} may be NULL here: check it against 0 before the access"),
                vec![format!("r{r} = {}", v.describe())],
            );
            Some(Ptr {
                nullable: false,
                ..p.clone()
            })
        }
        Value::Ptr(p) => Some(p.clone()),
        Value::Num(s) => {
            env.fail(
                pc,
                "memory",
                format!("r{r} is a number, not a pointer: {s}"),
                vec![],
            );
            None
        }
        Value::Bad(_) => None,
    }
}

/// The offsets an access may start at: the base's offset plus the instruction's.
fn range(p: &Ptr, off: i16) -> (i128, i128) {
    (
        i128::from(p.off.signed_range().0) + i128::from(off),
        i128::from(p.off.signed_range().1) + i128::from(off),
    )
}

/// Checks `[lo, hi + size)` ⊆ `[0, limit)`.
#[allow(clippy::too_many_arguments)]
fn check_bounds(
    env: &mut Env<'_>,
    pc: usize,
    r: usize,
    p: &Ptr,
    off: i16,
    size: usize,
    limit: i128,
    what: &str,
) -> bool {
    let (lo, hi) = range(p, off);
    if lo < 0 || hi + size as i128 > limit {
        env.fail(
            pc,
            "memory",
            format!(
                "{size}-byte access at offset {} of {what} ({limit} bytes) may be out of bounds",
                fmt_range(lo, hi)
            ),
            vec![format!("r{r} = {}", Value::Ptr(p.clone()).describe())],
        );
        return false;
    }
    true
}

fn fmt_range(lo: i128, hi: i128) -> String {
    if lo == hi {
        format!("{lo}")
    } else {
        format!("[{lo}, {hi}]")
    }
}

/// Packet bounds: `meta_offset <= off` and `off + size <= packet_size`, proved from the zone
/// relations of the base register when there are any, else from bounds.
fn check_packet(
    env: &mut Env<'_>,
    state: &State,
    pc: usize,
    r: usize,
    p: &Ptr,
    off: i16,
    size: usize,
) -> bool {
    let var = var_of(Loc::Reg(r as u8));
    let (lo, hi) = range(p, off);
    let upper_ok = match state.zone.diff_bound(var, V_PACKET_SIZE) {
        Some(d) if i128::from(d) + i128::from(off) + size as i128 <= 0 => true,
        _ => {
            let (min_size, _) = state.zone.interval(V_PACKET_SIZE);
            hi + size as i128 <= i128::from(min_size.unwrap_or(0))
        }
    };
    let lower_ok = lo >= 0
        || match state.zone.diff_bound(V_META, var) {
            Some(d) => i128::from(d) - i128::from(off) <= 0,
            None => false,
        };
    if !upper_ok || !lower_ok {
        let which = if !upper_ok {
            "past data_end"
        } else {
            "before data_meta"
        };
        env.fail(
            pc,
            "memory",
            format!(
                "{size}-byte packet access at offset {} may be {which}: compare the pointer with data_end first",
                fmt_range(lo, hi)
            ),
            vec![format!("r{r} = {}", Value::Ptr(p.clone()).describe())],
        );
        return false;
    }
    true
}

/// What a load yields, and the zone variable whose relations the loaded value shares (a spilled
/// slot, `packet_size` for data_end).
fn load(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    r: usize,
    p: &Ptr,
    off: i16,
    size: Size,
) -> (Value, Option<Var>) {
    let n = size.bytes();
    let unknown = Value::Num(Scalar::zero_extend_load(n));
    let value = match p.region {
        Region::Stack { depth } => {
            if !check_bounds(env, pc, r, p, off, n, 512, "the stack") {
                return (unknown, None);
            }
            let (lo, hi) = range(p, off);
            let Some(stack) = state.stack(usize::from(depth)) else {
                return (unknown, None);
            };
            let (lo, hi) = (lo as usize, hi as usize);
            if let Some(b) = (lo..=hi).find_map(|s| stack.first_uninit(s, n)) {
                env.fail(
                    pc,
                    "uninit",
                    format!(
                        "reads uninitialised stack byte at offset {} (r10{:+})",
                        b,
                        b as i64 - 512
                    ),
                    vec![],
                );
                return (unknown, None);
            }
            if lo != hi {
                return (unknown, None);
            }
            let slot = lo / 8;
            match stack.slot(slot).cloned() {
                Some(v) if lo % 8 == 0 && n == 8 => {
                    if let Value::Bad(Unusable::CorruptedPointer) = v {
                        if !env.leaks_allowed() {
                            env.fail(
                                pc,
                                "leak",
                                "reads the bytes of a partly overwritten pointer".into(),
                                vec![],
                            );
                        }
                        return (unknown, None);
                    }
                    // Keep the relations of the spilled value.
                    return (
                        v,
                        Some(var_of(Loc::Slot {
                            depth,
                            slot: slot as u8,
                        })),
                    );
                }
                Some(Value::Num(s)) => match s.is_constant() {
                    Some(c) => {
                        let shift = (lo % 8) * 8;
                        let bits = if n == 8 {
                            u64::MAX
                        } else {
                            (1u64 << (n * 8)) - 1
                        };
                        Value::num((c >> shift) & bits)
                    }
                    None => stack.constant_at(lo, n).map_or(unknown, Value::num),
                },
                Some(Value::Ptr(_)) | Some(Value::Bad(Unusable::CorruptedPointer)) => {
                    if !env.leaks_allowed() {
                        env.fail(
                            pc,
                            "leak",
                            format!(
                                "a {n}-byte read of a spilled pointer exposes part of an address"
                            ),
                            vec![],
                        );
                    }
                    unknown
                }
                // Bytes written by a narrow store of a known constant read back as it.
                _ => stack.constant_at(lo, n).map_or(unknown, Value::num),
            }
        }
        Region::Packet => {
            if readable_packet(env.program_type) {
                check_packet(env, state, pc, r, p, off, n);
            } else {
                env.fail(
                    pc,
                    "memory",
                    format!(
                        "{} programs cannot read packet data directly",
                        env.program_type
                    ),
                    vec![],
                );
            }
            unknown
        }
        Region::MapValue { map, size, .. } => {
            let what = map_name(env, map);
            if !check_bounds(env, pc, r, p, off, n, i128::from(size), &what) {
                return (unknown, None);
            }
            let (lo, hi) = range(p, off);
            if lo == hi
                && let Some(bytes) = env.maps.get(map).and_then(|i| i.frozen.as_ref())
                && let Some(chunk) = bytes.get(lo as usize..lo as usize + n)
            {
                let mut buf = [0u8; 8];
                buf[..n].copy_from_slice(chunk);
                return (Value::num(u64::from_le_bytes(buf)), None);
            }
            unknown
        }
        Region::Mem { size, .. } => {
            check_bounds(env, pc, r, p, off, n, i128::from(size), "helper memory");
            unknown
        }
        Region::Ctx => return ctx_load(env, state, pc, p, off, n),
        // Linux turns these loads into fault-tolerant `PROBE_MEM` loads: any address is safe,
        // the value read is unknown. An 8-byte field may be a pointer the program reads
        // through next (`xdp->rxq->dev->ifindex`), so it is an untyped kernel pointer, which
        // helpers never take as an object (see `helper_args::UNTYPED_KERNEL`) and arithmetic
        // turns into a number.
        Region::Kernel { btf_name } if env.program_type.has_btf_args() => {
            let at = p.off.is_constant().map(|o| o as i64 + i64::from(off));
            // The few fields known never to be NULL (an iterator's `meta->seq`).
            let known = at.and_then(|at| context::kernel_pointer_field(btf_name, at));
            // With the kernel's BTF, a struct it describes is walked as Linux walks it.
            if let Some(walked) = at
                .filter(|_| known.is_none())
                .and_then(|at| env.kernel.as_ref()?.walk(btf_name, at, n as u32))
            {
                let value = match walked {
                    Ok(kind) => kernel_value(state, kind, pc, n),
                    Err(why) => {
                        env.fail(pc, "memory", why, vec![]);
                        unknown
                    }
                };
                return (value, None);
            }
            if n == 8 {
                Value::ptr(
                    Region::Kernel {
                        btf_name: known.unwrap_or("kernel field"),
                    },
                    0,
                )
            } else {
                unknown
            }
        }
        Region::Kernel {
            btf_name: context::BPF_SOCK,
        } => {
            let at = p.off.is_constant().map(|o| o as i64 + i64::from(off));
            match at {
                Some(at) if context::bpf_sock_readable(at, n) => {
                    Value::Num(Scalar::zero_extend_load(n))
                }
                _ => {
                    env.fail(
                        pc,
                        "memory",
                        format!(
                            "{n}-byte read at offset {} of a struct bpf_sock is not allowed: readable are bound_dev_if, family, state, src_port, dst_port, rx_queue_mapping and the addresses, at constant offsets, in parts of at most 4 bytes",
                            at.map_or_else(|| p.off.to_string(), |a| a.to_string())
                        ),
                        vec![],
                    );
                    unknown
                }
            }
        }
        Region::MapFd { .. } | Region::Func { .. } | Region::Kernel { .. } => {
            env.fail(
                pc,
                "memory",
                format!(
                    "cannot read through a pointer to {} (use a helper)",
                    p.region
                ),
                vec![],
            );
            unknown
        }
    };
    (value, None)
}

/// Program types whose context gives packet pointers that may be read directly.
fn readable_packet(t: ProgramType) -> bool {
    !matches!(
        t,
        ProgramType::Kprobe
            | ProgramType::Tracepoint
            | ProgramType::RawTracepoint
            | ProgramType::PerfEvent
            | ProgramType::Tracing
    )
}

/// Program types that may write packet data directly (Linux's `may_access_direct_pkt_data`).
fn writable_packet(t: ProgramType) -> bool {
    crate::platform::context::direct_packet_write(t)
}

#[allow(clippy::too_many_arguments)]
fn store(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    r: usize,
    p: &Ptr,
    off: i16,
    size: Size,
    v: Value,
    var: Option<crate::domain::zone::Var>,
) {
    let n = size.bytes();
    let is_ptr = matches!(v, Value::Ptr(_));
    match p.region {
        Region::Stack { depth } => {
            if !check_bounds(env, pc, r, p, off, n, 512, "the stack") {
                return;
            }
            let (lo, hi) = range(p, off);
            let Some(stack) = state.stack_mut(usize::from(depth)) else {
                return;
            };
            if lo != hi {
                // A store at a variable offset: every byte it may touch loses its contents, but
                // only bytes it surely writes become initialised.
                let (lo, hi) = (lo as usize, hi as usize);
                stack.clobber(lo, hi + n - lo);
                if hi < lo + n {
                    stack.mark_init(hi, lo + n - hi);
                }
                return;
            }
            let at = lo as usize;
            if n == 8 && at.is_multiple_of(8) {
                let slot = (at / 8) as u8;
                let loc = Loc::Slot { depth, slot };
                match var {
                    Some(var) => state.copy(loc, var, v),
                    None => state.set(loc, v),
                }
            } else {
                if is_ptr && !env.leaks_allowed() {
                    env.fail(
                        pc,
                        "leak",
                        format!("a {n}-byte store of a pointer keeps only part of it"),
                        vec![],
                    );
                }
                stack.write_bytes(at, n);
                // The store keeps the low `n` bytes of the constant.
                if let Value::Num(c) = &v
                    && let Some(c) = c.is_constant()
                {
                    stack.note_const(at, n, c & (u64::MAX >> (64 - 8 * n)));
                }
            }
        }
        Region::Packet => {
            if !writable_packet(env.program_type) {
                env.fail(
                    pc,
                    "memory",
                    format!(
                        "{} programs cannot write packet data directly",
                        env.program_type
                    ),
                    vec![],
                );
            }
            check_packet(env, state, pc, r, p, off, n);
            leak_check(env, pc, is_ptr, "the packet");
        }
        Region::MapValue {
            map,
            size,
            read_only,
        } => {
            let what = map_name(env, map);
            if read_only {
                env.fail(
                    pc,
                    "memory",
                    format!("{what} is read-only for programs"),
                    vec![],
                );
            }
            let limit = i128::from(size);
            check_bounds(env, pc, r, p, off, n, limit, &what);
            leak_check(env, pc, is_ptr, "a map value");
        }
        Region::Mem { size: limit, .. } => {
            check_bounds(env, pc, r, p, off, n, i128::from(limit), "helper memory");
            leak_check(env, pc, is_ptr, "helper memory");
        }
        Region::Ctx => ctx_store(env, pc, p, off, n, is_ptr),
        Region::MapFd { .. } | Region::Func { .. } | Region::Kernel { .. } => {
            env.fail(
                pc,
                "memory",
                format!("cannot write through a pointer to {}", p.region),
                vec![],
            );
        }
    }
}

/// "the value of map `x`", for messages.
fn map_name(env: &Env<'_>, map: usize) -> String {
    match env.maps.get(map) {
        Some(info) => format!("the value of map `{}`", info.name),
        None if map == super::value::MAP_KEY => "the key of a map element".into(),
        None => "the value of one of several maps".into(),
    }
}

fn leak_check(env: &mut Env<'_>, pc: usize, is_ptr: bool, into: &str) {
    if is_ptr && !env.leaks_allowed() {
        env.fail(
            pc,
            "leak",
            format!("stores a pointer into {into}, where it can be read outside the program"),
            vec![],
        );
    }
}

/// Legacy `ldabs`/`ldind`: only for socket-buffer programs, with the context in r6; clobbers
/// r1-r5 like a helper call.
fn legacy_packet_load(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    size: Size,
    mode: PacketMode,
) {
    let skb = matches!(
        env.program_type,
        ProgramType::SocketFilter
            | ProgramType::SchedCls
            | ProgramType::SchedAct
            | ProgramType::CgroupSkb
            | ProgramType::Unknown
    );
    if !skb {
        env.fail(
            pc,
            "type",
            format!(
                "legacy packet loads are not allowed in {} programs",
                env.program_type
            ),
            vec![],
        );
    }
    if !matches!(
        state.regs[6],
        Value::Ptr(Ptr {
            region: Region::Ctx,
            ..
        })
    ) {
        env.fail(
            pc,
            "type",
            "legacy packet loads need the context in r6".into(),
            vec![],
        );
    }
    if let PacketMode::Ind(r) = mode {
        let v = state.regs[r.index()].clone();
        if check_usable(env, pc, r.index(), &v) && !matches!(v, Value::Num(_)) {
            env.fail(
                pc,
                "type",
                format!("ldind offset r{} must be a number", r.index()),
                vec![],
            );
        }
    }
    for r in 1..=5 {
        state.set(Loc::Reg(r), Value::uninit());
    }
    state.set(
        Loc::Reg(0),
        Value::Num(Scalar::zero_extend_load(size.bytes())),
    );
}
