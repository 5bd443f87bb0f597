//! `vouch conformance DIR`: the bpf_conformance suite, in process, with a summary.
//!
//! The same files also run through `vouch plugin` in the end-to-end tests; this command is the
//! quick way for a person to see the interpreter's standing.

use anyhow::{Context, Result};
use std::path::Path;
use vouch_verifier::conformance::{TestCase, run_interpreter};
use vouch_verifier::interp::Config;
use vouch_verifier::isa::decode_program;

/// Outcome of one test file.
enum Outcome {
    Pass,
    Fail(String),
}

fn run_one(path: &Path) -> Outcome {
    let check = || -> Result<Option<String>> {
        let text = std::fs::read_to_string(path)?;
        let case = TestCase::parse(&text)?;
        let bytes = case.program_bytes()?;
        let prog = decode_program(&bytes)?;
        let mem = case.has_mem.then(|| case.mem.clone());
        let result = run_interpreter(&prog, mem, Config::default());
        Ok(match (case.result, result) {
            (Some(want), Ok(exit)) if exit.r0 == want => None,
            (Some(want), Ok(exit)) => Some(format!("r0 = {:#x}, expected {want:#x}", exit.r0)),
            (Some(_), Err(trap)) => Some(format!("trapped: {trap}")),
            (None, Err(_)) => None,
            (None, Ok(exit)) => Some(format!("expected an error, got r0 = {:#x}", exit.r0)),
        })
    };
    match check() {
        Ok(None) => Outcome::Pass,
        Ok(Some(why)) => Outcome::Fail(why),
        Err(e) => Outcome::Fail(format!("{e:#}")),
    }
}

pub fn run(dir: &Path, verbose: bool) -> Result<bool> {
    let files = vouch_verifier::conformance::data_files(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?;
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for path in &files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match run_one(path) {
            Outcome::Pass => {
                if verbose {
                    println!("PASS {name}");
                }
            }
            Outcome::Fail(why) => {
                println!("FAIL {name}: {why}");
                failed.push(name);
            }
        }
    }
    let passed = files.len() - failed.len();
    println!(
        "conformance (interpreter): {passed}/{} passed, {} failed, in {:.2?}",
        files.len(),
        failed.len(),
        started.elapsed()
    );
    Ok(failed.is_empty() && !files.is_empty())
}
