//! All 313 bpf_conformance files through the reference interpreter, in process.
//!
//! One table test: every file runs, and the failure message lists each failing file with the
//! reason, so a regression names exactly what broke.

use std::path::PathBuf;
use vouch_verifier::conformance::{TestCase, run_interpreter};
use vouch_verifier::interp::Config;
use vouch_verifier::isa::decode_program;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn run_file(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = TestCase::parse(&text).map_err(|e| e.to_string())?;
    let bytes = case.program_bytes().map_err(|e| e.to_string())?;
    let prog = decode_program(&bytes).map_err(|e| format!("decode: {e}"))?;
    let mem = case.has_mem.then(|| case.mem.clone());
    match (case.result, run_interpreter(&prog, mem, Config::default())) {
        (Some(want), Ok(exit)) if exit.r0 == want => Ok(()),
        (Some(want), Ok(exit)) => Err(format!("r0 = {:#x}, expected {want:#x}", exit.r0)),
        (Some(_), Err(trap)) => Err(format!("trap: {trap}")),
        (None, Err(_)) => Ok(()),
        (None, Ok(exit)) => Err(format!("expected an error, got r0 = {:#x}", exit.r0)),
    }
}

#[test]
fn every_conformance_file_passes_in_the_interpreter() {
    let dir = suite_dir();
    let files = vouch_verifier::conformance::data_files(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    assert_eq!(files.len(), 313, "the suite has 313 files");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|p| {
            run_file(p)
                .err()
                .map(|why| format!("{}: {why}", p.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 313 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
