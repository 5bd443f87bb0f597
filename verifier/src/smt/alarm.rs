//! Which alarms the SMT encoding can judge, and what "the check fails" means for each.
//!
//! Only alarms whose property is fully described by the instruction and the values at its pc
//! are encoded. Every other alarm (uninitialised reads, leaks, types, termination, locks,
//! references, context field rights, ...) keeps status "unknown": proving something weaker
//! than what the analysis checked would discharge a real error.

use crate::analysis::Diagnostic;
use crate::isa::{AluOp, Insn, Operand, Reg, Width};

/// The property an alarm says may fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// `size` bytes at `reg + off` lie inside the region `reg` points into (packet, stack or a
    /// map value; never the context, whose field rules are not bounds).
    InBounds { reg: Reg, off: i16, size: usize },
    /// `reg` is not NULL at the access.
    NonNull { reg: Reg },
    /// The divisor (register `reg`, at `width`) is not zero.
    NonZeroDivisor { reg: Reg, width: Width },
}

/// The encodable property of `d` at its instruction, or why there is none.
pub fn property(d: &Diagnostic, insn: &Insn) -> Result<Property, String> {
    let access = || match *insn {
        Insn::Load { size, src, off, .. } => Some((src, off, size.bytes())),
        Insn::Store { size, dst, off, .. } => Some((dst, off, size.bytes())),
        Insn::Atomic { size, dst, off, .. } => Some((dst, off, size.bytes())),
        _ => None,
    };
    match d.kind {
        "memory"
            if d.message.contains("packet access at offset")
                || (d.message.contains("-byte access at offset")
                    && d.message.contains("may be out of bounds")
                    && !d.message.contains("helper memory")) =>
        {
            let (reg, off, size) = access().ok_or("not a memory access")?;
            Ok(Property::InBounds { reg, off, size })
        }
        "null" if d.message.contains("may be NULL here") => {
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
        kind => Err(format!("alarms of kind `{kind}` are not encoded")),
    }
}
