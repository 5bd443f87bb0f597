//! [`Insn`] → bytes: the inverse of decoding. For every valid encoding `x`,
//! `encode(decode(x)) == x` (the decoder rejects every field the encoder would not write).

use super::decode::RawInsn;
use super::insn::*;
use super::opcode::*;

/// Encodes an instruction into its one or two slots. `WideTail` encodes to nothing: its bytes
/// are produced by the `LoadImm64` before it.
pub fn encode(insn: &Insn) -> Vec<RawInsn> {
    let mut r = RawInsn::default();
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            r.opcode = alu_class(width);
            r.dst = dst.number();
            let (code, off) = match op {
                AluOp::Add => (ALU_ADD, 0),
                AluOp::Sub => (ALU_SUB, 0),
                AluOp::Mul => (ALU_MUL, 0),
                AluOp::Div => (ALU_DIV, 0),
                AluOp::SDiv => (ALU_DIV, 1),
                AluOp::Or => (ALU_OR, 0),
                AluOp::And => (ALU_AND, 0),
                AluOp::Lsh => (ALU_LSH, 0),
                AluOp::Rsh => (ALU_RSH, 0),
                AluOp::Mod => (ALU_MOD, 0),
                AluOp::SMod => (ALU_MOD, 1),
                AluOp::Xor => (ALU_XOR, 0),
                AluOp::Mov => (ALU_MOV, 0),
                AluOp::MovSx(bits) => (ALU_MOV, i16::from(bits)),
                AluOp::Arsh => (ALU_ARSH, 0),
            };
            r.opcode |= code;
            r.off = off;
            set_operand(&mut r, src);
        }
        Insn::Neg { width, dst } => {
            r.opcode = alu_class(width) | ALU_NEG;
            r.dst = dst.number();
        }
        Insn::Endian { kind, bits, dst } => {
            r.opcode = match kind {
                Endian::ToLe => CLS_ALU | ALU_END | SRC_K,
                Endian::ToBe => CLS_ALU | ALU_END | SRC_X,
                Endian::Swap => CLS_ALU64 | ALU_END | SRC_K,
            };
            r.dst = dst.number();
            r.imm = i32::from(bits);
        }
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => {
            let mode = if signed { MODE_MEMSX } else { MODE_MEM };
            r.opcode = CLS_LDX | mode | size_bits(size);
            r.dst = dst.number();
            r.src = src.number();
            r.off = off;
        }
        Insn::Store {
            size,
            dst,
            off,
            value,
        } => {
            r.dst = dst.number();
            r.off = off;
            match value {
                Operand::Imm(imm) => {
                    r.opcode = CLS_ST | MODE_MEM | size_bits(size);
                    r.imm = imm;
                }
                Operand::Reg(src) => {
                    r.opcode = CLS_STX | MODE_MEM | size_bits(size);
                    r.src = src.number();
                }
            }
        }
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => {
            r.opcode = CLS_STX | MODE_ATOMIC | size_bits(size);
            r.dst = dst.number();
            r.src = src.number();
            r.off = off;
            r.imm = match op {
                AtomicOp::Add => ATOMIC_ADD,
                AtomicOp::Or => ATOMIC_OR,
                AtomicOp::And => ATOMIC_AND,
                AtomicOp::Xor => ATOMIC_XOR,
                AtomicOp::Xchg => ATOMIC_XCHG,
                AtomicOp::CmpXchg => ATOMIC_CMPXCHG,
            };
            if fetch {
                r.imm |= ATOMIC_FETCH;
            }
        }
        Insn::LoadImm64 {
            dst,
            kind,
            imm,
            next_imm,
        } => {
            r.opcode = LDDW;
            r.dst = dst.number();
            r.src = kind.src();
            r.imm = imm;
            let tail = RawInsn {
                imm: next_imm,
                ..RawInsn::default()
            };
            return vec![r, tail];
        }
        Insn::WideTail => return Vec::new(),
        Insn::LoadPacket { size, mode, imm } => {
            r.imm = imm;
            r.opcode = CLS_LD | size_bits(size);
            match mode {
                PacketMode::Abs => r.opcode |= MODE_ABS,
                PacketMode::Ind(src) => {
                    r.opcode |= MODE_IND;
                    r.src = src.number();
                }
            }
        }
        Insn::Ja { off, long } => {
            if long {
                r.opcode = CLS_JMP32 | JMP_JA;
                r.imm = off;
            } else {
                r.opcode = CLS_JMP | JMP_JA;
                r.off = off as i16;
            }
        }
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            r.opcode = if width == Width::W64 {
                CLS_JMP
            } else {
                CLS_JMP32
            };
            r.opcode |= match cond {
                Cond::Eq => JMP_JEQ,
                Cond::Gt => JMP_JGT,
                Cond::Ge => JMP_JGE,
                Cond::Set => JMP_JSET,
                Cond::Ne => JMP_JNE,
                Cond::Sgt => JMP_JSGT,
                Cond::Sge => JMP_JSGE,
                Cond::Lt => JMP_JLT,
                Cond::Le => JMP_JLE,
                Cond::Slt => JMP_JSLT,
                Cond::Sle => JMP_JSLE,
            };
            r.dst = dst.number();
            r.off = off;
            set_operand(&mut r, src);
        }
        Insn::Call(target) => {
            r.opcode = CLS_JMP | JMP_CALL;
            match target {
                CallTarget::Helper(id) => r.imm = id,
                CallTarget::Local(rel) => {
                    r.src = 1;
                    r.imm = rel;
                }
                CallTarget::Kfunc { btf_id, module } => {
                    r.src = 2;
                    r.imm = btf_id;
                    r.off = module;
                }
            }
        }
        Insn::CallX { reg } => {
            r.opcode = CLS_JMP | JMP_CALL | SRC_X;
            r.dst = reg.number();
        }
        Insn::Exit => r.opcode = CLS_JMP | JMP_EXIT,
    }
    vec![r]
}

/// Encodes a whole program (as produced by [`decode_program`]) back into bytes.
pub fn encode_program(insns: &[Insn]) -> Vec<u8> {
    insns
        .iter()
        .flat_map(encode)
        .flat_map(RawInsn::to_bytes)
        .collect()
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => CLS_ALU,
        Width::W64 => CLS_ALU64,
    }
}

fn size_bits(size: Size) -> u8 {
    match size {
        Size::W => SIZE_W,
        Size::H => SIZE_H,
        Size::B => SIZE_B,
        Size::DW => SIZE_DW,
    }
}

fn set_operand(r: &mut RawInsn, src: Operand) {
    match src {
        Operand::Reg(s) => {
            r.opcode |= SRC_X;
            r.src = s.number();
        }
        Operand::Imm(imm) => r.imm = imm,
    }
}
