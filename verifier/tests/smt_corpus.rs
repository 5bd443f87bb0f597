//! The Z3 refinement on the corpus (feature `z3`): no unsafe program becomes accepted, and
//! every unsafe program (each has its bug reachable with concrete inputs) gets a counterexample
//! the interpreter confirms: a trap, the bad exit value, or a watchpoint that sees the bad
//! state at the alarm (corpus/README.md, "Z3 counterexamples").
#![cfg(feature = "z3")]

use std::path::PathBuf;
use vouch_verifier::analysis::{Options, Verdict, verify_program};
use vouch_verifier::elf::{LoadOptions, load};
use vouch_verifier::smt::{Limits, Status, refine};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// (object, section, function) of the manifest's `expected = "reject"` programs.
fn unsafe_programs() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(corpus().join("manifest.toml")).unwrap_or_default();
    let mut out = vec![];
    for block in text.split("[[program]]").skip(1) {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or("")
                .to_string()
        };
        if field("expected") == "reject" {
            out.push((field("object"), field("section"), field("function")));
        }
    }
    out
}

#[test]
fn unsafe_corpus_programs_stay_rejected_and_get_counterexamples() {
    let programs = unsafe_programs();
    let mut confirmed = vec![];
    let mut not = vec![];
    for (object, section, function) in &programs {
        let Ok(bytes) = std::fs::read(corpus().join(object)) else {
            continue;
        };
        let Ok(obj) = load(&bytes, &LoadOptions::default()) else {
            continue;
        };
        let Some(p) = obj
            .programs
            .iter()
            .find(|p| &p.section == section && &p.function == function)
        else {
            continue;
        };
        let report = verify_program(&obj, p, &Options::default());
        assert_eq!(report.verdict, Verdict::Rejected, "{function}");
        // Generous limits: the test is about what is found, not how fast (the machine may
        // be busy with other tests).
        let limits = Limits {
            per_query: std::time::Duration::from_secs(20),
            per_program: std::time::Duration::from_secs(60),
        };
        let r = refine(report, &obj, p, &Options::default(), &limits);
        assert_eq!(
            r.report.verdict,
            Verdict::Rejected,
            "{function} became accepted with z3: {:?}",
            r.discharged
        );
        if r.judged.iter().any(|j| j.status == Status::Confirmed) {
            confirmed.push(function.clone());
        } else {
            let why: Vec<String> = r
                .judged
                .iter()
                .map(|j| match &j.status {
                    Status::Unknown(w) => format!("unknown: {w}"),
                    s => s.name().to_string(),
                })
                .collect();
            not.push(format!("{function}: {}", why.join("; ")));
        }
    }
    eprintln!(
        "confirmed {} of {}: {confirmed:?}\nnot confirmed:\n  {}",
        confirmed.len(),
        programs.len(),
        not.join("\n  ")
    );
    assert!(
        programs.len() >= 29,
        "the manifest lists {} unsafe programs",
        programs.len()
    );
    assert_eq!(
        confirmed.len(),
        programs.len(),
        "unsafe programs without a confirmed counterexample (or whose object did not load):\n  {}",
        not.join("\n  ")
    );
}
