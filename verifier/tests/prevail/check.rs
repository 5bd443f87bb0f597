//! Runs one PREVAIL case through our verifier and compares: the verdict, then (for cases both
//! verifiers find safe) the post-state at the end of the snippet.
//!
//! Decisions, and why:
//! - Program type XDP: PREVAIL's test context is 64 bytes with `data` at 0 and `data_end` at 4
//!   (`ebpf_context_descriptor_t{64, 0, 4, -1}`), which is `struct xdp_md`'s layout for those two
//!   fields. `xdp_md` is only 24 bytes and read-only with `data_meta` at 8, so ctx writes and
//!   accesses past 24 bytes differ (those cases show up as precision findings).
//! - Maps: PREVAIL's harness answers every map fd with one descriptor (type 0, 4-byte keys and
//!   values, 4 entries) and has one map by index. We give every fd the cases use a hash map with
//!   those sizes (a program array for `map_fd_programs`), and at least one map.
//! - Options: `!allow_division_by_zero` is our `strict_div`. PREVAIL checks termination only
//!   with `termination`; without it our termination diagnostics are not counted. `big_endian`
//!   cases are not applicable (eBPF on our hosts is little-endian, and so is the RFC's
//!   interpreter).
//! - Expected messages "Code becomes unreachable" and "observation ... failed" are PREVAIL's
//!   dead-code notes and harness assertions, not safety errors: a case is unsafe when it expects
//!   any other message.
//! - Diagnostics at pcs we appended (see `lower`) are ours, not the snippet's: ignored.

use super::lower::{self, Exits, Program, load_const};
use super::objdump::{self, Code, Op, Target};
use super::yaml::Case;
use vouch_verifier::analysis::prestate::{
    Constraint, Field, PreState, Subject, parse_constraint, verify_from,
};
use vouch_verifier::analysis::{Input, MapInfo, Options, Report};
use vouch_verifier::isa::{Cond, Imm64Kind, Insn, Operand, Reg, Width};
use vouch_verifier::platform::ProgramType;

/// What happened to one case.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Why the case was not run (unparsable code, big-endian, harness-only).
    pub skipped: Option<String>,
    /// Pre-state constraints we could not express, with why.
    pub unsupported_pre: Vec<(String, String)>,
    /// The pre-state's constraints contradict each other: no state, so nothing can fail.
    pub pre_empty: bool,
    pub expect_unsafe: bool,
    /// Our diagnostics on the snippet, as "line N: message".
    pub ours: Vec<String>,
    /// Both reject, but none of our diagnostics is on a line PREVAIL names.
    pub other_line: bool,
    pub post: Post,
}

/// The post-state comparison.
#[derive(Debug, Default)]
pub struct Post {
    /// Why it was not compared, if it was not.
    pub skipped: Option<String>,
    /// Register bounds compared / entailed by our post-state.
    pub checked: usize,
    pub entailed: usize,
    /// Constraints our post-state does not entail (precision gaps).
    pub gaps: Vec<String>,
    /// Disagreements no sound pair of analyses can have: PREVAIL says the end is reachable and
    /// we prove it is not, or our bounds exclude every value PREVAIL allows.
    pub contradictions: Vec<String>,
    /// PREVAIL proves the end unreachable (`_|_`, without safety messages).
    pub expect_bottom: bool,
    /// PREVAIL proves the end unreachable; we reach it.
    pub reach_gap: bool,
    /// Post constraints we do not compare (types, relations, stack cells, counters).
    pub unchecked: usize,
    /// Our state at the end, when it misses a bound (for `PREVAIL_CASE=` debugging).
    pub ours: Option<String>,
}

const MAP: MapInfo = MapInfo {
    name: String::new(),
    map_type: 1,
    key_size: 4,
    value_size: 4,
    max_entries: 4,
    read_only: false,
    frozen: None,
    inner: None,
};
const PROG_ARRAY: u32 = 3;
/// Largest map fd a case may use (the map table has one entry per fd up to it).
const MAX_MAP_FD: usize = 1024;

fn is_safety_message(m: &str) -> bool {
    !m.contains("Code becomes unreachable") && !m.contains("observation")
}

/// The line numbers a PREVAIL message starts with (`"3: ..."`; `"0/9: ..."` is line 9 called
/// from line 0, and both are returned).
fn message_lines(m: &str) -> Vec<usize> {
    let prefix: String = m
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '/' || *c == ':')
        .collect();
    prefix
        .split(['/', ':'])
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The map table a case needs.
fn maps_for(pre: &PreState, code: &Code) -> Vec<MapInfo> {
    let mut n = 1;
    let mut programs = vec![];
    for m in pre.map_refs() {
        n = n.max(m.id + 1);
        if m.programs {
            programs.push(m.id);
        }
    }
    for op in code.lines.iter().flatten() {
        if let Op::Insn(Insn::LoadImm64 {
            kind: Imm64Kind::MapFd | Imm64Kind::MapValue,
            imm,
            ..
        }) = op
            && let Ok(i) = usize::try_from(*imm)
            && i <= MAX_MAP_FD
        {
            n = n.max(i + 1);
        }
    }
    (0..n)
        .map(|i| MapInfo {
            name: format!("fd{i}"),
            map_type: if programs.contains(&i) {
                PROG_ARRAY
            } else {
                MAP.map_type
            },
            ..MAP.clone()
        })
        .collect()
}

struct Runner<'a> {
    case: &'a Case,
    code: Code,
    pre: PreState,
    maps: Vec<MapInfo>,
    options: Options,
}

impl Runner<'_> {
    fn verify(&self, p: &Program) -> Report {
        let input = Input {
            insns: &p.insns,
            program_type: ProgramType::Xdp,
            section: "",
            maps: &self.maps,
            kernel_btf: None,
        };
        verify_from(input, &self.options, &self.pre)
    }

    /// Lays out the snippet with `tail` at the end and runs it; which markers were reached.
    fn probe(&self, tail: &[Op], markers: usize) -> Result<Vec<bool>, String> {
        let p = lower::lower(&self.code, Exits::ToEnd, tail, markers)?;
        let r = self.verify(&p);
        Ok(p.markers
            .iter()
            .map(|pc| r.diagnostics.iter().any(|d| d.pc == *pc))
            .collect())
    }

    /// Our invariant at the end of the snippet (the head of a marker reached from END).
    fn end_state(&self) -> Option<String> {
        let p = lower::lower(&self.code, Exits::ToEnd, &[Op::Ja(Target::Marker(0))], 1).ok()?;
        let input = Input {
            insns: &p.insns,
            program_type: ProgramType::Xdp,
            section: "",
            maps: &self.maps,
            kernel_btf: None,
        };
        let options = Options {
            collect_invariants: true,
            ..self.options
        };
        let r = verify_from(input, &options, &self.pre);
        let states: Vec<String> = r
            .invariants
            .into_iter()
            .filter(|(pc, _, _)| Some(pc) == p.markers.first())
            .map(|(_, _, s)| s)
            .collect();
        Some(states.join(" | "))
    }
}

pub fn run(case: &Case) -> Outcome {
    let mut out = Outcome::default();
    if let Some(e) = &case.expected_exception {
        out.skipped = Some(format!("PREVAIL harness error case: {e}"));
        return out;
    }
    if case.options.iter().any(|o| o == "big_endian") {
        out.skipped = Some("big-endian".into());
        return out;
    }
    let code = match objdump::parse(&case.code) {
        Ok(c) => c,
        Err(e) => {
            out.skipped = Some(format!("instruction not parsed: {e}"));
            return out;
        }
    };
    let pre = PreState::build(&case.pre);
    out.pre_empty = pre.disjunct_count() == 0 && !case.pre.iter().any(|c| c == "_|_");
    if pre.map_refs().iter().any(|m| m.id > MAX_MAP_FD) {
        out.skipped = Some(format!("a map fd above {MAX_MAP_FD}"));
        return out;
    }
    out.unsupported_pre = pre
        .unsupported()
        .iter()
        .map(|u| (u.constraint.clone(), u.reason.clone()))
        .collect();
    let options = Options {
        strict_div: case.options.iter().any(|o| o == "!allow_division_by_zero"),
        ..Options::default()
    };
    let runner = Runner {
        case,
        maps: maps_for(&pre, &code),
        code,
        pre,
        options,
    };
    let program = match lower::lower(&runner.code, Exits::Keep, &[], 0) {
        Ok(p) => p,
        Err(e) => {
            out.skipped = Some(format!("layout: {e}"));
            return out;
        }
    };
    let report = runner.verify(&program);
    let termination = case.options.iter().any(|o| o == "termination");
    let mut our_lines = vec![];
    for d in &report.diagnostics {
        if d.pc >= program.tail_start || (d.kind == "termination" && !termination) {
            continue;
        }
        let line = program.line_of.get(d.pc).copied().unwrap_or(d.pc);
        our_lines.push(line);
        out.ours.push(format!("line {line}: {}", d.message));
    }
    // A program the CFG refuses has its diagnostic at pc 0 or on the culprit: keep it.
    let expected: Vec<&String> = case
        .messages
        .iter()
        .filter(|m| is_safety_message(m))
        .collect();
    out.expect_unsafe = !expected.is_empty();
    if out.expect_unsafe && !out.ours.is_empty() {
        let theirs: Vec<usize> = expected.iter().flat_map(|m| message_lines(m)).collect();
        out.other_line = !theirs.is_empty() && !our_lines.iter().any(|l| theirs.contains(l));
    }
    out.post = if out.expect_unsafe || !out.ours.is_empty() {
        Post {
            skipped: Some("not safe for both".into()),
            ..Post::default()
        }
    } else {
        compare_post(&runner).unwrap_or_else(|e| Post {
            skipped: Some(e),
            ..Post::default()
        })
    };
    out
}

/// One numeric bound PREVAIL states at the end.
struct Bound {
    text: String,
    reg: u8,
    signed: bool,
    lo: Option<i128>,
    hi: Option<i128>,
}

fn compare_post(runner: &Runner<'_>) -> Result<Post, String> {
    let mut post = Post::default();
    let mut bottom = false;
    let mut numbers = vec![];
    let mut bounds = vec![];
    let mut mentioned = [false; 11];
    let parsed: Vec<(String, Result<Constraint, String>)> = runner
        .case
        .post
        .iter()
        .map(|c| (c.clone(), parse_constraint(c)))
        .collect();
    for (_, c) in &parsed {
        let mut mention = |s: &Subject| {
            if let Subject::Reg(r) = s {
                mentioned[usize::from(*r)] = true;
            }
        };
        match c {
            Ok(Constraint::TypeIn { subject, types }) => {
                mention(subject);
                if let (Subject::Reg(r), [t]) = (subject, types.as_slice())
                    && *t == vouch_verifier::analysis::prestate::PType::Number
                {
                    numbers.push(*r);
                }
            }
            Ok(Constraint::Range { term, .. }) => mention(&term.subject),
            Ok(Constraint::Equal { a, b, .. } | Constraint::DiffLeq { a, b, .. }) => {
                mention(&a.subject);
                mention(&b.subject);
            }
            _ => {}
        }
    }
    for (text, c) in parsed {
        match c {
            Ok(Constraint::Bottom) => bottom = true,
            Ok(Constraint::Range { term, lo, hi })
                if matches!(term.subject, Subject::Reg(r) if numbers.contains(&r))
                    && matches!(term.field, Some(Field::SValue | Field::UValue)) =>
            {
                let Subject::Reg(reg) = term.subject else {
                    continue;
                };
                bounds.push(Bound {
                    text,
                    reg,
                    signed: term.field == Some(Field::SValue),
                    lo,
                    hi,
                });
            }
            Ok(Constraint::TypeIn { .. }) => {}
            _ => post.unchecked += 1,
        }
    }
    let reached = runner.probe(&[Op::Ja(Target::Marker(0))], 1)?[0];
    if bottom {
        post.expect_bottom = true;
        post.reach_gap = reached;
        return Ok(post);
    }
    if !reached {
        post.contradictions
            .push("PREVAIL reaches the end; we prove it unreachable".into());
        return Ok(post);
    }
    // A register PREVAIL says nothing about holds large constants for the probes.
    let scratch = (0..10u8).rev().find(|r| !mentioned[usize::from(*r)]);
    let mut tail = vec![];
    let mut used = vec![];
    for (i, b) in bounds.iter().enumerate() {
        let jumps = probe_jumps(b, scratch, Target::Marker(i));
        if jumps.is_empty() {
            post.unchecked += 1;
            continue;
        }
        tail.extend(jumps);
        used.push(i);
    }
    if used.is_empty() {
        return Ok(post);
    }
    tail.push(Op::Exit);
    let hits = runner.probe(&tail, bounds.len())?;
    if hits.iter().any(|h| *h) {
        post.ours = runner.end_state();
    }
    for i in used {
        let b = &bounds[i];
        post.checked += 1;
        if !hits[i] {
            post.entailed += 1;
            continue;
        }
        post.gaps.push(b.text.clone());
        // Not entailed: do our values meet PREVAIL's at all?
        let mut tail = probe_jumps(b, scratch, Target::Sink);
        tail.push(Op::Ja(Target::Marker(0)));
        if !runner.probe(&tail, 1)?[0] {
            post.contradictions.push(format!(
                "{} at the end, but our values exclude all of them",
                b.text
            ));
        }
    }
    Ok(post)
}

/// Jumps to `target` when the register is outside the bound (empty if some side needs a
/// scratch register and there is none, or the bound says nothing).
fn probe_jumps(b: &Bound, scratch: Option<u8>, target: Target) -> Vec<Op> {
    let Some(dst) = Reg::new(b.reg) else {
        return vec![];
    };
    let (min, max) = if b.signed {
        (i128::from(i64::MIN), i128::from(i64::MAX))
    } else {
        (0, i128::from(u64::MAX))
    };
    let mut ops = vec![];
    for (side, cond) in [
        (
            b.lo.filter(|v| *v > min),
            if b.signed { Cond::Slt } else { Cond::Lt },
        ),
        (
            b.hi.filter(|v| *v < max),
            if b.signed { Cond::Sgt } else { Cond::Gt },
        ),
    ] {
        let Some(v) = side else { continue };
        // The immediate is sign-extended to 64 bits, so it stands for `v` (either reading)
        // exactly when `v`'s 64-bit pattern is a sign-extended 32-bit number.
        let imm = i32::try_from(v as i64).ok();
        let src = match (imm, scratch.and_then(Reg::new)) {
            (Some(i), _) => Operand::Imm(i),
            (None, Some(s)) => {
                ops.push(load_const(s, v));
                Operand::Reg(s)
            }
            (None, None) => return vec![],
        };
        ops.push(Op::Jump {
            width: Width::W64,
            cond,
            dst,
            src,
            target,
        });
    }
    ops
}
