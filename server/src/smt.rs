//! Option `z3`: the verifier's SMT refinement of a rejected program's alarms (feature `z3`).
//!
//! A discharged alarm leaves the report, so a program whose every alarm is discharged is
//! accepted, JIT-compiled and signed like any other; its statement then says `options.z3` and
//! lists each discharge with the hash of the query Z3 found unsatisfiable, so an auditor sees
//! that the verdict rests on the solver. The alarms that stand carry the solver's status and
//! counterexample in the answer (not in the statement: a counterexample explains a rejection,
//! it is not part of what is vouched for).
//!
//! Without the feature, requests with option `z3` are refused before any work
//! ([`Z3_UNAVAILABLE`]), and [`refine`] is never asked to do anything.

use vouch_proto::api;
use vouch_proto::envelope::DischargedInfo;
use vouch_verifier::analysis::{Options, Report, Verdict};
use vouch_verifier::elf::{Object, Program};

/// The answer to a request with option `z3` on a server built without the feature.
pub const Z3_UNAVAILABLE: &str = "option z3: this server was built without the `z3` feature \
     (SMT confirmation of alarms); send the request without it, or run `vouch check --z3` locally";

/// Whether this server can honour option `z3`.
pub const AVAILABLE: bool = cfg!(feature = "z3");

/// A report after the optional refinement.
pub struct Refinement {
    pub report: Report,
    /// Per remaining diagnostic, in order (empty without refinement).
    pub smt: Vec<api::Smt>,
    pub discharged: Vec<DischargedInfo>,
}

impl Refinement {
    fn plain(report: Report) -> Refinement {
        Refinement {
            report,
            smt: vec![],
            discharged: vec![],
        }
    }

    /// The discharges as the answer lists them.
    pub fn discharged_api(&self) -> Vec<api::Discharged> {
        self.discharged
            .iter()
            .map(|d| api::Discharged {
                pc: d.pc,
                kind: d.kind.clone(),
                message: d.message.clone(),
                query_sha256: d.query_sha256.clone(),
            })
            .collect()
    }
}

/// Refines `report` of `program` when `wanted` (and the program was rejected).
pub fn refine(
    report: Report,
    object: &Object,
    program: &Program,
    options: &Options,
    wanted: bool,
) -> Refinement {
    if !wanted || report.verdict != Verdict::Rejected {
        return Refinement::plain(report);
    }
    refine_rejected(report, object, program, options)
}

#[cfg(feature = "z3")]
fn refine_rejected(
    report: Report,
    object: &Object,
    program: &Program,
    options: &Options,
) -> Refinement {
    use vouch_verifier::smt::{self, Limits};
    let r = smt::refine(report, object, program, options, &Limits::default());
    let smt = r
        .judged
        .iter()
        .map(|j| api::Smt {
            status: j.status.name().to_owned(),
            reason: j.status.reason().unwrap_or_default().to_owned(),
            counterexample: j
                .counterexample
                .as_ref()
                .map(|cx| {
                    cx.rows()
                        .into_iter()
                        .map(|(name, value)| api::CounterexampleRow { name, value })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let discharged = r
        .discharged
        .iter()
        .map(|d| DischargedInfo {
            pc: d.diagnostic.pc as u64,
            kind: d.diagnostic.kind.to_owned(),
            message: d.diagnostic.message.clone(),
            query_sha256: d.query_sha256.clone(),
        })
        .collect();
    Refinement {
        report: r.report,
        smt,
        discharged,
    }
}

#[cfg(not(feature = "z3"))]
fn refine_rejected(report: Report, _: &Object, _: &Program, _: &Options) -> Refinement {
    // Unreachable in a running server: `validate` refuses option z3 first.
    Refinement::plain(report)
}
