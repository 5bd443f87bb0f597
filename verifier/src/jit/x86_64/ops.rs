//! Arithmetic, byte swaps and conditional jumps, exactly as [`crate::interp::alu`] defines them.
//!
//! 32-bit operations write 32-bit registers, which zero-extends on x86-64; where an instruction
//! might not write its destination (a shift by a count that is 0 at run time) an explicit
//! `mov r32, r32` zero-extends. Division and modulo call a shared stub (`stubs.rs`), which
//! handles the divisor 0 and `INT_MIN / -1` before `idiv` could fault.

use super::encode::{Alu, Cc, Label, R10, R11, RCX, Shift, Unary, W};
use super::stubs::Shared;
use super::{Compiler, R, width};
use crate::isa::{AluOp, Cond, Endian, Operand, Width};
use crate::jit::JitError;

impl Compiler<'_> {
    pub(super) fn alu(
        &mut self,
        pc: usize,
        bpf_width: Width,
        op: AluOp,
        dst: usize,
        src: Operand,
    ) -> Result<(), JitError> {
        let w = width(bpf_width);
        let d = R[dst];
        let a = &mut self.a;
        let group = match op {
            AluOp::Add => Some(Alu::Add),
            AluOp::Sub => Some(Alu::Sub),
            AluOp::Or => Some(Alu::Or),
            AluOp::And => Some(Alu::And),
            AluOp::Xor => Some(Alu::Xor),
            _ => None,
        };
        if let Some(g) = group {
            match src {
                Operand::Reg(s) => a.alu_rr(g, w, d, R[s.index()]),
                Operand::Imm(i) => a.alu_ri(g, w, d, i),
            }
            return Ok(());
        }
        match op {
            AluOp::Mul => match src {
                Operand::Reg(s) => a.imul_rr(w, d, R[s.index()]),
                Operand::Imm(i) => a.imul_rri(w, d, d, i),
            },
            AluOp::Mov => match (w, src) {
                (_, Operand::Reg(s)) => a.mov_rr(w, d, R[s.index()]),
                (W::Q, Operand::Imm(i)) => a.mov_ri64(d, i64::from(i) as u64),
                (_, Operand::Imm(i)) => a.mov_ri32(d, i as u32),
            },
            AluOp::MovSx(bits) => {
                let Operand::Reg(s) = src else {
                    return Err(JitError::Unsupported {
                        pc,
                        what: "movsx from an immediate".into(),
                    });
                };
                let s = R[s.index()];
                match (w, bits) {
                    (_, 8) => a.movsx_rr(w, d, s, W::B),
                    (_, 16) => a.movsx_rr(w, d, s, W::H),
                    (W::Q, 32) => a.movsx_rr(W::Q, d, s, W::D),
                    (_, _) => a.mov_rr(w, d, s),
                }
            }
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(w, op, dst, src),
            _ => self.div(w, op, dst, src),
        }
        Ok(())
    }

    fn shift(&mut self, w: W, op: AluOp, dst: usize, src: Operand) {
        let a = &mut self.a;
        let kind = match op {
            AluOp::Lsh => Shift::Shl,
            AluOp::Rsh => Shift::Shr,
            _ => Shift::Sar,
        };
        match src {
            Operand::Imm(i) => {
                let n = (i as u32) & if w == W::Q { 63 } else { 31 };
                if n == 0 {
                    if w == W::D {
                        a.mov_rr(W::D, R[dst], R[dst]);
                    }
                } else {
                    a.shift_ri(kind, w, R[dst], n as u8);
                }
            }
            Operand::Reg(s) => {
                let s = s.index();
                // The count must be in cl (BPF r4's low byte). Save rcx in r11 unless the count
                // already is r4; a destination of r4 is then shifted in r11.
                let rcx_i = 4;
                let target = if s != rcx_i {
                    a.mov_rr(W::Q, R11, RCX);
                    a.mov_rr(W::D, RCX, R[s]);
                    if dst == rcx_i { R11 } else { R[dst] }
                } else {
                    R[dst]
                };
                a.shift_rcl(kind, w, target);
                if w == W::D {
                    a.mov_rr(W::D, target, target);
                }
                if s != rcx_i {
                    a.mov_rr(W::Q, RCX, R11);
                }
            }
        }
    }

    /// `dst = dst / src` (or `%`): r10 = dividend, r11 = divisor, the shared stub, dst = r11.
    fn div(&mut self, w: W, op: AluOp, dst: usize, src: Operand) {
        let stub = self.shared(Shared::Div { w64: w == W::Q, op });
        let a = &mut self.a;
        match (src, w) {
            (Operand::Reg(s), _) => a.mov_rr(w, R11, R[s.index()]),
            (Operand::Imm(i), W::Q) => a.mov_ri64(R11, i64::from(i) as u64),
            (Operand::Imm(i), _) => a.mov_ri32(R11, i as u32),
        }
        a.mov_rr(w, R10, R[dst]);
        a.call(stub);
        a.mov_rr(W::Q, R[dst], R11);
    }

    pub(super) fn neg(&mut self, w: Width, dst: usize) {
        self.a.unary(Unary::Neg, width(w), R[dst]);
    }

    pub(super) fn endian(&mut self, kind: Endian, bits: u8, dst: usize) {
        let a = &mut self.a;
        let d = R[dst];
        match (kind, bits) {
            (Endian::ToLe, 16) => a.movzx_rr16(d, d),
            (Endian::ToLe, 32) => a.mov_rr(W::D, d, d),
            (Endian::ToLe, _) => {}
            (_, 16) => {
                a.shift_ri(Shift::Ror, W::H, d, 8);
                a.movzx_rr16(d, d);
            }
            (_, 32) => a.bswap(W::D, d),
            (_, _) => a.bswap(W::Q, d),
        }
    }

    pub(super) fn jump(&mut self, w: Width, cond: Cond, dst: usize, src: Operand, target: Label) {
        let w = width(w);
        let a = &mut self.a;
        let d = R[dst];
        match (cond, src) {
            (Cond::Set, Operand::Reg(s)) => a.test_rr(w, d, R[s.index()]),
            (Cond::Set, Operand::Imm(i)) => a.test_ri(w, d, i),
            (_, Operand::Reg(s)) => a.alu_rr(Alu::Cmp, w, d, R[s.index()]),
            (_, Operand::Imm(i)) => a.alu_ri(Alu::Cmp, w, d, i),
        }
        let cc = match cond {
            Cond::Eq => Cc::E,
            Cond::Ne | Cond::Set => Cc::Ne,
            Cond::Gt => Cc::A,
            Cond::Ge => Cc::Ae,
            Cond::Lt => Cc::B,
            Cond::Le => Cc::Be,
            Cond::Sgt => Cc::G,
            Cond::Sge => Cc::Ge,
            Cond::Slt => Cc::L,
            Cond::Sle => Cc::Le,
        };
        a.jcc(cc, target);
    }
}
