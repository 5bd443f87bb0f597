//! Watchpoints and initialisation shadows: how a replay sees what the hardware does not trap on.
//!
//! The verifier refuses more than memory faults: reading a register or stack byte never
//! written, arithmetic on a NULL pointer, comparing pointers into different objects, storing an
//! address where the outside world can read it, a loop that runs past the bound. None of these
//! traps on real hardware (or in this interpreter's normal run), yet each is a concrete
//! misbehaviour an SMT counterexample claims to reach. A [`Watch`] makes the interpreter stop
//! with [`super::Trap::Watch`] when the program reaches a pc in such a state, so the replay of
//! a counterexample (`smt::replay`) is judged by the interpreter, not by the formula that
//! produced it.
//!
//! To answer "was this register or stack byte written?", the machine keeps a shadow: one bit
//! per register ([`Vm::init`], updated as Linux defines it: a helper call clobbers r1-r5, a
//! callee starts with only its arguments and r10) and one flag per stack byte ([`super::Memory`]
//! tracks initialisation of the stacks it is told to). The shadows cost one mask update per
//! instruction, so they are always on; only a watch acts on them.

use super::{Insn, Memory, RegionKind, Vm};
use crate::isa::{Operand, Reg};

/// The registers r1-r5 (arguments; clobbered by calls).
pub const ARGS: u16 = 0b11_1110;
/// The registers r6-r9 (callee-saved).
pub const CALLEE_SAVED: u16 = 0b11_1100_0000;
/// r0.
pub const R0: u16 = 1;
/// r10.
pub const FP: u16 = 1 << 10;

/// Stop the run at `pc` when `cond` holds there (checked before the instruction runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    pub pc: usize,
    pub cond: WatchCond,
}

/// What must hold at the watched pc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchCond {
    /// Reaching the pc is enough.
    Reached,
    /// The register was never written on the path taken.
    RegUninit(Reg),
    /// The register holds this value (a NULL pointer: 0).
    RegIs(Reg, u64),
    /// Both registers hold addresses inside memory regions, and not the same region.
    DistinctRegions(Reg, Reg),
    /// `value` holds an address inside a memory region, and `dst + off` lies in a region
    /// other than a stack (where a stored address can be read outside the program).
    AddressEscapes { value: Reg, dst: Reg, off: i16 },
    /// A stack byte in `reg + off .. + size` was never written.
    StackUninit { reg: Reg, off: i16, size: u16 },
    /// The pc is reached more than this many times (a loop head past its iteration bound).
    Visits(u64),
}

impl<H> Vm<H> {
    /// Registers `insn` writes, for the initialisation shadow (calls and exits are handled
    /// where frames change, in `calls`).
    pub(super) fn note_writes(&mut self, insn: Insn) {
        let bit = |r: Reg| 1u16 << r.index();
        match insn {
            Insn::Alu {
                op: crate::isa::AluOp::Mov,
                dst,
                src: Operand::Reg(src),
                ..
            } => {
                self.init = (self.init & !bit(dst))
                    | if self.init & bit(src) != 0 {
                        bit(dst)
                    } else {
                        0
                    };
            }
            Insn::Alu { dst, .. }
            | Insn::Neg { dst, .. }
            | Insn::Endian { dst, .. }
            | Insn::Load { dst, .. }
            | Insn::LoadImm64 { dst, .. } => self.init |= bit(dst),
            Insn::Atomic {
                fetch: true,
                op,
                src,
                ..
            } => {
                self.init |= if op == crate::isa::AtomicOp::CmpXchg {
                    R0
                } else {
                    bit(src)
                }
            }
            Insn::LoadPacket { .. } => self.init = (self.init & !ARGS) | R0,
            _ => {}
        }
    }

    /// Whether `watch` stops the run at `pc` with registers `regs`: what it saw, if so.
    pub(super) fn watch_fires(&mut self, pc: usize, regs: &[u64; 11]) -> Option<String> {
        let w = self.config.watch?;
        if w.pc != pc {
            return None;
        }
        let reg = |r: Reg| regs[r.index()];
        let region = |mem: &Memory, addr: u64| mem.region_of(addr).map(|(id, _)| id);
        match w.cond {
            WatchCond::Reached => Some("the program reached it".into()),
            WatchCond::RegUninit(r) => (self.init & (1 << r.index()) == 0)
                .then(|| format!("r{} was never written on this path", r.index())),
            WatchCond::RegIs(r, v) => (reg(r) == v).then(|| format!("r{} holds {v:#x}", r.index())),
            WatchCond::DistinctRegions(a, b) => {
                let (ra, rb) = (region(&self.mem, reg(a))?, region(&self.mem, reg(b))?);
                (ra != rb).then(|| {
                    format!(
                        "r{} points into the {} and r{} into the {}",
                        a.index(),
                        self.mem.kind(ra),
                        b.index(),
                        self.mem.kind(rb)
                    )
                })
            }
            WatchCond::AddressEscapes { value, dst, off } => {
                let from = region(&self.mem, reg(value))?;
                let to = region(&self.mem, reg(dst).wrapping_add(off as i64 as u64))?;
                (!matches!(self.mem.kind(to), RegionKind::Stack { .. })).then(|| {
                    format!(
                        "r{} (an address in the {}) is stored into the {}",
                        value.index(),
                        self.mem.kind(from),
                        self.mem.kind(to)
                    )
                })
            }
            WatchCond::StackUninit { reg: r, off, size } => {
                let at = reg(r).wrapping_add(off as i64 as u64);
                self.mem
                    .first_uninit(at, usize::from(size))
                    .map(|b| format!("the stack byte at {b:#x} was never written"))
            }
            WatchCond::Visits(limit) => {
                self.visits += 1;
                (self.visits > limit).then(|| format!("it ran more than {limit} times"))
            }
        }
    }
}
