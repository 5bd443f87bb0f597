//! Out-of-line code, emitted after the program: per-site cold paths and shared stubs.
//!
//! Shared stubs exist so that long, repeated sequences are written once per program instead of
//! once per site (compile time is proportional to the x86 instructions written; see the module
//! comment of [`super`]). They are entered with `call` from a site or its cold path, so the
//! native stack is 8 bytes off its 16-byte alignment inside them; stubs that call into the host
//! push an odd number of 8-byte words first. Their inputs are in the scratch registers r9-r11,
//! and they keep every BPF register they do not define.
//!
//! | stub | in | does |
//! |---|---|---|
//! | `Helper { slot, id }` | r11 = pc | `env.helper_id = id`, then `HelperCommon` on `env.helpers[slot]` |
//! | `CallById` | r11 = pc, `env.helper_id` set | `HelperCommon` on `env.call_by_id` |
//! | `HelperCommon` | r10 = &fn, r11 = pc | `env.pc = pc` (and `env.frame = r10` with callbacks), call with r1-r5 kept, unwind if `env.status` is set |
//! | `Ctx { dst, size, signed }` | r11 = address − `env.ctx_base` | dst = the pointer field there, or the plain load |
//! | `Probe { dst, bytes }` | r11 = kernel address | dst = `env.probe_load(r11, bytes)` |
//! | `Legacy { bytes }` | r10 = pc, r11 = packet offset | r0 = `env.legacy_load(r11, bytes)`, unwind if it ended the program |
//! | `Div { w64, op }` | r10 = dividend, r11 = divisor | r11 = quotient or remainder (BPF semantics for 0 and −1) |

use super::encode::{
    Alu, Cc, Label, R9, R10, R11, RAX, RBP, RCX, RDI, RDX, RSI, RSP, Unary, W, mem,
};
use super::{Compiler, ENV, R};
use crate::isa::{AluOp, Size};
use crate::jit::JitError;
use crate::jit::exec::{
    OFF_CALL_BY_ID, OFF_CTX_BASE, OFF_CTX_VALUES, OFF_FRAME, OFF_HELPER_ID, OFF_HELPERS,
    OFF_LEGACY_LOAD, OFF_PC, OFF_PROBE_LOAD, OFF_STATUS,
};

/// A per-site out-of-line path.
pub(super) enum Cold {
    /// Sets `env.status` and `env.pc`, then ends the program.
    Trap {
        label: Label,
        status: u64,
        pc: usize,
    },
    /// Calls a shared stub, then jumps back to `back`.
    Call {
        label: Label,
        stub: Label,
        back: Label,
    },
}

/// A shared stub (see the table in the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Shared {
    Helper {
        slot: usize,
        id: i32,
    },
    CallById,
    HelperCommon,
    Ctx {
        dst: usize,
        size: Size,
        signed: bool,
    },
    Probe {
        dst: usize,
        bytes: usize,
    },
    Legacy {
        bytes: usize,
    },
    Div {
        w64: bool,
        op: AluOp,
    },
}

impl Shared {
    /// A dense index, so the compiler finds a stub with one table lookup (hashing the kind cost
    /// as much as encoding the site's instructions). Helper slots come last, unbounded.
    pub(super) fn key(self) -> usize {
        let log2 = |bytes: usize| bytes.trailing_zeros() as usize;
        match self {
            Shared::HelperCommon => 0,
            Shared::CallById => 1,
            Shared::Legacy { bytes } => 2 + log2(bytes),
            Shared::Div { w64, op } => {
                let op = match op {
                    AluOp::Div => 0,
                    AluOp::Mod => 1,
                    AluOp::SDiv => 2,
                    _ => 3,
                };
                6 + 4 * usize::from(w64) + op
            }
            Shared::Probe { dst, bytes } => 14 + 4 * dst + log2(bytes),
            Shared::Ctx { dst, size, signed } => {
                58 + 8 * dst + 2 * log2(size.bytes()) + usize::from(signed)
            }
            Shared::Helper { slot, .. } => HELPER_KEYS + slot,
        }
    }
}

/// First key of the helper stubs: 58 + 8 × 11 BPF registers.
const HELPER_KEYS: usize = 146;

/// The BPF argument registers r1-r5, which helper calls keep (as the interpreter does).
const ARGS: [super::encode::Gpr; 5] = [RDI, RSI, RDX, RCX, super::encode::R8];

impl Compiler<'_> {
    /// Emits the cold paths, then the shared stubs (in the order first asked for; a stub may ask
    /// for another).
    pub(super) fn stubs(&mut self) -> Result<(), JitError> {
        for cold in std::mem::take(&mut self.cold) {
            let a = &mut self.a;
            match cold {
                Cold::Trap { label, status, pc } => {
                    a.bind(label);
                    a.mov_mi(W::Q, mem(ENV, OFF_STATUS), status as i32);
                    a.mov_mi(W::Q, mem(ENV, OFF_PC), pc as i32);
                    a.jmp(self.abort);
                }
                Cold::Call { label, stub, back } => {
                    a.bind(label);
                    a.call(stub);
                    a.jmp(back);
                }
            }
        }
        let mut i = 0;
        while let Some(&(s, label)) = self.shared_order.get(i) {
            self.a.bind(label);
            self.shared_stub(s)?;
            i += 1;
        }
        Ok(())
    }

    fn shared_stub(&mut self, s: Shared) -> Result<(), JitError> {
        match s {
            Shared::Helper { slot, id } => {
                let common = self.shared(Shared::HelperCommon);
                let a = &mut self.a;
                a.mov_mi(W::Q, mem(ENV, OFF_HELPER_ID), id);
                a.mov_rm(W::Q, R10, mem(ENV, OFF_HELPERS));
                if slot > 0 {
                    a.lea(R10, mem(R10, (8 * slot) as i32));
                }
                a.jmp(common);
            }
            Shared::CallById => {
                let common = self.shared(Shared::HelperCommon);
                self.a.lea(R10, mem(ENV, OFF_CALL_BY_ID));
                self.a.jmp(common);
            }
            Shared::HelperCommon => {
                let abort = self.abort;
                let callbacks = self.has_callbacks();
                let a = &mut self.a;
                a.mov_mr(W::Q, mem(ENV, OFF_PC), R11);
                if callbacks {
                    // The frame a callback's frame goes below (see `callbacks.rs`).
                    a.mov_mr(W::Q, mem(ENV, OFF_FRAME), RBP);
                }
                // The return address plus five words: aligned for the call.
                for r in ARGS {
                    a.push(r);
                }
                a.mov_rr(W::Q, R9, ENV);
                a.call_mem(mem(R10, 0));
                for r in ARGS.into_iter().rev() {
                    a.pop(r);
                }
                a.alu_mi(Alu::Cmp, W::Q, mem(ENV, OFF_STATUS), 0);
                a.jcc(Cc::Ne, abort);
                a.ret();
            }
            Shared::Ctx { dst, size, signed } => self.ctx_stub(dst, size, signed),
            Shared::Probe { dst, bytes } => {
                let a = &mut self.a;
                let saved = [RAX, RDI, RSI, RDX, RCX, super::encode::R8];
                for r in saved {
                    a.push(r);
                }
                // Return address + six words + eight bytes: aligned for the call.
                a.alu_ri(Alu::Sub, W::Q, RSP, 8);
                a.mov_rr(W::Q, RDI, R11);
                a.mov_ri32(RSI, bytes as u32);
                a.mov_rr(W::Q, RDX, ENV);
                a.call_mem(mem(ENV, OFF_PROBE_LOAD));
                a.mov_rr(W::Q, R11, RAX);
                a.alu_ri(Alu::Add, W::Q, RSP, 8);
                for r in saved.into_iter().rev() {
                    a.pop(r);
                }
                a.mov_rr(W::Q, R[dst], R11);
                a.ret();
            }
            Shared::Legacy { bytes } => {
                let abort = self.abort;
                let a = &mut self.a;
                a.mov_mr(W::Q, mem(ENV, OFF_PC), R10);
                for r in ARGS {
                    a.push(r);
                }
                a.mov_rr(W::Q, RDI, R11);
                a.mov_ri32(RSI, bytes as u32);
                a.mov_rr(W::Q, RDX, ENV);
                a.call_mem(mem(ENV, OFF_LEGACY_LOAD));
                for r in ARGS.into_iter().rev() {
                    a.pop(r);
                }
                a.alu_mi(Alu::Cmp, W::Q, mem(ENV, OFF_STATUS), 0);
                a.jcc(Cc::Ne, abort);
                a.ret();
            }
            Shared::Div { w64, op } => self.div_stub(w64, op),
        }
        Ok(())
    }

    /// The context stub: compares the offset in r11 with each pointer field `size` bytes fit in
    /// (a hit loads `env.ctx_values[i]`, as the interpreter's `load_override` does); otherwise
    /// the plain load at `env.ctx_base + r11`.
    fn ctx_stub(&mut self, dst: usize, size: Size, signed: bool) {
        let n = size.bytes();
        let mut hits = Vec::new();
        for (i, f) in self.ctx_fields.iter().enumerate() {
            if n <= f.size as usize {
                let hit = self.a.new_label();
                self.a.alu_ri(Alu::Cmp, W::Q, R11, f.offset as i32);
                self.a.jcc(Cc::E, hit);
                hits.push((i, hit));
            }
        }
        let a = &mut self.a;
        a.alu_rm(Alu::Add, W::Q, R11, mem(ENV, OFF_CTX_BASE));
        super::mem::load_insn(a, size, signed, R[dst], mem(R11, 0));
        a.ret();
        for (i, hit) in hits {
            a.bind(hit);
            a.mov_rm(W::Q, R[dst], mem(ENV, OFF_CTX_VALUES));
            a.mov_rm(W::Q, R[dst], mem(R[dst], (8 * i) as i32));
            a.ret();
        }
    }

    /// Division and modulo of r10 by r11 into r11, as [`crate::interp::alu`] defines them: the
    /// divisor 0 gives quotient 0 and remainder = dividend; `INT_MIN / -1` wraps (remainder 0)
    /// instead of faulting in `idiv`. rax and rdx (BPF r0 and r3) are saved around it.
    fn div_stub(&mut self, w64: bool, op: AluOp) {
        let w = if w64 { W::Q } else { W::D };
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let quotient = matches!(op, AluOp::Div | AluOp::SDiv);
        let a = &mut self.a;
        let zero = a.new_label();
        let done = a.new_label();
        a.push(RAX);
        a.push(RDX);
        a.mov_rr(W::Q, RAX, R10);
        a.test_rr(w, R11, R11);
        a.jcc(Cc::E, zero);
        if signed {
            let normal = a.new_label();
            a.alu_ri(Alu::Cmp, w, R11, -1);
            a.jcc(Cc::Ne, normal);
            if quotient {
                a.unary(Unary::Neg, w, RAX);
                a.mov_rr(w, R11, RAX);
            } else {
                a.alu_rr(Alu::Xor, W::D, R11, R11);
            }
            a.jmp(done);
            a.bind(normal);
            a.sign_extend_rax(w);
            a.unary(Unary::Idiv, w, R11);
        } else {
            a.alu_rr(Alu::Xor, W::D, RDX, RDX);
            a.unary(Unary::Div, w, R11);
        }
        a.mov_rr(w, R11, if quotient { RAX } else { RDX });
        a.jmp(done);
        a.bind(zero);
        if quotient {
            a.alu_rr(Alu::Xor, W::D, R11, R11);
        } else {
            a.mov_rr(w, R11, RAX);
        }
        a.bind(done);
        a.pop(RDX);
        a.pop(RAX);
        a.ret();
    }
}
