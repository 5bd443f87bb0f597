//! Lays a parsed snippet out as a complete eBPF program, with code appended after it.
//!
//! PREVAIL's snippets may fall off their end (its harness sets `must_have_exit = false` and
//! reads the post-state at the end), and our CFG rejects that (`CfgError::FallsOffEnd`). So
//! every program gets a tail after the snippet's last instruction; pcs of the snippet itself do
//! not move. Layout: `snippet | END: tail ops | SINK: goto SINK | markers`.
//! - END is where the snippet falls through (and where jumps to a label at the very end go).
//!   For the verdict run, END is a plain `exit` (whose exit checks are ignored: the snippet
//!   did not exit there). For post-state probes, top-level `exit`s are redirected to END too,
//!   and END holds the probe.
//! - SINK is a self-loop: `assume` sends the states that fail its condition there, and they
//!   never reach anything else (its "no termination" diagnostic is ignored with the tail).
//! - Marker k is `r0 = *(u64 *)(r10 + 8); exit`: a load outside the stack, which the checking
//!   pass reports exactly when some state reaches it. That is how the test learns, through the
//!   public API only, whether a probe's condition can fail.

use super::objdump::{Code, Op, Target};
use vouch_verifier::isa::{AluOp, Insn, Operand, Reg, Size, Width};

/// A program ready to verify, and where things are in it.
pub struct Program {
    pub insns: Vec<Insn>,
    /// The PREVAIL line of each pc of the snippet (pcs from `tail_start` on are ours).
    pub line_of: Vec<usize>,
    pub tail_start: usize,
    /// The pc of each marker's reporting load.
    pub markers: Vec<usize>,
}

/// How top-level exits are treated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Exits {
    Keep,
    ToEnd,
}

/// Lays out `code` with `tail` at END (empty: a plain `exit`) and `markers` markers.
pub fn lower(code: &Code, exits: Exits, tail: &[Op], markers: usize) -> Result<Program, String> {
    // Pcs of each line's first instruction (lddw takes two slots).
    let size = |op: &Op| match op {
        Op::Insn(i) => i.slots(),
        _ => 1,
    };
    let mut line_pc = vec![];
    let mut line_of = vec![];
    let mut pc = 0;
    for (n, ops) in code.lines.iter().enumerate() {
        line_pc.push(pc);
        for op in ops {
            for _ in 0..size(op) {
                line_of.push(n);
            }
            pc += size(op);
        }
    }
    let end = pc;
    line_pc.push(end);
    let tail: Vec<Op> = if tail.is_empty() {
        vec![Op::Exit]
    } else {
        tail.to_vec()
    };
    let sink = end + tail.iter().map(size).sum::<usize>();
    let first_marker = sink + 1;
    let marker_pc = |k: usize| first_marker + 2 * k;
    let resolve = |t: Target| -> Result<usize, String> {
        match t {
            Target::Line(n) => line_pc.get(n).copied().ok_or(format!("no line {n}")),
            Target::Sink => Ok(sink),
            Target::Marker(k) if k < markers => Ok(marker_pc(k)),
            Target::Marker(k) => Err(format!("no marker {k}")),
        }
    };
    let top_level = if exits == Exits::ToEnd {
        top_level_exits(code, &resolve, end)?
    } else {
        vec![]
    };
    let mut insns = vec![];
    let ops = code.lines.iter().flatten().chain(tail.iter());
    for op in ops {
        let here = insns.len();
        let rel = |t: Target| -> Result<i64, String> { Ok(resolve(t)? as i64 - here as i64 - 1) };
        match *op {
            Op::Insn(i) => {
                insns.push(i);
                if let Insn::LoadImm64 { .. } = i {
                    insns.push(Insn::WideTail);
                }
            }
            Op::Jump {
                width,
                cond,
                dst,
                src,
                target,
            } => insns.push(Insn::Jump {
                width,
                cond,
                dst,
                src,
                off: i16::try_from(rel(target)?).map_err(|_| "jump too far")?,
            }),
            Op::Ja(t) => insns.push(Insn::Ja {
                off: rel(t)? as i32,
                long: false,
            }),
            Op::CallLocal(t) => insns.push(Insn::Call(vouch_verifier::isa::CallTarget::Local(
                rel(t)? as i32,
            ))),
            Op::Exit if top_level.contains(&here) => insns.push(Insn::Ja {
                off: (end as i64 - here as i64 - 1) as i32,
                long: false,
            }),
            Op::Exit => insns.push(Insn::Exit),
        }
    }
    debug_assert_eq!(insns.len(), sink);
    insns.push(Insn::Ja {
        off: -1,
        long: false,
    });
    let fp = Reg::new(10).ok_or("no r10")?;
    let mut marker_pcs = vec![];
    for _ in 0..markers {
        marker_pcs.push(insns.len());
        insns.push(Insn::Load {
            size: Size::DW,
            signed: false,
            dst: Reg::R0,
            src: fp,
            off: 8,
        });
        insns.push(Insn::Exit);
    }
    Ok(Program {
        insns,
        line_of,
        tail_start: end,
        markers: marker_pcs,
    })
}

/// Pcs of the `exit`s of the entry function (reachable from pc 0 without entering calls). An
/// exit also reachable from a subprogram's entry is ambiguous: an error.
fn top_level_exits(
    code: &Code,
    resolve: &dyn Fn(Target) -> Result<usize, String>,
    end: usize,
) -> Result<Vec<usize>, String> {
    // Flatten to (pc, op) with successors.
    let mut at: Vec<Option<Op>> = vec![];
    for op in code.lines.iter().flatten() {
        at.push(Some(*op));
        if let Op::Insn(Insn::LoadImm64 { .. }) = op {
            at.push(None);
        }
    }
    let succ = |pc: usize| -> Result<Vec<usize>, String> {
        Ok(match at.get(pc).copied().flatten() {
            None => vec![],
            Some(Op::Exit) => vec![],
            Some(Op::Ja(t)) => vec![resolve(t)?],
            Some(Op::Jump { target, .. }) => vec![resolve(target)?, pc + 1],
            Some(Op::Insn(i)) => vec![pc + i.slots()],
            Some(Op::CallLocal(_)) => vec![pc + 1],
        })
    };
    let reach = |from: usize| -> Result<Vec<usize>, String> {
        let mut seen = vec![false; at.len() + 1];
        let mut work = vec![from];
        let mut exits = vec![];
        while let Some(pc) = work.pop() {
            if pc >= end || std::mem::replace(&mut seen[pc], true) {
                continue;
            }
            if at[pc] == Some(Op::Exit) {
                exits.push(pc);
            }
            work.extend(succ(pc)?);
        }
        Ok(exits)
    };
    let main = reach(0)?;
    for op in at.iter().flatten() {
        if let Op::CallLocal(t) = op {
            let sub = reach(resolve(*t)?)?;
            if sub.iter().any(|e| main.contains(e)) {
                return Err("an exit shared by the entry function and a subprogram".into());
            }
        }
    }
    Ok(main)
}

/// `dst = imm` for any 64-bit value (a `mov` when it fits, else `lddw`).
pub fn load_const(dst: Reg, v: i128) -> Op {
    let v64 = v as i64;
    if let Ok(small) = i32::try_from(v64) {
        return Op::Insn(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Operand::Imm(small),
        });
    }
    let u = v64 as u64;
    Op::Insn(Insn::LoadImm64 {
        dst,
        kind: vouch_verifier::isa::Imm64Kind::Value,
        imm: u as u32 as i32,
        next_imm: (u >> 32) as u32 as i32,
    })
}
