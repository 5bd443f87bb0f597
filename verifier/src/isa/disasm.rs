//! [`Insn`] → text, in the assembly syntax of the bpf_conformance suite.
//!
//! The output is exactly what [`super::asm`] reads back: `asm(disasm(x)) == x` for every valid
//! instruction, which a property test checks. Extensions beyond the suite's syntax (the suite has
//! no spelling for them) are documented in `asm`.

use super::insn::*;
use std::fmt;

/// Formats one instruction. Jump offsets are relative (`+3`, `-2`), as in the encoding.
pub fn disasm(insn: &Insn) -> String {
    insn.to_string()
}

/// Formats a program one instruction per line, skipping the `lddw` tail slots.
pub fn disasm_program(insns: &[Insn]) -> String {
    let mut out = String::new();
    for insn in insns.iter().filter(|i| **i != Insn::WideTail) {
        out.push_str(&insn.to_string());
        out.push('\n');
    }
    out
}

fn suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

pub(crate) fn alu_name(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::SDiv => "sdiv",
        AluOp::Or => "or",
        AluOp::And => "and",
        AluOp::Lsh => "lsh",
        AluOp::Rsh => "rsh",
        AluOp::Mod => "mod",
        AluOp::SMod => "smod",
        AluOp::Xor => "xor",
        AluOp::Mov => "mov",
        AluOp::MovSx(_) => "movsx",
        AluOp::Arsh => "arsh",
    }
}

pub(crate) fn cond_name(cond: Cond) -> &'static str {
    match cond {
        Cond::Eq => "jeq",
        Cond::Gt => "jgt",
        Cond::Ge => "jge",
        Cond::Set => "jset",
        Cond::Ne => "jne",
        Cond::Sgt => "jsgt",
        Cond::Sge => "jsge",
        Cond::Lt => "jlt",
        Cond::Le => "jle",
        Cond::Slt => "jslt",
        Cond::Sle => "jsle",
    }
}

pub(crate) fn atomic_name(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add => "add",
        AtomicOp::Or => "or",
        AtomicOp::And => "and",
        AtomicOp::Xor => "xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::CmpXchg => "cmpxchg",
    }
}

pub(crate) fn imm64_kind_name(kind: Imm64Kind) -> &'static str {
    match kind {
        Imm64Kind::Value => "value",
        Imm64Kind::MapFd => "map_fd",
        Imm64Kind::MapValue => "map_value",
        Imm64Kind::BtfVar => "btf_var",
        Imm64Kind::Func => "func",
        Imm64Kind::MapIdx => "map_idx",
        Imm64Kind::MapIdxValue => "map_idx_value",
    }
}

struct Mem(Reg, i16);

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => write!(f, "[{}]", self.0),
            off if off < 0 => write!(f, "[{}{}]", self.0, off),
            off => write!(f, "[{}+{}]", self.0, off),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Reg(r) => write!(f, "{r}"),
            Operand::Imm(i) => write!(f, "{i}"),
        }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst,
                src,
            } => {
                let to = if width == Width::W64 { 64 } else { 32 };
                write!(f, "movsx{bits}{to} {dst}, {src}")
            }
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                write!(f, "{}{} {dst}, {src}", alu_name(op), suffix(width))
            }
            Insn::Neg { width, dst } => write!(f, "neg{} {dst}", suffix(width)),
            Insn::Endian { kind, bits, dst } => {
                let name = match kind {
                    Endian::ToLe => "le",
                    Endian::ToBe => "be",
                    Endian::Swap => "bswap",
                };
                write!(f, "{name}{bits} {dst}")
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let s = if signed { "s" } else { "" };
                write!(f, "ldx{s}{} {dst}, {}", size_name(size), Mem(src, off))
            }
            Insn::Store {
                size,
                dst,
                off,
                value: Operand::Imm(imm),
            } => {
                write!(f, "st{} {}, {imm}", size_name(size), Mem(dst, off))
            }
            Insn::Store {
                size,
                dst,
                off,
                value: Operand::Reg(src),
            } => {
                write!(f, "stx{} {}, {src}", size_name(size), Mem(dst, off))
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let fetch = if fetch && !matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg) {
                    "fetch "
                } else {
                    ""
                };
                let w = if size == Size::W { "32" } else { "" };
                write!(
                    f,
                    "lock {fetch}{}{w} {}, {src}",
                    atomic_name(op),
                    Mem(dst, off)
                )
            }
            Insn::LoadImm64 {
                dst,
                kind: Imm64Kind::Value,
                imm,
                next_imm,
            } => {
                let value = (u64::from(next_imm as u32) << 32) | u64::from(imm as u32);
                write!(f, "lddw {dst}, {value:#x}")
            }
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm: 0,
            } => {
                write!(f, "lddw {dst}, {}({imm})", imm64_kind_name(kind))
            }
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm,
            } => {
                write!(
                    f,
                    "lddw {dst}, {}({imm}, {next_imm})",
                    imm64_kind_name(kind)
                )
            }
            Insn::WideTail => write!(f, "; (second slot of lddw)"),
            Insn::LoadPacket {
                size,
                mode: PacketMode::Abs,
                imm,
            } => {
                write!(f, "ldabs{} {imm}", size_name(size))
            }
            Insn::LoadPacket {
                size,
                mode: PacketMode::Ind(src),
                imm,
            } => {
                write!(f, "ldind{} {src}, {imm}", size_name(size))
            }
            Insn::Ja { off, long } => {
                let name = if long { "ja32" } else { "ja" };
                write!(f, "{name} {off:+}")
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                write!(
                    f,
                    "{}{} {dst}, {src}, {off:+}",
                    cond_name(cond),
                    suffix(width)
                )
            }
            Insn::Call(CallTarget::Helper(id)) => write!(f, "call {id}"),
            Insn::Call(CallTarget::Local(rel)) => write!(f, "call local {rel:+}"),
            Insn::Call(CallTarget::Kfunc { btf_id, module: 0 }) => write!(f, "call kfunc {btf_id}"),
            Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
                write!(f, "call kfunc {btf_id}, {module}")
            }
            Insn::CallX { reg } => write!(f, "callx {reg}"),
            Insn::Exit => write!(f, "exit"),
        }
    }
}
