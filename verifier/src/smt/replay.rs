//! Replaying a counterexample in the bounds-checked interpreter with the user-space runtime.
//!
//! A model is only shown as "confirmed" when the interpreter agrees: memory properties must
//! trap at the alarm's pc; a zero divisor (not a trap: RFC 9669 defines the result) is
//! observed by running a copy of the program whose division jumps to `r0 = divisor; exit`.
//! Helper results come from the runtime (empty maps, its own clock and PRNG), not from the
//! model, so a counterexample that needs a helper to answer in a particular way may not be
//! confirmed. An exit-value alarm is confirmed by the run's r0, a helper-argument or stale-
//! pointer alarm by a trap (memory fault or helper failure) at the alarm's pc. What the
//! hardware does not trap on (uninitialised reads, a NULL pointer's arithmetic, pointers
//! compared across regions or stored where they escape) is confirmed by an interpreter
//! watchpoint at the alarm's pc that sees the bad state (`interp::watch`); a loop without a
//! bound by a run whose loop head passes the analysis's iteration limit; a spin lock or ring
//! buffer record left held by the runtime's count at the end of the run.

use super::Status;
use super::alarm::{Held, Property};
use super::model::Counterexample;
use crate::elf::{Object, Program};
use crate::interp::{Config, HelperError, Trap, Watch, WatchCond};
use crate::isa::{AluOp, Insn, Operand, Reg, Width};
use crate::runtime::{RunInput, Runtime, RuntimeConfig, vm};

/// Steps a replay may take.
const MAX_STEPS: u64 = 1_000_000;

/// Helpers whose result only the environment decides (ids per the uapi): the clock, the
/// pid/uid, the cpu, random numbers, the cgroup. A replay takes their results from the model,
/// which encodes them as fresh values within their contracts; a program cannot tell such a
/// run from a real one. Helpers whose result depends on program state (maps, ring buffers,
/// probe reads) keep the runtime's answers.
const ENVIRONMENT_HELPERS: &[i32] = &[5, 7, 8, 14, 15, 80, 118, 125, 160, 208];

/// Steps per iteration a replay of a loop without a bound may take (see [`Property::Unbounded`]).
const UNBOUNDED_STEPS_PER_ITERATION: u64 = 64;

/// Replays `cx`, with the maps as loaded and then, if that does not confirm the alarm and
/// the object has hash maps, with one element in each (recorded in `cx.seeded_maps`). A
/// confirmation records what the replay saw in `cx.observed`.
pub fn replay(
    cx: &mut Counterexample,
    pc: usize,
    property: Property,
    object: &Object,
    program: &Program,
) -> Status {
    let mut seen = replay_once(cx, pc, property, object, program, false);
    if seen.is_none() && object.maps.iter().any(|m| is_hash(m.map_type)) {
        seen = replay_once(cx, pc, property, object, program, true);
        if seen.is_some() {
            cx.seeded_maps = object
                .maps
                .iter()
                .filter(|m| is_hash(m.map_type))
                .map(|m| m.name.clone())
                .collect();
        }
    }
    match seen {
        Some(what) => {
            cx.observed = Some(what);
            Status::Confirmed
        }
        None => Status::Unconfirmed,
    }
}

fn is_hash(map_type: u32) -> bool {
    use crate::runtime::maps::types::{HASH, LRU_HASH, LRU_PERCPU_HASH, PERCPU_HASH};
    matches!(map_type, HASH | LRU_HASH | PERCPU_HASH | LRU_PERCPU_HASH)
}

fn replay_once(
    cx: &Counterexample,
    pc: usize,
    property: Property,
    object: &Object,
    program: &Program,
    seed_maps: bool,
) -> Option<String> {
    let entry = object
        .programs
        .iter()
        .position(|p| p.section == program.section && p.function == program.function)?;
    let mut programs: Vec<Vec<Insn>> = object
        .programs
        .iter()
        .map(|p| p.insns.clone().unwrap_or_default())
        .collect();
    if let Property::NonZeroDivisor { reg, width } = property {
        programs[entry] = observe_divisor(&programs[entry], pc, reg, width)?;
    }
    let mut rt = Runtime::for_object(
        object,
        RuntimeConfig {
            fallback_by_prototype: true,
            ..RuntimeConfig::default()
        },
    )
    .ok()?;
    if seed_maps {
        for (i, m) in object.maps.iter().enumerate() {
            if let (true, Ok(map)) = (is_hash(m.map_type), rt.map_mut(i)) {
                let key = vec![0u8; map.info.key_size as usize];
                let value = vec![0u8; map.info.value_size as usize];
                let _ = map.update(&key, &value, crate::runtime::maps::BPF_ANY);
            }
        }
    }
    let layout = crate::platform::layout(program.program_type);
    let has_packet = layout.is_some_and(|l| {
        crate::runtime::context::pointer_fields(l)
            .iter()
            .any(|f| f.kind == crate::platform::FieldKind::PacketStart)
    });
    let mut input = RunInput {
        program_type: program.program_type,
        ctx: cx.ctx.clone(),
        packet: None,
        meta_len: cx.meta_len as usize,
        socket: 0,
        kernel_object: rt.kernel_object() as u64,
        // The encoding reads tracing arguments from the context's bytes (`encode::insn`).
        args_from_ctx: true,
    };
    if has_packet {
        input = input.with_packet(cx.packet.clone());
    }
    let refs: Vec<&[Insn]> = programs.iter().map(Vec::as_slice).collect();
    let config = match property {
        Property::Watched(_, cond) => Config {
            max_steps: MAX_STEPS,
            watch: Some(Watch { pc, cond }),
            ..Config::default()
        },
        // Enough steps for `limit` iterations of a loop of a few instructions: the watch
        // stops the run as soon as the head has run `limit + 1` times.
        Property::Unbounded { limit } => Config {
            max_steps: limit.saturating_mul(UNBOUNDED_STEPS_PER_ITERATION),
            watch: Some(Watch {
                pc,
                cond: WatchCond::Visits(limit),
            }),
            ..Config::default()
        },
        _ => Config {
            max_steps: MAX_STEPS,
            ..Config::default()
        },
    };
    // The environment's answers the model chose; everything else comes from the runtime.
    let script: Vec<(usize, u64)> = cx
        .helpers
        .iter()
        .filter(|(_, id, r0)| {
            // `get_prandom_u32` and `get_smp_processor_id` answer 32 bits; the encoding does
            // not bound them, so a wider model value is left to the runtime.
            ENVIRONMENT_HELPERS.contains(id) && (!matches!(id, 7 | 8) || *r0 <= u64::from(u32::MAX))
        })
        .map(|&(pc, _, r0)| (pc, r0))
        .collect();
    let result = vm::run_scripted(&mut rt, &refs, entry, &input, config, &script);
    match (property, result) {
        (Property::NonZeroDivisor { width, .. }, Ok(out)) => {
            let zero = match width {
                Width::W64 => out.r0 == 0,
                Width::W32 => out.r0 as u32 == 0,
            };
            zero.then(|| format!("pc {pc}: the divisor is 0"))
        }
        (Property::ExitIn { lo, hi }, Ok(out)) => (!(lo..=hi).contains(&(out.r0 as i64)))
            .then(|| format!("exits with r0 = {}", out.r0 as i64)),
        (Property::HeldAtExit(Held::SpinLock), Ok(out)) => (out.locks_held > 0)
            .then(|| format!("exits holding {} spin lock(s)", out.locks_held)),
        (Property::HeldAtExit(Held::RingbufRecord), Ok(out)) => (out.records_held > 0).then(|| {
            format!(
                "exits holding {} ring buffer record(s), neither submitted nor discarded",
                out.records_held
            )
        }),
        (Property::Watched(..) | Property::Unbounded { .. }, Err(t @ Trap::Watch { .. }))
        | (
            Property::InBounds { .. }
            | Property::InContext { .. }
            | Property::NonNull { .. }
            | Property::Reached(_),
            Err(t @ Trap::Memory { .. }),
        )
        // A helper refusing its arguments (a fault on a pointer it was given, or a misuse the
        // runtime detects) at the alarm's call.
        | (
            Property::Reached(_),
            Err(
                t @ Trap::Helper {
                    error: HelperError::Fault(_) | HelperError::Failed(_),
                    ..
                },
            ),
        ) => (t.pc() == pc).then(|| t.to_string()),
        _ => None,
    }
}

/// A copy of `insns` whose instruction at `pc` jumps to an appended `r0 = divisor; exit`.
fn observe_divisor(insns: &[Insn], pc: usize, reg: Reg, width: Width) -> Option<Vec<Insn>> {
    let mut out = insns.to_vec();
    let stub = out.len();
    let off = i32::try_from(stub.checked_sub(pc + 1)?).ok()?;
    *out.get_mut(pc)? = Insn::Ja { off, long: true };
    out.push(Insn::Alu {
        width,
        op: AluOp::Mov,
        dst: Reg::R0,
        src: Operand::Reg(reg),
    });
    out.push(Insn::Exit);
    Some(out)
}
