//! Replaying a counterexample in the bounds-checked interpreter with the user-space runtime.
//!
//! A model is only shown as "confirmed" when the interpreter agrees: memory properties must
//! trap at the alarm's pc; a zero divisor (not a trap: RFC 9669 defines the result) is
//! observed by running a copy of the program whose division jumps to `r0 = divisor; exit`.
//! Helper results come from the runtime (empty maps, its own clock and PRNG), not from the
//! model, so a counterexample that needs a helper to answer in a particular way may not be
//! confirmed. An exit-value alarm is confirmed by the run's r0, a helper-argument or stale-
//! pointer alarm by a trap (memory fault or helper failure) at the alarm's pc.

use super::Status;
use super::alarm::Property;
use super::model::Counterexample;
use crate::elf::{Object, Program};
use crate::interp::{Config, HelperError, Trap};
use crate::isa::{AluOp, Insn, Operand, Reg, Width};
use crate::runtime::{RunInput, Runtime, RuntimeConfig, vm};

/// Steps a replay may take.
const MAX_STEPS: u64 = 1_000_000;

pub fn replay(
    cx: &Counterexample,
    pc: usize,
    property: Property,
    object: &Object,
    program: &Program,
    _strict_div: bool,
) -> Status {
    let Some(entry) = object
        .programs
        .iter()
        .position(|p| p.section == program.section && p.function == program.function)
    else {
        return Status::Unconfirmed;
    };
    let mut programs: Vec<Vec<Insn>> = object
        .programs
        .iter()
        .map(|p| p.insns.clone().unwrap_or_default())
        .collect();
    if let Property::NonZeroDivisor { reg, width } = property {
        match observe_divisor(&programs[entry], pc, reg, width) {
            Some(patched) => programs[entry] = patched,
            None => return Status::Unconfirmed,
        }
    }
    let Ok(mut rt) = Runtime::for_object(
        object,
        RuntimeConfig {
            fallback_by_prototype: true,
            ..RuntimeConfig::default()
        },
    ) else {
        return Status::Unconfirmed;
    };
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
    let config = Config {
        max_steps: MAX_STEPS,
        ..Config::default()
    };
    let result = vm::run(&mut rt, &refs, entry, &input, config);
    let confirmed = match (property, result) {
        (Property::NonZeroDivisor { width, .. }, Ok(out)) => match width {
            Width::W64 => out.r0 == 0,
            Width::W32 => out.r0 as u32 == 0,
        },
        (Property::ExitIn { lo, hi }, Ok(out)) => !(lo..=hi).contains(&(out.r0 as i64)),
        (
            Property::InBounds { .. }
            | Property::InContext { .. }
            | Property::NonNull { .. }
            | Property::Reached(_),
            Err(Trap::Memory { pc: at, .. }),
        ) => at == pc,
        // A helper refusing its arguments (a fault on a pointer it was given, or a misuse the
        // runtime detects) at the alarm's call.
        (
            Property::Reached(_),
            Err(Trap::Helper {
                pc: at,
                error: HelperError::Fault(_) | HelperError::Failed(_),
                ..
            }),
        ) => at == pc,
        _ => false,
    };
    if confirmed {
        Status::Confirmed
    } else {
        Status::Unconfirmed
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
