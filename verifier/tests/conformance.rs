//! All 313 bpf_conformance files through the reference interpreter, in process.
//!
//! One table test: every file runs, and the failure message lists each failing file with the
//! reason, so a regression names exactly what broke.

use std::path::PathBuf;
use vouch_verifier::conformance::check_file;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
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
            check_file(p)
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

#[test]
fn every_conformance_file_passes_through_the_jit() {
    let dir = suite_dir();
    let files = vouch_verifier::conformance::data_files(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    assert_eq!(files.len(), 313, "the suite has 313 files");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|p| {
            // SAFETY: the suite's programs only touch their memory and stack, and terminate.
            unsafe { vouch_verifier::conformance::check_file_jit(p) }
                .err()
                .map(|why| format!("{}: {why}", p.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 313 failed through the JIT:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
