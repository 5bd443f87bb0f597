//! `vouch check`: verify every program of an object (or the ones selected) and report like a
//! compiler: the root cause first, at its pc, with the C source line and the abstract values.
//!
//! Exit codes: 0 all accepted, 1 any rejected, 2 the object could not be loaded or bad usage.

use crate::object::{LoadArgs, LoadFailure, load};
use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use vouch_verifier::analysis::{Options, Report, Verdict, verify_program};
use vouch_verifier::elf::{Object, Program};
use vouch_verifier::isa::decode_at;

/// The numeric domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Domain {
    /// Difference-bound matrices: relations such as `offset + 14 <= packet_size`.
    Zone,
    /// Bounds only: faster, less precise.
    Interval,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
}

#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// Only programs in this section.
    #[arg(long)]
    pub section: Option<String>,
    /// Only programs whose function has this name.
    #[arg(long)]
    pub function: Option<String>,
    /// Numeric domain.
    #[arg(long, value_enum, default_value_t = Domain::Zone)]
    pub domain: Domain,
    /// Reject division and modulo by a divisor that may be zero.
    #[arg(long)]
    pub strict_div: bool,
    /// Allow pointer leaks and uninitialised helper reads, like privileged Linux.
    #[arg(long)]
    pub allow_ptr_leaks: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Print the invariant the analysis proved at the start of every basic block (text), or
    /// include them (JSON).
    #[arg(long)]
    pub print_invariants: bool,
    /// Reject a program whose analysis takes longer than this many seconds.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,
    /// Reject a program whose analysis needs more basic-block visits than this.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_block_visits)]
    pub max_block_visits: u64,
    /// Refine alarms with Z3: discharge false ones, replay counterexamples of real ones
    /// (needs a build with `--features z3`).
    #[arg(long)]
    pub z3: bool,
    /// With --z3: write the packet bytes of the first counterexample to this file (raw bytes,
    /// for `vouch run --input`).
    #[arg(long, value_name = "FILE", requires = "z3")]
    pub counterexample_out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub load: LoadArgs,
}

impl CheckArgs {
    pub fn options(&self) -> Options {
        Options {
            relational: self.domain == Domain::Zone,
            strict_div: self.strict_div,
            allow_ptr_leaks: self.allow_ptr_leaks,
            collect_invariants: self.print_invariants,
            max_block_visits: self.max_block_visits,
            time_limit: self
                .time_limit
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(std::time::Duration::from_secs_f64),
            ..Options::default()
        }
    }
}

/// One program's outcome.
pub struct Outcome<'a> {
    pub program: &'a Program,
    pub report: Report,
    pub seconds: f64,
    /// With `--z3`: what Z3 said (remaining alarms, in report order; discharged ones).
    pub smt: Option<crate::smt::Smt>,
}

pub fn selected<'a>(
    object: &'a Object,
    section: Option<&str>,
    function: Option<&str>,
) -> Vec<&'a Program> {
    object
        .programs
        .iter()
        .filter(|p| {
            section.is_none_or(|s| s == p.section) && function.is_none_or(|f| f == p.function)
        })
        .collect()
}

pub fn check_all<'a>(
    object: &'a Object,
    programs: &[&'a Program],
    options: &Options,
    z3: bool,
) -> Vec<Outcome<'a>> {
    programs
        .iter()
        .map(|p| {
            let started = Instant::now();
            let report = verify_program(object, p, options);
            let (report, smt) = if z3 && report.verdict == Verdict::Rejected {
                let (r, s) = crate::smt::refine(report, object, p, options);
                (r, Some(s))
            } else {
                (report, None)
            };
            Outcome {
                program: p,
                report,
                seconds: started.elapsed().as_secs_f64(),
                smt,
            }
        })
        .collect()
}

pub fn run(path: &Path, args: &CheckArgs) -> Result<bool> {
    crate::smt::available(args.z3)?;
    let file = path.display().to_string();
    let object = match load(path, &args.load)? {
        Ok(o) => o,
        Err(LoadFailure(error)) => {
            match args.format {
                CheckFormat::Json => {
                    println!("{}", json!({"file": file, "programs": [], "error": error}))
                }
                CheckFormat::Sarif => println!(
                    "{}",
                    serde_json::to_string_pretty(&sarif(&file, &[], Some(&error)))?
                ),
                CheckFormat::Text => {}
            }
            bail!("{file}: {error}");
        }
    };
    let programs = selected(&object, args.section.as_deref(), args.function.as_deref());
    if programs.is_empty() {
        bail!("{file}: no program matches the selection");
    }
    let outcomes = check_all(&object, &programs, &args.options(), args.z3);
    if let Some(out) = &args.counterexample_out {
        crate::smt::write_packet(&outcomes, out)?;
    }
    match args.format {
        CheckFormat::Text => print_text(&file, &outcomes),
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&file, &outcomes))?
        ),
        CheckFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif(&file, &outcomes, None))?
        ),
    }
    Ok(outcomes
        .iter()
        .all(|o| o.report.verdict == Verdict::Accepted))
}

#[derive(Serialize)]
struct JsonSource {
    file: String,
    line: u32,
    column: u32,
    text: String,
}

#[derive(Serialize)]
struct JsonError {
    pc: usize,
    kind: &'static str,
    message: String,
    values: Vec<String>,
    source: Option<JsonSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    smt: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct JsonProgram {
    section: String,
    function: String,
    program_type: String,
    instructions: usize,
    verdict: String,
    errors: Vec<JsonError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discharged: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    discharged_alarms: Vec<serde_json::Value>,
    unreachable: Vec<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invariants: Vec<JsonInvariant>,
    seconds: f64,
}

#[derive(Serialize)]
struct JsonInvariant {
    pc: usize,
    depth: usize,
    invariant: String,
}

fn json_report(file: &str, outcomes: &[Outcome<'_>]) -> serde_json::Value {
    let programs: Vec<JsonProgram> = outcomes
        .iter()
        .map(|o| JsonProgram {
            section: o.program.section.clone(),
            function: o.program.function.clone(),
            program_type: o.program.program_type.to_string(),
            instructions: o.program.slots.len(),
            verdict: o.report.verdict.to_string(),
            errors: o
                .report
                .diagnostics
                .iter()
                .enumerate()
                .map(|(i, d)| JsonError {
                    smt: o.smt.as_ref().map(|s| s.json(i)),
                    pc: d.pc,
                    kind: d.kind,
                    message: d.message.clone(),
                    values: d.values.clone(),
                    source: o.program.line_at(d.pc).map(|l| JsonSource {
                        file: l.file.clone(),
                        line: l.line,
                        column: l.column,
                        text: l.text.clone(),
                    }),
                })
                .collect(),
            discharged: o.smt.as_ref().map(|s| s.discharged.len()),
            discharged_alarms: o
                .smt
                .as_ref()
                .map(|s| s.discharged_json())
                .unwrap_or_default(),
            unreachable: o.report.unreachable.clone(),
            invariants: o
                .report
                .invariants
                .iter()
                .map(|(pc, depth, invariant)| JsonInvariant {
                    pc: *pc,
                    depth: *depth,
                    invariant: invariant.clone(),
                })
                .collect(),
            seconds: o.seconds,
        })
        .collect();
    json!({"file": file, "programs": programs, "error": null})
}

pub fn print_text(file: &str, outcomes: &[Outcome<'_>]) {
    for o in outcomes {
        let p = o.program;
        let name = format!("{}/{}", p.section, p.function);
        for (pc, depth, invariant) in &o.report.invariants {
            let frame = if *depth > 0 {
                format!(" (call depth {depth})")
            } else {
                String::new()
            };
            println!("{name} pc {pc}{frame}: {invariant}");
        }
        for (i, d) in o.report.diagnostics.iter().enumerate() {
            println!("error[{}]: {}", d.kind, d.message);
            println!("  --> {file}: {name} at pc {}", d.pc);
            if let Ok(insn) = decode_at(&p.slots, d.pc) {
                println!("   | {:>5}: {insn}", d.pc);
            }
            if let Some(line) = p.line_at(d.pc) {
                let width = line.line.to_string().len();
                println!("{:width$} |", "");
                println!("{} | {}", line.line, line.text.trim_end());
                let col = (line.column as usize).saturating_sub(1);
                println!(
                    "{:width$} | {:col$}^ {}:{}:{}",
                    "", "", line.file, line.line, line.column
                );
            }
            for v in &d.values {
                println!("   = {v}");
            }
            if let Some(s) = &o.smt {
                s.print_text(i);
            }
            println!();
        }
        let verdict = match o.report.verdict {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "REJECTED",
        };
        if let Some(s) = &o.smt {
            s.print_discharged();
        }
        let errors = o.report.diagnostics.len();
        let detail = if errors > 0 {
            format!(", {errors} error(s)")
        } else {
            String::new()
        };
        println!(
            "{name}: {verdict} ({} instructions, {:.1} ms{detail})",
            p.slots.len(),
            o.seconds * 1000.0
        );
    }
}

/// SARIF 2.1.0, for code-scanning tools.
fn sarif(file: &str, outcomes: &[Outcome<'_>], load_error: Option<&str>) -> serde_json::Value {
    let mut results = vec![];
    let mut rules: Vec<&'static str> = vec![];
    for o in outcomes {
        for d in &o.report.diagnostics {
            if !rules.contains(&d.kind) {
                rules.push(d.kind);
            }
            let mut location = json!({
                "logicalLocations": [{"name": format!("{}/{}", o.program.section, o.program.function),
                                      "fullyQualifiedName": format!("{}/{}@pc{}", o.program.section, o.program.function, d.pc)}],
            });
            let physical = match o.program.line_at(d.pc) {
                Some(l) => {
                    json!({"artifactLocation": {"uri": l.file}, "region": {"startLine": l.line.max(1), "startColumn": l.column.max(1), "snippet": {"text": l.text}}})
                }
                None => json!({"artifactLocation": {"uri": file}}),
            };
            location["physicalLocation"] = physical;
            results.push(json!({
                "ruleId": d.kind,
                "level": "error",
                "message": {"text": format!("{}/{} pc {}: {}", o.program.section, o.program.function, d.pc, d.message)},
                "locations": [location],
            }));
        }
    }
    if let Some(e) = load_error {
        rules.push("load");
        results.push(json!({"ruleId": "load", "level": "error", "message": {"text": e}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": file}}}]}));
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "vouch",
                "version": vouch_verifier::VERSION,
                "informationUri": "https://example.invalid/vouch",
                "rules": rules.iter().map(|r| json!({"id": r, "shortDescription": {"text": format!("eBPF safety property: {r}")}})).collect::<Vec<_>>(),
            }},
            "artifacts": [{"location": {"uri": file}}],
            "results": results,
        }]
    })
}
