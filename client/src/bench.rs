//! `vouch bench DIR`: verify every program of every object under a folder in one process and
//! print a table: counts, total time, per-program percentiles, peak memory, the slowest
//! programs; with expected verdicts (`EXPECTED.tsv` or a corpus `manifest.toml` found in the
//! folder), also soundness (unsafe programs accepted) and precision (safe programs accepted).

use crate::check::{CheckArgs, check_all, selected};
use crate::object::{LoadFailure, load_with};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vouch_verifier::analysis::Verdict;

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Folder of ELF objects (searched recursively).
    #[arg(required_unless_present = "stress")]
    pub dir: Option<PathBuf>,
    /// Instead, verify a generated program of this many segments (about 21 instructions each:
    /// packet check, variable-offset read, bounded loop, map lookup).
    #[arg(long, value_name = "SEGMENTS")]
    pub stress: Option<usize>,
    /// With --stress: write the generated program to this ELF object instead of verifying it
    /// (to time other verifiers on the same program).
    #[arg(long, value_name = "FILE", requires = "stress")]
    pub emit_elf: Option<PathBuf>,
    /// Verification options, as for `check`.
    #[command(flatten)]
    pub check: CheckArgs,
    /// List every program whose verdict differs from the expected one.
    #[arg(long)]
    pub verbose: bool,
}

fn objects(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if crate::object::is_elf(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Expected verdicts by (object path relative to DIR, section, function).
fn expected(dir: &Path) -> HashMap<(String, String, String), String> {
    let mut out = HashMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) {
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if let [f, s, func, v, ..] = cols[..] {
                out.insert(
                    (f.to_string(), s.to_string(), func.to_string()),
                    v.to_string(),
                );
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("manifest.toml"))
        && let Ok(value) = text.parse::<toml::Table>()
        && let Some(programs) = value.get("program").and_then(|p| p.as_array())
    {
        for p in programs {
            let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            out.insert(
                (field("object"), field("section"), field("function")),
                field("expected"),
            );
        }
    }
    out
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(args: &BenchArgs) -> Result<bool> {
    crate::smt::available(args.check.z3)?;
    let options = args.check.options();
    let load_options = args.check.load.options()?;
    if let Some(segments) = args.stress {
        if let Some(path) = &args.emit_elf {
            crate::stress::emit(segments, path)?;
            return Ok(true);
        }
        return crate::stress::run(segments, &options);
    }
    let dir = args.dir.clone().unwrap_or_default();
    let files = objects(&dir)?;
    let expected = expected(&dir);
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let started = Instant::now();
    let (mut z3_discharged, mut z3_programs_discharged) = (0usize, 0usize);
    let mut z3_status: std::collections::BTreeMap<String, usize> = Default::default();
    let mut times: Vec<(f64, String)> = vec![];
    let (mut accepted, mut rejected, mut load_errors) = (0usize, 0usize, 0usize);
    let (mut unsound, mut false_alarms, mut safe_total, mut unsafe_total) =
        (vec![], vec![], 0usize, 0usize);
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        if let Some(b) = &bar {
            b.set_message(rel.clone());
            b.inc(1);
        }
        let object = match load_with(file, &load_options)? {
            Ok(o) => o,
            Err(LoadFailure(_)) => {
                load_errors += 1;
                continue;
            }
        };
        let programs = selected(&object, None, None);
        for o in check_all(&object, &programs, &options, args.check.z3) {
            if let Some(s) = &o.smt {
                z3_discharged += s.discharged.len();
                z3_programs_discharged += usize::from(!s.discharged.is_empty());
                for (status, ..) in &s.judged {
                    *z3_status.entry(status.clone()).or_insert(0usize) += 1;
                }
            }
            let name = format!("{rel}:{}/{}", o.program.section, o.program.function);
            times.push((o.seconds, name.clone()));
            let ok = o.report.verdict == Verdict::Accepted;
            if ok {
                accepted += 1
            } else {
                rejected += 1
            }
            let key = (
                rel.clone(),
                o.program.section.clone(),
                o.program.function.clone(),
            );
            match expected.get(&key).map(String::as_str) {
                Some("accept") => {
                    safe_total += 1;
                    if !ok {
                        let why = o
                            .report
                            .diagnostics
                            .first()
                            .map(|d| d.to_string())
                            .unwrap_or_default();
                        false_alarms.push(format!("{name}: {why}"));
                    }
                }
                Some("reject") => {
                    unsafe_total += 1;
                    if ok {
                        unsound.push(name);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let total = started.elapsed().as_secs_f64();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |t| t.0 * 1000.0)
    };
    println!(
        "| objects | programs | accepted | rejected | load errors | total s | p50 ms | p99 ms | max ms | peak RSS MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {accepted} | {rejected} | {load_errors} | {total:.3} | {:.2} | {:.2} | {:.2} | {} |",
        files.len(),
        times.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        peak_rss_mb().map_or("?".into(), |m| format!("{m:.1}"))
    );
    println!("\nslowest:");
    for (t, name) in times.iter().rev().take(10) {
        println!("  {:>9.2} ms  {name}", t * 1000.0);
    }
    if args.check.z3 {
        println!(
            "\nz3: {z3_discharged} false alarm(s) discharged in {z3_programs_discharged} program(s); alarms left: {}",
            z3_status
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if safe_total + unsafe_total > 0 {
        println!(
            "\nexpected verdicts: unsafe accepted {} of {unsafe_total} (must be 0); safe accepted {} of {safe_total} ({:.1}%)",
            unsound.len(),
            safe_total - false_alarms.len(),
            100.0 * (safe_total - false_alarms.len()) as f64 / safe_total.max(1) as f64
        );
        for u in &unsound {
            println!("  UNSOUND: {u}");
        }
        if args.verbose {
            for f in &false_alarms {
                println!("  false alarm: {f}");
            }
        }
    }
    Ok(unsound.is_empty())
}
