//! Loads, stores, atomics and legacy packet loads.
//!
//! Loads of program types with context pointer fields first check whether the address is inside
//! the context (see the module comment of [`super`]); program types with BTF arguments also send
//! kernel addresses to `env.probe_load`. Both checks branch to a cold path that calls a shared
//! stub (`stubs.rs`) and jumps back. Atomics map to `lock` instructions; the fetching forms of
//! `or`/`and`/`xor`, which x86 lacks, are `lock cmpxchg` loops.

use super::encode::{Alu, Asm, Cc, Gpr, Mem, R9, R10, R11, RAX, RBX, W, mem};
use super::stubs::{Cold, Shared};
use super::{Compiler, ENV, R};
use crate::isa::{AtomicOp, Operand, PacketMode, Size};
use crate::jit::JitError;
use crate::jit::exec::OFF_CTX_BASE;

/// Start of the kernel's half of the x86-64 address space.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

fn store_width(size: Size) -> W {
    match size {
        Size::B => W::B,
        Size::H => W::H,
        Size::W => W::D,
        Size::DW => W::Q,
    }
}

/// `dst = *m` of `size` bytes, zero- or sign-extended to 64 bits.
pub(super) fn load_insn(a: &mut Asm, size: Size, signed: bool, dst: Gpr, m: Mem) {
    match (size, signed) {
        (Size::B, false) => a.movzx_rm(dst, m, W::B),
        (Size::H, false) => a.movzx_rm(dst, m, W::H),
        (Size::W, false) => a.mov_rm(W::D, dst, m),
        (Size::B, true) => a.movsx_rm(W::Q, dst, m, W::B),
        (Size::H, true) => a.movsx_rm(W::Q, dst, m, W::H),
        (Size::W, true) => a.movsx_rm(W::Q, dst, m, W::D),
        (Size::DW, _) => a.mov_rm(W::Q, dst, m),
    }
}

impl Compiler<'_> {
    /// A cold path at a new label that calls `stub` and jumps back to `back`.
    fn cold_call(&mut self, stub: Shared, back: super::encode::Label) -> super::encode::Label {
        let stub = self.shared(stub);
        let label = self.a.new_label();
        self.cold.push(Cold::Call { label, stub, back });
        label
    }

    pub(super) fn load(&mut self, size: Size, signed: bool, dst: usize, src: usize, off: i16) {
        let n = size.bytes();
        let m = mem(R[src], i32::from(off));
        let ctx_check = self.ctx_size > 0 && self.ctx_fields.iter().any(|f| n <= f.size as usize);
        if !ctx_check && !self.probe {
            load_insn(&mut self.a, size, signed, R[dst], m);
            return;
        }
        let done = self.a.new_label();
        if ctx_check {
            let cold = self.cold_call(Shared::Ctx { dst, size, signed }, done);
            let a = &mut self.a;
            a.lea(R11, m);
            a.alu_rm(Alu::Sub, W::Q, R11, mem(ENV, OFF_CTX_BASE));
            a.alu_ri(Alu::Cmp, W::Q, R11, self.ctx_size as i32);
            a.jcc(Cc::B, cold);
        }
        if self.probe {
            let cold = self.cold_call(Shared::Probe { dst, bytes: n }, done);
            let a = &mut self.a;
            a.lea(R11, m);
            a.mov_ri64(R10, KERNEL_HALF);
            a.alu_rr(Alu::Cmp, W::Q, R11, R10);
            a.jcc(Cc::Ae, cold);
        }
        load_insn(&mut self.a, size, signed, R[dst], m);
        self.a.bind(done);
    }

    pub(super) fn store(&mut self, size: Size, dst: usize, off: i16, value: Operand) {
        let m = mem(R[dst], i32::from(off));
        let w = store_width(size);
        match value {
            Operand::Imm(i) => self.a.mov_mi(w, m, i),
            Operand::Reg(s) => self.a.mov_mr(w, m, R[s.index()]),
        }
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
        let w = match size {
            Size::DW => W::Q,
            Size::W => W::D,
            _ => {
                return Err(JitError::Unsupported {
                    pc,
                    what: format!("atomic of {} byte(s)", size.bytes()),
                });
            }
        };
        let m = mem(R[dst], i32::from(off));
        let s = R[src];
        let a = &mut self.a;
        let group = |op| match op {
            AtomicOp::Add => Alu::Add,
            AtomicOp::Or => Alu::Or,
            AtomicOp::And => Alu::And,
            _ => Alu::Xor,
        };
        match (op, fetch) {
            (AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, false) => {
                a.lock();
                a.alu_mr(group(op), w, m, s);
            }
            (AtomicOp::Add, true) => {
                a.mov_rr(W::Q, R11, s);
                a.lock();
                a.xadd_mr(w, m, R11);
                a.mov_rr(W::Q, s, R11);
            }
            (AtomicOp::Xchg, _) => {
                a.mov_rr(W::Q, R11, s);
                a.xchg_mr(w, m, R11);
                a.mov_rr(W::Q, s, R11);
            }
            (AtomicOp::CmpXchg, _) => {
                a.lea(R9, m);
                a.lock();
                a.cmpxchg_mr(w, mem(R9, 0), s);
                if w == W::D {
                    // On success eax is not written: zero-extend it explicitly.
                    a.mov_rr(W::D, RAX, RAX);
                }
            }
            (AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, true) => {
                // r9 = address, r10 = saved r0, r11 = operand, rbx (saved) = new value.
                let retry = a.new_label();
                a.lea(R9, m);
                a.mov_rr(W::Q, R10, RAX);
                a.mov_rr(W::Q, R11, s);
                a.push(RBX);
                a.mov_rm(w, RAX, mem(R9, 0));
                a.bind(retry);
                a.mov_rr(W::Q, RBX, RAX);
                a.alu_rr(group(op), W::Q, RBX, R11);
                a.lock();
                a.cmpxchg_mr(w, mem(R9, 0), RBX);
                a.jcc(Cc::Ne, retry);
                if w == W::D {
                    a.mov_rr(W::D, RAX, RAX);
                }
                a.mov_rr(W::Q, R11, RAX);
                a.pop(RBX);
                a.mov_rr(W::Q, RAX, R10);
                a.mov_rr(W::Q, s, R11);
            }
        }
        Ok(())
    }

    /// `ld_abs` / `ld_ind`: r0 = big-endian bytes of the packet, through `env.legacy_load`
    /// (which ends the program with r0 = 0 when out of bounds). r11 = the offset, r10 = pc,
    /// then the shared stub, which keeps r1-r5.
    pub(super) fn legacy_load(&mut self, pc: usize, size: Size, mode: PacketMode, imm: i32) {
        let stub = self.shared(Shared::Legacy {
            bytes: size.bytes(),
        });
        let a = &mut self.a;
        match mode {
            PacketMode::Abs => a.mov_ri64(R11, i64::from(imm) as u64),
            PacketMode::Ind(r) => {
                a.movsx_rr(W::Q, R11, R[r.index()], W::D);
                a.alu_ri(Alu::Add, W::Q, R11, imm);
            }
        }
        a.mov_ri32(R10, pc as u32);
        a.call(stub);
    }
}
