//! Which registers each block may still read before writing them (live on entry).
//!
//! Why: the fixpoint keeps paths apart by the kinds of their registers (a pointer on one path,
//! NULL or an error code on the other) and merges them when there are too many. A register
//! that is never read again does not matter: telling paths apart by it wastes the budget of
//! paths on differences that cannot cause a false alarm. Cilium's datapath returns error codes
//! through registers that hold pointers on the success path, and leaves them dead there.
//!
//! The result over-approximates liveness (when unsure, a register is live), which is what makes
//! ignoring dead registers sound: only registers that no path reads before writing are
//! treated as dead. Calls are inlined in the graph, so the caller's callee-saved r6-r9 are live
//! across every call edge, and callback edges (whose frames save all registers) keep
//! everything live.

use super::{Cfg, Edge};
use crate::isa::{AtomicOp, CallTarget, Insn, Operand};
use petgraph::Direction;
use petgraph::visit::EdgeRef;

/// A set of registers r0-r10 as bits.
pub type Regs = u16;

const ALL: Regs = (1 << 11) - 1;
const ARGS: Regs = 0b11_1110;
const CALLEE_SAVED: Regs = 0b11_1100_0000;

fn bit(r: crate::isa::Reg) -> Regs {
    1 << r.index()
}

fn operand(o: &Operand) -> Regs {
    match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    }
}

/// Registers `insn` reads and registers it writes (before and after it runs).
fn uses_defs(insn: &Insn) -> (Regs, Regs) {
    use crate::isa::AluOp;
    match insn {
        Insn::Alu {
            op: AluOp::Mov | AluOp::MovSx(_),
            dst,
            src,
            ..
        } => (operand(src), bit(*dst)),
        Insn::Alu { dst, src, .. } => (bit(*dst) | operand(src), bit(*dst)),
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(*dst), bit(*dst)),
        Insn::Load { dst, src, .. } => (bit(*src), bit(*dst)),
        Insn::Store { dst, value, .. } => (bit(*dst) | operand(value), 0),
        Insn::Atomic {
            op,
            fetch,
            dst,
            src,
            ..
        } => {
            let reads = bit(*dst) | bit(*src);
            match op {
                AtomicOp::CmpXchg => (reads | 1, 1),
                AtomicOp::Xchg => (reads, bit(*src)),
                _ if *fetch => (reads, bit(*src)),
                _ => (reads, 0),
            }
        }
        Insn::LoadImm64 { dst, .. } => (0, bit(*dst)),
        Insn::WideTail | Insn::Ja { .. } => (0, 0),
        // Legacy packet loads read the context in r6 (and `src` for the indirect form, which
        // the decoder keeps in `imm`'s register field; assume any argument register), and
        // clobber r0-r5.
        Insn::LoadPacket { .. } => (ALL & !(1 << 10), 0b11_1111),
        Insn::Jump { dst, src, .. } => (bit(*dst) | operand(src), 0),
        Insn::Call(CallTarget::Local(_)) => (ARGS, 0),
        Insn::Call(_) => (ARGS, 0b11_1111),
        Insn::CallX { reg } => (ARGS | bit(*reg), 0b11_1111),
        Insn::Exit => (1, 0),
    }
}

/// Per block (by node index), the registers live on entry. r10 is always live.
pub fn live_in(cfg: &Cfg, insns: &[Insn]) -> Vec<Regs> {
    let g = &cfg.graph;
    let n = g.node_count();
    // Per block: what it reads before writing (gen) and what it writes (kill).
    let mut gen_kill = Vec::with_capacity(n);
    for b in g.node_indices() {
        let block = g[b];
        if block.callback_loop {
            gen_kill.push((ALL, 0));
            continue;
        }
        let (mut gen_, mut kill) = (0, 0);
        for pc in block.start..=block.end {
            if let Some(insn) = insns.get(pc) {
                let (uses, defs) = uses_defs(insn);
                gen_ |= uses & !kill;
                kill |= defs;
            }
        }
        gen_kill.push((gen_, kill));
    }
    let mut live = vec![0 as Regs; n];
    // Backward round-robin to the fixpoint: sets only grow, at most 11 bits per block.
    let mut changed = true;
    while changed {
        changed = false;
        for b in g.node_indices().rev() {
            let mut out: Regs = 0;
            for e in g.edges_directed(b, Direction::Outgoing) {
                out |= match e.weight() {
                    Edge::Goto | Edge::Taken | Edge::NotTaken | Edge::Return => {
                        live[e.target().index()]
                    }
                    Edge::Call => live[e.target().index()] | CALLEE_SAVED,
                    Edge::CallbackCall | Edge::CallbackReturn | Edge::CallbackDone => ALL,
                };
            }
            let (gen_, kill) = gen_kill[b.index()];
            let new = (gen_ | (out & !kill)) | (1 << 10);
            if new != live[b.index()] {
                live[b.index()] = new;
                changed = true;
            }
        }
    }
    live
}
