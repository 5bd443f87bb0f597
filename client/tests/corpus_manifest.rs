//! Our own corpus: the manifest names real programs, and the loader finds every one of them.
//!
//! (The verdicts in the manifest are checked by `vouch check` once the verifier exists; here we
//! check what the loader can: the objects exist, load, and hold the programs the manifest lists,
//! with the program types it states.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch");

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus"))
}

#[derive(serde::Deserialize)]
struct Manifest {
    program: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    object: String,
    section: String,
    function: String,
    program_type: String,
    expected: String,
    class: String,
    #[serde(default)]
    subprogram: bool,
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(corpus().join("manifest.toml")).expect("manifest");
    toml::from_str(&text).expect("manifest parses")
}

#[test]
fn manifest_has_the_promised_size() {
    let m = manifest();
    let safe = m.program.iter().filter(|p| p.expected == "accept").count();
    let unsafe_classes: BTreeSet<&str> = m
        .program
        .iter()
        .filter(|p| p.expected == "reject")
        .map(|p| p.class.as_str())
        .collect();
    assert!(safe >= 30, "{safe} safe programs");
    assert!(
        unsafe_classes.len() >= 15,
        "{} bug classes: {unsafe_classes:?}",
        unsafe_classes.len()
    );
    assert!(
        m.program
            .iter()
            .all(|p| p.expected == "accept" || p.expected == "reject")
    );
}

#[test]
fn every_manifest_program_is_listed_with_its_type() {
    let m = manifest();
    let objects: BTreeSet<&str> = m.program.iter().map(|p| p.object.as_str()).collect();
    let mut failures = Vec::new();
    for object in objects {
        let out = Command::new(VOUCH)
            .args(["list", "--format", "json"])
            .arg(corpus().join(object))
            .output()
            .expect("runs");
        if !out.status.success() {
            failures.push(format!(
                "{object}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let listed: Vec<(String, String, String)> = json["programs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
                (s("section"), s("function"), s("program_type"))
            })
            .collect();
        for e in m.program.iter().filter(|p| p.object == object) {
            match listed
                .iter()
                .find(|(s, f, _)| *s == e.section && *f == e.function)
            {
                None => failures.push(format!(
                    "{object}: {}/{} is not listed",
                    e.section, e.function
                )),
                Some((_, _, t)) if !e.subprogram && *t != e.program_type => failures.push(format!(
                    "{object}: {}/{} has type {t}, manifest says {}",
                    e.section, e.function, e.program_type
                )),
                Some(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
