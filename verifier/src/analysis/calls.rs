//! Helper calls (argument contracts from `platform::helpers`, return values, packet
//! invalidation, ring buffer and lock bookkeeping) and `exit` (return values per program type,
//! leaks, resources still held).
//!
//! bpf-to-bpf calls are not here: the CFG inlines them, and `fixpoint` applies the frame push and
//! pop on the call and return edges.

use super::MapInfo;
use super::helper_args::check_arg;
use super::state::{Frame, Loc, State};
use super::transfer::{Env, check_usable};
use super::value::{Ptr, Region, Unusable, Value};
use crate::domain::scalar::Scalar;
use crate::isa::{CallTarget, Insn};
use crate::platform::context::BPF_SOCK;
use crate::platform::helpers::{Arg, Ret, proto};
use crate::platform::{ProgramType, helper_name};
use std::rc::Rc;

/// The `bpf_tail_call` helper.
const TAIL_CALL: i32 = 12;
const MAP_TYPE_PROG_ARRAY: u32 = 3;

pub fn step(env: &mut Env<'_>, state: &mut State, pc: usize, insn: Insn) {
    match insn {
        // A helper whose callback the CFG runs: only the arguments are checked here; the loop
        // node and its edges do the rest (`enter_callback`, `leave_callback`, `finish_callback`).
        Insn::Call(CallTarget::Helper(id)) if env.callback_sites.contains(&pc) => {
            let mut probe = state.clone();
            helper(env, &mut probe, pc, id);
        }
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
                _ if env.leaks_allowed() => {}
                _ => env.fail(
                    pc,
                    "leak",
                    format!("{name} would print r{r}, which is {}", v.describe()),
                    vec![],
                ),
            }
            continue;
        }
        // An argument the helper takes as any number (`ARG_ANYTHING`: a probe-read source
        // address, flags) only needs to be initialised: a value that is a pointer on some paths
        // is fine where pointers may leak, as in Linux, which turns such values into unknown
        // numbers.
        if *arg == Arg::Anything
            && env.leaks_allowed()
            && matches!(v, Value::Bad(u) if u != Unusable::Uninit)
        {
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
    if p.leaks_args && !env.leaks_allowed() {
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
                nullable_ptr(region, p.ret == Ret::MapValueOrNull, pc)
            }
            None => Value::unknown(),
        },
        Ret::RingbufRecordOrNull => {
            let size = alloc_size.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            let v = nullable_ptr(
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
        Ret::SocketOrNull { .. } => nullable_ptr(Region::Kernel { btf_name: BPF_SOCK }, true, pc),
        Ret::TcpSockOrNull => nullable_ptr(Region::Kernel { btf_name: "sock" }, true, pc),
        Ret::BtfId { name, nullable } => {
            nullable_ptr(Region::Kernel { btf_name: name }, nullable, pc)
        }
        Ret::MemOrNull { size } => nullable_ptr(
            Region::Mem {
                size,
                ringbuf: false,
            },
            true,
            pc,
        ),
    };
    if let Value::Ptr(p) = &ret
        && p.nullable
    {
        state.detach_null_id(p.null_id);
    }
    state.set(Loc::Reg(0), ret);
}

/// A fresh pointer; when nullable, with a new id so that the NULL check on any copy refines all.
fn nullable_ptr(region: Region, nullable: bool, pc: usize) -> Value {
    Value::Ptr(Ptr {
        region,
        off: Scalar::constant(0),
        nullable,
        null_id: if nullable { pc as u32 + 1 } else { 0 },
        probe_mem: false,
    })
}

/// `exit`: in the entry function the program ends; in a callee the frame returns (the return
/// edge restores the caller).
fn exit(env: &mut Env<'_>, state: &mut State, pc: usize) {
    let r0 = state.regs[0].clone();
    let callback = state.frames.last().is_some_and(|f| f.callback);
    if state.depth() > 0
        && !callback
        && matches!(r0, Value::Bad(Unusable::Uninit | Unusable::Mixed))
    {
        // A function whose result no caller uses may leave r0 unset (clang drops the
        // assignment), or return a pointer on some paths and a number on others (a lookup's
        // result, checked against NULL): as in Linux, the caller gets that r0, which is
        // unusable, and is checked where read.
        return;
    }
    if state.depth() > 0 {
        if !check_usable(env, pc, 0, &r0) {
            return;
        }
        if state.frames.last().is_some_and(|f| f.callback) {
            match &r0 {
                Value::Num(n) if n.signed_range().0 >= 0 && n.signed_range().1 <= 1 => {}
                _ => env.fail(
                    pc,
                    "exit",
                    format!("a callback must return 0 or 1, but r0 is {}", r0.describe()),
                    vec![],
                ),
            }
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
            if let Some((lo, hi)) = return_range(env.program_type, env.section)
                && (n.signed_range().0 < lo || n.signed_range().1 > hi)
            {
                env.fail(
                    pc,
                    "exit",
                    format!(
                        "{} programs must return a value in [{lo}, {hi}], but r0 is {n}",
                        match env.program_type {
                            // The attach kind decides (`fentry`, `iter`).
                            ProgramType::Tracing => attach_kind(env.section).to_owned(),
                            t => t.to_string(),
                        }
                    ),
                    vec![],
                );
            }
        }
        _ if env.leaks_allowed() => {}
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

/// The return values Linux accepts per program type and, for tracing programs, per attach kind
/// as the section names it (`check_return_code`): fentry and fexit programs return 0 (the
/// trampoline ignores anything else, and Linux refuses it), iterators 0 or 1 (1 asks to see the
/// object again); tp_btf and fmod_ret programs may return anything.
pub(crate) fn return_range(t: ProgramType, section: &str) -> Option<(i64, i64)> {
    match t {
        ProgramType::Tracing => match attach_kind(section) {
            "fentry" | "fentry.s" | "fexit" | "fexit.s" => Some((0, 0)),
            "iter" | "iter.s" => Some((0, 1)),
            _ => None,
        },
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

/// The attach kind a tracing program's section names: `fentry` of `fentry/tcp_close`.
fn attach_kind(section: &str) -> &str {
    section.split('/').next().unwrap_or_default()
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
        stack: Rc::default(),
        saved: vec![],
        callback: false,
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

/// Pops the innermost frame: its stack's zone variables are forgotten and pointers into it
/// become unusable. False at the entry frame (nothing to pop).
fn pop_frame(state: &mut State) -> bool {
    let callee = state.depth();
    if callee == 0 {
        return false;
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
    true
}

/// Return edge: pop the callee's frame, restore r6-r10, clobber r1-r5; r0 is the callee's.
pub fn leave(state: &mut State) {
    if !pop_frame(state) {
        return;
    }
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

/// Callback edge into the callback of a `bpf_loop` call: the caller's registers are saved whole
/// (the helper call has not returned), r1 is the iteration index, r2 the caller's r3.
pub fn enter_callback(state: &mut State, helper: i32, maps: &[MapInfo]) {
    let saved: Vec<Value> = state.regs.to_vec();
    let ctx = state.regs[3].clone();
    let map = state.regs[1].clone();
    if let Some(frame) = state.frames.last_mut() {
        frame.saved = saved;
    }
    state.frames.push(Frame {
        stack: Rc::default(),
        saved: vec![],
        callback: true,
    });
    let depth = state.depth() as u8;
    for r in 0..=9 {
        state.set(Loc::Reg(r), Value::uninit());
    }
    if helper == crate::cfg::BPF_FOR_EACH_MAP_ELEM {
        // callback(map, key, value, ctx). The key is read-only (in a hash map it is the
        // element's own key).
        let info = match &map {
            Value::Ptr(Ptr {
                region: Region::MapFd { map: id },
                ..
            }) => maps.get(*id).map(|m| (*id, m)),
            _ => None,
        };
        if let Some((id, m)) = info {
            let key = Region::MapValue {
                map: super::value::MAP_KEY,
                size: m.key_size,
                read_only: true,
            };
            let value = Region::MapValue {
                map: id,
                size: m.value_size,
                read_only: m.read_only,
            };
            state.set(Loc::Reg(1), map);
            state.set(Loc::Reg(2), Value::ptr(key, 0));
            state.set(Loc::Reg(3), Value::ptr(value, 0));
        }
        state.set(Loc::Reg(4), ctx);
    } else {
        // bpf_loop runs at most 1 << 23 iterations.
        state.set(Loc::Reg(1), Value::Num(super::value::srange(0, 1 << 23)));
        state.set(Loc::Reg(2), ctx);
    }
    state.set(Loc::Reg(10), Value::ptr(Region::Stack { depth }, 512));
}

/// From the callback's exit back to its loop node: the caller's registers as they were.
pub fn leave_callback(state: &mut State) {
    if !pop_frame(state) {
        return;
    }
    let saved = state
        .frames
        .last()
        .map(|f| f.saved.clone())
        .unwrap_or_default();
    for (r, v) in saved.into_iter().enumerate() {
        state.set(Loc::Reg(r as u8), v);
    }
    if let Some(frame) = state.frames.last_mut() {
        frame.saved = vec![];
    }
}

/// From the loop node to the instruction after the helper call: the helper returns a number
/// (the iterations run) and clobbers r1-r5.
pub fn finish_callback(state: &mut State) {
    clobber(state);
    state.set(Loc::Reg(0), Value::unknown());
}
