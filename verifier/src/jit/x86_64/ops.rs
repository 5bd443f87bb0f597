//! Arithmetic, byte swaps and conditional jumps, exactly as [`crate::interp::alu`] defines them.
//!
//! 32-bit operations write 32-bit registers, which zero-extends on x86-64; where an instruction
//! might not write its destination (a shift by a count that is 0 at run time) an explicit
//! `mov r32, r32` zero-extends. Division and modulo go through rax/rdx (BPF r0/r3) with both
//! saved in scratch registers, and handle the divisor 0 (quotient 0, remainder = dividend) and
//! `INT_MIN / -1` (quotient wraps, remainder 0) before `idiv` could fault.

use super::{Compiler, R8, R16, R32, R64, asm_err};
use crate::isa::{AluOp, Cond, Endian, Operand, Width};
use crate::jit::JitError;
use iced_x86::code_asm::*;

macro_rules! binop {
    ($a:expr, $m:ident, $w:expr, $d:expr, $s:expr) => {
        match ($w, $s) {
            (Width::W64, Operand::Reg(s)) => $a.$m(R64[$d], R64[s.index()]),
            (Width::W64, Operand::Imm(i)) => $a.$m(R64[$d], i),
            (Width::W32, Operand::Reg(s)) => $a.$m(R32[$d], R32[s.index()]),
            (Width::W32, Operand::Imm(i)) => $a.$m(R32[$d], i),
        }
        .map_err(asm_err)
    };
}

macro_rules! shift {
    ($a:expr, $m:ident, $w:expr, $d:expr, $count:expr) => {
        match $w {
            Width::W64 => $a.$m(R64[$d], $count),
            Width::W32 => $a.$m(R32[$d], $count),
        }
        .map_err(asm_err)
    };
}

impl Compiler<'_> {
    pub(super) fn alu(
        &mut self,
        pc: usize,
        width: Width,
        op: AluOp,
        dst: usize,
        src: Operand,
    ) -> Result<(), JitError> {
        let e = asm_err;
        let a = &mut self.a;
        match op {
            AluOp::Add => binop!(a, add, width, dst, src),
            AluOp::Sub => binop!(a, sub, width, dst, src),
            AluOp::Or => binop!(a, or, width, dst, src),
            AluOp::And => binop!(a, and, width, dst, src),
            AluOp::Xor => binop!(a, xor, width, dst, src),
            AluOp::Mul => match (width, src) {
                (Width::W64, Operand::Reg(s)) => a.imul_2(R64[dst], R64[s.index()]).map_err(e),
                (Width::W64, Operand::Imm(i)) => a.imul_3(R64[dst], R64[dst], i).map_err(e),
                (Width::W32, Operand::Reg(s)) => a.imul_2(R32[dst], R32[s.index()]).map_err(e),
                (Width::W32, Operand::Imm(i)) => a.imul_3(R32[dst], R32[dst], i).map_err(e),
            },
            AluOp::Mov => match (width, src) {
                (Width::W64, Operand::Reg(s)) => a.mov(R64[dst], R64[s.index()]).map_err(e),
                (Width::W64, Operand::Imm(i)) => a.mov(R64[dst], i64::from(i)).map_err(e),
                (Width::W32, Operand::Reg(s)) => a.mov(R32[dst], R32[s.index()]).map_err(e),
                (Width::W32, Operand::Imm(i)) => a.mov(R32[dst], i as u32).map_err(e),
            },
            AluOp::MovSx(bits) => {
                let Operand::Reg(s) = src else {
                    return Err(JitError::Unsupported {
                        pc,
                        what: "movsx from an immediate".into(),
                    });
                };
                let s = s.index();
                match (width, bits) {
                    (Width::W64, 8) => a.movsx(R64[dst], R8[s]),
                    (Width::W64, 16) => a.movsx(R64[dst], R16[s]),
                    (Width::W64, 32) => a.movsxd(R64[dst], R32[s]),
                    (Width::W64, _) => a.mov(R64[dst], R64[s]),
                    (Width::W32, 8) => a.movsx(R32[dst], R8[s]),
                    (Width::W32, 16) => a.movsx(R32[dst], R16[s]),
                    (Width::W32, _) => a.mov(R32[dst], R32[s]),
                }
                .map_err(e)
            }
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(width, op, dst, src),
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.div(width, op, dst, src),
        }
    }

    fn shift(&mut self, width: Width, op: AluOp, dst: usize, src: Operand) -> Result<(), JitError> {
        let e = asm_err;
        let a = &mut self.a;
        let mask = if width == Width::W64 { 63 } else { 31 };
        match src {
            Operand::Imm(i) => {
                let n = (i as u32) & mask;
                if n == 0 {
                    if width == Width::W32 {
                        a.mov(R32[dst], R32[dst]).map_err(e)?;
                    }
                    return Ok(());
                }
                match op {
                    AluOp::Lsh => shift!(a, shl, width, dst, n),
                    AluOp::Rsh => shift!(a, shr, width, dst, n),
                    _ => shift!(a, sar, width, dst, n),
                }
            }
            Operand::Reg(s) => {
                let s = s.index();
                // The count must be in cl (BPF r4's low byte). Save rcx in r11 unless the count
                // already is r4; a destination of r4 is then shifted in r11.
                let rcx_i = 4;
                let target = if s != rcx_i {
                    a.mov(r11, rcx).map_err(e)?;
                    a.mov(ecx, R32[s]).map_err(e)?;
                    if dst == rcx_i { None } else { Some(dst) }
                } else {
                    Some(dst)
                };
                let emit = |a: &mut CodeAssembler, r64: AsmRegister64, r32: AsmRegister32| {
                    match (op, width) {
                        (AluOp::Lsh, Width::W64) => a.shl(r64, cl),
                        (AluOp::Rsh, Width::W64) => a.shr(r64, cl),
                        (_, Width::W64) => a.sar(r64, cl),
                        (AluOp::Lsh, Width::W32) => a.shl(r32, cl),
                        (AluOp::Rsh, Width::W32) => a.shr(r32, cl),
                        (_, Width::W32) => a.sar(r32, cl),
                    }
                    .map_err(asm_err)?;
                    if width == Width::W32 {
                        a.mov(r32, r32).map_err(asm_err)?;
                    }
                    Ok::<(), JitError>(())
                };
                match target {
                    Some(d) => emit(a, R64[d], R32[d])?,
                    None => emit(a, r11, r11d)?,
                }
                if s != rcx_i {
                    a.mov(rcx, r11).map_err(e)?;
                }
                Ok(())
            }
        }
    }

    fn div(&mut self, width: Width, op: AluOp, dst: usize, src: Operand) -> Result<(), JitError> {
        let e = asm_err;
        let w64 = width == Width::W64;
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let quotient = matches!(op, AluOp::Div | AluOp::SDiv);
        let mut zero = self.a.create_label();
        let mut done = self.a.create_label();
        let mut normal = self.a.create_label();
        let a = &mut self.a;
        match (src, w64) {
            (Operand::Reg(s), true) => a.mov(r11, R64[s.index()]),
            (Operand::Reg(s), false) => a.mov(r11d, R32[s.index()]),
            (Operand::Imm(i), true) => a.mov(r11, i64::from(i)),
            (Operand::Imm(i), false) => a.mov(r11d, i as u32),
        }
        .map_err(e)?;
        a.mov(r10, rax).map_err(e)?;
        a.mov(r9, rdx).map_err(e)?;
        if w64 {
            a.mov(rax, R64[dst]).map_err(e)?;
            a.test(r11, r11).map_err(e)?;
        } else {
            a.mov(eax, R32[dst]).map_err(e)?;
            a.test(r11d, r11d).map_err(e)?;
        }
        a.jz(zero).map_err(e)?;
        if signed {
            if w64 {
                a.cmp(r11, -1).map_err(e)?;
            } else {
                a.cmp(r11d, -1).map_err(e)?;
            }
            a.jne(normal).map_err(e)?;
            // x / -1 = -x (wrapping), x % -1 = 0: idiv would fault on INT_MIN.
            match (quotient, w64) {
                (true, true) => {
                    a.neg(rax).map_err(e)?;
                    a.mov(r11, rax).map_err(e)?;
                }
                (true, false) => {
                    a.neg(eax).map_err(e)?;
                    a.mov(r11d, eax).map_err(e)?;
                }
                (false, _) => a.xor(r11d, r11d).map_err(e)?,
            }
            a.jmp(done).map_err(e)?;
            self.bind(&mut normal)?;
            let a = &mut self.a;
            if w64 {
                a.cqo().map_err(e)?;
                a.idiv(r11).map_err(e)?;
            } else {
                a.cdq().map_err(e)?;
                a.idiv(r11d).map_err(e)?;
            }
        } else {
            a.xor(edx, edx).map_err(e)?;
            if w64 {
                a.div(r11).map_err(e)?;
            } else {
                a.div(r11d).map_err(e)?;
            }
        }
        let a = &mut self.a;
        match (quotient, w64) {
            (true, true) => a.mov(r11, rax),
            (true, false) => a.mov(r11d, eax),
            (false, true) => a.mov(r11, rdx),
            (false, false) => a.mov(r11d, edx),
        }
        .map_err(e)?;
        a.jmp(done).map_err(e)?;
        self.bind(&mut zero)?;
        let a = &mut self.a;
        match (quotient, w64) {
            (true, _) => a.xor(r11d, r11d),
            (false, true) => a.mov(r11, rax),
            (false, false) => a.mov(r11d, eax),
        }
        .map_err(e)?;
        self.bind(&mut done)?;
        let a = &mut self.a;
        a.mov(rax, r10).map_err(e)?;
        a.mov(rdx, r9).map_err(e)?;
        a.mov(R64[dst], r11).map_err(e)
    }

    pub(super) fn neg(&mut self, width: Width, dst: usize) -> Result<(), JitError> {
        match width {
            Width::W64 => self.a.neg(R64[dst]),
            Width::W32 => self.a.neg(R32[dst]),
        }
        .map_err(asm_err)
    }

    pub(super) fn endian(&mut self, kind: Endian, bits: u8, dst: usize) -> Result<(), JitError> {
        let e = asm_err;
        let a = &mut self.a;
        match (kind, bits) {
            (Endian::ToLe, 16) => a.movzx(R32[dst], R16[dst]).map_err(e),
            (Endian::ToLe, 32) => a.mov(R32[dst], R32[dst]).map_err(e),
            // A no-op, but the pc may carry a label, which needs an instruction.
            (Endian::ToLe, _) => a.nop().map_err(e),
            (_, 16) => {
                a.ror(R16[dst], 8u32).map_err(e)?;
                a.movzx(R32[dst], R16[dst]).map_err(e)
            }
            (_, 32) => a.bswap(R32[dst]).map_err(e),
            (_, _) => a.bswap(R64[dst]).map_err(e),
        }
    }

    pub(super) fn jump(
        &mut self,
        width: Width,
        cond: Cond,
        dst: usize,
        src: Operand,
        target: CodeLabel,
    ) -> Result<(), JitError> {
        let a = &mut self.a;
        if cond == Cond::Set {
            binop!(a, test, width, dst, src)?;
        } else {
            binop!(a, cmp, width, dst, src)?;
        }
        match cond {
            Cond::Eq => a.je(target),
            Cond::Ne | Cond::Set => a.jne(target),
            Cond::Gt => a.ja(target),
            Cond::Ge => a.jae(target),
            Cond::Lt => a.jb(target),
            Cond::Le => a.jbe(target),
            Cond::Sgt => a.jg(target),
            Cond::Sge => a.jge(target),
            Cond::Slt => a.jl(target),
            Cond::Sle => a.jle(target),
        }
        .map_err(asm_err)
    }
}
