//! Which alarms the SMT encoding can judge, and what "the check fails" means for each.
//!
//! Two classes. *Dischargeable* properties (bounds of packet/stack/map-value accesses, NULL,
//! divisors) are encoded exactly as the analysis checks them, so `unsat` removes the alarm.
//! *Confirm-only* properties are weaker than (or different from) the analysis's check, so
//! `unsat` proves nothing and the alarm stays `unknown`; a model is still worth replaying,
//! because the interpreter decides whether the bug is real: context bounds (the check also
//! covers field rights), exit values, and alarms whose effect is a trap at the pc (helper
//! arguments, stale packet pointers, writes to read-only maps). Every other kind
//! (uninitialised reads, leaks, termination, locks, references, ...) is not encoded.

use crate::analysis::Diagnostic;
use crate::isa::{AluOp, Insn, Operand, Reg, Width};
use crate::platform::ProgramType;

/// The property an alarm says may fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// `size` bytes at `reg + off` lie inside the region `reg` points into (packet, stack or a
    /// map value).
    InBounds { reg: Reg, off: i16, size: usize },
    /// `size` bytes at `reg + off` lie inside the context (confirm-only).
    InContext { reg: Reg, off: i16, size: usize },
    /// `reg` is not NULL at the access.
    NonNull { reg: Reg },
    /// The divisor (register `reg`, at `width`) is not zero.
    NonZeroDivisor { reg: Reg, width: Width },
    /// r0 at this `exit` is in `[lo, hi]` (confirm-only).
    ExitIn { lo: i64, hi: i64 },
    /// No property is encoded: any path reaching the pc is a candidate, and the replay must
    /// trap at the pc (confirm-only). The string says what the analysis found.
    Reached(&'static str),
}

impl Property {
    /// Whether `unsat` proves the analysis's check (and so discharges the alarm).
    pub fn dischargeable(self) -> bool {
        matches!(
            self,
            Property::InBounds { .. } | Property::NonNull { .. } | Property::NonZeroDivisor { .. }
        )
    }
}

/// The encodable property of `d` at its instruction, or why there is none.
pub fn property(
    d: &Diagnostic,
    insn: &Insn,
    program_type: ProgramType,
    section: &str,
) -> Result<Property, String> {
    let access = || match *insn {
        Insn::Load { size, src, off, .. } => Some((src, off, size.bytes())),
        Insn::Store { size, dst, off, .. } => Some((dst, off, size.bytes())),
        Insn::Atomic { size, dst, off, .. } => Some((dst, off, size.bytes())),
        _ => None,
    };
    let m = d.message.as_str();
    match d.kind {
        "memory"
            if m.contains("packet access at offset")
                || (m.contains("-byte access at offset")
                    && m.contains("may be out of bounds")
                    && !m.contains("helper memory")) =>
        {
            let (reg, off, size) = access().ok_or("not a memory access")?;
            Ok(Property::InBounds { reg, off, size })
        }
        "memory" if m.contains("is read-only for programs") && !m.contains("called from") => {
            Ok(Property::Reached("a write to read-only memory"))
        }
        "ctx" if m.contains(" is outside ") => {
            let (reg, off, size) = access().ok_or("not a memory access")?;
            Ok(Property::InContext { reg, off, size })
        }
        "null" if m.contains("may be NULL here") => {
            let (reg, _, _) = access().ok_or("not a memory access")?;
            Ok(Property::NonNull { reg })
        }
        "division" => match *insn {
            Insn::Alu {
                width,
                op: AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod,
                src: Operand::Reg(reg),
                ..
            } => Ok(Property::NonZeroDivisor { reg, width }),
            _ => Err("not a division by a register".into()),
        },
        "exit" if matches!(insn, Insn::Exit) && m.contains("must return a value in") => {
            let (lo, hi) = crate::analysis::calls::return_range(program_type, section)
                .ok_or("no return range for this program type")?;
            Ok(Property::ExitIn { lo, hi })
        }
        "helper" if matches!(insn, Insn::Call(_)) => Ok(Property::Reached("a bad helper argument")),
        "type" if m.contains("packet pointer invalidated") => {
            Ok(Property::Reached("a stale packet pointer"))
        }
        kind => Err(format!("alarms of kind `{kind}` are not encoded")),
    }
}
