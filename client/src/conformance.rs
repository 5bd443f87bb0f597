//! `vouch conformance DIR`: the bpf_conformance suite, in process, with a summary.
//!
//! The same files also run through `vouch plugin` in the end-to-end tests; this command is the
//! quick way for a person to see the interpreter's standing.

use anyhow::{Context, Result};
use std::path::Path;
use vouch_verifier::conformance::check_file;

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
        match check_file(path) {
            Ok(()) => {
                if verbose {
                    println!("PASS {name}");
                }
            }
            Err(why) => {
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
