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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vouch_verifier::analysis::{MapInfo, Options, Verdict, map_table, verify_program};
use vouch_verifier::elf::{LoadOptions, MapSource, Object, Program, load};
use vouch_verifier::interp::{Config, HelperError, Trap};
use vouch_verifier::isa::Insn;
use vouch_verifier::runtime::maps::types;
use vouch_verifier::runtime::{Rng, RunInput, Runtime, RuntimeConfig, vm};

/// Runs per program (override with `VOUCH_ORACLE_RUNS` for a longer hunt).
const RUNS: usize = 256;
/// Instructions per run before it counts as "budget exhausted".
const MAX_STEPS: u64 = 200_000;
/// Corpus programs that must run (measured: 45 of 47 accepted; 2 are subprograms). Lower only
/// with a reason.
const MIN_CORPUS_RUN: usize = 45;
/// Programs of ../shared/samples that must run when it is present (measured: 265 of 272
/// accepted; 5 subprograms, 2 use bpf_loop callbacks).
const MIN_SAMPLES_RUN: usize = 265;
/// Largest random packet.
const MAX_PACKET: usize = 1600;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// (object, section, function) of every listed program.
fn listed(dir: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) {
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split('\t').collect();
            if c.len() >= 3 {
                out.push((c[0].into(), c[1].into(), c[2].into()));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("manifest.toml")) {
        let mut cur: BTreeMap<String, String> = BTreeMap::new();
        let mut flush = |cur: &mut BTreeMap<String, String>| {
            if let (Some(o), Some(s), Some(f)) =
                (cur.get("object"), cur.get("section"), cur.get("function"))
            {
                out.push((o.clone(), s.clone(), f.clone()));
            }
            cur.clear();
        };
        for line in text.lines() {
            if line.trim() == "[[program]]" {
                flush(&mut cur);
            } else if let Some((k, v)) = line.split_once(" = ")
                && let Some(v) = v.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"'))
            {
                cur.insert(k.trim().to_string(), v.to_string());
            }
        }
        flush(&mut cur);
    }
    out
}

/// FNV-1a, for a per-program seed that does not depend on iteration order.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
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

/// A random key: a small integer (as arrays and counters use), the runtime's pid/tgid (as
/// tracing programs use), or random bytes.
fn random_key(rng: &mut Rng, size: usize) -> Vec<u8> {
    let pid_tgid = RuntimeConfig::default().pid_tgid;
    let number = match rng.below(3) {
        0 => rng.below(8),
        1 if size == 4 => pid_tgid & 0xffff_ffff,
        1 => pid_tgid,
        _ => return rng.bytes(size),
    };
    let mut k = vec![0; size];
    let n = size.min(8);
    k[..n].copy_from_slice(&number.to_le_bytes()[..n]);
    k
}

/// One of `items`, uniformly.
fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// A random packet that parsers get deep into: Ethernet (maybe VLAN-tagged), IPv4 or IPv6 (or
/// another EtherType), TCP/UDP/ICMP/GRE (or another protocol), random payload; then cut to a
/// length biased towards header boundaries, where bounds checks matter.
fn random_packet(rng: &mut Rng) -> Vec<u8> {
    let mut p = rng.bytes(12);
    let mut ethertype: u16 = pick(
        rng,
        &[0x0800, 0x0800, 0x0800, 0x86dd, 0x86dd, 0x8100, 0x0806],
    );
    if rng.below(8) == 0 {
        ethertype = rng.next_u64() as u16;
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    if ethertype == 0x8100 {
        p.extend_from_slice(&(rng.next_u64() as u16 & 0x0fff).to_be_bytes());
        ethertype = pick(rng, &[0x0800, 0x86dd]);
        p.extend_from_slice(&ethertype.to_be_bytes());
    }
    let mut proto: u8 = pick(rng, &[6, 6, 17, 17, 1, 47, 58]);
    if rng.below(8) == 0 {
        proto = rng.next_u64() as u8;
    }
    match ethertype {
        0x0800 => {
            let ihl = if rng.below(4) == 0 {
                5 + rng.below(11) as u8
            } else {
                5
            };
            let mut ip = rng.bytes(usize::from(ihl) * 4);
            ip[0] = 0x40 | ihl;
            let frag: u16 = if rng.below(4) == 0 {
                rng.next_u64() as u16
            } else {
                0x4000
            };
            ip[6..8].copy_from_slice(&frag.to_be_bytes());
            ip[9] = proto;
            p.extend_from_slice(&ip);
        }
        0x86dd => {
            let mut ip = rng.bytes(40);
            ip[0] = 0x60 | (ip[0] & 0x0f);
            ip[6] = proto;
            p.extend_from_slice(&ip);
        }
        _ => {}
    }
    match proto {
        6 => {
            let mut tcp = rng.bytes(20);
            let any = rng.next_u64() as u16;
            let port: u16 = pick(rng, &[80, 443, 22, 8080, any]);
            tcp[2..4].copy_from_slice(&port.to_be_bytes());
            let doff = if rng.below(4) == 0 {
                5 + rng.below(11) as u8
            } else {
                5
            };
            tcp[12] = doff << 4;
            p.extend_from_slice(&tcp);
            let opts = rng.bytes((usize::from(doff) - 5) * 4);
            p.extend_from_slice(&opts);
        }
        17 => {
            let mut udp = rng.bytes(8);
            let any = rng.next_u64() as u16;
            let port: u16 = pick(rng, &[53, 4789, 6081, 67, any]);
            udp[2..4].copy_from_slice(&port.to_be_bytes());
            p.extend_from_slice(&udp);
        }
        _ => {}
    }
    let headers = p.len();
    let payload = rng.below(MAX_PACKET as u64 - headers as u64) as usize;
    p.extend_from_slice(&rng.bytes(payload));
    let len = match rng.below(4) {
        // Cut near the end of the headers, where parsers check bounds.
        0 | 1 => (headers as u64 + 8).saturating_sub(rng.below(24)) as usize,
        2 => rng.below(129) as usize,
        _ => p.len(),
    };
    p.truncate(len);
    p
}

/// Fills the object's maps with random contents. `targets` are the program indices a
/// prog_array may point at.
fn populate(rt: &mut Runtime, object: &Object, table: &[MapInfo], rng: &mut Rng, targets: &[u32]) {
    for i in 0..table.len() {
        let info = table[i].clone();
        if info.frozen.is_some() {
            continue;
        }
        let global = object
            .maps
            .get(i)
            .is_some_and(|d| matches!(d.source, MapSource::GlobalData { .. }));
        let ks = info.key_size as usize;
        let vs = info.value_size as usize;
        match info.map_type {
            types::PROG_ARRAY => {
                for slot in 0..info.max_entries.min(64) {
                    if targets.is_empty() || rng.below(4) == 0 {
                        continue;
                    }
                    let t = targets[rng.below(targets.len() as u64) as usize];
                    let _ = rt.maps[i].update(&slot.to_le_bytes(), &t.to_le_bytes(), 0);
                }
            }
            types::ARRAY_OF_MAPS | types::HASH_OF_MAPS => {
                let Some(inner) = info.inner.and_then(|t| table.get(t)).cloned() else {
                    continue;
                };
                for _ in 0..4 {
                    let Ok(m) = rt.add_map(&inner) else { break };
                    fill(rt, m, &inner, rng);
                    let key = random_key(rng, ks);
                    let _ = rt.maps[i].update(&key, &(m as u32).to_le_bytes(), 0);
                }
            }
            _ if global && rng.below(2) == 0 => {
                // User space may write .data/.bss; keep the initial contents half the time.
                let _ = rt.set_array_bytes(i, 0, &rng.bytes(vs));
            }
            _ if global => {}
            _ => fill(rt, i, &info, rng),
        }
    }
}

fn fill(rt: &mut Runtime, m: usize, info: &MapInfo, rng: &mut Rng) {
    let (ks, vs) = (info.key_size as usize, info.value_size as usize);
    match info.map_type {
        types::QUEUE | types::STACK => {
            for _ in 0..rng.below(8) {
                let _ = rt.maps[m].push(&rng.bytes(vs), 0);
            }
        }
        types::RINGBUF | types::PERF_EVENT_ARRAY => {}
        _ if rt.maps[m].is_array() => {
            for idx in 0..info.max_entries.min(64) {
                let _ = rt.maps[m].update(&idx.to_le_bytes(), &rng.bytes(vs), 0);
            }
        }
        _ => {
            for _ in 0..rng.below(17) {
                let mut key = random_key(rng, ks);
                if info.map_type == types::LPM_TRIE && ks >= 4 {
                    let bits = rng.below((ks as u64 - 4) * 8 + 1) as u32;
                    key[..4].copy_from_slice(&bits.to_le_bytes());
                }
                let _ = rt.maps[m].update(&key, &rng.bytes(vs), 0);
            }
        }
    }
}

/// Whether `p` is a `.text` function linked into another program (it runs only as called).
fn is_subprogram(object: &Object, p: &Program) -> bool {
    p.section == ".text"
        && object.programs.iter().any(|q| {
            q.functions
                .iter()
                .skip(1)
                .any(|f| f.section == p.section && f.name == p.function)
        })
}

fn runs() -> usize {
    std::env::var("VOUCH_ORACLE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
}

fn check_object(dir: &Path, file: &str, wanted: &[(String, String)], sum: &mut Summary) {
    let Ok(bytes) = std::fs::read(dir.join(file)) else {
        return;
    };
    let Ok(object) = load(&bytes, &LoadOptions::default()) else {
        return;
    };
    let options = Options::default();
    let accepted: Vec<bool> = object
        .programs
        .iter()
        .map(|p| verify_program(&object, p, &options).verdict == Verdict::Accepted)
        .collect();
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
                    let pc = match &trap {
                        Trap::Memory { pc, .. }
                        | Trap::Helper { pc, .. }
                        | Trap::FellOffEnd { pc }
                        | Trap::BadJump { pc, .. }
                        | Trap::CallDepth { pc, .. }
                        | Trap::BudgetExhausted { pc, .. }
                        | Trap::Unsupported { pc, .. } => *pc,
                    };
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
    let mut by_file: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (o, s, f) in listed(dir) {
        by_file.entry(o).or_default().push((s, f));
    }
    for (file, wanted) in by_file {
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
