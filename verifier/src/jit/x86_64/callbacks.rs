//! Callbacks: `lddw src=4` and the entry thunks the helper trampoline calls back.
//!
//! `lddw rX, func` becomes `lea rX, [rip + thunk]`: the value is a code address computed where
//! the code runs, so the bytes hold no absolute address and stay the same wherever the image is
//! loaded. Each function referred to gets one thunk, an `extern "sysv64"` function (r1-r5 in
//! rdi rsi rdx rcx r8, `env` in r9, r0 back in rax) that the Rust trampoline calls
//! (`jit::exec`):
//!
//! ```text
//! thunk:  push rbx, rbp, r12-r15; r12 = env
//!         push env.exit_rsp; sub rsp, 8        (aligned for the call below)
//!         env.exit_rsp = rsp - 8               (an abort inside returns here, see `abort`)
//!         r11 = env.frame - 512; below env.stack_limit? → status = CALL_DEPTH, skip the call
//!         r10 = r11; r0, r6-r9 = 0; call func   (a fresh frame, as a local call makes)
//! back:   add rsp, 8; pop env.exit_rsp; pop r15-r12, rbp, rbx; ret
//! ```
//!
//! `env.frame` is r10 of the frame that called the helper: the helper stub stores it (only in
//! images with callbacks), and the trampoline restores it before each call, since the callback's
//! own helper calls overwrite it.

use super::encode::{Alu, Cc, Label, R9, R11, R13, R14, R15, RAX, RBP, RBX, RSP, W, mem};
use super::{Compiler, ENV};
use crate::interp::STACK_SIZE;
use crate::jit::JitError;
use crate::jit::exec::{OFF_EXIT_RSP, OFF_FRAME, OFF_STACK_LIMIT, OFF_STATUS, STATUS_CALL_DEPTH};

impl Compiler<'_> {
    /// The thunk label of the function the `lddw src=4` at `pc` refers to.
    pub(super) fn thunk(&mut self, pc: usize) -> Result<Label, JitError> {
        let t = self.insns[pc].branch_target(pc).unwrap_or(-1);
        let target = usize::try_from(t)
            .ok()
            .filter(|&t| t < self.insns.len())
            .ok_or(JitError::BadTarget { pc, target: t })?;
        if let Some(&(_, l)) = self.thunks.iter().find(|(f, _)| *f == target) {
            return Ok(l);
        }
        let l = self.a.new_label();
        self.thunks.push((target, l));
        Ok(l)
    }

    /// Whether the code refers to a callback (then helper calls record their frame).
    pub(super) fn has_callbacks(&self) -> bool {
        !self.thunks.is_empty()
    }

    /// Emits the thunks (see the module comment).
    pub(super) fn thunks(&mut self) {
        for (func, label) in self.thunks.clone() {
            let a = &mut self.a;
            let back = a.new_label();
            let depth = a.new_label();
            a.bind(label);
            for r in [RBX, RBP, ENV, R13, R14, R15] {
                a.push(r);
            }
            a.mov_rr(W::Q, ENV, R9);
            a.mov_rm(W::Q, R11, mem(ENV, OFF_EXIT_RSP));
            a.push(R11);
            a.alu_ri(Alu::Sub, W::Q, RSP, 8);
            a.lea(R11, mem(RSP, -8));
            a.mov_mr(W::Q, mem(ENV, OFF_EXIT_RSP), R11);
            a.mov_rm(W::Q, R11, mem(ENV, OFF_FRAME));
            a.lea(R11, mem(R11, -(STACK_SIZE as i32)));
            a.alu_rm(Alu::Cmp, W::Q, R11, mem(ENV, OFF_STACK_LIMIT));
            a.jcc(Cc::B, depth);
            a.mov_rr(W::Q, RBP, R11);
            for r in [RAX, RBX, R13, R14, R15] {
                a.alu_rr(Alu::Xor, W::D, r, r);
            }
            a.call(super::pc_label(func));
            a.bind(back);
            a.alu_ri(Alu::Add, W::Q, RSP, 8);
            a.pop(R11);
            a.mov_mr(W::Q, mem(ENV, OFF_EXIT_RSP), R11);
            for r in [R15, R14, R13, ENV, RBP, RBX] {
                a.pop(r);
            }
            a.ret();
            a.bind(depth);
            a.mov_mi(W::Q, mem(ENV, OFF_STATUS), STATUS_CALL_DEPTH as i32);
            a.jmp(back);
        }
    }

    /// The code offset of each thunk, in the order of [`crate::jit::Image::callbacks`].
    pub(super) fn thunk_offsets(&self) -> Result<Vec<u32>, JitError> {
        self.thunks
            .iter()
            .map(|&(_, l)| {
                self.a
                    .position(l)
                    .ok_or_else(|| JitError::Assembler("a callback thunk was not emitted".into()))
            })
            .collect()
    }
}
