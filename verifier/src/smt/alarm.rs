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
use crate::interp::WatchCond;
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
    /// No property is encoded; the replay must reach the pc in the state `watch` describes
    /// (an interpreter watchpoint, `interp::watch`): what the hardware does not trap on, such
    /// as an uninitialised read or a NULL pointer's arithmetic (confirm-only).
    Watched(&'static str, WatchCond),
    /// The replay must run the loop at the pc more than `limit` times (confirm-only).
    Unbounded { limit: u64 },
    /// The replay must end holding what the program should have released (confirm-only).
    HeldAtExit(Held),
}

/// What a program must release before it exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    SpinLock,
    RingbufRecord,
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
        "uninit" => uninit(m, insn),
        "null" if m.contains("before adding to it") => {
            let reg = leading_reg(m).ok_or("no register named")?;
            Ok(Property::Watched(
                "arithmetic on a NULL pointer",
                WatchCond::RegIs(reg, 0),
            ))
        }
        "leak" if m.starts_with("compares ") => match *insn {
            Insn::Jump {
                dst,
                src: Operand::Reg(src),
                ..
            } => Ok(Property::Watched(
                "a comparison of pointers into different regions",
                WatchCond::DistinctRegions(dst, src),
            )),
            _ => Err("not a comparison of two registers".into()),
        },
        "leak" if m.starts_with("stores a pointer into") => match *insn {
            Insn::Store {
                dst,
                off,
                value: Operand::Reg(value),
                ..
            } => Ok(Property::Watched(
                "an address stored where it can be read outside the program",
                WatchCond::AddressEscapes { value, dst, off },
            )),
            _ => Err("not a store of a register".into()),
        },
        // The analysis refuses this access of the context (whose type it knows at the pc) at
        // this constant offset for this program type: reaching it is the bug.
        "ctx" if m.contains("is not allowed for") && access().is_some() => Ok(Property::Watched(
            "an access to a context field the program type may not use",
            WatchCond::Reached,
        )),
        "termination" if m.contains("no bound on its iterations") => {
            let limit = m
                .rsplit("(limit ")
                .next()
                .and_then(|t| t.trim_end_matches(')').parse().ok())
                .ok_or("no iteration limit in the message")?;
            Ok(Property::Unbounded { limit })
        }
        "lock" if matches!(insn, Insn::Exit) => Ok(Property::HeldAtExit(Held::SpinLock)),
        "resource" if matches!(insn, Insn::Exit) && m.contains("ring buffer record") => {
            Ok(Property::HeldAtExit(Held::RingbufRecord))
        }
        kind => Err(format!("alarms of kind `{kind}` are not encoded")),
    }
}

/// An uninitialised read: of a register (named first in the message), of the stack by a load
/// (its bytes), or of the stack by a helper (the byte the message names, `r10-N`).
fn uninit(m: &str, insn: &Insn) -> Result<Property, String> {
    const WHAT: &str = "a read of memory or a register never written";
    if m.ends_with("is used before it is initialised") {
        let reg = leading_reg(m).ok_or("no register named")?;
        return Ok(Property::Watched(WHAT, WatchCond::RegUninit(reg)));
    }
    match *insn {
        Insn::Load { size, src, off, .. } => Ok(Property::Watched(
            WHAT,
            WatchCond::StackUninit {
                reg: src,
                off,
                size: size.bytes() as u16,
            },
        )),
        Insn::Call(_) => {
            let off = m
                .split("stack byte r10")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|t| t.parse::<i16>().ok())
                .ok_or("no stack byte named")?;
            Ok(Property::Watched(
                WHAT,
                WatchCond::StackUninit {
                    reg: Reg::FP,
                    off,
                    size: 1,
                },
            ))
        }
        _ => Err("an uninitialised read of an unknown kind".into()),
    }
}

/// The register a message starts with (`r6 is used ...`).
fn leading_reg(m: &str) -> Option<Reg> {
    let n: u8 = m
        .strip_prefix('r')?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Reg::new(n)
}
