//! Optional Z3 refinement of the analysis's alarms (feature `z3`, issue 7).
//!
//! For each alarm of a rejected program, [`refine`] builds a bit-vector formula of the paths
//! that reach it (`encode`) with the alarm's property negated (`alarm`), and asks Z3:
//! - `unsat`: no run reaches the pc with the property false; the alarm is discharged, and the
//!   query's SHA-256 is recorded. Only valid because the encoding over-approximates every
//!   concrete path (see `encode` and ARCHITECTURE.md); anything it cannot encode that way makes
//!   the alarm stand with status `unknown`.
//! - `sat`: the model is a counterexample (`model`); it is replayed in the bounds-checked
//!   interpreter with the user-space runtime (`replay`) and shown as `confirmed` only if the
//!   replay really traps (or reaches the bad state) at the alarm's pc.
//! - `unknown` or timeout: the alarm stands.
//!
//! The program is accepted only if every alarm is discharged.

mod alarm;
mod encode;
mod model;
mod replay;

pub use model::Counterexample;

use crate::analysis::loop_facts::LoopHead;
use crate::analysis::{Diagnostic, Input, Options, Report, Verdict, map_table};
use crate::elf::{Object, Program};
use encode::Mode;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use z3::{Params, SatResult, Solver};

/// Why an alarm could not be encoded soundly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not encoded: {0}")]
pub struct Unsupported(pub String);

/// Time limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_query: Duration,
    pub per_program: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_query: Duration::from_secs(2),
            per_program: Duration::from_secs(10),
        }
    }
}

/// What Z3 says about one alarm that stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// A counterexample whose replay traps (or reaches the bad state) at the alarm.
    Confirmed,
    /// A model whose replay does not reach the bad state (the encoding over-approximates).
    Unconfirmed,
    /// Not encoded, timeout or solver `unknown`: the reason.
    Unknown(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Confirmed => "confirmed",
            Status::Unconfirmed => "unconfirmed",
            Status::Unknown(_) => "unknown",
        }
    }

    /// Why the status is `unknown`; `None` for the others.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Unknown(why) => Some(why),
            _ => None,
        }
    }
}

/// The outcome for one alarm that stands.
#[derive(Clone, Debug)]
pub struct Judged {
    pub diagnostic: Diagnostic,
    pub status: Status,
    pub counterexample: Option<Counterexample>,
}

/// An alarm proved false.
#[derive(Clone, Debug)]
pub struct Discharged {
    pub diagnostic: Diagnostic,
    /// SHA-256 of the SMT-LIB query that was `unsat`.
    pub query_sha256: String,
}

/// A report after refinement.
#[derive(Clone, Debug)]
pub struct Refined {
    /// The report with discharged alarms removed (accepted only when none is left).
    pub report: Report,
    /// One per remaining diagnostic, in the same order.
    pub judged: Vec<Judged>,
    pub discharged: Vec<Discharged>,
}

/// Refines the report of `program` (one program of `object`), which the analysis made with
/// `options`. One call per program; the limits bound its time.
pub fn refine(
    report: Report,
    object: &Object,
    program: &Program,
    options: &Options,
    limits: &Limits,
) -> Refined {
    let started = Instant::now();
    let maps = map_table(&object.maps);
    // A `.text` function other programs link in is judged in its callers' contexts (its entry
    // registers are their arguments, not r1 = ctx): encoding it from the program entry would
    // under-approximate, so its alarms stay `unknown`.
    let subprogram = program.section == ".text"
        && object.programs.iter().any(|q| {
            q.functions
                .iter()
                .skip(1)
                .any(|f| f.section == program.section && f.name == program.function)
        });
    let input = program.insns.as_ref().ok().map(|insns| Input {
        insns,
        program_type: program.program_type,
        section: &program.section,
        maps: &maps,
        kernel_btf: object.kernel_btf.as_deref(),
    });
    let heads = match input {
        Some(input) if !subprogram && exact(input, program, &report.diagnostics) => {
            loop_heads(input, program, options)
        }
        _ => vec![],
    };
    let mut judged = vec![];
    let mut discharged = vec![];
    let mut kept = vec![];
    for d in &report.diagnostics {
        let left = limits.per_program.saturating_sub(started.elapsed());
        let status = match input {
            None => Err(Status::Unknown("the program does not decode".into())),
            Some(_) if subprogram => Err(Status::Unknown(
                "a subprogram: judged in its callers' contexts, which are not encoded".into(),
            )),
            Some(_) if left.is_zero() => Err(Status::Unknown("program time limit reached".into())),
            Some(input) => judge(
                d,
                input,
                object,
                program,
                &heads,
                limits.per_query.min(left),
            ),
        };
        match status {
            Ok(Outcome::Discharged(hash)) => discharged.push(Discharged {
                diagnostic: d.clone(),
                query_sha256: hash,
            }),
            Ok(Outcome::Model(cx, status)) => {
                kept.push(d.clone());
                judged.push(Judged {
                    diagnostic: d.clone(),
                    status,
                    counterexample: Some(cx),
                });
            }
            Err(status) => {
                kept.push(d.clone());
                judged.push(Judged {
                    diagnostic: d.clone(),
                    status,
                    counterexample: None,
                });
            }
        }
    }
    let mut out = report;
    out.diagnostics = kept;
    out.verdict = if out.diagnostics.is_empty() {
        Verdict::Accepted
    } else {
        Verdict::Rejected
    };
    Refined {
        report: out,
        judged,
        discharged,
    }
}

/// The analysis's facts at loop heads, when the encoding may assume them: the same analysis
/// (same options) run again keeping its invariants, whose every alarm is a property the
/// encoding states exactly (bounds, NULL, divisors). The analysis assumes an alarm's property
/// after reporting it, so its head invariants hold until a run's first failing alarm; with
/// only exact properties among the alarms, that first failure's query stays satisfiable
/// under the facts (see `encode::assume_head`). Otherwise no facts: plain havoc. `refine`
/// asks [`exact`] of the report it was given first, so a program whose alarms rule the facts
/// out is not analysed again for nothing.
fn loop_heads(input: Input<'_>, program: &Program, options: &Options) -> Vec<LoopHead> {
    let options = Options {
        collect_invariants: true,
        ..*options
    };
    let report = crate::analysis::verify(input, &options);
    if exact(input, program, &report.diagnostics) {
        report.loop_heads
    } else {
        vec![]
    }
}

/// Whether every alarm is a property the encoding states exactly (bounds, NULL, divisors).
fn exact(input: Input<'_>, program: &Program, diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().all(|d| {
        input.insns.get(d.pc).is_some_and(|insn| {
            alarm::property(d, insn, program.program_type, &program.section)
                .is_ok_and(|p| p.dischargeable())
        })
    })
}

enum Outcome {
    Discharged(String),
    Model(Counterexample, Status),
}

/// Back edges a counterexample path may take (per path, over all loops).
const UNROLL: usize = 8;

fn judge(
    d: &Diagnostic,
    input: Input<'_>,
    object: &Object,
    program: &Program,
    heads: &[LoopHead],
    time: Duration,
) -> Result<Outcome, Status> {
    let insn = input
        .insns
        .get(d.pc)
        .ok_or_else(|| Status::Unknown("pc outside the program".into()))?;
    let property = alarm::property(d, insn, program.program_type, &program.section)
        .map_err(Status::Unknown)?;
    // Every check of this alarm (discharge, witnesses, retries, unrolled query) shares `time`.
    let deadline = Instant::now() + time;
    let unknown = |e: Unsupported| Status::Unknown(e.0);
    let mut sound_model = None;
    if property.dischargeable() {
        let query = encode::encode(input, d.pc, property, Mode::Sound, heads).map_err(unknown)?;
        let solver = solver(&query);
        match check(&solver, deadline) {
            SatResult::Unsat => {
                let hash = Sha256::digest(solver.to_smt2().as_bytes());
                return Ok(Outcome::Discharged(
                    hash.iter().map(|b| format!("{b:02x}")).collect(),
                ));
            }
            SatResult::Unknown => return Err(solver_gave_up(&solver)),
            SatResult::Sat if !query.has_loops => {
                let replay =
                    |cx: &mut Counterexample| replay::replay(cx, d.pc, property, object, program);
                return replayed(&solver, &query, deadline, replay);
            }
            SatResult::Sat => sound_model = Some(model(&solver, &query, deadline)?),
        }
    }
    // A model of the sound query may take an impossible path through a havocked loop head;
    // the unrolled query's models are real paths (up to `UNROLL` back edges).
    let query =
        encode::encode(input, d.pc, property, Mode::Unroll(UNROLL), &[]).map_err(unknown)?;
    let solver = solver(&query);
    let replay = |cx: &mut Counterexample| replay::replay(cx, d.pc, property, object, program);
    match (check(&solver, deadline), sound_model) {
        (SatResult::Sat, _) => replayed(&solver, &query, deadline, replay),
        (_, Some(mut cx)) => {
            let status = replay(&mut cx);
            Ok(Outcome::Model(cx, status))
        }
        (_, None) => Err(Status::Unknown(format!(
            "no counterexample within {UNROLL} loop iterations, and the property is weaker \
             than the analysis's check, so nothing is proved"
        ))),
    }
}

/// Models a `sat` solver tried in the interpreter: the first that replays to the bad state,
/// else the first one (after `ATTEMPTS` models, each with inputs the previous ones lacked).
fn replayed(
    solver: &Solver,
    query: &encode::Query,
    deadline: Instant,
    replay: impl Fn(&mut Counterexample) -> Status,
) -> Result<Outcome, Status> {
    const ATTEMPTS: usize = 3;
    let mut first = model(solver, query, deadline)?;
    let status = replay(&mut first);
    if status == Status::Confirmed {
        return Ok(Outcome::Model(first, status));
    }
    let mut cx = first.clone();
    for _ in 1..ATTEMPTS {
        solver.assert(model::blocking(&cx, &query.symbols));
        if check(solver, deadline) != SatResult::Sat {
            break;
        }
        // The witness groups were asserted by `model` and stay; no further preference.
        cx = match solver.get_model() {
            Some(m) => model::extract(&m, &query.symbols),
            None => break,
        };
        if replay(&mut cx) == Status::Confirmed {
            return Ok(Outcome::Model(cx, Status::Confirmed));
        }
    }
    Ok(Outcome::Model(first, status))
}

/// A solver holding `query` (without the witness), with fixed seeds: the same query gives
/// the same model on every run.
fn solver(query: &encode::Query) -> Solver {
    let solver = Solver::new();
    let mut params = Params::new();
    params.set_u32("random_seed", 0);
    solver.set_params(&params);
    for a in &query.assumptions {
        solver.assert(a);
    }
    solver.assert(&query.reach);
    solver.assert(&query.bad);
    if let Some(path) = std::env::var_os("VOUCH_SMT_DUMP") {
        let _ = std::fs::write(path, solver.to_smt2());
    }
    solver
}

/// `solver.check()` within what is left until `deadline` (`unknown` once it has passed).
fn check(solver: &Solver, deadline: Instant) -> SatResult {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return SatResult::Unknown;
    }
    let mut params = Params::new();
    params.set_u32(
        "timeout",
        left.as_millis().clamp(1, u128::from(u32::MAX)) as u32,
    );
    solver.set_params(&params);
    solver.check()
}

fn solver_gave_up(solver: &Solver) -> Status {
    Status::Unknown(
        solver
            .get_reason_unknown()
            .unwrap_or_else(|| "solver gave up".into()),
    )
}

/// The counterexample of a `sat` solver, preferring a replayable model (small packet,
/// consistent skb->len) when one exists.
fn model(
    solver: &Solver,
    query: &encode::Query,
    deadline: Instant,
) -> Result<Counterexample, Status> {
    // The model of the check just made: kept in case the preferred ones run out of time.
    let fallback = solver.get_model();
    let mut need_check = true;
    for group in &query.witness {
        solver.push();
        for w in group {
            solver.assert(w);
        }
        match check(solver, deadline) {
            SatResult::Sat => need_check = false,
            SatResult::Unsat => {
                solver.pop(1);
                need_check = true;
            }
            // Out of time: settle for the groups kept so far.
            SatResult::Unknown => {
                solver.pop(1);
                need_check = true;
                break;
            }
        }
    }
    let preferred = if need_check {
        (check(solver, deadline) == SatResult::Sat)
            .then(|| solver.get_model())
            .flatten()
    } else {
        solver.get_model()
    };
    let model = preferred
        .or(fallback)
        .ok_or_else(|| Status::Unknown("no model".into()))?;
    Ok(model::extract(&model, &query.symbols))
}
