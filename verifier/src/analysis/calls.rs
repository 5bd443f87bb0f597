//! Helper calls (argument contracts from `platform::helpers`, return values, packet
//! invalidation, ring buffer and lock bookkeeping) and `exit` (return values per program type,
//! leaks, resources still held).
//!
//! bpf-to-bpf calls are not here: the CFG inlines them, and `fixpoint` applies the frame push and
//! pop on the call and return edges.

use super::state::{Frame, Loc, State};
use super::transfer::{Env, check_usable};
use super::value::{Ptr, Region, Unusable, Value};
use crate::analysis::stack::Stack;
use crate::domain::scalar::Scalar;
use crate::isa::{CallTarget, Insn};
use crate::platform::helpers::{Access, Arg, Ret, proto};
use crate::platform::{ProgramType, helper_name};

/// The `bpf_tail_call` helper.
const TAIL_CALL: i32 = 12;
const MAP_TYPE_PROG_ARRAY: u32 = 3;

pub fn step(env: &mut Env<'_>, state: &mut State, pc: usize, insn: Insn) {
    match insn {
        Insn::Call(CallTarget::Helper(id)) => helper(env, state, pc, id),
        Insn::CallX { reg } => {
            env.fail(
                pc,
                "call",
                format!("indirect call through r{} cannot be verified", reg.index()),
                vec![],
            );
            clobber(state);
            state.set(Loc::Reg(0), Value::unknown());
        }
        Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
            env.fail(
                pc,
                "call",
                format!("kernel function calls (BTF id {btf_id}) are not supported yet"),
                vec![],
            );
            clobber(state);
            state.set(Loc::Reg(0), Value::unknown());
        }
        Insn::Exit => exit(env, state, pc),
        _ => {}
    }
}

/// r1-r5 are not preserved by calls.
fn clobber(state: &mut State) {
    for r in 1..=5 {
        state.set(Loc::Reg(r), Value::uninit());
    }
}

fn helper(env: &mut Env<'_>, state: &mut State, pc: usize, id: i32) {
    let name = helper_name(id)
        .map(|n| format!("bpf_{n}"))
        .unwrap_or_else(|| format!("helper {id}"));
    let Some(p) = proto(id) else {
        env.fail(
            pc,
            "helper",
            format!("call to unknown helper {id} ({name})"),
            vec![],
        );
        clobber(state);
        state.set(Loc::Reg(0), Value::unknown());
        return;
    };
    if !p.allowed_in(env.program_type) && env.program_type != ProgramType::Unknown {
        env.fail(
            pc,
            "helper",
            format!("{name} is not available to {} programs", env.program_type),
            vec![],
        );
    }
    let mut map: Option<usize> = None;
    let mut alloc_size: Option<u64> = None;
    let mut released: Vec<u32> = vec![];
    for (i, arg) in p.args.iter().enumerate() {
        let r = i + 1;
        let v = state.regs[r].clone();
        if *arg == Arg::FormatArg {
            match &v {
                Value::Num(_) => {}
                Value::Bad(Unusable::Uninit) => {}
                _ if env.options.allow_ptr_leaks => {}
                _ => env.fail(
                    pc,
                    "leak",
                    format!("{name} would print r{r}, which is {}", v.describe()),
                    vec![],
                ),
            }
            continue;
        }
        if !check_usable(env, pc, r, &v) {
            continue;
        }
        let next = state.regs.get(r + 1).cloned();
        check_arg(
            env,
            state,
            pc,
            &name,
            r,
            *arg,
            &v,
            next.as_ref(),
            &mut map,
            &mut alloc_size,
            &mut released,
        );
    }
    if p.leaks_args && !env.options.allow_ptr_leaks {
        for (i, arg) in p.args.iter().enumerate() {
            if *arg == Arg::Anything && matches!(state.regs[i + 1], Value::Ptr(_)) {
                env.fail(
                    pc,
                    "leak",
                    format!(
                        "{name} would copy the pointer in r{} out of the program",
                        i + 1
                    ),
                    vec![],
                );
            }
        }
    }
    if id == TAIL_CALL
        && let Some(m) = map
        && env.maps[m].map_type != MAP_TYPE_PROG_ARRAY
    {
        env.fail(
            pc,
            "helper",
            format!(
                "bpf_tail_call needs a program array, but map `{}` is not one",
                env.maps[m].name
            ),
            vec![],
        );
    }
    // Effects.
    for id in &released {
        state.records.retain(|r| r != id);
        let dead = *id;
        state.for_each_value(|v| {
            if matches!(v, Value::Ptr(Ptr { null_id, region: Region::Mem { ringbuf: true, .. }, .. }) if *null_id == dead) {
                *v = Value::Bad(Unusable::Released);
            }
        });
    }
    if p.name == "spin_lock" {
        if state.lock_held {
            env.fail(
                pc,
                "lock",
                "bpf_spin_lock while a lock is already held".into(),
                vec![],
            );
        }
        state.lock_held = true;
    } else if p.name == "spin_unlock" {
        if !state.lock_held {
            env.fail(
                pc,
                "lock",
                "bpf_spin_unlock without a held lock".into(),
                vec![],
            );
        }
        state.lock_held = false;
    } else if state.lock_held {
        env.fail(
            pc,
            "lock",
            format!("{name} is called while a spin lock is held"),
            vec![],
        );
    }
    if p.changes_packet_data {
        state.invalidate_packet_pointers(pc);
    }
    clobber(state);
    let ret = match p.ret {
        Ret::Integer => Value::unknown(),
        Ret::Void => Value::uninit(),
        Ret::MapValueOrNull | Ret::MapValue => match map {
            Some(m) => {
                let info = &env.maps[m];
                let region = match (info.map_type, info.inner) {
                    // A lookup in a map of maps yields an inner map (its template when known,
                    // else the outer map's own description, which only helpers will see).
                    (12 | 13, Some(inner)) => Region::MapFd { map: inner },
                    (12 | 13, None) => Region::MapFd { map: m },
                    _ => Region::MapValue {
                        map: m,
                        size: info.value_size,
                        read_only: info.read_only,
                    },
                };
                nullable_ptr(state, region, p.ret == Ret::MapValueOrNull, pc)
            }
            None => Value::unknown(),
        },
        Ret::RingbufRecordOrNull => {
            let size = alloc_size.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            let v = nullable_ptr(
                state,
                Region::Mem {
                    size,
                    ringbuf: true,
                },
                true,
                pc,
            );
            if let Value::Ptr(ptr) = &v {
                state.records.push(ptr.null_id);
            }
            v
        }
        Ret::SocketOrNull { .. } | Ret::TcpSockOrNull => {
            nullable_ptr(state, Region::Kernel { btf_name: "sock" }, true, pc)
        }
        Ret::BtfId { name, nullable } => {
            nullable_ptr(state, Region::Kernel { btf_name: name }, nullable, pc)
        }
        Ret::MemOrNull { size } => nullable_ptr(
            state,
            Region::Mem {
                size,
                ringbuf: false,
            },
            true,
            pc,
        ),
    };
    state.set(Loc::Reg(0), ret);
}

/// A fresh pointer; when nullable, with a new id so that the NULL check on any copy refines all.
fn nullable_ptr(state: &State, region: Region, nullable: bool, pc: usize) -> Value {
    let _ = state;
    Value::Ptr(Ptr {
        region,
        off: Scalar::constant(0),
        nullable,
        null_id: if nullable { pc as u32 + 1 } else { 0 },
    })
}

#[allow(clippy::too_many_arguments)]
fn check_arg(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    name: &str,
    r: usize,
    arg: Arg,
    v: &Value,
    next: Option<&Value>,
    map: &mut Option<usize>,
    alloc_size: &mut Option<u64>,
    released: &mut Vec<u32>,
) {
    let bad = |env: &mut Env<'_>, what: &str| {
        env.fail(
            pc,
            "helper",
            format!("{name}: r{r} must be {what}, but it is {}", v.describe()),
            vec![],
        );
    };
    match arg {
        Arg::Anything | Arg::FormatArg => {}
        Arg::MapPtr => match v {
            Value::Ptr(Ptr {
                region: Region::MapFd { map: m },
                nullable: false,
                ..
            }) => {
                if map.is_none() {
                    *map = Some(*m);
                }
            }
            _ => bad(env, "a map (from a map reference)"),
        },
        Arg::MapKey | Arg::MapValue | Arg::MapValueOut | Arg::MapValueOrNull => {
            let Some(m) = *map else {
                bad(env, "a pointer, after a map argument");
                return;
            };
            let info = &env.maps[m];
            let size = if arg == Arg::MapKey {
                info.key_size
            } else {
                info.value_size
            };
            if arg == Arg::MapValueOrNull
                && matches!(v, Value::Num(n) if n.is_constant() == Some(0))
            {
                return;
            }
            let access = if arg == Arg::MapValueOut {
                Access::Write
            } else {
                Access::Read
            };
            let what = if arg == Arg::MapKey {
                "map key"
            } else {
                "map value"
            };
            // A lookup with an out-of-range key just returns NULL; an update or delete of an
            // element that cannot exist is a bug.
            if arg == Arg::MapKey && name != "bpf_map_lookup_elem" {
                check_array_key(env, state, pc, name, r, v, m);
            }
            check_mem(
                env,
                state,
                pc,
                name,
                r,
                v,
                u64::from(size),
                u64::from(size),
                access,
                what,
            );
        }
        Arg::Mem { access, nullable } => {
            let size = match next {
                Some(Value::Num(n)) => (n.unsigned_range().0, n.unsigned_range().1),
                _ => (0, u64::MAX),
            };
            if nullable && matches!(v, Value::Num(n) if n.is_constant() == Some(0)) {
                if size.1 != 0 {
                    env.fail(
                        pc,
                        "helper",
                        format!("{name}: r{r} is NULL, so r{} must be 0", r + 1),
                        vec![],
                    );
                }
                return;
            }
            check_mem(env, state, pc, name, r, v, size.0, size.1, access, "buffer");
        }
        Arg::FixedMem { size, access } => {
            check_mem(
                env,
                state,
                pc,
                name,
                r,
                v,
                u64::from(size),
                u64::from(size),
                access,
                "buffer",
            );
        }
        Arg::Size { zero_ok } => match v {
            Value::Num(n) => {
                if !zero_ok && n.contains(0) {
                    env.fail(
                        pc,
                        "helper",
                        format!("{name}: size in r{r} may be 0: {n}"),
                        vec![],
                    );
                }
            }
            _ => bad(env, "a size (a number)"),
        },
        Arg::AllocSize => match v {
            Value::Num(n) => *alloc_size = n.is_constant().or(Some(n.unsigned_range().0)),
            _ => bad(env, "a size (a number)"),
        },
        Arg::Ctx { nullable } => match v {
            Value::Ptr(Ptr {
                region: Region::Ctx,
                off,
                nullable: false,
                ..
            }) if off.is_constant() == Some(0) => {}
            Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
            _ => bad(env, "the context pointer, unmodified"),
        },
        Arg::Socket { nullable } | Arg::BtfId { nullable, .. } => match v {
            Value::Ptr(Ptr {
                region: Region::Kernel { .. },
                nullable: n,
                ..
            }) if nullable || !n => {}
            Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
            _ => bad(env, "a kernel object pointer, checked against NULL"),
        },
        Arg::OwnedSocket | Arg::PercpuBtfId | Arg::Kptr => match v {
            Value::Ptr(Ptr {
                region: Region::Kernel { .. },
                nullable: false,
                ..
            }) => {}
            _ => bad(env, "a kernel object pointer, checked against NULL"),
        },
        Arg::SpinLock | Arg::Timer => match v {
            Value::Ptr(Ptr {
                region: Region::MapValue { size, .. },
                nullable: false,
                off,
                ..
            }) => {
                let limit = u64::from(*size);
                if off.signed_range().0 < 0 || off.signed_range().1 as u64 + 4 > limit {
                    bad(env, "a pointer inside a map value");
                }
            }
            _ => bad(env, "a pointer into a map value"),
        },
        Arg::Callback => match v {
            Value::Ptr(Ptr {
                region: Region::Func { .. },
                ..
            }) => {
                env.fail(
                    pc,
                    "helper",
                    format!("{name}: callbacks are not verified yet"),
                    vec![],
                );
            }
            _ => bad(env, "a function reference"),
        },
        Arg::ConstStr => match v {
            Value::Ptr(Ptr {
                region: Region::MapValue {
                    read_only: true, ..
                },
                nullable: false,
                ..
            }) => {}
            _ => bad(env, "a pointer to a constant string in read-only data"),
        },
        Arg::RingbufRecord => match v {
            Value::Ptr(Ptr {
                region: Region::Mem { ringbuf: true, .. },
                nullable: false,
                null_id,
                off,
                ..
            }) => {
                if off.is_constant() != Some(0) {
                    bad(env, "the unmodified pointer bpf_ringbuf_reserve returned");
                }
                released.push(*null_id);
            }
            _ => bad(env, "a ring buffer record checked against NULL"),
        },
        Arg::Dynptr { access } => check_mem(env, state, pc, name, r, v, 16, 16, access, "dynptr"),
        Arg::Stack { nullable } => match v {
            Value::Ptr(Ptr {
                region: Region::Stack { .. },
                nullable: false,
                ..
            }) => {}
            Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
            _ => bad(env, "a stack pointer"),
        },
    }
}

/// Map types whose keys are indices below `max_entries`.
fn is_array_map(map_type: u32) -> bool {
    matches!(map_type, 2 | 3 | 4 | 6 | 8 | 12 | 14 | 16 | 17)
}

/// A constant key of an array map must be a valid index: an out-of-range constant can never
/// name an element, so the call is a bug (Linux's own array maps reject it at run time).
fn check_array_key(
    env: &mut Env<'_>,
    state: &State,
    pc: usize,
    name: &str,
    r: usize,
    v: &Value,
    map: usize,
) {
    let info = &env.maps[map];
    if !is_array_map(info.map_type) || info.key_size != 4 {
        return;
    }
    let Value::Ptr(Ptr {
        region: Region::Stack { depth },
        off,
        ..
    }) = v
    else {
        return;
    };
    let (Some(off), Some(stack)) = (off.is_constant(), state.stack(usize::from(*depth))) else {
        return;
    };
    let Some(key) = stack.constant_at(off as usize, 4) else {
        return;
    };
    if key >= u64::from(info.max_entries) {
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: key {} in r{r} is out of range for array map `{}` ({} entries)",
                key as u32 as i32, info.name, info.max_entries
            ),
            vec![],
        );
    }
}

/// Memory passed to a helper: `[ptr, ptr + size)` in bounds for every possible size in
/// `[min, max]`; read memory initialised; written stack memory becomes initialised.
#[allow(clippy::too_many_arguments)]
fn check_mem(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    name: &str,
    r: usize,
    v: &Value,
    min: u64,
    max: u64,
    access: Access,
    what: &str,
) {
    let Value::Ptr(p) = v else {
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: r{r} must point to a {what}, but it is {}",
                v.describe()
            ),
            vec![],
        );
        return;
    };
    if p.nullable {
        env.fail(
            pc,
            "null",
            format!("{name}: r{r} may be NULL; check it first"),
            vec![],
        );
    }
    let limit: Option<i128> = match p.region {
        Region::Stack { .. } => Some(512),
        Region::MapValue { size, .. } => Some(i128::from(size)),
        Region::Mem { size, .. } => Some(i128::from(size)),
        Region::Packet => None,
        Region::Ctx | Region::MapFd { .. } | Region::Func { .. } | Region::Kernel { .. } => {
            env.fail(pc, "helper", format!("{name}: r{r} must point to a {what} on the stack, in a map value or the packet, not to {}", p.region), vec![]);
            return;
        }
    };
    if access != Access::Read
        && let Region::MapValue {
            read_only: true, ..
        } = p.region
    {
        env.fail(
            pc,
            "helper",
            format!("{name} writes into a read-only map value"),
            vec![],
        );
    }
    let (lo, hi) = (
        i128::from(p.off.signed_range().0),
        i128::from(p.off.signed_range().1),
    );
    let in_bounds = match limit {
        Some(limit) => lo >= 0 && hi + i128::from(max) <= limit,
        None => {
            // Packet memory: the same proof as a load of `max` bytes.
            let var = super::state::var_of(Loc::Reg(r as u8));
            let upper = state.zone.diff_bound(var, super::state::V_PACKET_SIZE);
            lo >= 0 && upper.is_some_and(|d| i128::from(d) + i128::from(max) <= 0)
        }
    };
    if !in_bounds {
        let size = if min == max {
            format!("{max}")
        } else {
            format!(
                "up to {}",
                if max == u64::MAX {
                    "unbounded".to_string()
                } else {
                    max.to_string()
                }
            )
        };
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: the {what} in r{r} must hold {size} bytes, but that may exceed its {}",
                p.region
            ),
            vec![format!("r{r} = {}", v.describe())],
        );
        return;
    }
    if let Region::Stack { depth } = p.region
        && let Some(stack) = state.stack_mut(usize::from(depth))
    {
        let start = lo as usize;
        let end = (hi + i128::from(max)).clamp(0, 512) as usize;
        match access {
            Access::Read | Access::ReadWrite => {
                let need_end = (hi + i128::from(min)) as usize;
                if let Some(b) = stack.first_uninit(start, need_end.saturating_sub(start))
                    && !env.options.allow_ptr_leaks
                {
                    env.fail(
                        pc,
                        "uninit",
                        format!(
                            "{name} reads uninitialised stack byte r10{:+} of the {what} in r{r}",
                            b as i64 - 512
                        ),
                        vec![],
                    );
                }
                if let Some((slot, _)) = stack
                    .slots()
                    .find(|(s, v)| *s * 8 < end && *s * 8 + 8 > start && matches!(v, Value::Ptr(_)))
                    && !env.options.allow_ptr_leaks
                    && access != Access::Write
                {
                    env.fail(
                        pc,
                        "leak",
                        format!(
                            "{name} reads the pointer spilled at r10{:+}",
                            slot as i64 * 8 - 512
                        ),
                        vec![],
                    );
                }
                if access == Access::ReadWrite {
                    stack.write_bytes(start, end - start);
                }
            }
            Access::Write => {
                // Bytes the helper may write lose their contents; only bytes written for every
                // possible offset and size become initialised.
                stack.clobber(start, end.saturating_sub(start));
                let sure_end = (lo + i128::from(min)).clamp(0, 512) as usize;
                let sure_start = hi as usize;
                if sure_start < sure_end {
                    stack.mark_init(sure_start, sure_end - sure_start);
                }
            }
        }
    }
}

/// `exit`: in the entry function the program ends; in a callee the frame returns (the return
/// edge restores the caller).
fn exit(env: &mut Env<'_>, state: &mut State, pc: usize) {
    let r0 = state.regs[0].clone();
    if state.depth() > 0 {
        if !check_usable(env, pc, 0, &r0) {
            return;
        }
        if let Value::Ptr(Ptr {
            region: Region::Stack { depth },
            ..
        }) = r0
            && usize::from(depth) == state.depth()
        {
            env.fail(
                pc,
                "memory",
                "returns a pointer to its own stack frame".into(),
                vec![],
            );
        }
        return;
    }
    if !check_usable(env, pc, 0, &r0) {
        return;
    }
    match &r0 {
        Value::Num(n) => {
            if let Some((lo, hi)) = return_range(env.program_type)
                && (n.signed_range().0 < lo || n.signed_range().1 > hi)
            {
                env.fail(
                    pc,
                    "exit",
                    format!(
                        "{} programs must return a value in [{lo}, {hi}], but r0 is {n}",
                        env.program_type
                    ),
                    vec![],
                );
            }
        }
        _ if env.options.allow_ptr_leaks => {}
        _ => env.fail(
            pc,
            "leak",
            format!("returns a pointer in r0 ({})", r0.describe()),
            vec![],
        ),
    }
    if !state.records.is_empty() {
        env.fail(
            pc,
            "resource",
            "exits without submitting or discarding a reserved ring buffer record".into(),
            vec![],
        );
    }
    if state.lock_held {
        env.fail(pc, "lock", "exits with a spin lock held".into(), vec![]);
    }
}

/// The return values Linux accepts per program type (`check_return_code`).
fn return_range(t: ProgramType) -> Option<(i64, i64)> {
    match t {
        ProgramType::CgroupSkb
        | ProgramType::CgroupSock
        | ProgramType::CgroupDevice
        | ProgramType::CgroupSysctl
        | ProgramType::CgroupSockopt
        | ProgramType::CgroupSockAddr => Some((0, 1)),
        ProgramType::SkLookup => Some((0, 1)),
        _ => None,
    }
}

/// Call edge: push a frame for the callee. r1-r5 are its arguments; r6-r10 of the caller are
/// saved; the callee gets a fresh stack and r10 at its top.
pub fn enter(state: &mut State) {
    let depth = state.depth();
    let saved: Vec<Value> = (6..=10).map(|r| state.regs[r].clone()).collect();
    if let Some(frame) = state.frames.last_mut() {
        frame.saved = saved;
    }
    for (i, r) in (6..=10).enumerate() {
        let var = super::state::var_of(Loc::Reg(r as u8));
        state
            .zone
            .assign_var(super::state::saved_var(depth, 6 + i), var, 0);
    }
    state.frames.push(Frame {
        stack: Stack::default(),
        saved: vec![],
    });
    let new_depth = state.depth() as u8;
    state.set(Loc::Reg(0), Value::uninit());
    for r in 6..=9 {
        state.set(Loc::Reg(r), Value::uninit());
    }
    state.set(
        Loc::Reg(10),
        Value::ptr(Region::Stack { depth: new_depth }, 512),
    );
}

/// Return edge: pop the callee's frame, restore r6-r10, clobber r1-r5; r0 is the callee's.
pub fn leave(state: &mut State) {
    let callee = state.depth();
    if callee == 0 {
        return;
    }
    state.frames.pop();
    for slot in 0..64u8 {
        state.zone.forget(super::state::var_of(Loc::Slot {
            depth: callee as u8,
            slot,
        }));
    }
    // A pointer into the dead frame's stack must not survive.
    state.for_each_value(|v| {
        if matches!(v, Value::Ptr(Ptr { region: Region::Stack { depth }, .. }) if usize::from(*depth) == callee) {
            *v = Value::Bad(Unusable::Mixed);
        }
    });
    let caller = state.depth();
    let saved = state
        .frames
        .last()
        .map(|f| f.saved.clone())
        .unwrap_or_default();
    for (i, v) in saved.into_iter().enumerate() {
        let r = 6 + i;
        let var = super::state::saved_var(caller, r);
        state.copy(Loc::Reg(r as u8), var, v);
        state.zone.forget(var);
    }
    if let Some(frame) = state.frames.last_mut() {
        frame.saved = vec![];
    }
    clobber(state);
}
