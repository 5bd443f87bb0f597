//! Text → [`Insn`]: an assembler for the bpf_conformance assembly syntax.
//!
//! The suite's syntax: one instruction per line, `#` starts a comment, `name:` defines a label,
//! registers are `%r0`..`%r10`, memory operands `[%r1+4]` / `[%r10-8]` / `[%r1]`, jump targets
//! `+N`, `-N` or a label, and the label `exit` (when not defined) means the program's first `exit`
//! instruction, as the suite's own assembler has it. Mnemonics: `add32 %r0, 1`, `lddw %r0, 0x..`,
//! `ldxh`, `stxdw`, `stw`, `be16`/`le16`/`bswap16` (`swap16` is accepted), `movsx864` (8 → 64 bits),
//! `sdiv`/`smod`, `ja`/`ja32`, `jeq32`, `call 5`, `call local label`, `call %r2` (callx),
//! `lock [fetch] add32 [%r1+0], %r2`, `lock xchg`, `lock cmpxchg32`.
//!
//! Vouch's extensions, for encodings the suite cannot spell (so that every valid instruction can be
//! disassembled and assembled back): `callx %r2`, `call kfunc ID[, MODULE]` (`call runtime ID` is
//! accepted), `ldabsw IMM`, `ldindh %rS, IMM`, `ldxsb`/`ldxsh`/`ldxsw`, and `lddw %rD, KIND(IMM[,
//! NEXT])` for the relocated forms, KIND being `map_fd`, `map_value`, `btf_var`, `func`, `map_idx`
//! or `map_idx_value`. `;` also starts a comment.
//!
//! The assembler checks syntax only; [`super::decode_program`] validates the result.

use super::decode::RawInsn;
use super::disasm::{alu_name, atomic_name, cond_name, imm64_kind_name};
use super::encode::encode;
use super::insn::*;
use std::collections::HashMap;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct AsmError {
    pub line: usize,
    pub message: String,
}

/// Assembles a program. Line numbers in errors count from 1.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    Assembler::default().run(text)
}

/// Assembles a program straight to its encoded slots.
pub fn assemble_raw(text: &str) -> Result<Vec<RawInsn>, AsmError> {
    Ok(assemble(text)?.iter().flat_map(encode).collect())
}

/// Where a label must be patched in once all labels are known.
struct Fixup {
    pc: usize,
    line: usize,
    label: String,
}

#[derive(Default)]
struct Assembler {
    insns: Vec<Insn>,
    labels: HashMap<String, usize>,
    first_exit: Option<usize>,
    fixups: Vec<Fixup>,
}

type Res<T> = Result<T, String>;

impl Assembler {
    fn run(mut self, text: &str) -> Result<Vec<Insn>, AsmError> {
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            self.line(line, line_no).map_err(|message| AsmError {
                line: line_no,
                message,
            })?;
        }
        for fix in std::mem::take(&mut self.fixups) {
            let target = match self.labels.get(&fix.label) {
                Some(&t) => t,
                None if fix.label == "exit" && self.first_exit.is_some() => {
                    self.first_exit.unwrap_or_default()
                }
                None => {
                    return Err(AsmError {
                        line: fix.line,
                        message: format!("undefined label `{}`", fix.label),
                    });
                }
            };
            let rel = target as i64 - fix.pc as i64 - 1;
            self.patch(fix.pc, rel).map_err(|message| AsmError {
                line: fix.line,
                message,
            })?;
        }
        Ok(self.insns)
    }

    fn patch(&mut self, pc: usize, rel: i64) -> Res<()> {
        let too_far = || format!("jump of {rel} instructions does not fit its offset field");
        match &mut self.insns[pc] {
            Insn::Ja { off, long: true } | Insn::Call(CallTarget::Local(off)) => {
                *off = i32::try_from(rel).map_err(|_| too_far())?;
            }
            Insn::Ja { off, long: false } => {
                *off = i32::from(i16::try_from(rel).map_err(|_| too_far())?);
            }
            Insn::Jump { off, .. } => *off = i16::try_from(rel).map_err(|_| too_far())?,
            _ => unreachable!("fixups are only recorded for jumps and local calls"),
        }
        Ok(())
    }

    fn line(&mut self, line: &str, line_no: usize) -> Res<()> {
        let code = line.split(['#', ';']).next().unwrap_or("").trim();
        if code.is_empty() {
            return Ok(());
        }
        if let Some(label) = code.strip_suffix(':') {
            let label = label.trim();
            if label.is_empty() || label.contains(char::is_whitespace) {
                return Err(format!("invalid label `{label}`"));
            }
            if self
                .labels
                .insert(label.to_string(), self.insns.len())
                .is_some()
            {
                return Err(format!("label `{label}` is defined twice"));
            }
            return Ok(());
        }
        let tokens = tokenize(code);
        let (mnemonic, ops) = tokens.split_first().ok_or("empty instruction")?;
        let insn = self.instruction(mnemonic, ops, line_no)?;
        if insn == Insn::Exit && self.first_exit.is_none() {
            self.first_exit = Some(self.insns.len());
        }
        self.insns.push(insn);
        if insn.slots() == 2 {
            self.insns.push(Insn::WideTail);
        }
        Ok(())
    }

    /// A jump target: a relative offset, or a label patched later.
    fn target(&mut self, tok: &str, line: usize) -> i64 {
        match parse_int(tok) {
            Some(v) => v as i64,
            None => {
                self.fixups.push(Fixup {
                    pc: self.insns.len(),
                    line,
                    label: tok.to_string(),
                });
                0
            }
        }
    }

    fn instruction(&mut self, m: &str, ops: &[String], line: usize) -> Res<Insn> {
        let n = ops.len();
        let want = |k: usize| -> Res<()> {
            if n == k {
                Ok(())
            } else {
                Err(format!("`{m}` takes {k} operand(s), found {n}"))
            }
        };
        match m {
            "exit" => {
                want(0)?;
                Ok(Insn::Exit)
            }
            "lock" => atomic(ops),
            "call" => self.call(ops, line),
            "callx" => {
                want(1)?;
                Ok(Insn::CallX { reg: reg(&ops[0])? })
            }
            "lddw" => {
                want(2)?;
                lddw(reg(&ops[0])?, &ops[1])
            }
            "ja" | "ja32" | "gotol" => {
                want(1)?;
                let long = m != "ja";
                let off = self.target(&ops[0], line);
                let off = if long {
                    i32::try_from(off).map_err(|_| format!("offset {off} out of range"))?
                } else {
                    i32::from(i16::try_from(off).map_err(|_| format!("offset {off} out of range"))?)
                };
                Ok(Insn::Ja { off, long })
            }
            "neg" | "neg32" => {
                want(1)?;
                let width = if m == "neg" { Width::W64 } else { Width::W32 };
                Ok(Insn::Neg {
                    width,
                    dst: reg(&ops[0])?,
                })
            }
            _ => {
                if let Some(insn) = endian(m, ops)? {
                    return Ok(insn);
                }
                if let Some(insn) = memory(m, ops)? {
                    return Ok(insn);
                }
                if let Some(insn) = self.jump(m, ops, line)? {
                    return Ok(insn);
                }
                if let Some(insn) = alu(m, ops)? {
                    return Ok(insn);
                }
                Err(format!("unknown mnemonic `{m}`"))
            }
        }
    }

    fn call(&mut self, ops: &[String], line: usize) -> Res<Insn> {
        match ops {
            [r] if r.starts_with('%') => Ok(Insn::CallX { reg: reg(r)? }),
            [id] | [_, id] if ops.len() == 1 || ops[0] == "helper" => {
                Ok(Insn::Call(CallTarget::Helper(imm32(id)?)))
            }
            [mode, target] if mode == "local" => {
                let rel = self.target(target, line);
                let rel = i32::try_from(rel).map_err(|_| format!("offset {rel} out of range"))?;
                Ok(Insn::Call(CallTarget::Local(rel)))
            }
            [mode, id, rest @ ..] if (mode == "kfunc" || mode == "runtime") && rest.len() <= 1 => {
                let module = match rest.first() {
                    Some(m) => parse_int(m)
                        .and_then(|v| i16::try_from(v).ok())
                        .ok_or_else(|| format!("invalid kfunc module `{m}`"))?,
                    None => 0,
                };
                Ok(Insn::Call(CallTarget::Kfunc {
                    btf_id: imm32(id)?,
                    module,
                }))
            }
            _ => {
                Err("expected `call ID`, `call local TARGET`, `call kfunc ID` or `call %rN`".into())
            }
        }
    }

    fn jump(&mut self, m: &str, ops: &[String], line: usize) -> Res<Option<Insn>> {
        let (base, width) = split_width(m);
        let Some(cond) = CONDS.iter().copied().find(|c| cond_name(*c) == base) else {
            return Ok(None);
        };
        let [dst, src, target] = ops else {
            return Err(format!(
                "`{m}` takes 3 operands: register, register or immediate, target"
            ));
        };
        let off = self.target(target, line);
        let off = i16::try_from(off).map_err(|_| format!("offset {off} out of range"))?;
        Ok(Some(Insn::Jump {
            width,
            cond,
            dst: reg(dst)?,
            src: operand(src)?,
            off,
        }))
    }
}

const CONDS: [Cond; 11] = [
    Cond::Eq,
    Cond::Gt,
    Cond::Ge,
    Cond::Set,
    Cond::Ne,
    Cond::Sgt,
    Cond::Sge,
    Cond::Lt,
    Cond::Le,
    Cond::Slt,
    Cond::Sle,
];

const ALU_OPS: [AluOp; 14] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Div,
    AluOp::SDiv,
    AluOp::Or,
    AluOp::And,
    AluOp::Lsh,
    AluOp::Rsh,
    AluOp::Mod,
    AluOp::SMod,
    AluOp::Xor,
    AluOp::Mov,
    AluOp::Arsh,
];

const ATOMIC_OPS: [AtomicOp; 6] = [
    AtomicOp::Add,
    AtomicOp::Or,
    AtomicOp::And,
    AtomicOp::Xor,
    AtomicOp::Xchg,
    AtomicOp::CmpXchg,
];

const IMM64_KINDS: [Imm64Kind; 6] = [
    Imm64Kind::MapFd,
    Imm64Kind::MapValue,
    Imm64Kind::BtfVar,
    Imm64Kind::Func,
    Imm64Kind::MapIdx,
    Imm64Kind::MapIdxValue,
];

/// Splits on whitespace and commas, keeping `[...]` and `kind(...)` groups whole.
fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    for c in code.chars() {
        match c {
            '[' | '(' => {
                depth += 1;
                cur.push(c);
            }
            ']' | ')' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if depth > 0 && c.is_whitespace() => {}
            c if depth == 0 && (c.is_whitespace() || c == ',') => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

fn split_width(m: &str) -> (&str, Width) {
    match m.strip_suffix("32") {
        Some(base) => (base, Width::W32),
        None => (m, Width::W64),
    }
}

/// Parses `123`, `-8`, `+3`, `0x1f`, `-0x10` into an i128 wide enough for any field.
fn parse_int(tok: &str) -> Option<i128> {
    let (neg, rest) = match tok.as_bytes().first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let v = if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse::<u64>().ok()?
    };
    Some(if neg { -i128::from(v) } else { i128::from(v) })
}

/// A 32-bit immediate, written signed (`-1`) or as its unsigned bit pattern (`0xffffffff`).
fn imm32(tok: &str) -> Res<i32> {
    let v = parse_int(tok).ok_or_else(|| format!("invalid immediate `{tok}`"))?;
    if let Ok(v) = i32::try_from(v) {
        Ok(v)
    } else if let Ok(v) = u32::try_from(v) {
        Ok(v as i32)
    } else {
        Err(format!("immediate `{tok}` does not fit in 32 bits"))
    }
}

fn reg(tok: &str) -> Res<Reg> {
    let digits = tok.strip_prefix("%r").or_else(|| tok.strip_prefix('r'));
    digits
        .and_then(|d| d.parse::<u8>().ok())
        .and_then(Reg::new)
        .ok_or_else(|| format!("invalid register `{tok}` (registers are %r0-%r10)"))
}

fn operand(tok: &str) -> Res<Operand> {
    if tok.starts_with('%') || tok.starts_with('r') {
        Ok(Operand::Reg(reg(tok)?))
    } else {
        Ok(Operand::Imm(imm32(tok)?))
    }
}

/// `[%r1+4]`, `[%r10-8]`, `[%r1]`.
fn mem(tok: &str) -> Res<(Reg, i16)> {
    let inner = tok
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("expected a memory operand like [%r1+4], found `{tok}`"))?;
    let split = inner.find(['+', '-']).unwrap_or(inner.len());
    let (r, off) = inner.split_at(split);
    let off = if off.is_empty() {
        0
    } else {
        parse_int(off)
            .and_then(|v| i16::try_from(v).ok())
            .ok_or_else(|| format!("memory offset `{off}` is not a 16-bit signed number"))?
    };
    Ok((reg(r)?, off))
}

fn size_from(name: &str) -> Option<Size> {
    Some(match name {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn two<'a>(m: &str, ops: &'a [String]) -> Res<(&'a str, &'a str)> {
    match ops {
        [a, b] => Ok((a, b)),
        _ => Err(format!("`{m}` takes 2 operands, found {}", ops.len())),
    }
}

fn memory(m: &str, ops: &[String]) -> Res<Option<Insn>> {
    if let Some(size) = m.strip_prefix("ldxs").and_then(size_from) {
        let (d, s) = two(m, ops)?;
        let (src, off) = mem(s)?;
        return Ok(Some(Insn::Load {
            size,
            signed: true,
            dst: reg(d)?,
            src,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("ldx").and_then(size_from) {
        let (d, s) = two(m, ops)?;
        let (src, off) = mem(s)?;
        return Ok(Some(Insn::Load {
            size,
            signed: false,
            dst: reg(d)?,
            src,
            off,
        }));
    }
    if let Some(size) = m.strip_prefix("stx").and_then(size_from) {
        let (d, s) = two(m, ops)?;
        let (dst, off) = mem(d)?;
        return Ok(Some(Insn::Store {
            size,
            dst,
            off,
            value: Operand::Reg(reg(s)?),
        }));
    }
    if let Some(size) = m.strip_prefix("st").and_then(size_from) {
        let (d, s) = two(m, ops)?;
        let (dst, off) = mem(d)?;
        return Ok(Some(Insn::Store {
            size,
            dst,
            off,
            value: Operand::Imm(imm32(s)?),
        }));
    }
    if let Some(size) = m.strip_prefix("ldabs").and_then(size_from) {
        let [imm] = ops else {
            return Err(format!("`{m}` takes 1 operand"));
        };
        return Ok(Some(Insn::LoadPacket {
            size,
            mode: PacketMode::Abs,
            imm: imm32(imm)?,
        }));
    }
    if let Some(size) = m.strip_prefix("ldind").and_then(size_from) {
        let (r, imm) = two(m, ops)?;
        let mode = PacketMode::Ind(reg(r)?);
        return Ok(Some(Insn::LoadPacket {
            size,
            mode,
            imm: imm32(imm)?,
        }));
    }
    Ok(None)
}

fn endian(m: &str, ops: &[String]) -> Res<Option<Insn>> {
    let (kind, bits) = if let Some(b) = m.strip_prefix("le") {
        (Endian::ToLe, b)
    } else if let Some(b) = m.strip_prefix("be") {
        (Endian::ToBe, b)
    } else if let Some(b) = m.strip_prefix("bswap").or_else(|| m.strip_prefix("swap")) {
        (Endian::Swap, b)
    } else {
        return Ok(None);
    };
    let bits = match bits {
        "16" => 16,
        "32" => 32,
        "64" => 64,
        _ => return Ok(None),
    };
    let [dst] = ops else {
        return Err(format!("`{m}` takes 1 operand"));
    };
    Ok(Some(Insn::Endian {
        kind,
        bits,
        dst: reg(dst)?,
    }))
}

fn alu(m: &str, ops: &[String]) -> Res<Option<Insn>> {
    if let Some(rest) = m.strip_prefix("movsx") {
        let (bits, width) = match rest {
            "832" => (8, Width::W32),
            "1632" => (16, Width::W32),
            "864" => (8, Width::W64),
            "1664" => (16, Width::W64),
            "3264" => (32, Width::W64),
            _ => return Err(format!("unknown sign-extending move `{m}`")),
        };
        let (d, s) = two(m, ops)?;
        let op = AluOp::MovSx(bits);
        return Ok(Some(Insn::Alu {
            width,
            op,
            dst: reg(d)?,
            src: Operand::Reg(reg(s)?),
        }));
    }
    let (base, width) = split_width(m);
    let Some(op) = ALU_OPS.iter().copied().find(|op| alu_name(*op) == base) else {
        return Ok(None);
    };
    let (d, s) = two(m, ops)?;
    Ok(Some(Insn::Alu {
        width,
        op,
        dst: reg(d)?,
        src: operand(s)?,
    }))
}

/// `lock [fetch] OP[32] [%rD+off], %rS`.
fn atomic(ops: &[String]) -> Res<Insn> {
    let (fetch, rest) = match ops.split_first() {
        Some((f, rest)) if f == "fetch" => (true, rest),
        _ => (false, ops),
    };
    let [name, dst, src] = rest else {
        return Err("expected `lock [fetch] OP [%rD+off], %rS`".into());
    };
    let (base, width) = split_width(name);
    let op = ATOMIC_OPS
        .iter()
        .copied()
        .find(|op| atomic_name(*op) == base)
        .ok_or_else(|| format!("unknown atomic operation `{name}`"))?;
    let always_fetch = matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg);
    if fetch && always_fetch {
        return Err(format!("`{base}` always fetches; drop `fetch`"));
    }
    let size = if width == Width::W32 {
        Size::W
    } else {
        Size::DW
    };
    let (dst, off) = mem(dst)?;
    Ok(Insn::Atomic {
        size,
        op,
        fetch: fetch || always_fetch,
        dst,
        src: reg(src)?,
        off,
    })
}

/// `lddw %rD, 0x1122334455667788` or `lddw %rD, map_fd(3)` / `map_value(3, 16)`.
fn lddw(dst: Reg, value: &str) -> Res<Insn> {
    if let Some(open) = value.find('(') {
        let kind_name = &value[..open];
        let kind = IMM64_KINDS
            .iter()
            .copied()
            .find(|k| imm64_kind_name(*k) == kind_name)
            .ok_or_else(|| format!("unknown lddw kind `{kind_name}`"))?;
        let args = value[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("missing `)` in `{value}`"))?;
        let mut parts = args.split(',');
        let imm = imm32(parts.next().unwrap_or("").trim())?;
        let next_imm = match parts.next() {
            Some(p) => imm32(p.trim())?,
            None => 0,
        };
        if parts.next().is_some() {
            return Err(format!("too many arguments in `{value}`"));
        }
        return Ok(Insn::LoadImm64 {
            dst,
            kind,
            imm,
            next_imm,
        });
    }
    let v = parse_int(value).ok_or_else(|| format!("invalid 64-bit immediate `{value}`"))?;
    let bits = if let Ok(v) = i64::try_from(v) {
        v as u64
    } else {
        u64::try_from(v).map_err(|_| format!("immediate `{value}` does not fit in 64 bits"))?
    };
    Ok(Insn::LoadImm64 {
        dst,
        kind: Imm64Kind::Value,
        imm: bits as u32 as i32,
        next_imm: (bits >> 32) as u32 as i32,
    })
}
