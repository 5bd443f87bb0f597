//! `--z3`: the client side of the verifier's optional SMT refinement (feature `z3`).
//!
//! Without the feature the flag is refused with exit code 2, so a build without Z3 never
//! silently ignores a request for it.

use crate::check::Outcome;
use anyhow::{Context, Result};
use serde_json::json;
use std::path::Path;
use vouch_verifier::analysis::{Options, Report};
use vouch_verifier::elf::{Object, Program};

/// One remaining alarm: status, reason (unknown), counterexample rows, packet bytes.
pub type Judged = (
    String,
    Option<String>,
    Vec<(String, String)>,
    Option<Vec<u8>>,
);

/// What Z3 said about one program.
#[derive(Clone, Debug, Default)]
pub struct Smt {
    /// Per remaining diagnostic: status, reason (unknown), counterexample rows, packet bytes.
    pub judged: Vec<Judged>,
    /// Discharged alarms: (pc, message, query hash).
    pub discharged: Vec<(usize, String, String)>,
}

/// Fails (exit 2) when `--z3` is asked of a build without the feature.
pub fn available(wanted: bool) -> Result<()> {
    if wanted && !cfg!(feature = "z3") {
        anyhow::bail!(
            "--z3: this vouch was built without the z3 feature (rebuild with `cargo build --features z3`)"
        );
    }
    Ok(())
}

#[cfg(feature = "z3")]
pub fn refine(
    report: Report,
    object: &Object,
    program: &Program,
    options: &Options,
) -> (Report, Smt) {
    use vouch_verifier::smt::{self, Limits};
    let r = smt::refine(report, object, program, options, &Limits::default());
    let judged = r
        .judged
        .iter()
        .map(|j| {
            (
                j.status.name().to_string(),
                j.status.reason().map(str::to_owned),
                j.counterexample
                    .as_ref()
                    .map(|c| c.rows())
                    .unwrap_or_default(),
                j.counterexample.as_ref().map(|c| c.packet.clone()),
            )
        })
        .collect();
    let discharged = r
        .discharged
        .iter()
        .map(|d| {
            (
                d.diagnostic.pc,
                d.diagnostic.message.clone(),
                d.query_sha256.clone(),
            )
        })
        .collect();
    (r.report, Smt { judged, discharged })
}

/// Never called: `available` refuses `--z3` first.
#[cfg(not(feature = "z3"))]
pub fn refine(report: Report, _: &Object, _: &Program, _: &Options) -> (Report, Smt) {
    (report, Smt::default())
}

impl Smt {
    /// What a server answered about a program's alarms (option `z3`), if it refined them.
    pub fn from_api(p: &vouch_proto::api::ProgramResult) -> Option<Smt> {
        if p.discharged.is_empty() && p.errors.iter().all(|d| d.smt.is_none()) {
            return None;
        }
        let judged = p
            .errors
            .iter()
            .map(|d| match &d.smt {
                Some(s) => (
                    s.status.clone(),
                    (!s.reason.is_empty()).then(|| s.reason.clone()),
                    s.counterexample
                        .iter()
                        .map(|r| (r.name.clone(), r.value.clone()))
                        .collect(),
                    None,
                ),
                None => ("unknown".into(), Some("not refined".into()), vec![], None),
            })
            .collect();
        let discharged = p
            .discharged
            .iter()
            .map(|d| (d.pc as usize, d.message.clone(), d.query_sha256.clone()))
            .collect();
        Some(Smt { judged, discharged })
    }

    pub fn json(&self, i: usize) -> serde_json::Value {
        match self.judged.get(i) {
            Some((status, reason, rows, _)) => {
                let cx: serde_json::Map<String, serde_json::Value> =
                    rows.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                let mut v = json!({"status": status, "counterexample": if rows.is_empty() { serde_json::Value::Null } else { cx.into() }});
                if let Some(r) = reason {
                    v["reason"] = json!(r);
                }
                v
            }
            None => json!({"status": "unknown"}),
        }
    }

    pub fn discharged_json(&self) -> Vec<serde_json::Value> {
        self.discharged
            .iter()
            .map(|(pc, message, hash)| json!({"pc": pc, "message": message, "smt": "discharged by SMT", "query_sha256": hash}))
            .collect()
    }

    pub fn print_text(&self, i: usize) {
        let Some((status, reason, rows, _)) = self.judged.get(i) else {
            return;
        };
        match reason {
            Some(r) => println!("   = smt: {status} ({r})"),
            None => println!("   = smt: {status}"),
        }
        if !rows.is_empty() {
            let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            println!("     counterexample:");
            for (k, v) in rows {
                println!("     | {k:<width$} = {v}");
            }
        }
    }

    pub fn print_discharged(&self) {
        for (pc, message, hash) in &self.discharged {
            println!("note: pc {pc}: discharged by SMT (query sha256 {hash}): {message}");
        }
    }
}

/// Writes the packet of the first confirmed (else any) counterexample to `out`.
pub fn write_packet(outcomes: &[Outcome<'_>], out: &Path) -> Result<()> {
    let all = || {
        outcomes
            .iter()
            .filter_map(|o| o.smt.as_ref())
            .flat_map(|s| s.judged.iter())
    };
    let packet = all()
        .find(|j| j.0 == "confirmed" && j.3.is_some())
        .or_else(|| all().find(|j| j.3.is_some()))
        .and_then(|j| j.3.clone());
    match packet {
        Some(bytes) => {
            std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))
        }
        None => {
            eprintln!("no counterexample to write to {}", out.display());
            Ok(())
        }
    }
}
