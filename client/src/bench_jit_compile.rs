//! The JIT's compile speed, by program class, on realistic programs: every accepted program of
//! the samples folder (`EXPECTED.tsv`), grouped by what the JIT does with their loads (context
//! checked, kernel-memory probed, plain); the generated stress programs of `vouch bench --stress`;
//! any ELF objects given (every program, e.g. `vouch bench --stress N --emit-elf` output); and
//! two synthetic 100k-instruction programs and the three small `bench-jit` programs.
//!
//! What is timed: [`vouch_verifier::jit::compile`] only (instructions → [`Image`], which includes
//! the code and its header), not loading the ELF, decoding or verifying. Each class is compiled
//! over and over until `--min-time` has passed and the rate is instructions compiled / time.
//! Programs the JIT does not support (kfunc calls, BTF variables) are left out and counted. The
//! table also shows the code size: bytes of x86 per BPF instruction (`B/insn`).
//!
//! [`Image`]: vouch_verifier::jit::Image

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vouch_verifier::analysis::{MapInfo, map_table};
use vouch_verifier::elf::{LoadOptions, load};
use vouch_verifier::isa::Insn;
use vouch_verifier::isa::asm::assemble;
use vouch_verifier::jit::JitError;
use vouch_verifier::platform::ProgramType;

/// One program ready to compile.
pub struct Job {
    insns: Vec<Insn>,
    maps: Vec<MapInfo>,
    program_type: ProgramType,
}

impl Job {
    pub fn new(insns: Vec<Insn>, maps: Vec<MapInfo>, program_type: ProgramType) -> Job {
        Job {
            insns,
            maps,
            program_type,
        }
    }

    fn compile(&self) -> Result<vouch_verifier::jit::Image, JitError> {
        vouch_verifier::jit::compile(&self.insns, &self.maps, Some(self.program_type))
    }
}

/// A named set of programs, compiled together.
pub struct Class {
    pub name: String,
    pub jobs: Vec<Job>,
}

/// The measured speed of one class.
struct Speed {
    insns: usize,
    largest: usize,
    code_bytes: usize,
    /// Instructions per second: median and best of the rounds.
    median: f64,
    best: f64,
}

/// Compiles the class round after round until `min_time` has passed. The median round is the
/// figure to quote; the best round shows what the code does when the machine is not shared
/// (other processes only ever make a round slower).
#[inline(never)]
fn measure(class: &Class, min_time: f64) -> Result<Speed> {
    let insns: usize = class.jobs.iter().map(|j| j.insns.len()).sum();
    let largest = class.jobs.iter().map(|j| j.insns.len()).max().unwrap_or(0);
    let mut code_bytes = 0;
    let mut rounds: Vec<f64> = Vec::new();
    let start = Instant::now();
    loop {
        let round = Instant::now();
        for job in &class.jobs {
            let image = job
                .compile()
                .with_context(|| format!("compiling {}", class.name))?;
            if rounds.is_empty() {
                code_bytes += image.code.len();
            }
        }
        rounds.push(insns as f64 / round.elapsed().as_secs_f64());
        if start.elapsed().as_secs_f64() >= min_time {
            break;
        }
    }
    rounds.sort_by(f64::total_cmp);
    Ok(Speed {
        insns,
        largest,
        code_bytes,
        median: rounds[rounds.len() / 2],
        best: rounds[rounds.len() - 1],
    })
}

/// Classes of the listed accepted programs of `dir` (a samples folder with `EXPECTED.tsv`),
/// split by how the JIT compiles their loads; plus how many were left out and why.
pub fn samples(dir: &Path) -> Result<(Vec<Class>, Vec<String>)> {
    let tsv = dir.join("EXPECTED.tsv");
    let text =
        std::fs::read_to_string(&tsv).with_context(|| format!("cannot read {}", tsv.display()))?;
    let mut ctx = Vec::new();
    let mut probe = Vec::new();
    let mut plain = Vec::new();
    let mut left_out = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let [file, section, function, expected, ..] = c[..] else {
            continue;
        };
        if expected != "accept" {
            continue;
        }
        let Ok(bytes) = std::fs::read(dir.join(file)) else {
            left_out.push(format!("{file}: unreadable"));
            continue;
        };
        let Ok(object) = load(&bytes, &LoadOptions::default()) else {
            left_out.push(format!("{file}: does not load"));
            continue;
        };
        let table = map_table(&object.maps);
        let Some(p) = object
            .programs
            .iter()
            .find(|p| p.section == section && p.function == function)
        else {
            left_out.push(format!("{file}:{section}/{function}: not found"));
            continue;
        };
        let Ok(insns) = p.insns.clone() else {
            left_out.push(format!("{file}:{section}/{function}: does not decode"));
            continue;
        };
        let job = Job::new(insns, table, p.program_type);
        match job.compile() {
            Ok(_) if p.program_type.has_btf_args() => probe.push(job),
            Ok(image) if image.ctx_size > 0 => ctx.push(job),
            Ok(_) => plain.push(job),
            Err(e) => left_out.push(format!("{file}:{section}/{function}: {e}")),
        }
    }
    let classes = [
        ("samples: context-checked loads", ctx),
        ("samples: BTF args (probed loads)", probe),
        ("samples: plain loads", plain),
    ]
    .into_iter()
    .filter(|(_, jobs)| !jobs.is_empty())
    .map(|(name, jobs)| Class {
        name: name.into(),
        jobs,
    })
    .collect();
    Ok((classes, left_out))
}

/// Every program of each ELF object in `files`, one class per file.
pub fn objects(files: &[PathBuf]) -> Result<Vec<Class>> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            let object = load(&bytes, &LoadOptions::default())
                .with_context(|| format!("cannot load {}", f.display()))?;
            let table = map_table(&object.maps);
            let jobs = object
                .programs
                .iter()
                .filter_map(|p| {
                    let insns = p.insns.clone().ok()?;
                    Some(Job::new(insns, table.clone(), p.program_type))
                })
                .collect();
            Ok(Class {
                name: format!(
                    "object {}",
                    f.file_name().map_or(f.as_os_str(), |n| n).to_string_lossy()
                ),
                jobs,
            })
        })
        .collect()
}

/// The stress program of `segments` segments (`vouch bench --stress`), as one class.
pub fn stress(segments: usize) -> Result<Class> {
    let insns = assemble(&crate::stress::program(segments)).context("assembling")?;
    Ok(Class {
        name: format!("stress {segments} segments"),
        jobs: vec![Job::new(
            insns,
            vec![crate::stress::counters()],
            ProgramType::Xdp,
        )],
    })
}

/// Measures and prints every class whose name contains `only` (all if empty).
pub fn report(classes: &[Class], min_time: f64, only: &str) -> Result<()> {
    println!(
        "{:<38} {:>5} {:>8} {:>7} {:>6} {:>22}",
        "JIT compile: class", "progs", "insns", "largest", "B/insn", "M insns/s median (best)"
    );
    for class in classes {
        if class.jobs.is_empty() || !class.name.contains(only) {
            continue;
        }
        let s = measure(class, min_time)?;
        println!(
            "{:<38} {:>5} {:>8} {:>7} {:>6.1} {:>14.2} ({:>6.2})",
            class.name,
            class.jobs.len(),
            s.insns,
            s.largest,
            s.code_bytes as f64 / s.insns as f64,
            s.median / 1e6,
            s.best / 1e6
        );
    }
    Ok(())
}
