//! Loads, stores, atomics and legacy packet loads.
//!
//! Loads of program types with context pointer fields first check whether the address is inside
//! the context (see the module comment of [`super`]); program types with BTF arguments also send
//! kernel addresses to `env.probe_load`. Atomics map to `lock` instructions; the fetching forms
//! of `or`/`and`/`xor`, which x86 lacks, are `lock cmpxchg` loops.

use super::{Compiler, ENV, R8, R16, R32, R64, Stub, asm_err};
use crate::isa::{AtomicOp, Operand, PacketMode, Size};
use crate::jit::JitError;
use crate::jit::exec::{OFF_CTX_BASE, OFF_LEGACY_LOAD, OFF_STATUS};
use iced_x86::code_asm::*;

/// Start of the kernel's half of the x86-64 address space.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

fn ptr(base: AsmRegister64, off: i16) -> AsmMemoryOperand {
    base + i32::from(off)
}

impl Compiler<'_> {
    pub(super) fn load(
        &mut self,
        size: Size,
        signed: bool,
        dst: usize,
        src: usize,
        off: i16,
    ) -> Result<(), JitError> {
        let e = asm_err;
        let n = size.bytes();
        let ctx_check = self.ctx_size > 0 && self.ctx_fields.iter().any(|f| n <= f.size as usize);
        let mut plain = self.a.create_label();
        let done = self.a.create_label();
        if ctx_check {
            let label = self.a.create_label();
            let a = &mut self.a;
            a.lea(r11, ptr(R64[src], off)).map_err(e)?;
            a.sub(r11, qword_ptr(ENV + OFF_CTX_BASE)).map_err(e)?;
            a.cmp(r11, self.ctx_size as i32).map_err(e)?;
            a.jb(label).map_err(e)?;
            self.stubs.push(Stub::Ctx {
                label,
                size: n,
                dst,
                plain,
                done,
            });
        }
        if self.probe {
            let label = self.a.create_label();
            let a = &mut self.a;
            a.lea(r11, ptr(R64[src], off)).map_err(e)?;
            a.mov(r10, KERNEL_HALF).map_err(e)?;
            a.cmp(r11, r10).map_err(e)?;
            a.jae(label).map_err(e)?;
            self.stubs.push(Stub::Probe {
                label,
                size: n,
                dst,
                done,
            });
        }
        if ctx_check {
            self.bind(&mut plain)?;
        }
        let m = ptr(R64[src], off);
        let d = dst;
        let a = &mut self.a;
        match (size, signed) {
            (Size::B, false) => a.movzx(R32[d], byte_ptr(m)),
            (Size::H, false) => a.movzx(R32[d], word_ptr(m)),
            (Size::W, false) => a.mov(R32[d], dword_ptr(m)),
            (Size::B, true) => a.movsx(R64[d], byte_ptr(m)),
            (Size::H, true) => a.movsx(R64[d], word_ptr(m)),
            (Size::W, true) => a.movsxd(R64[d], dword_ptr(m)),
            (Size::DW, _) => a.mov(R64[d], qword_ptr(m)),
        }
        .map_err(e)?;
        if ctx_check || self.probe {
            let mut done = done;
            self.bind(&mut done)?;
            // `done` must label an instruction of this pc: the next pc may have its own label.
            self.a.nop().map_err(e)?;
        }
        Ok(())
    }

    pub(super) fn store(
        &mut self,
        size: Size,
        dst: usize,
        off: i16,
        value: Operand,
    ) -> Result<(), JitError> {
        let m = ptr(R64[dst], off);
        let a = &mut self.a;
        match (size, value) {
            (Size::B, Operand::Imm(i)) => a.mov(byte_ptr(m), i32::from(i as i8)),
            (Size::H, Operand::Imm(i)) => a.mov(word_ptr(m), i32::from(i as i16)),
            (Size::W, Operand::Imm(i)) => a.mov(dword_ptr(m), i),
            (Size::DW, Operand::Imm(i)) => a.mov(qword_ptr(m), i),
            (Size::B, Operand::Reg(s)) => a.mov(byte_ptr(m), R8[s.index()]),
            (Size::H, Operand::Reg(s)) => a.mov(word_ptr(m), R16[s.index()]),
            (Size::W, Operand::Reg(s)) => a.mov(dword_ptr(m), R32[s.index()]),
            (Size::DW, Operand::Reg(s)) => a.mov(qword_ptr(m), R64[s.index()]),
        }
        .map_err(asm_err)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &mut self,
        pc: usize,
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: usize,
        src: usize,
        off: i16,
    ) -> Result<(), JitError> {
        let e = asm_err;
        let w64 = match size {
            Size::DW => true,
            Size::W => false,
            _ => {
                return Err(JitError::Unsupported {
                    pc,
                    what: format!("atomic of {} byte(s)", size.bytes()),
                });
            }
        };
        let mem = |m: AsmMemoryOperand| if w64 { qword_ptr(m) } else { dword_ptr(m) };
        let m = ptr(R64[dst], off);
        let a = &mut self.a;
        match (op, fetch) {
            (AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, false) => {
                let s = if w64 { None } else { Some(R32[src]) };
                match (op, s) {
                    (AtomicOp::Add, None) => a.lock().add(mem(m), R64[src]),
                    (AtomicOp::Add, Some(s)) => a.lock().add(mem(m), s),
                    (AtomicOp::Or, None) => a.lock().or(mem(m), R64[src]),
                    (AtomicOp::Or, Some(s)) => a.lock().or(mem(m), s),
                    (AtomicOp::And, None) => a.lock().and(mem(m), R64[src]),
                    (AtomicOp::And, Some(s)) => a.lock().and(mem(m), s),
                    (_, None) => a.lock().xor(mem(m), R64[src]),
                    (_, Some(s)) => a.lock().xor(mem(m), s),
                }
                .map_err(e)
            }
            (AtomicOp::Add, true) => {
                a.mov(r11, R64[src]).map_err(e)?;
                if w64 {
                    a.lock().xadd(mem(m), r11).map_err(e)?;
                } else {
                    a.lock().xadd(mem(m), r11d).map_err(e)?;
                }
                a.mov(R64[src], r11).map_err(e)
            }
            (AtomicOp::Xchg, _) => {
                a.mov(r11, R64[src]).map_err(e)?;
                if w64 {
                    a.xchg(mem(m), r11).map_err(e)?;
                } else {
                    a.xchg(mem(m), r11d).map_err(e)?;
                }
                a.mov(R64[src], r11).map_err(e)
            }
            (AtomicOp::CmpXchg, _) => {
                a.lea(r9, m).map_err(e)?;
                if w64 {
                    a.lock().cmpxchg(qword_ptr(r9), R64[src]).map_err(e)
                } else {
                    a.lock().cmpxchg(dword_ptr(r9), R32[src]).map_err(e)?;
                    // On success eax is not written: zero-extend it explicitly.
                    a.mov(eax, eax).map_err(e)
                }
            }
            (AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, true) => {
                // r9 = address, r10 = saved r0, r11 = operand, rbx (saved) = new value.
                let mut retry = self.a.create_label();
                let a = &mut self.a;
                a.lea(r9, m).map_err(e)?;
                a.mov(r10, rax).map_err(e)?;
                a.mov(r11, R64[src]).map_err(e)?;
                a.push(rbx).map_err(e)?;
                if w64 {
                    a.mov(rax, qword_ptr(r9)).map_err(e)?;
                } else {
                    a.mov(eax, dword_ptr(r9)).map_err(e)?;
                }
                self.bind(&mut retry)?;
                let a = &mut self.a;
                a.mov(rbx, rax).map_err(e)?;
                match op {
                    AtomicOp::Or => a.or(rbx, r11),
                    AtomicOp::And => a.and(rbx, r11),
                    _ => a.xor(rbx, r11),
                }
                .map_err(e)?;
                if w64 {
                    a.lock().cmpxchg(qword_ptr(r9), rbx).map_err(e)?;
                } else {
                    a.lock().cmpxchg(dword_ptr(r9), ebx).map_err(e)?;
                }
                a.jne(retry).map_err(e)?;
                if !w64 {
                    a.mov(eax, eax).map_err(e)?;
                }
                a.mov(r11, rax).map_err(e)?;
                a.pop(rbx).map_err(e)?;
                a.mov(rax, r10).map_err(e)?;
                a.mov(R64[src], r11).map_err(e)
            }
        }
    }

    /// `ld_abs` / `ld_ind`: r0 = big-endian bytes of the packet, through `env.legacy_load`
    /// (which ends the program with r0 = 0 when out of bounds). r1-r5 are kept.
    pub(super) fn legacy_load(
        &mut self,
        pc: usize,
        size: Size,
        mode: PacketMode,
        imm: i32,
    ) -> Result<(), JitError> {
        let e = asm_err;
        let abort = self.abort_label();
        let a = &mut self.a;
        match mode {
            PacketMode::Abs => a.mov(r11, i64::from(imm)).map_err(e)?,
            PacketMode::Ind(r) => {
                a.movsxd(r11, R32[r.index()]).map_err(e)?;
                a.add(r11, imm).map_err(e)?;
            }
        }
        a.mov(qword_ptr(ENV + super::OFF_PC), pc as i32)
            .map_err(e)?;
        let saved = [rdi, rsi, rdx, rcx, r8, r9];
        for r in saved {
            a.push(r).map_err(e)?;
        }
        a.mov(rdi, r11).map_err(e)?;
        a.mov(esi, size.bytes() as u32).map_err(e)?;
        a.mov(rdx, ENV).map_err(e)?;
        a.call(qword_ptr(ENV + OFF_LEGACY_LOAD)).map_err(e)?;
        for r in saved.into_iter().rev() {
            a.pop(r).map_err(e)?;
        }
        a.cmp(qword_ptr(ENV + OFF_STATUS), 0).map_err(e)?;
        a.jne(abort).map_err(e)
    }
}
