//! `vouch list --format json` over every object in ../shared/samples: each lists exactly the
//! (section, function) pairs EXPECTED.tsv names for it, and the objects that cannot be loaded give
//! exit code 2 with a JSON error and a message on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch");

fn samples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples"))
}

/// EXPECTED.tsv rows per object: (section, function, expected verdict).
fn expected() -> BTreeMap<String, Vec<(String, String, String)>> {
    let text = std::fs::read_to_string(samples().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let [file, section, function, verdict, ..] = cols[..] {
            out.entry(file.to_string()).or_default().push((
                section.to_string(),
                function.to_string(),
                verdict.to_string(),
            ));
        }
    }
    out
}

#[test]
fn list_matches_expected_programs_for_every_sample() {
    let expected = expected();
    assert_eq!(expected.len(), 170, "EXPECTED.tsv covers 170 files");
    let mut failures = Vec::new();
    for (file, rows) in &expected {
        let path = samples().join(file);
        let out = Command::new(VOUCH)
            .args(["list", "--format", "json"])
            .arg(&path)
            .output()
            .expect("vouch runs");
        let json: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{file}: stdout is not JSON ({e})"));
                continue;
            }
        };
        if rows.iter().all(|(_, _, v)| v == "reject_load") {
            let error = json["error"].as_str().unwrap_or("");
            if out.status.code() != Some(2) || error.is_empty() || out.stderr.is_empty() {
                failures.push(format!(
                    "{file}: expected a load error with exit 2, got {:?} {json}",
                    out.status.code()
                ));
            }
            if json["programs"].as_array().is_none_or(|p| !p.is_empty()) {
                failures.push(format!("{file}: a load error must list no programs"));
            }
            continue;
        }
        if !out.status.success() {
            failures.push(format!(
                "{file}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let got: BTreeSet<(String, String)> = json["programs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["section"].as_str().unwrap_or("").to_string(),
                    p["function"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String)> = rows
            .iter()
            .map(|(s, f, _)| (s.clone(), f.clone()))
            .collect();
        if got != want {
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            failures.push(format!("{file}: missing {missing:?}, extra {extra:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 170 files wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn list_json_shape() {
    let path = samples().join("libbpf-bootstrap/bootstrap.bpf.o");
    let out = Command::new(VOUCH)
        .args(["list", "--format", "json"])
        .arg(&path)
        .output()
        .expect("vouch runs");
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let programs = json["programs"].as_array().expect("programs");
    let exec = programs
        .iter()
        .find(|p| p["function"] == "handle_exec")
        .expect("handle_exec");
    assert_eq!(exec["section"], "tp/sched/sched_process_exec");
    assert_eq!(exec["program_type"], "tracepoint");
    assert!(exec["instructions"].as_u64().is_some_and(|n| n > 10));
    let maps: Vec<&str> = exec["maps"]
        .as_array()
        .expect("maps")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(
        maps.contains(&"rb") && maps.contains(&"exec_start"),
        "{maps:?}"
    );
    let helpers: Vec<&str> = exec["helpers"]
        .as_array()
        .expect("helpers")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(helpers.contains(&"bpf_ringbuf_reserve"), "{helpers:?}");
}

#[test]
fn disasm_shows_c_source_lines() {
    let path = samples().join("libbpf-bootstrap/minimal.bpf.o");
    let out = Command::new(VOUCH)
        .arg("disasm")
        .arg(&path)
        .output()
        .expect("vouch runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("; \tint pid = bpf_get_current_pid_tgid() >> 32;"),
        "{text}"
    );
    assert!(
        text.contains("call 14") && text.contains("# bpf_get_current_pid_tgid"),
        "{text}"
    );
    assert!(text.contains("<handle_tp>:"), "{text}");
    // Selecting a program that does not exist is a usage error.
    let out = Command::new(VOUCH)
        .args(["disasm", "--function", "nope"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn non_elf_and_missing_files_exit_2() {
    let out = Command::new(VOUCH)
        .args(["list", "/nonexistent.o"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let readme = samples().join("README.md");
    let out = Command::new(VOUCH)
        .args(["list", "--format", "json"])
        .arg(&readme)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON even on error");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("not an ELF")),
        "{json}"
    );
}
