//! The instruction syntax of PREVAIL's test cases (the Linux verifier log / `llvm-objdump -d`
//! style: `r2 = *(u8 *)(r1 + 0)`, `if r1 > r2 goto <out>`, `w0 += 3`, `lock *(u64 *)(r1 + 0)
//! += r2 fetch`, `call 1`, `r1 = 5 ll`) → our [`Insn`]s, with labels left symbolic.
//!
//! Our assembler (`isa::asm`) speaks the bpf_conformance syntax, so this is a separate, small
//! parser. PREVAIL-only forms and how they are expressed in eBPF:
//! - `assume A op B`: a jump on the negated condition to a sink that never returns, so only
//!   states where the condition holds continue ([`Target::Sink`]).
//! - `if A &!= B goto L` (PREVAIL's "not set"): `if A & B goto +1; goto L`.
//! - `wD s32= rS` (sign-extend 32 bits into 32 bits, no eBPF encoding): `wD = wS`, which is the
//!   same operation.
//! - Immediates without `ll` are 32-bit, as in the encoding (`r0 = 4194435072` is `r0 =
//!   -100532224`, which is also how PREVAIL reads it); `ll` makes an `lddw`.

use vouch_verifier::isa::{
    AluOp, AtomicOp, CallTarget, Cond, Endian, Imm64Kind, Insn, Operand, PacketMode, Reg, Size,
    Width,
};

/// Where a jump goes, before layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The first instruction of PREVAIL line `n` (`n` = number of lines: the end).
    Line(usize),
    /// A place where failed `assume`s go and never come back.
    Sink,
    /// Appended code: the k-th marker (an instruction that always reports).
    Marker(usize),
}

/// One instruction with symbolic targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Insn(Insn),
    Jump {
        width: Width,
        cond: Cond,
        dst: Reg,
        src: Operand,
        target: Target,
    },
    Ja(Target),
    CallLocal(Target),
    Exit,
}

/// A parsed code block: the ops of each PREVAIL line (PREVAIL numbers lines, one per
/// instruction, `lddw` included; its messages use these numbers).
#[derive(Clone, Debug)]
pub struct Code {
    pub lines: Vec<Vec<Op>>,
}

/// Parses the `code` mapping of a case (labels in order, the first is the entry).
pub fn parse(blocks: &[(String, Vec<String>)]) -> Result<Code, String> {
    let mut labels: Vec<(&str, usize)> = vec![];
    let mut n = 0;
    for (label, lines) in blocks {
        labels.push((label.as_str(), n));
        n += lines.len();
    }
    let mut out = vec![];
    for (_, lines) in blocks {
        for line in lines {
            let index = out.len();
            let ops = parse_line(line, index, &labels).map_err(|e| format!("{line:?}: {e}"))?;
            out.push(ops);
        }
    }
    Ok(Code { lines: out })
}

fn reg(s: &str) -> Result<(Reg, Width), String> {
    let width = match s.chars().next() {
        Some('r') => Width::W64,
        Some('w') => Width::W32,
        _ => return Err(format!("not a register: {s:?}")),
    };
    let n: u8 = s[1..]
        .parse()
        .map_err(|_| format!("not a register: {s:?}"))?;
    Ok((Reg::new(n).ok_or(format!("no register {s}"))?, width))
}

fn is_reg(s: &str) -> bool {
    reg(s).is_ok()
}

/// A decimal or hex integer (with an optional `ll`), in i128.
fn int(s: &str) -> Result<i128, String> {
    let s = s.trim().trim_end_matches("ll");
    let (neg, d) = match s.strip_prefix('-') {
        Some(d) => (true, d.trim()),
        None => (false, s),
    };
    let v = match d.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16),
        None => d.parse::<i128>(),
    }
    .map_err(|_| format!("not a number: {s:?}"))?;
    Ok(if neg { -v } else { v })
}

/// A 32-bit immediate: the low 32 bits of the written value, as the encoding keeps them.
fn imm32(s: &str) -> Result<i32, String> {
    let v = int(s)?;
    if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
        return Err(format!("immediate {v} does not fit 32 bits"));
    }
    Ok(v as u32 as i32)
}

fn operand(s: &str) -> Result<Operand, String> {
    if is_reg(s) {
        Ok(Operand::Reg(reg(s)?.0))
    } else {
        Ok(Operand::Imm(imm32(s)?))
    }
}

fn label(s: &str, labels: &[(&str, usize)]) -> Result<Target, String> {
    labels
        .iter()
        .find(|(l, _)| *l == s)
        .map(|(_, n)| Target::Line(*n))
        .ok_or_else(|| format!("unknown label {s}"))
}

fn size(s: &str) -> Result<(Size, bool), String> {
    Ok(match s {
        "u8" => (Size::B, false),
        "u16" => (Size::H, false),
        "u32" => (Size::W, false),
        "u64" => (Size::DW, false),
        "s8" => (Size::B, true),
        "s16" => (Size::H, true),
        "s32" => (Size::W, true),
        _ => return Err(format!("unknown size {s}")),
    })
}

/// `*(u32 *)(r1 + 4)` → (size, signed, base, offset); also returns what follows.
fn mem(s: &str) -> Result<(Size, bool, Reg, i16, &str), String> {
    let rest = s.strip_prefix("*(").ok_or("expected '*('")?;
    let (sz, rest) = rest.split_once("*)").ok_or("expected '*)'")?;
    let (size, signed) = size(sz.trim())?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('(').ok_or("expected '('")?;
    let (inner, after) = rest.split_once(')').ok_or("expected ')'")?;
    let inner: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    let (base, off) = match inner.find(['+', '-']) {
        Some(i) => (&inner[..i], int(&inner[i..])?),
        None => (inner.as_str(), 0),
    };
    let off = i16::try_from(off).map_err(|_| format!("offset {off} out of range"))?;
    Ok((size, signed, reg(base)?.0, off, after.trim()))
}

fn cond(op: &str) -> Result<Cond, String> {
    Ok(match op {
        "==" => Cond::Eq,
        "!=" => Cond::Ne,
        ">" => Cond::Gt,
        ">=" => Cond::Ge,
        "<" => Cond::Lt,
        "<=" => Cond::Le,
        "s>" => Cond::Sgt,
        "s>=" => Cond::Sge,
        "s<" => Cond::Slt,
        "s<=" => Cond::Sle,
        "&==" => Cond::Set,
        _ => return Err(format!("unknown comparison {op}")),
    })
}

fn negate(c: Cond) -> Result<Cond, String> {
    Ok(match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Gt => Cond::Le,
        Cond::Le => Cond::Gt,
        Cond::Ge => Cond::Lt,
        Cond::Lt => Cond::Ge,
        Cond::Sgt => Cond::Sle,
        Cond::Sle => Cond::Sgt,
        Cond::Sge => Cond::Slt,
        Cond::Slt => Cond::Sge,
        Cond::Set => return Err("cannot assume a bit test".into()),
    })
}

fn parse_line(text: &str, index: usize, labels: &[(&str, usize)]) -> Result<Vec<Op>, String> {
    let line = text.split(';').next().unwrap_or("").trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["exit"] => return Ok(vec![Op::Exit]),
        ["goto", l] => return Ok(vec![Op::Ja(label(l, labels)?)]),
        ["call", l] if l.starts_with('<') => return Ok(vec![Op::CallLocal(label(l, labels)?)]),
        ["call", n] => return Ok(vec![Op::Insn(Insn::Call(CallTarget::Helper(imm32(n)?)))]),
        ["callx", r] => return Ok(vec![Op::Insn(Insn::CallX { reg: reg(r)?.0 })]),
        ["if", a, op, b, "goto", l] => {
            let (dst, width) = reg(a)?;
            let src = operand(b)?;
            let target = label(l, labels)?;
            if *op == "&!=" {
                // Jump when no bit is set: skip the goto when some bit is.
                return Ok(vec![
                    Op::Jump {
                        width,
                        cond: Cond::Set,
                        dst,
                        src,
                        target: Target::Line(index + 1),
                    },
                    Op::Ja(target),
                ]);
            }
            return Ok(vec![Op::Jump {
                width,
                cond: cond(op)?,
                dst,
                src,
                target,
            }]);
        }
        ["assume", a, op, b] => {
            let (dst, width) = reg(a)?;
            return Ok(vec![Op::Jump {
                width,
                cond: negate(cond(op)?)?,
                dst,
                src: operand(b)?,
                target: Target::Sink,
            }]);
        }
        _ => {}
    }
    if let Some(rest) = line.strip_prefix("lock ") {
        return atomic(rest.trim());
    }
    if line.starts_with("*(") {
        let (size, signed, dst, off, after) = mem(line)?;
        if signed {
            return Err("signed store".into());
        }
        let value = operand(after.strip_prefix('=').ok_or("expected '='")?.trim())?;
        return Ok(vec![Op::Insn(Insn::Store {
            size,
            dst,
            off,
            value,
        })]);
    }
    assignment(line)
}

fn atomic(s: &str) -> Result<Vec<Op>, String> {
    let (size, signed, dst, off, after) = mem(s)?;
    if signed {
        return Err("signed atomic".into());
    }
    let words: Vec<&str> = after.split_whitespace().collect();
    let (op, src, fetch) = match words.as_slice() {
        [op, src] => (*op, *src, false),
        [op, src, "fetch"] => (*op, *src, true),
        _ => return Err(format!("bad atomic {s:?}")),
    };
    let (op, fetch) = match op {
        "+=" => (AtomicOp::Add, fetch),
        "|=" => (AtomicOp::Or, fetch),
        "&=" => (AtomicOp::And, fetch),
        "^=" => (AtomicOp::Xor, fetch),
        "x=" => (AtomicOp::Xchg, true),
        "cx=" => (AtomicOp::CmpXchg, true),
        _ => return Err(format!("unknown atomic operation {op}")),
    };
    Ok(vec![Op::Insn(Insn::Atomic {
        size,
        op,
        fetch,
        dst,
        src: reg(src)?.0,
        off,
    })])
}

fn lddw(dst: Reg, kind: Imm64Kind, imm: i32, next_imm: i32) -> Vec<Op> {
    vec![Op::Insn(Insn::LoadImm64 {
        dst,
        kind,
        imm,
        next_imm,
    })]
}

/// `(inner) + M` or `(inner)` at the start of `s` → (inner, M).
fn call_form<'a>(s: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let rest = s.strip_prefix(name)?.strip_prefix('(')?;
    let close = rest.rfind(')')?;
    let tail = rest[close + 1..].trim();
    let plus = tail.strip_prefix('+').map(str::trim).unwrap_or("0");
    Some((&rest[..close], plus))
}

/// `rD op= src`, `rD = src` and their forms.
fn assignment(line: &str) -> Result<Vec<Op>, String> {
    let eq = line.find('=').ok_or("unknown instruction")?;
    let lhs = line[..eq].trim();
    let rhs = line[eq + 1..].trim();
    let split = lhs.find(char::is_whitespace).unwrap_or(lhs.len());
    let split = lhs[..split]
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(split);
    let (d, op) = (&lhs[..split], lhs[split..].trim());
    let (dst, width) = reg(d)?;
    let alu = |op: AluOp, src: Operand| {
        vec![Op::Insn(Insn::Alu {
            width,
            op,
            dst,
            src,
        })]
    };
    let alu_op = match op {
        "" => None,
        "+" => Some(AluOp::Add),
        "-" => Some(AluOp::Sub),
        "*" => Some(AluOp::Mul),
        "/" => Some(AluOp::Div),
        "%" => Some(AluOp::Mod),
        "|" => Some(AluOp::Or),
        "&" => Some(AluOp::And),
        "^" => Some(AluOp::Xor),
        "<<" => Some(AluOp::Lsh),
        ">>" => Some(AluOp::Rsh),
        "s>>" => Some(AluOp::Arsh),
        "s/" => Some(AluOp::SDiv),
        "s%" => Some(AluOp::SMod),
        "s8" | "s16" | "s32" => {
            let bits: u8 = op[1..].parse().map_err(|_| "bad sign extension")?;
            let src = reg(rhs)?.0;
            // 32 bits into a 32-bit register is a plain 32-bit move.
            let op = if width == Width::W32 && bits == 32 {
                AluOp::Mov
            } else {
                AluOp::MovSx(bits)
            };
            return Ok(alu(op, Operand::Reg(src)));
        }
        _ => return Err(format!("unknown operator {op}=")),
    };
    if let Some(op) = alu_op {
        return Ok(alu(op, operand(rhs)?));
    }
    // dst = ...
    if rhs.starts_with("*(") {
        if let Some((sz, idx)) = rhs
            .strip_prefix("*(")
            .and_then(|r| r.split_once("*)"))
            .and_then(|(sz, r)| Some((sz, r.trim().strip_prefix("skb[")?.strip_suffix(']')?)))
        {
            // Legacy packet loads always load into r0.
            let (size, _) = size(sz.trim())?;
            let (mode, imm) = if is_reg(idx) {
                (PacketMode::Ind(reg(idx)?.0), 0)
            } else {
                (PacketMode::Abs, imm32(idx)?)
            };
            return Ok(vec![Op::Insn(Insn::LoadPacket { size, mode, imm })]);
        }
        let (size, signed, src, off, after) = mem(rhs)?;
        if !after.is_empty() {
            return Err(format!("trailing {after:?}"));
        }
        return Ok(vec![Op::Insn(Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        })]);
    }
    if let Some(r) = rhs.strip_prefix('-').map(str::trim)
        && is_reg(r)
    {
        if reg(r)?.0 != dst {
            return Err("negation into another register".into());
        }
        return Ok(vec![Op::Insn(Insn::Neg { width, dst })]);
    }
    let words: Vec<&str> = rhs.split_whitespace().collect();
    if let [kind, r] = words.as_slice()
        && is_reg(r)
    {
        let (kind, bits) =
            match kind.split_at(kind.len().min(kind.find(char::is_numeric).unwrap_or(0))) {
                ("le", b) => (Endian::ToLe, b),
                ("be", b) => (Endian::ToBe, b),
                ("swap", b) => (Endian::Swap, b),
                _ => return Err(format!("unknown operation {kind}")),
            };
        if reg(r)?.0 != dst {
            return Err("byte swap into another register".into());
        }
        let bits: u8 = bits.parse().map_err(|_| "bad byte-swap width")?;
        return Ok(vec![Op::Insn(Insn::Endian { kind, bits, dst })]);
    }
    if let ["map_fd", n] = words.as_slice() {
        return Ok(lddw(dst, Imm64Kind::MapFd, imm32(n)?, 0));
    }
    if let Some((inner, plus)) = call_form(rhs, "mva") {
        let (n, _) = call_form(inner, "map_by_idx").ok_or("bad mva(...)")?;
        return Ok(lddw(dst, Imm64Kind::MapIdxValue, imm32(n)?, imm32(plus)?));
    }
    if let Some((n, _)) = call_form(rhs, "map_by_idx") {
        return Ok(lddw(dst, Imm64Kind::MapIdx, imm32(n)?, 0));
    }
    if let Some((n, plus)) = call_form(rhs, "map_val") {
        return Ok(lddw(dst, Imm64Kind::MapValue, imm32(n)?, imm32(plus)?));
    }
    if is_reg(rhs) {
        return Ok(alu(AluOp::Mov, Operand::Reg(reg(rhs)?.0)));
    }
    if rhs.ends_with("ll") {
        let v = int(rhs)?;
        if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
            return Err(format!("{v} does not fit 64 bits"));
        }
        let v = v as u64;
        return Ok(lddw(
            dst,
            Imm64Kind::Value,
            v as u32 as i32,
            (v >> 32) as u32 as i32,
        ));
    }
    Ok(alu(AluOp::Mov, Operand::Imm(imm32(rhs)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Op {
        let ops = parse_line(s, 0, &[("<l>", 3)]).expect(s);
        assert_eq!(ops.len(), 1, "{s}");
        ops[0]
    }

    #[test]
    fn forms() {
        let r = |n| Reg::new(n).expect("register");
        assert_eq!(
            one("r2 = *(u8 *)(r1 - 4)"),
            Op::Insn(Insn::Load {
                size: Size::B,
                signed: false,
                dst: r(2),
                src: r(1),
                off: -4
            })
        );
        assert_eq!(
            one("if w1 s> r2 goto <l>"),
            Op::Jump {
                width: Width::W32,
                cond: Cond::Sgt,
                dst: r(1),
                src: Operand::Reg(r(2)),
                target: Target::Line(3)
            }
        );
        assert_eq!(
            one("assume r1 < 5"),
            Op::Jump {
                width: Width::W64,
                cond: Cond::Ge,
                dst: r(1),
                src: Operand::Imm(5),
                target: Target::Sink
            }
        );
        assert_eq!(
            one("r5=r5"),
            Op::Insn(Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: r(5),
                src: Operand::Reg(r(5))
            })
        );
        assert_eq!(
            one("r0 = 4194435072"),
            Op::Insn(Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: r(0),
                src: Operand::Imm(-100532224)
            })
        );
        assert_eq!(
            one("lock *(u32 *)(r1 + 8) += r2 fetch"),
            Op::Insn(Insn::Atomic {
                size: Size::W,
                op: AtomicOp::Add,
                fetch: true,
                dst: r(1),
                src: r(2),
                off: 8
            })
        );
        assert_eq!(
            one("r2 = map_val(1) + 8"),
            Op::Insn(Insn::LoadImm64 {
                dst: r(2),
                kind: Imm64Kind::MapValue,
                imm: 1,
                next_imm: 8
            })
        );
        assert_eq!(
            one("r0 = *(u16 *)skb[r7]"),
            Op::Insn(Insn::LoadPacket {
                size: Size::H,
                mode: PacketMode::Ind(r(7)),
                imm: 0
            })
        );
        assert_eq!(
            one("w1 = - w1"),
            Op::Insn(Insn::Neg {
                width: Width::W32,
                dst: r(1)
            })
        );
        assert_eq!(
            one("r1 = swap16 r1"),
            Op::Insn(Insn::Endian {
                kind: Endian::Swap,
                bits: 16,
                dst: r(1)
            })
        );
        assert!(parse_line("r1 = frobnicate", 0, &[]).is_err());
    }
}
