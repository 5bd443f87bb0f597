//! Soundness oracle: every program the verifier accepts must run without a memory fault.
//!
//! For each accepted program of the corpus (corpus/manifest.toml) and of ../shared/samples
//! (EXPECTED.tsv), the program runs in the bounds-checked interpreter with the user-space runtime
//! on many random inputs: random packets (0 to 1600 bytes), random context fields, maps filled
//! with random entries (small and random keys), varying helper results, prog_arrays pointing at
//! the object's other accepted programs of the same type. Any trap (out-of-bounds access, use of
//! a stale packet pointer, write to read-only memory, bad helper argument) is a soundness bug of
//! the verifier or a bug of the runtime. Running out of instructions is counted apart; programs
//! the runtime cannot run (an unmodelled helper, a kfunc) are skipped with the reason.
//!
//! The test fails on any trap, and when the number of programs actually run falls below
//! `MIN_PROGRAMS_RUN`, so it cannot silently become vacuous.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{
    MAX_PACKET, is_subprogram, listed_by_file, load_verified, populate, random_packet, seed_of,
};
use vouch_verifier::analysis::map_table;
use vouch_verifier::interp::{Config, HelperError, Trap};
use vouch_verifier::isa::Insn;
use vouch_verifier::runtime::{Rng, RunInput, Runtime, RuntimeConfig, vm};

/// Runs per program (override with `VOUCH_ORACLE_RUNS` for a longer hunt).
const RUNS: usize = 256;
/// Instructions per run before it counts as "budget exhausted".
const MAX_STEPS: u64 = 200_000;
/// Corpus programs that must run (measured: 47, every accepted entry program, `bpf_loop` and
/// `bpf_for_each_map_elem` callbacks included; subprograms run inside their callers). Lower
/// only with a reason.
const MIN_CORPUS_RUN: usize = 47;
/// Programs of ../shared/samples that must run when it is present (measured: 273, every
/// accepted one but the subprograms, the 2 with bpf_loop callbacks included).
const MIN_SAMPLES_RUN: usize = 273;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[derive(Default)]
struct Summary {
    accepted: usize,
    run: usize,
    skipped: BTreeMap<String, usize>,
    runs: usize,
    budget: usize,
    budget_programs: Vec<String>,
    traps: Vec<String>,
}

fn runs() -> usize {
    support::runs("VOUCH_ORACLE_RUNS", RUNS)
}

fn check_object(dir: &Path, file: &str, wanted: &[(String, String)], sum: &mut Summary) {
    let Some((object, accepted)) = load_verified(dir, file) else {
        return;
    };
    let insns: Vec<&[Insn]> = object
        .programs
        .iter()
        .map(|p| p.insns.as_deref().unwrap_or(&[]))
        .collect();
    let table = map_table(&object.maps);
    for (index, p) in object.programs.iter().enumerate() {
        if !wanted
            .iter()
            .any(|(s, f)| *s == p.section && *f == p.function)
            || !accepted[index]
        {
            continue;
        }
        sum.accepted += 1;
        let name = format!("{file}:{}/{}", p.section, p.function);
        let skip = |sum: &mut Summary, why: String| *sum.skipped.entry(why).or_default() += 1;
        if is_subprogram(&object, p) {
            skip(sum, "subprogram (runs inside its callers)".into());
            continue;
        }
        if !p.kfuncs.is_empty() {
            skip(sum, "calls a kfunc".into());
            continue;
        }
        // Tail-call targets: accepted entry programs of the same type.
        let targets: Vec<u32> = object
            .programs
            .iter()
            .enumerate()
            .filter(|(j, q)| {
                accepted[*j] && q.program_type == p.program_type && !is_subprogram(&object, q)
            })
            .map(|(j, _)| j as u32)
            .collect();
        let mut rng = Rng::new(seed_of(&name));
        let config = RuntimeConfig {
            seed: rng.next_u64(),
            fallback_by_prototype: true,
            ..RuntimeConfig::default()
        };
        let mut rt = match Runtime::for_object(&object, config) {
            Ok(rt) => rt,
            Err(e) => {
                skip(sum, format!("runtime: {e}"));
                continue;
            }
        };
        populate(&mut rt, &object, &table, &mut rng, &targets);
        let mut skipped = None;
        let mut exhausted = false;
        for run in 0..runs() {
            let mut input = RunInput::random(p.program_type, &mut rng, MAX_PACKET);
            if input.packet.is_some() {
                input = input.with_packet(random_packet(&mut rng));
            }
            input.kernel_object = rt.kernel_object() as u64;
            input.socket = if rng.below(3) == 0 {
                0
            } else {
                input.kernel_object
            };
            rt.config.cpu = rng.below(4) as u32;
            let config = Config {
                max_steps: MAX_STEPS,
                ..Config::default()
            };
            match vm::run(&mut rt, &insns, index, &input, config) {
                Ok(_) => {}
                Err(Trap::BudgetExhausted { .. }) => {
                    sum.budget += 1;
                    exhausted = true;
                }
                Err(Trap::Helper {
                    error: HelperError::Unsupported(what),
                    ..
                }) => {
                    skipped = Some(format!("helper {what}"));
                    break;
                }
                Err(Trap::Helper {
                    id,
                    error: HelperError::Unknown,
                    ..
                }) => {
                    skipped = Some(format!("unknown helper {id}"));
                    break;
                }
                Err(Trap::Unsupported { what, .. }) => {
                    skipped = Some(what);
                    break;
                }
                Err(trap) => {
                    let pc = trap.pc();
                    let line = p
                        .line_at(pc)
                        .map(|l| format!(" [{}:{}: {}]", l.file, l.line, l.text.trim()))
                        .unwrap_or_default();
                    sum.traps.push(format!(
                        "{name} run {run} (packet {:?} bytes, meta {}): {trap}{line}",
                        input.packet.as_ref().map(Vec::len),
                        input.meta_len
                    ));
                    break;
                }
            }
            sum.runs += 1;
        }
        match skipped {
            Some(why) => skip(sum, why),
            None => sum.run += 1,
        }
        if exhausted {
            sum.budget_programs.push(name);
        }
    }
}

fn check_dir(dir: &Path, sum: &mut Summary) {
    for (file, wanted) in listed_by_file(dir) {
        check_object(dir, &file, &wanted, sum);
    }
}

#[test]
fn accepted_programs_never_trap() {
    let mut sum = Summary::default();
    check_dir(&root().join("../corpus"), &mut sum);
    let corpus_run = sum.run;
    let samples = root().join("../../shared/samples");
    let have_samples = samples.join("EXPECTED.tsv").exists();
    if have_samples {
        check_dir(&samples, &mut sum);
    } else {
        println!(
            "note: {} is missing; only the corpus ran",
            samples.display()
        );
    }
    let samples_run = sum.run - corpus_run;
    let skipped: usize = sum.skipped.values().sum();
    println!(
        "soundness oracle: {} runs per program, {MAX_STEPS} steps per run",
        runs()
    );
    println!("  programs accepted      {:6}", sum.accepted);
    println!(
        "  programs run           {:6} (corpus {corpus_run}, samples {samples_run})",
        sum.run
    );
    println!("  programs skipped       {skipped:6}");
    for (why, n) in &sum.skipped {
        println!("    {n:6}  {why}");
    }
    println!("  runs                   {:6}", sum.runs);
    println!(
        "  budget exhausted       {:6} runs in {} programs",
        sum.budget,
        sum.budget_programs.len()
    );
    for p in &sum.budget_programs {
        println!("    {p}");
    }
    println!("  traps                  {:6}", sum.traps.len());
    for t in &sum.traps {
        println!("    {t}");
    }
    assert!(
        sum.traps.is_empty(),
        "{} accepted program(s) trapped:\n{}",
        sum.traps.len(),
        sum.traps.join("\n")
    );
    assert!(
        corpus_run >= MIN_CORPUS_RUN,
        "only {corpus_run} corpus programs ran (baseline {MIN_CORPUS_RUN})"
    );
    assert!(
        !have_samples || samples_run >= MIN_SAMPLES_RUN,
        "only {samples_run} sample programs ran (baseline {MIN_SAMPLES_RUN})"
    );
}
