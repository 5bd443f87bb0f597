//! `vouch bench-jit`: the JIT against the interpreter, on the same programs and inputs through
//! the same runtime, and the JIT's compile speed.
//!
//! Programs (assembly below, XDP context):
//! - `checksum`: sums the packet's 16-bit words, 20 times over, in a loop (pure compute: loads,
//!   adds, compares, jumps);
//! - `hashmap`: 64 lookups/updates of a 16-key hash map per packet (helper-bound);
//! - `parser`: Ethernet/IPv4/TCP-UDP header parsing over 2000 different packets (short runs, so
//!   per-run setup dominates).
//!
//! Each runs `--runs` times per engine, the engines taking turns a tenth of the runs at a time;
//! the table prints each engine's median time per run over those tenths, and the ratio.
//! Compile speed, by program class, on real and generated programs: see [`crate::bench_jit_compile`].
//! Build with `--release` for meaningful numbers.

use crate::bench_jit_compile::{self as compile, Class, Job};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Instant;
use vouch_verifier::analysis::MapInfo;
use vouch_verifier::interp::Config;
use vouch_verifier::isa::asm::assemble;
use vouch_verifier::isa::{AluOp, Insn, Operand, Reg, Width};
use vouch_verifier::jit::load::Loaded;
use vouch_verifier::platform::ProgramType;
use vouch_verifier::runtime::{Rng, RunInput, Runtime, RuntimeConfig, native, vm};

const CHECKSUM: &str = "
    mov %r9, 20
    mov %r0, 0
outer:
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
loop:
    mov %r4, %r2
    add %r4, 2
    jgt %r4, %r3, next
    ldxh %r5, [%r2+0]
    add %r0, %r5
    mov %r2, %r4
    ja loop
next:
    sub %r9, 1
    jne %r9, 0, outer
    mov %r1, %r0
    rsh %r1, 16
    and %r0, 0xffff
    add %r0, %r1
    exit";

const HASHMAP: &str = "
    mov %r6, 0
loop:
    mov %r1, %r6
    and %r1, 15
    stxw [%r10-4], %r1
    lddw %r1, map_idx(0)
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, insert
    ldxdw %r1, [%r0+0]
    add %r1, 1
    stxdw [%r0+0], %r1
    ja next
insert:
    stdw [%r10-16], 1
    lddw %r1, map_idx(0)
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, 0
    call 2
next:
    add %r6, 1
    jlt %r6, 64, loop
    mov %r0, 2
    exit";

const PARSER: &str = "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 54
    jgt %r4, %r3, pass
    ldxh %r5, [%r2+12]
    jne %r5, 0x0008, pass
    ldxb %r5, [%r2+23]
    ldxb %r6, [%r2+14]
    and %r6, 15
    lsh %r6, 2
    jlt %r6, 20, drop
    jeq %r5, 6, tcp
    jeq %r5, 17, udp
    ja pass
tcp:
    ldxh %r7, [%r2+36]
    be16 %r7
    jeq %r7, 22, drop
    jeq %r7, 80, tx
    ja pass
udp:
    ldxh %r7, [%r2+36]
    be16 %r7
    jeq %r7, 53, tx
    ja pass
drop:
    mov %r0, 1
    exit
tx:
    mov %r0, 3
    exit
pass:
    mov %r0, 2
    exit";

#[derive(clap::Args)]
pub struct BenchJitArgs {
    /// Runs per program and engine.
    #[arg(long, default_value_t = 2000)]
    runs: usize,
    /// Samples folder whose accepted programs (`EXPECTED.tsv`) are compiled for the compile
    /// speed; skipped if it does not exist.
    #[arg(long, default_value = "../shared/samples")]
    samples: PathBuf,
    /// Stress programs (`vouch bench --stress N`) to compile, by segment count.
    #[arg(long, num_args = 1.., default_values_t = [100, 2000])]
    stress: Vec<usize>,
    /// More ELF objects to compile every program of (e.g. `vouch bench --stress N --emit-elf`).
    #[arg(long, num_args = 1..)]
    object: Vec<PathBuf>,
    /// Seconds each compile-speed class is compiled over and over for.
    #[arg(long, default_value_t = 0.5)]
    min_time: f64,
    /// Only the compile speed, not the run-time table.
    #[arg(long)]
    compile_only: bool,
    /// Only the programs and compile-speed classes whose name contains this.
    #[arg(long, default_value = "")]
    only: String,
}

fn map() -> MapInfo {
    MapInfo {
        name: "counts".into(),
        map_type: vouch_verifier::runtime::maps::types::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 64,
        read_only: false,
        frozen: None,
        inner: None,
    }
}

fn packet(rng: &mut Rng) -> Vec<u8> {
    let mut p = rng.bytes(1500);
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = if rng.below(2) == 0 { 6 } else { 17 };
    let port: u16 = [22, 53, 80, 443][rng.below(4) as usize];
    p[36..38].copy_from_slice(&port.to_be_bytes());
    p.truncate(40 + rng.below(1460) as usize);
    p
}

struct Row {
    name: &'static str,
    interp_ns: f64,
    jit_ns: f64,
    steps: u64,
}

/// Distinct packets of the parser benchmark (runs cycle through them).
const PACKETS: usize = 2000;

fn bench_one(name: &'static str, asm: &str, runs: usize, many_packets: bool) -> Result<Row> {
    let prog = assemble(asm).with_context(|| format!("assembling {name}"))?;
    let table = [map()];
    let image = vouch_verifier::jit::compile(&prog, &table, Some(ProgramType::Xdp))?;
    let loaded = Loaded::new(&image)?;
    let mut rng = Rng::new(1);
    let inputs: Vec<RunInput> = (0..if many_packets { runs.min(PACKETS) } else { 1 })
        .map(|_| {
            let mut input = RunInput::random(ProgramType::Xdp, &mut rng, 0);
            input.meta_len = 0;
            let p = if many_packets {
                packet(&mut rng)
            } else {
                let mut p = packet(&mut rng);
                p.resize(1500, 0x5a);
                p
            };
            input.with_packet(p)
        })
        .collect();
    let mut rt_i = Runtime::new(&table, RuntimeConfig::default())?;
    let mut rt_j = Runtime::new(&table, RuntimeConfig::default())?;
    let config = Config {
        max_steps: u64::MAX,
        ..Config::default()
    };
    // The engines take turns, a tenth of the runs at a time, and each reports its median
    // slice: on a shared machine, load that comes and goes then hits both alike.
    let mut steps = 0;
    let (mut interp, mut jit) = (Vec::new(), Vec::new());
    for slice in 0..SLICES {
        let ks = slice * runs / SLICES..(slice + 1) * runs / SLICES;
        if ks.is_empty() {
            continue;
        }
        let n = ks.len() as f64;
        let start = Instant::now();
        let mut r0_i = Vec::with_capacity(ks.len());
        for k in ks.clone() {
            let out = vm::run(&mut rt_i, &[&prog], 0, &inputs[k % inputs.len()], config)
                .with_context(|| format!("{name} in the interpreter"))?;
            steps += out.steps;
            r0_i.push(out.r0);
        }
        interp.push(start.elapsed().as_nanos() as f64 / n);
        let start = Instant::now();
        for (k, want) in ks.zip(&r0_i) {
            // SAFETY: the benchmark programs read the packet only after checking it against
            // data_end, use 16 bytes of stack, and pass valid map keys and values to the helpers.
            let out =
                unsafe { native::run(&mut rt_j, &[Some(&loaded)], 0, &inputs[k % inputs.len()]) }
                    .with_context(|| format!("{name} through the JIT"))?;
            if out.r0 != *want {
                bail!(
                    "{name}: run {k}: JIT r0 {:#x}, interpreter {want:#x}",
                    out.r0
                );
            }
        }
        jit.push(start.elapsed().as_nanos() as f64 / n);
    }
    Ok(Row {
        name,
        interp_ns: median(&mut interp),
        jit_ns: median(&mut jit),
        steps: steps / runs as u64,
    })
}

/// Slices of the runs each engine is timed over (see `bench_one`).
const SLICES: usize = 10;

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

pub fn run(args: &BenchJitArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        println!("note: a debug build; use `cargo run --release -p vouch-client -- bench-jit`");
    }
    if !args.compile_only {
        run_table(args.runs.max(1), &args.only)?;
    }
    compile_speed(args)
}

fn run_table(runs: usize, only: &str) -> Result<()> {
    let rows = [
        ("checksum", CHECKSUM, false),
        ("hashmap", HASHMAP, false),
        ("parser", PARSER, true),
    ]
    .into_iter()
    .filter(|(name, ..)| name.contains(only))
    .map(|(name, asm, many)| bench_one(name, asm, runs, many))
    .collect::<Result<Vec<_>>>()?;
    println!(
        "{:<10} {:>10} {:>14} {:>12} {:>9}",
        "program", "insns/run", "interp ns/run", "JIT ns/run", "speedup"
    );
    for r in &rows {
        println!(
            "{:<10} {:>10} {:>14.0} {:>12.0} {:>8.1}x",
            r.name,
            r.steps,
            r.interp_ns,
            r.jit_ns,
            r.interp_ns / r.jit_ns
        );
    }
    Ok(())
}

fn compile_speed(args: &BenchJitArgs) -> Result<()> {
    let mut classes: Vec<Class> = Vec::new();
    if args.samples.join("EXPECTED.tsv").exists() {
        let (samples, left_out) = compile::samples(&args.samples)?;
        classes.extend(samples);
        if !left_out.is_empty() {
            println!(
                "samples left out of the compile speed: {} ({})",
                left_out.len(),
                left_out.join("; ")
            );
        }
    } else {
        println!(
            "note: no {}; the samples classes are skipped",
            args.samples.join("EXPECTED.tsv").display()
        );
    }
    for &n in &args.stress {
        classes.push(compile::stress(n)?);
    }
    classes.extend(compile::objects(&args.object)?);
    // A large straight-line program: 100k ALU instructions, then exit.
    let ops = [
        AluOp::Add,
        AluOp::Xor,
        AluOp::Mul,
        AluOp::Lsh,
        AluOp::Div,
        AluOp::Mov,
    ];
    let mut big: Vec<Insn> = (0..100_000)
        .map(|i| Insn::Alu {
            width: if i % 3 == 0 { Width::W32 } else { Width::W64 },
            op: ops[i % ops.len()],
            dst: Reg::new((i % 10) as u8).unwrap_or(Reg::R0),
            src: Operand::Imm(i as i32 + 1),
        })
        .collect();
    big.push(Insn::Exit);
    let small: Vec<Vec<Insn>> = [CHECKSUM, HASHMAP, PARSER]
        .iter()
        .map(|a| assemble(a).context("assembling"))
        .collect::<Result<_>>()?;
    // A typical mix: the three programs' code repeated (jumps are relative, so each copy keeps
    // its own targets) to 100k instructions.
    let mut typical: Vec<Insn> = Vec::new();
    while typical.len() < 100_000 {
        typical.extend(small.iter().flatten().copied());
    }
    let xdp = |insns: Vec<Insn>| Job::new(insns, vec![map()], ProgramType::Xdp);
    classes.push(Class {
        name: "synthetic: 100k ALU, 1/6 divisions".into(),
        jobs: vec![xdp(big)],
    });
    classes.push(Class {
        name: "synthetic: the 3 below repeated, 100k".into(),
        jobs: vec![xdp(typical)],
    });
    classes.push(Class {
        name: "tiny: checksum, hashmap, parser".into(),
        jobs: small.into_iter().map(xdp).collect(),
    });
    compile::report(&classes, args.min_time, &args.only)
}
