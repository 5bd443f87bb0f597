//! The constraint language of PREVAIL's test cases (`r1.type=packet`, `r2.svalue=[0, 10]`,
//! `s[504...511].type=number`, `r1.packet_offset-packet_size<=0`, `r1.type in {ctx, shared}`),
//! parsed into a small syntax tree.
//!
//! Parsing is separate from building a state so the test harness can read post-conditions with
//! the same grammar. Nothing here panics: text that does not parse is an `Err` naming why.

use std::fmt;

/// What a constraint is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Register `rN` (0..=10).
    Reg(u8),
    /// Stack bytes `s[lo...hi]` (inclusive, PREVAIL's absolute stack offsets).
    Stack { lo: i64, hi: i64 },
    /// `packet_size` (data_end - data).
    PacketSize,
    /// `meta_offset` (data_meta - data).
    MetaOffset,
    /// `pc[...]`: PREVAIL's loop counters, which have no counterpart we can name.
    Counter(String),
}

/// A field of a register or stack cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Type,
    SValue,
    UValue,
    CtxOffset,
    StackOffset,
    PacketOffset,
    SharedOffset,
    SharedRegionSize,
    StackNumericSize,
    MapFd,
    MapFdPrograms,
}

/// A quantity: a subject's field (`r1.svalue`) or a bare variable (`packet_size`, `pc[1]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub subject: Subject,
    /// `None` for `packet_size`, `meta_offset` and counters.
    pub field: Option<Field>,
}

/// PREVAIL's register types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PType {
    Number,
    Ctx,
    Stack,
    Packet,
    Shared,
    MapFd,
    MapFdPrograms,
    /// A type we do not model (kept by name for the "unsupported" report).
    Other(String),
}

impl PType {
    fn parse(s: &str) -> PType {
        match s {
            "number" => PType::Number,
            "ctx" => PType::Ctx,
            "stack" => PType::Stack,
            "packet" => PType::Packet,
            "shared" => PType::Shared,
            "map_fd" => PType::MapFd,
            "map_fd_programs" => PType::MapFdPrograms,
            other => PType::Other(other.to_string()),
        }
    }
}

/// One parsed constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// `_|_`: no state (only meaningful as a post-condition).
    Bottom,
    /// `term=N` or `term=[lo, hi]` (`None` for an infinite side). i128 holds both the signed
    /// and the unsigned 64-bit readings.
    Range {
        term: Term,
        lo: Option<i128>,
        hi: Option<i128>,
    },
    /// `X.type=T` or `X.type in {T, U}`.
    TypeIn { subject: Subject, types: Vec<PType> },
    /// `X.type=Y.type`.
    SameType { a: Subject, b: Subject },
    /// `a=b+plus`.
    Equal { a: Term, b: Term, plus: i64 },
    /// `a-b<=c`.
    DiffLeq { a: Term, b: Term, c: i64 },
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Reg(r) => write!(f, "r{r}")?,
            Subject::Stack { lo, hi } => write!(f, "s[{lo}...{hi}]")?,
            Subject::PacketSize => write!(f, "packet_size")?,
            Subject::MetaOffset => write!(f, "meta_offset")?,
            Subject::Counter(c) => write!(f, "pc[{c}]")?,
        }
        if let Some(field) = self.field {
            write!(f, ".{field:?}")?;
        }
        Ok(())
    }
}

/// Parses one constraint.
pub fn parse(text: &str) -> Result<Constraint, String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if t == "_|_" {
        return Ok(Constraint::Bottom);
    }
    if let Some((lhs, rhs)) = t.split_once("in{") {
        let subject = parse_type_subject(lhs)?;
        let body = rhs
            .strip_suffix('}')
            .ok_or_else(|| format!("unclosed type set in {text:?}"))?;
        let types = body.split(',').map(PType::parse).collect();
        return Ok(Constraint::TypeIn { subject, types });
    }
    if let Some((lhs, rhs)) = t.split_once("<=") {
        let (a, b) = split_difference(lhs).ok_or_else(|| format!("not a difference: {text:?}"))?;
        let c = parse_int(rhs)?;
        return Ok(Constraint::DiffLeq {
            a: parse_term(a)?,
            b: parse_term(b)?,
            c: i64::try_from(c).map_err(|_| format!("bound out of range in {text:?}"))?,
        });
    }
    let (lhs, rhs) = t
        .split_once('=')
        .ok_or_else(|| format!("no '=' in {text:?}"))?;
    let term = parse_term(lhs)?;
    if term.field == Some(Field::Type) {
        if rhs.ends_with(".type") {
            let b = parse_term(rhs)?;
            return Ok(Constraint::SameType {
                a: term.subject,
                b: b.subject,
            });
        }
        return Ok(Constraint::TypeIn {
            subject: term.subject,
            types: vec![PType::parse(rhs)],
        });
    }
    if let Some(body) = rhs.strip_prefix('[') {
        let body = body
            .strip_suffix(']')
            .ok_or_else(|| format!("unclosed interval in {text:?}"))?;
        let (lo, hi) = body
            .split_once(',')
            .ok_or_else(|| format!("interval without ',' in {text:?}"))?;
        return Ok(Constraint::Range {
            term,
            lo: parse_bound(lo)?,
            hi: parse_bound(hi)?,
        });
    }
    if let Ok(n) = parse_int(rhs) {
        return Ok(Constraint::Range {
            term,
            lo: Some(n),
            hi: Some(n),
        });
    }
    // `a=b` or `a=b+N` / `a=b-N`.
    let (b, plus) = match rhs.rfind(['+', '-']) {
        Some(i) if i > 0 && parse_int(&rhs[i..]).is_ok() => (&rhs[..i], parse_int(&rhs[i..])?),
        _ => (rhs, 0),
    };
    Ok(Constraint::Equal {
        a: term,
        b: parse_term(b)?,
        plus: i64::try_from(plus).map_err(|_| format!("offset out of range in {text:?}"))?,
    })
}

/// Splits `a-b` at the minus that separates two terms (terms contain no minus outside `[..]`).
fn split_difference(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '-' if depth == 0 && i > 0 => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

fn parse_type_subject(s: &str) -> Result<Subject, String> {
    let t = parse_term(s)?;
    if t.field == Some(Field::Type) {
        Ok(t.subject)
    } else {
        Err(format!("expected X.type before 'in', got {s:?}"))
    }
}

fn parse_bound(s: &str) -> Result<Option<i128>, String> {
    match s {
        "+oo" | "oo" | "-oo" => Ok(None),
        _ => parse_int(s).map(Some),
    }
}

/// A decimal or `0x` integer, possibly negative, in i128 (covers i64 and u64).
pub fn parse_int(s: &str) -> Result<i128, String> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16),
        None => digits.parse::<i128>(),
    }
    .map_err(|_| format!("not a number: {s:?}"))?;
    if digits.is_empty() {
        return Err(format!("not a number: {s:?}"));
    }
    Ok(if neg { -v } else { v })
}

fn parse_term(s: &str) -> Result<Term, String> {
    let bare = |subject| Term {
        subject,
        field: None,
    };
    match s {
        "packet_size" => return Ok(bare(Subject::PacketSize)),
        "meta_offset" => return Ok(bare(Subject::MetaOffset)),
        _ => {}
    }
    if let Some(rest) = s.strip_prefix("pc[") {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("bad counter {s:?}"))?;
        return Ok(bare(Subject::Counter(inner.to_string())));
    }
    let (subject, field) = if let Some(rest) = s.strip_prefix("s[") {
        let (range, field) = rest
            .split_once("].")
            .ok_or_else(|| format!("bad stack cell {s:?}"))?;
        let (lo, hi) = match range.split_once("...") {
            Some((lo, hi)) => (parse_int(lo)?, parse_int(hi)?),
            None => (parse_int(range)?, parse_int(range)?),
        };
        let lo = i64::try_from(lo).map_err(|_| format!("bad stack cell {s:?}"))?;
        let hi = i64::try_from(hi).map_err(|_| format!("bad stack cell {s:?}"))?;
        (Subject::Stack { lo, hi }, field)
    } else if let Some(rest) = s.strip_prefix('r') {
        let (n, field) = rest
            .split_once('.')
            .ok_or_else(|| format!("bad register term {s:?}"))?;
        let n: u8 = n.parse().map_err(|_| format!("bad register {s:?}"))?;
        if n > 10 {
            return Err(format!("no register r{n}"));
        }
        (Subject::Reg(n), field)
    } else {
        return Err(format!("unknown variable {s:?}"));
    };
    let field = match field {
        "type" => Field::Type,
        "svalue" => Field::SValue,
        "uvalue" => Field::UValue,
        "ctx_offset" => Field::CtxOffset,
        "stack_offset" => Field::StackOffset,
        "packet_offset" => Field::PacketOffset,
        "shared_offset" => Field::SharedOffset,
        "shared_region_size" => Field::SharedRegionSize,
        "stack_numeric_size" => Field::StackNumericSize,
        "map_fd" => Field::MapFd,
        "map_fd_programs" => Field::MapFdPrograms,
        other => return Err(format!("unknown field {other:?} in {s:?}")),
    };
    Ok(Term {
        subject,
        field: Some(field),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(r: u8, f: Field) -> Term {
        Term {
            subject: Subject::Reg(r),
            field: Some(f),
        }
    }

    #[test]
    fn forms() {
        assert_eq!(parse("_|_"), Ok(Constraint::Bottom));
        assert_eq!(
            parse("r1.type=packet"),
            Ok(Constraint::TypeIn {
                subject: Subject::Reg(1),
                types: vec![PType::Packet]
            })
        );
        assert_eq!(
            parse("r2.svalue=[-5, +oo]"),
            Ok(Constraint::Range {
                term: reg(2, Field::SValue),
                lo: Some(-5),
                hi: None
            })
        );
        assert_eq!(
            parse("r1.uvalue=18446744073709551615"),
            Ok(Constraint::Range {
                term: reg(1, Field::UValue),
                lo: Some(u64::MAX.into()),
                hi: Some(u64::MAX.into())
            })
        );
        assert_eq!(
            parse("r1.packet_offset-packet_size<=0"),
            Ok(Constraint::DiffLeq {
                a: reg(1, Field::PacketOffset),
                b: Term {
                    subject: Subject::PacketSize,
                    field: None
                },
                c: 0
            })
        );
        assert_eq!(
            parse("s[504...511].type=number"),
            Ok(Constraint::TypeIn {
                subject: Subject::Stack { lo: 504, hi: 511 },
                types: vec![PType::Number]
            })
        );
        assert_eq!(
            parse("r3.type in {ctx,packet}"),
            Ok(Constraint::TypeIn {
                subject: Subject::Reg(3),
                types: vec![PType::Ctx, PType::Packet]
            })
        );
        assert_eq!(
            parse("r2.type=r3.type"),
            Ok(Constraint::SameType {
                a: Subject::Reg(2),
                b: Subject::Reg(3)
            })
        );
        assert_eq!(
            parse("r2.svalue=r1.uvalue+2"),
            Ok(Constraint::Equal {
                a: reg(2, Field::SValue),
                b: reg(1, Field::UValue),
                plus: 2
            })
        );
        assert!(parse("r11.type=number").is_err());
        assert!(parse("r1.colour=red").is_err());
        assert!(parse("garbage").is_err());
    }
}
