//! Bytes → [`Insn`], with every validation RFC 9669 implies, and [`Insn`] → bytes.
//!
//! Decoding is strict: an instruction is accepted only if re-encoding it gives the same bytes back
//! (reserved fields are zero, operand fields unused by the opcode are zero). That makes
//! `encode(decode(x)) == x` hold for every valid `x`, which the assembler round-trip relies on, and
//! it keeps hostile bytecode from smuggling information through fields no one looks at.

use super::insn::*;
use super::opcode::*;
use thiserror::Error;

/// An 8-byte instruction slot as it is laid out in memory (little-endian host order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawInsn {
    pub opcode: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.src << 4) | (self.dst & 0x0f),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The slot as one 64-bit word, the form the conformance files' `-- raw` section uses.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    pub fn from_u64(word: u64) -> RawInsn {
        RawInsn::from_bytes(word.to_le_bytes())
    }
}

/// Why a program's bytes are not a valid RFC 9669 program. Every variant names the pc.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("program is empty")]
    Empty,
    #[error("program length {len} bytes is not a multiple of 8")]
    TruncatedSlot { len: usize },
    #[error("program has {slots} instructions, more than the limit of {limit}")]
    TooLong { slots: usize, limit: usize },
    #[error("pc {pc}: unknown opcode {opcode:#04x}")]
    UnknownOpcode { pc: usize, opcode: u8 },
    #[error("pc {pc}: register r{reg} does not exist (registers are r0-r10)")]
    InvalidRegister { pc: usize, reg: u8 },
    #[error("pc {pc}: instruction writes r10, the read-only frame pointer")]
    WriteToFramePointer { pc: usize },
    #[error(
        "pc {pc}: reserved field `{field}` must be {expected} for opcode {opcode:#04x}, found {found}"
    )]
    ReservedField {
        pc: usize,
        opcode: u8,
        field: &'static str,
        expected: &'static str,
        found: i64,
    },
    #[error("pc {pc}: lddw needs a second instruction slot, but the program ends")]
    IncompleteLddw { pc: usize },
    #[error("pc {pc}: lddw has invalid source {src} (valid: 0-6)")]
    InvalidLddwSource { pc: usize, src: u8 },
    #[error("pc {pc}: jump target {target} is outside the program (0..{len})")]
    JumpOutOfBounds { pc: usize, target: i64, len: usize },
    #[error("pc {pc}: jump target {target} is the second half of the lddw at {}", target - 1)]
    JumpIntoLddw { pc: usize, target: usize },
}

/// Hard cap on program size: Linux's limit for privileged programs. Keeps hostile inputs from
/// making any later stage allocate without bound.
pub const MAX_SLOTS: usize = 1_000_000;

/// Decodes and validates a whole program given as bytes.
pub fn decode_program(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if !bytes.len().is_multiple_of(8) {
        return Err(DecodeError::TruncatedSlot { len: bytes.len() });
    }
    let raw: Vec<RawInsn> = bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            RawInsn::from_bytes(b)
        })
        .collect();
    decode_raw(&raw)
}

/// Decodes and validates a program given as slots.
pub fn decode_raw(raw: &[RawInsn]) -> Result<Vec<Insn>, DecodeError> {
    if raw.is_empty() {
        return Err(DecodeError::Empty);
    }
    if raw.len() > MAX_SLOTS {
        return Err(DecodeError::TooLong {
            slots: raw.len(),
            limit: MAX_SLOTS,
        });
    }
    let mut insns = Vec::with_capacity(raw.len());
    let mut pc = 0;
    while pc < raw.len() {
        let insn = decode_at(raw, pc)?;
        insns.push(insn);
        if insn.slots() == 2 {
            insns.push(Insn::WideTail);
        }
        pc += insn.slots();
    }
    check_targets(&insns)?;
    Ok(insns)
}

/// Every jump, local call and function reference must land on the first slot of an instruction.
fn check_targets(insns: &[Insn]) -> Result<(), DecodeError> {
    for (pc, insn) in insns.iter().enumerate() {
        let Some(target) = insn.branch_target(pc) else {
            continue;
        };
        if target < 0 || target >= insns.len() as i64 {
            return Err(DecodeError::JumpOutOfBounds {
                pc,
                target,
                len: insns.len(),
            });
        }
        let target = target as usize;
        if insns[target] == Insn::WideTail {
            return Err(DecodeError::JumpIntoLddw { pc, target });
        }
    }
    Ok(())
}

/// Decodes the instruction starting at slot `pc` (reading the next slot too for `lddw`).
pub fn decode_at(raw: &[RawInsn], pc: usize) -> Result<Insn, DecodeError> {
    let r = raw[pc];
    let d = Decoder { pc, r };
    match r.opcode & 0x07 {
        CLS_ALU | CLS_ALU64 => d.alu(),
        CLS_JMP | CLS_JMP32 => d.jump(),
        CLS_LDX => d.load(),
        CLS_ST | CLS_STX => d.store(),
        _ => d.ld(raw),
    }
}

struct Decoder {
    pc: usize,
    r: RawInsn,
}

impl Decoder {
    fn unknown(&self) -> DecodeError {
        DecodeError::UnknownOpcode {
            pc: self.pc,
            opcode: self.r.opcode,
        }
    }

    fn reserved(&self, field: &'static str, expected: &'static str, found: i64) -> DecodeError {
        DecodeError::ReservedField {
            pc: self.pc,
            opcode: self.r.opcode,
            field,
            expected,
            found,
        }
    }

    fn zero_src(&self) -> Result<(), DecodeError> {
        match self.r.src {
            0 => Ok(()),
            s => Err(self.reserved("src", "0", i64::from(s))),
        }
    }

    fn zero_dst(&self) -> Result<(), DecodeError> {
        match self.r.dst {
            0 => Ok(()),
            s => Err(self.reserved("dst", "0", i64::from(s))),
        }
    }

    fn zero_off(&self) -> Result<(), DecodeError> {
        match self.r.off {
            0 => Ok(()),
            o => Err(self.reserved("offset", "0", i64::from(o))),
        }
    }

    fn zero_imm(&self) -> Result<(), DecodeError> {
        match self.r.imm {
            0 => Ok(()),
            i => Err(self.reserved("imm", "0", i64::from(i))),
        }
    }

    fn reg(&self, n: u8) -> Result<Reg, DecodeError> {
        Reg::new(n).ok_or(DecodeError::InvalidRegister {
            pc: self.pc,
            reg: n,
        })
    }

    /// A register the instruction writes: anything but r10.
    fn dst_written(&self) -> Result<Reg, DecodeError> {
        let reg = self.reg(self.r.dst)?;
        if reg == Reg::FP {
            return Err(DecodeError::WriteToFramePointer { pc: self.pc });
        }
        Ok(reg)
    }

    /// The second operand of ALU and jump instructions, per the source bit.
    fn operand(&self) -> Result<Operand, DecodeError> {
        if self.r.opcode & SRC_X != 0 {
            self.zero_imm()?;
            Ok(Operand::Reg(self.reg(self.r.src)?))
        } else {
            self.zero_src()?;
            Ok(Operand::Imm(self.r.imm))
        }
    }

    fn alu(&self) -> Result<Insn, DecodeError> {
        let r = self.r;
        let width = if r.opcode & 0x07 == CLS_ALU64 {
            Width::W64
        } else {
            Width::W32
        };
        let reg_source = r.opcode & SRC_X != 0;
        let code = r.opcode & 0xf0;
        if code == ALU_END {
            let kind = match (width, reg_source) {
                (Width::W32, false) => Endian::ToLe,
                (Width::W32, true) => Endian::ToBe,
                (Width::W64, false) => Endian::Swap,
                (Width::W64, true) => return Err(self.unknown()),
            };
            self.zero_src()?;
            self.zero_off()?;
            let bits = match r.imm {
                16 => 16,
                32 => 32,
                64 => 64,
                other => return Err(self.reserved("imm", "16, 32 or 64", i64::from(other))),
            };
            return Ok(Insn::Endian {
                kind,
                bits,
                dst: self.dst_written()?,
            });
        }
        if code == ALU_NEG {
            if reg_source {
                return Err(self.unknown());
            }
            self.zero_src()?;
            self.zero_off()?;
            self.zero_imm()?;
            return Ok(Insn::Neg {
                width,
                dst: self.dst_written()?,
            });
        }
        let op = match (code, r.off) {
            (ALU_ADD, 0) => AluOp::Add,
            (ALU_SUB, 0) => AluOp::Sub,
            (ALU_MUL, 0) => AluOp::Mul,
            (ALU_DIV, 0) => AluOp::Div,
            (ALU_DIV, 1) => AluOp::SDiv,
            (ALU_OR, 0) => AluOp::Or,
            (ALU_AND, 0) => AluOp::And,
            (ALU_LSH, 0) => AluOp::Lsh,
            (ALU_RSH, 0) => AluOp::Rsh,
            (ALU_MOD, 0) => AluOp::Mod,
            (ALU_MOD, 1) => AluOp::SMod,
            (ALU_XOR, 0) => AluOp::Xor,
            (ALU_MOV, 0) => AluOp::Mov,
            (ALU_MOV, 8 | 16) if reg_source => AluOp::MovSx(r.off as u8),
            (ALU_MOV, 32) if reg_source && width == Width::W64 => AluOp::MovSx(32),
            (ALU_ARSH, 0) => AluOp::Arsh,
            (ALU_ADD..=ALU_ARSH, off) => {
                let expected = match code {
                    ALU_DIV | ALU_MOD => "0 or 1",
                    ALU_MOV if reg_source && width == Width::W64 => "0, 8, 16 or 32",
                    ALU_MOV if reg_source => "0, 8 or 16",
                    _ => "0",
                };
                return Err(self.reserved("offset", expected, i64::from(off)));
            }
            _ => return Err(self.unknown()),
        };
        let src = self.operand()?;
        Ok(Insn::Alu {
            width,
            op,
            dst: self.dst_written()?,
            src,
        })
    }

    fn jump(&self) -> Result<Insn, DecodeError> {
        let r = self.r;
        let width = if r.opcode & 0x07 == CLS_JMP {
            Width::W64
        } else {
            Width::W32
        };
        let reg_source = r.opcode & SRC_X != 0;
        let cond = match r.opcode & 0xf0 {
            JMP_JA => {
                if reg_source {
                    return Err(self.unknown());
                }
                self.zero_src()?;
                self.zero_dst()?;
                return Ok(match width {
                    Width::W64 => {
                        self.zero_imm()?;
                        Insn::Ja {
                            off: i32::from(r.off),
                            long: false,
                        }
                    }
                    Width::W32 => {
                        self.zero_off()?;
                        Insn::Ja {
                            off: r.imm,
                            long: true,
                        }
                    }
                });
            }
            JMP_CALL if width == Width::W64 => return self.call(reg_source),
            JMP_EXIT if width == Width::W64 && !reg_source => {
                self.zero_src()?;
                self.zero_dst()?;
                self.zero_off()?;
                self.zero_imm()?;
                return Ok(Insn::Exit);
            }
            JMP_JEQ => Cond::Eq,
            JMP_JGT => Cond::Gt,
            JMP_JGE => Cond::Ge,
            JMP_JSET => Cond::Set,
            JMP_JNE => Cond::Ne,
            JMP_JSGT => Cond::Sgt,
            JMP_JSGE => Cond::Sge,
            JMP_JLT => Cond::Lt,
            JMP_JLE => Cond::Le,
            JMP_JSLT => Cond::Slt,
            JMP_JSLE => Cond::Sle,
            _ => return Err(self.unknown()),
        };
        let src = self.operand()?;
        Ok(Insn::Jump {
            width,
            cond,
            dst: self.reg(r.dst)?,
            src,
            off: r.off,
        })
    }

    fn call(&self, reg_source: bool) -> Result<Insn, DecodeError> {
        let r = self.r;
        if reg_source {
            self.zero_src()?;
            self.zero_off()?;
            self.zero_imm()?;
            return Ok(Insn::CallX {
                reg: self.reg(r.dst)?,
            });
        }
        self.zero_dst()?;
        let target = match r.src {
            0 => CallTarget::Helper(r.imm),
            1 => CallTarget::Local(r.imm),
            2 => {
                return Ok(Insn::Call(CallTarget::Kfunc {
                    btf_id: r.imm,
                    module: r.off,
                }));
            }
            s => return Err(self.reserved("src", "0, 1 or 2", i64::from(s))),
        };
        self.zero_off()?;
        Ok(Insn::Call(target))
    }

    fn size(&self) -> Size {
        match self.r.opcode & 0x18 {
            SIZE_W => Size::W,
            SIZE_H => Size::H,
            SIZE_B => Size::B,
            _ => Size::DW,
        }
    }

    fn load(&self) -> Result<Insn, DecodeError> {
        let r = self.r;
        let size = self.size();
        let signed = match r.opcode & 0xe0 {
            MODE_MEM => false,
            MODE_MEMSX if size != Size::DW => true,
            _ => return Err(self.unknown()),
        };
        self.zero_imm()?;
        let src = self.reg(r.src)?;
        Ok(Insn::Load {
            size,
            signed,
            dst: self.dst_written()?,
            src,
            off: r.off,
        })
    }

    fn store(&self) -> Result<Insn, DecodeError> {
        let r = self.r;
        let size = self.size();
        let dst = self.reg(r.dst)?;
        let mode = r.opcode & 0xe0;
        if r.opcode & 0x07 == CLS_ST {
            if mode != MODE_MEM {
                return Err(self.unknown());
            }
            self.zero_src()?;
            return Ok(Insn::Store {
                size,
                dst,
                off: r.off,
                value: Operand::Imm(r.imm),
            });
        }
        let src = self.reg(r.src)?;
        match mode {
            MODE_MEM => {
                self.zero_imm()?;
                Ok(Insn::Store {
                    size,
                    dst,
                    off: r.off,
                    value: Operand::Reg(src),
                })
            }
            MODE_ATOMIC if matches!(size, Size::W | Size::DW) => self.atomic(size, dst, src),
            _ => Err(self.unknown()),
        }
    }

    fn atomic(&self, size: Size, dst: Reg, src: Reg) -> Result<Insn, DecodeError> {
        let imm = self.r.imm;
        let (op, fetch) = match imm {
            ATOMIC_XCHG => (AtomicOp::Xchg, true),
            ATOMIC_CMPXCHG => (AtomicOp::CmpXchg, true),
            _ => {
                let op = match imm & !ATOMIC_FETCH {
                    ATOMIC_ADD => AtomicOp::Add,
                    ATOMIC_OR => AtomicOp::Or,
                    ATOMIC_AND => AtomicOp::And,
                    ATOMIC_XOR => AtomicOp::Xor,
                    _ => {
                        return Err(self.reserved(
                            "imm",
                            "an atomic operation (add, or, and, xor [| fetch], xchg, cmpxchg)",
                            i64::from(imm),
                        ));
                    }
                };
                (op, imm & ATOMIC_FETCH != 0)
            }
        };
        // A fetching operation other than cmpxchg writes the old value into `src`.
        if fetch && op != AtomicOp::CmpXchg && src == Reg::FP {
            return Err(DecodeError::WriteToFramePointer { pc: self.pc });
        }
        Ok(Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off: self.r.off,
        })
    }

    fn ld(&self, raw: &[RawInsn]) -> Result<Insn, DecodeError> {
        let r = self.r;
        let size = self.size();
        match (r.opcode & 0xe0, size) {
            (MODE_IMM, Size::DW) => self.lddw(raw),
            (MODE_ABS, Size::B | Size::H | Size::W) => {
                self.zero_dst()?;
                self.zero_src()?;
                self.zero_off()?;
                Ok(Insn::LoadPacket {
                    size,
                    mode: PacketMode::Abs,
                    imm: r.imm,
                })
            }
            (MODE_IND, Size::B | Size::H | Size::W) => {
                self.zero_dst()?;
                self.zero_off()?;
                let src = self.reg(r.src)?;
                Ok(Insn::LoadPacket {
                    size,
                    mode: PacketMode::Ind(src),
                    imm: r.imm,
                })
            }
            _ => Err(self.unknown()),
        }
    }

    fn lddw(&self, raw: &[RawInsn]) -> Result<Insn, DecodeError> {
        let r = self.r;
        let kind = Imm64Kind::from_src(r.src).ok_or(DecodeError::InvalidLddwSource {
            pc: self.pc,
            src: r.src,
        })?;
        self.zero_off()?;
        let dst = self.dst_written()?;
        let Some(&next) = raw.get(self.pc + 1) else {
            return Err(DecodeError::IncompleteLddw { pc: self.pc });
        };
        let tail = Decoder {
            pc: self.pc + 1,
            r: next,
        };
        if next.opcode != 0 {
            return Err(tail.reserved("opcode", "0 (second slot of lddw)", i64::from(next.opcode)));
        }
        tail.zero_dst()?;
        tail.zero_src()?;
        tail.zero_off()?;
        Ok(Insn::LoadImm64 {
            dst,
            kind,
            imm: r.imm,
            next_imm: next.imm,
        })
    }
}
