//! A hand-written encoder for the subset of x86-64 the JIT emits, with labels and one patch pass.
//!
//! Why not iced-x86: its `CodeAssembler` + `BlockEncoder` cost ~0.3 µs per x86 instruction
//! (each instruction becomes an `Instruction`, then a block is re-encoded until branch sizes
//! settle), and even its plain `Encoder` costs several times what writing the bytes does (see
//! README.md, "JIT"). The subset is small: general-purpose registers, `[base + disp]` memory
//! operands (no index register), immediates of 8/32/64 bits and `rel8`/`rel32` branches.
//! `encode_tests.rs` checks every form against iced-x86's decoder, for every register and every
//! displacement and immediate class.
//!
//! Branches: a branch to a label bound *before* it (a loop) gets `rel8` when the distance fits,
//! otherwise `rel32`; a forward branch always gets `rel32`, patched by [`Asm::finish`]. One pass,
//! no size iteration, and the same input always gives the same bytes.

/// A general-purpose register, by its hardware number (0 rax … 15 r15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gpr(pub u8);

pub const RAX: Gpr = Gpr(0);
pub const RCX: Gpr = Gpr(1);
pub const RDX: Gpr = Gpr(2);
pub const RBX: Gpr = Gpr(3);
pub const RSP: Gpr = Gpr(4);
pub const RBP: Gpr = Gpr(5);
pub const RSI: Gpr = Gpr(6);
pub const RDI: Gpr = Gpr(7);
pub const R8: Gpr = Gpr(8);
pub const R9: Gpr = Gpr(9);
pub const R10: Gpr = Gpr(10);
pub const R11: Gpr = Gpr(11);
pub const R12: Gpr = Gpr(12);
pub const R13: Gpr = Gpr(13);
pub const R14: Gpr = Gpr(14);
pub const R15: Gpr = Gpr(15);

/// Operand width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    B,
    H,
    D,
    Q,
}

/// A memory operand `[base + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    pub base: Gpr,
    pub disp: i32,
}

pub fn mem(base: Gpr, disp: i32) -> Mem {
    Mem { base, disp }
}

/// The ALU group of opcodes `00`-`3F` (and `/digit` of `80`-`83`), by its digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add = 0,
    Or = 1,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

/// Shift group (`C1`/`D3 /digit`), by its digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// Group 3 (`F7 /digit`) one-operand instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Neg = 3,
    Div = 6,
    Idiv = 7,
}

/// Condition codes, by their encoding (`0F 80+cc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cc {
    B = 2,
    Ae = 3,
    E = 4,
    Ne = 5,
    Be = 6,
    A = 7,
    L = 0xc,
    Ge = 0xd,
    Le = 0xe,
    G = 0xf,
}

/// A position in the code, bound once. Labels `0..n` are the ones [`Asm::new`] made; the
/// compiler uses them for the program's instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(pub u32);

const UNBOUND: u32 = u32::MAX;

/// The code being written: bytes, label offsets, and the `rel32` fields still to patch.
pub struct Asm {
    code: Vec<u8>,
    labels: Vec<u32>,
    /// (offset of a `rel32` field, its label).
    fixups: Vec<(u32, Label)>,
}

impl Asm {
    /// An empty buffer with room for about `bytes` bytes of code, and `labels` labels
    /// (`Label(0)` .. `Label(labels - 1)`), not yet bound.
    pub fn new(bytes: usize, labels: usize) -> Asm {
        Asm {
            code: Vec::with_capacity(bytes),
            labels: vec![UNBOUND; labels],
            fixups: Vec::with_capacity(labels / 2),
        }
    }

    /// Bytes written so far.
    #[cfg(test)]
    pub fn offset(&self) -> usize {
        self.code.len()
    }

    /// Where label `l` is bound, if it is.
    pub fn position(&self, l: Label) -> Option<u32> {
        self.labels
            .get(l.0 as usize)
            .copied()
            .filter(|&p| p != UNBOUND)
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(UNBOUND);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the current position. Binding a label twice is a bug of the compiler:
    /// [`Asm::finish`] then fails.
    pub fn bind(&mut self, l: Label) {
        let pos = self.code.len() as u32;
        match self.labels.get_mut(l.0 as usize) {
            Some(slot) if *slot == UNBOUND => *slot = pos,
            _ => self.fixups.push((u32::MAX, l)),
        }
    }

    /// Patches the forward branches: the code, or what went wrong (an unbound or twice-bound
    /// label: a compiler bug, reported rather than panicking).
    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        for &(at, l) in &self.fixups {
            let target = self.labels.get(l.0 as usize).copied().unwrap_or(UNBOUND);
            if at == u32::MAX {
                return Err(format!("label {} bound twice", l.0));
            }
            if target == UNBOUND {
                return Err(format!("label {} never bound", l.0));
            }
            let rel = i64::from(target) - (i64::from(at) + 4);
            let rel = i32::try_from(rel).map_err(|_| "branch out of rel32 range".to_string())?;
            let at = at as usize;
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        Ok(self.code)
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    #[inline]
    fn imm32(&mut self, v: i32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// Operand-size prefix and REX for an instruction whose ModRM `reg` field is `reg` and whose
    /// `rm` (or opcode-embedded) register is `rm`. `byte_regs`: an 8-bit register operand is
    /// spl/bpl/sil/dil (numbers 4-7), which needs a REX prefix even if it is otherwise empty.
    #[inline]
    fn prefix(&mut self, w: W, reg: u8, rm: u8, byte_regs: bool) {
        if w == W::H {
            self.byte(0x66);
        }
        let rex = 0x40 | (u8::from(w == W::Q) << 3) | ((reg >> 3) << 2) | (rm >> 3);
        if rex != 0x40 || byte_regs {
            self.byte(rex);
        }
    }

    #[inline]
    fn modrm_reg(&mut self, reg: u8, rm: u8) {
        self.byte(0xc0 | ((reg & 7) << 3) | (rm & 7));
    }

    /// ModRM (+ SIB for an rsp/r12 base) + displacement. An rbp/r13 base has no disp-less form
    /// (`mod = 00` means RIP-relative / no base there), so it gets a zero `disp8`.
    #[inline]
    fn modrm_mem(&mut self, reg: u8, m: Mem) {
        let b = m.base.0 & 7;
        let r = (reg & 7) << 3;
        if m.disp == 0 && b != 5 {
            self.byte(r | b);
            if b == 4 {
                self.byte(0x24);
            }
        } else if let Ok(d) = i8::try_from(m.disp) {
            self.byte(0x40 | r | b);
            if b == 4 {
                self.byte(0x24);
            }
            self.byte(d as u8);
        } else {
            self.byte(0x80 | r | b);
            if b == 4 {
                self.byte(0x24);
            }
            self.imm32(m.disp);
        }
    }

    /// `op reg, rm` (register form), one-byte opcode.
    #[inline]
    fn rr(&mut self, w: W, op: u8, reg: u8, rm: u8) {
        let byte_regs = w == W::B && (reg & !3 == 4 || rm & !3 == 4);
        self.prefix(w, reg, rm, byte_regs);
        self.byte(op);
        self.modrm_reg(reg, rm);
    }

    /// `op reg, [m]`, one-byte opcode; `reg` may be a `/digit`.
    #[inline]
    fn rm(&mut self, w: W, op: u8, reg: u8, m: Mem, byte_reg: bool) {
        self.prefix(w, reg, m.base.0, byte_reg && reg & !3 == 4);
        self.byte(op);
        self.modrm_mem(reg, m);
    }

    /// `0F op reg, rm` (register form).
    #[inline]
    fn rr0f(&mut self, w: W, op: u8, reg: u8, rm: u8, byte_rm: bool) {
        self.prefix(w, reg, rm, byte_rm && rm & !3 == 4);
        self.byte(0x0f);
        self.byte(op);
        self.modrm_reg(reg, rm);
    }

    /// `0F op reg, [m]`.
    #[inline]
    fn rm0f(&mut self, w: W, op: u8, reg: u8, m: Mem) {
        self.prefix(w, reg, m.base.0, false);
        self.byte(0x0f);
        self.byte(op);
        self.modrm_mem(reg, m);
    }

    /// `op dst, src` for the ALU group (`op r/m, r`). Width D or Q.
    pub fn alu_rr(&mut self, op: Alu, w: W, dst: Gpr, src: Gpr) {
        self.rr(w, (op as u8) * 8 + 1, src.0, dst.0);
    }

    /// `op dst, imm` (sign-extended to 64 bits for width Q). Width D or Q.
    pub fn alu_ri(&mut self, op: Alu, w: W, dst: Gpr, imm: i32) {
        if let Ok(i) = i8::try_from(imm) {
            self.rr(w, 0x83, op as u8, dst.0);
            self.byte(i as u8);
        } else {
            self.rr(w, 0x81, op as u8, dst.0);
            self.imm32(imm);
        }
    }

    /// `op dst, [m]` (`op r, r/m`). Width D or Q.
    pub fn alu_rm(&mut self, op: Alu, w: W, dst: Gpr, m: Mem) {
        self.rm(w, (op as u8) * 8 + 3, dst.0, m, false);
    }

    /// `op [m], src` (`op r/m, r`); with [`Asm::lock`] for the atomic forms. Width D or Q.
    pub fn alu_mr(&mut self, op: Alu, w: W, m: Mem, src: Gpr) {
        self.rm(w, (op as u8) * 8 + 1, src.0, m, false);
    }

    /// `op [m], imm`. Width D or Q.
    pub fn alu_mi(&mut self, op: Alu, w: W, m: Mem, imm: i32) {
        if let Ok(i) = i8::try_from(imm) {
            self.rm(w, 0x83, op as u8, m, false);
            self.byte(i as u8);
        } else {
            self.rm(w, 0x81, op as u8, m, false);
            self.imm32(imm);
        }
    }

    /// `test a, b`. Width D or Q.
    pub fn test_rr(&mut self, w: W, a: Gpr, b: Gpr) {
        self.rr(w, 0x85, b.0, a.0);
    }

    /// `test r, imm` (sign-extended for width Q). Width D or Q.
    pub fn test_ri(&mut self, w: W, r: Gpr, imm: i32) {
        self.rr(w, 0xf7, 0, r.0);
        self.imm32(imm);
    }

    /// `mov dst, src`. Width D (zero-extends) or Q.
    pub fn mov_rr(&mut self, w: W, dst: Gpr, src: Gpr) {
        self.rr(w, 0x89, src.0, dst.0);
    }

    /// `mov dst32, imm` (zero-extends).
    pub fn mov_ri32(&mut self, dst: Gpr, imm: u32) {
        self.prefix(W::D, 0, dst.0, false);
        self.byte(0xb8 + (dst.0 & 7));
        self.imm32(imm as i32);
    }

    /// `dst = imm` in the shortest of `mov r32, imm32`, `mov r64, simm32` and `mov r64, imm64`.
    pub fn mov_ri64(&mut self, dst: Gpr, imm: u64) {
        if let Ok(v) = u32::try_from(imm) {
            self.mov_ri32(dst, v);
        } else if let Ok(v) = i32::try_from(imm as i64) {
            self.rr(W::Q, 0xc7, 0, dst.0);
            self.imm32(v);
        } else {
            self.prefix(W::Q, 0, dst.0, false);
            self.byte(0xb8 + (dst.0 & 7));
            self.code.extend_from_slice(&imm.to_le_bytes());
        }
    }

    /// `mov dst, [m]`. Width D (zero-extends) or Q.
    pub fn mov_rm(&mut self, w: W, dst: Gpr, m: Mem) {
        self.rm(w, 0x8b, dst.0, m, false);
    }

    /// `mov [m], src`, any width.
    pub fn mov_mr(&mut self, w: W, m: Mem, src: Gpr) {
        let op = if w == W::B { 0x88 } else { 0x89 };
        self.rm(w, op, src.0, m, w == W::B);
    }

    /// `mov [m], imm` (truncated to the width; sign-extended for width Q).
    pub fn mov_mi(&mut self, w: W, m: Mem, imm: i32) {
        match w {
            W::B => {
                self.rm(w, 0xc6, 0, m, false);
                self.byte(imm as u8);
            }
            W::H => {
                self.rm(w, 0xc7, 0, m, false);
                self.code.extend_from_slice(&(imm as u16).to_le_bytes());
            }
            W::D | W::Q => {
                self.rm(w, 0xc7, 0, m, false);
                self.imm32(imm);
            }
        }
    }

    /// `movzx dst32, byte/word [m]` (`from` B or H).
    pub fn movzx_rm(&mut self, dst: Gpr, m: Mem, from: W) {
        let op = if from == W::B { 0xb6 } else { 0xb7 };
        self.rm0f(W::D, op, dst.0, m);
    }

    /// `movzx dst32, src16`.
    pub fn movzx_rr16(&mut self, dst: Gpr, src: Gpr) {
        self.rr0f(W::D, 0xb7, dst.0, src.0, false);
    }

    /// `movsx dst, byte/word/dword [m]` (`movsxd` for D); `w` D or Q is the destination width.
    pub fn movsx_rm(&mut self, w: W, dst: Gpr, m: Mem, from: W) {
        match from {
            W::B => self.rm0f(w, 0xbe, dst.0, m),
            W::H => self.rm0f(w, 0xbf, dst.0, m),
            _ => self.rm(W::Q, 0x63, dst.0, m, false),
        }
    }

    /// `movsx dst, src8/src16` (`movsxd` for D); `w` D or Q is the destination width.
    pub fn movsx_rr(&mut self, w: W, dst: Gpr, src: Gpr, from: W) {
        match from {
            W::B => self.rr0f(w, 0xbe, dst.0, src.0, true),
            W::H => self.rr0f(w, 0xbf, dst.0, src.0, false),
            _ => self.rr(W::Q, 0x63, dst.0, src.0),
        }
    }

    /// `lea dst, [m]` (64-bit).
    pub fn lea(&mut self, dst: Gpr, m: Mem) {
        self.rm(W::Q, 0x8d, dst.0, m, false);
    }

    /// `lea dst, [rip + rel32]` to label `l` (64-bit): an address in the code, computed from
    /// where the code runs, so the bytes stay position-independent.
    pub fn lea_rip(&mut self, dst: Gpr, l: Label) {
        self.prefix(W::Q, dst.0, 0, false);
        self.byte(0x8d);
        self.byte(((dst.0 & 7) << 3) | 5);
        // The rel32 ends the instruction, so "relative to its end" is what RIP-relative means.
        self.rel32(l);
    }

    /// `imul dst, src`. Width D or Q.
    pub fn imul_rr(&mut self, w: W, dst: Gpr, src: Gpr) {
        self.rr0f(w, 0xaf, dst.0, src.0, false);
    }

    /// `imul dst, src, imm`. Width D or Q.
    pub fn imul_rri(&mut self, w: W, dst: Gpr, src: Gpr, imm: i32) {
        if let Ok(i) = i8::try_from(imm) {
            self.rr(w, 0x6b, dst.0, src.0);
            self.byte(i as u8);
        } else {
            self.rr(w, 0x69, dst.0, src.0);
            self.imm32(imm);
        }
    }

    /// `shl/shr/sar/ror r, n`. Width H, D or Q.
    pub fn shift_ri(&mut self, op: Shift, w: W, r: Gpr, n: u8) {
        self.rr(w, 0xc1, op as u8, r.0);
        self.byte(n);
    }

    /// `shl/shr/sar r, cl`. Width D or Q.
    pub fn shift_rcl(&mut self, op: Shift, w: W, r: Gpr) {
        self.rr(w, 0xd3, op as u8, r.0);
    }

    /// `neg/div/idiv r`. Width D or Q.
    pub fn unary(&mut self, op: Unary, w: W, r: Gpr) {
        self.rr(w, 0xf7, op as u8, r.0);
    }

    /// `cqo` (Q) or `cdq` (D): sign-extend rax/eax into rdx/edx.
    pub fn sign_extend_rax(&mut self, w: W) {
        if w == W::Q {
            self.byte(0x48);
        }
        self.byte(0x99);
    }

    /// `bswap r`. Width D or Q.
    pub fn bswap(&mut self, w: W, r: Gpr) {
        self.prefix(w, 0, r.0, false);
        self.byte(0x0f);
        self.byte(0xc8 + (r.0 & 7));
    }

    /// `lock` prefix of the next instruction.
    pub fn lock(&mut self) {
        self.byte(0xf0);
    }

    /// `xadd [m], src` (after [`Asm::lock`]). Width D or Q.
    pub fn xadd_mr(&mut self, w: W, m: Mem, src: Gpr) {
        self.rm0f(w, 0xc1, src.0, m);
    }

    /// `cmpxchg [m], src` (after [`Asm::lock`]). Width D or Q.
    pub fn cmpxchg_mr(&mut self, w: W, m: Mem, src: Gpr) {
        self.rm0f(w, 0xb1, src.0, m);
    }

    /// `xchg [m], src` (always locked). Width D or Q.
    pub fn xchg_mr(&mut self, w: W, m: Mem, src: Gpr) {
        self.rm(w, 0x87, src.0, m, false);
    }

    pub fn push(&mut self, r: Gpr) {
        self.prefix(W::D, 0, r.0, false);
        self.byte(0x50 + (r.0 & 7));
    }

    pub fn pop(&mut self, r: Gpr) {
        self.prefix(W::D, 0, r.0, false);
        self.byte(0x58 + (r.0 & 7));
    }

    pub fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `call qword [m]`.
    pub fn call_mem(&mut self, m: Mem) {
        self.rm(W::D, 0xff, 2, m, false);
    }

    /// A `rel32` to `l`: now if bound, else at [`Asm::finish`].
    fn rel32(&mut self, l: Label) {
        let at = self.code.len() as u32;
        match self.labels.get(l.0 as usize) {
            Some(&t) if t != UNBOUND => {
                let rel = i64::from(t) - (i64::from(at) + 4);
                self.imm32(rel as i32);
            }
            _ => {
                self.fixups.push((at, l));
                self.imm32(0);
            }
        }
    }

    /// The `rel8` to `l` if it is bound and within reach of an instruction of `len` bytes
    /// (including the `rel8`) starting here.
    fn short(&self, l: Label, len: usize) -> Option<u8> {
        let t = *self.labels.get(l.0 as usize)?;
        if t == UNBOUND {
            return None;
        }
        let rel = i64::from(t) - (self.code.len() + len) as i64;
        i8::try_from(rel).ok().map(|r| r as u8)
    }

    pub fn call(&mut self, l: Label) {
        self.byte(0xe8);
        self.rel32(l);
    }

    pub fn jmp(&mut self, l: Label) {
        if let Some(r) = self.short(l, 2) {
            self.byte(0xeb);
            self.byte(r);
        } else {
            self.byte(0xe9);
            self.rel32(l);
        }
    }

    pub fn jcc(&mut self, cc: Cc, l: Label) {
        if let Some(r) = self.short(l, 2) {
            self.byte(0x70 + cc as u8);
            self.byte(r);
        } else {
            self.byte(0x0f);
            self.byte(0x80 + cc as u8);
            self.rel32(l);
        }
    }
}
