//! Differential tests: the JIT against the reference interpreter.
//!
//! 1. proptest-generated programs: straight-line code with forward conditional jumps (so every
//!    program terminates), every ALU operation in both widths with register and immediate
//!    operands (the immediates biased towards 0, -1, INT_MIN and shift widths), byte swaps, loads,
//!    stores and atomics on the input memory and the stack, helper calls and `lddw`. r1 (the
//!    memory's address) and r10 are only used as bases, never as values, because the two engines
//!    place memory at different addresses. r0 and the memory after the run must be identical.
//! 2. every corpus (and ../shared/samples) program the verifier accepts and the runtime can run:
//!    a few random inputs and map contents each (as in `soundness_oracle.rs`), run in the
//!    interpreter and through the JIT on two runtimes set up identically; r0, the context, the
//!    packet, every map's contents and the records programs wrote must be identical.

use proptest::prelude::*;
use vouch_verifier::conformance::{ConformanceHelpers, run_jit};
use vouch_verifier::interp::{Config, RegionKind, Vm};
use vouch_verifier::isa::{
    AluOp, AtomicOp, CallTarget, Cond, Endian, Imm64Kind, Insn, Operand, Reg, Size, Width,
};

const MEM: usize = 64;

fn reg(n: u8) -> Reg {
    Reg::new(n).expect("r0-r10")
}

/// A register that holds a number in both engines: r0, r2-r9.
fn value_reg() -> impl Strategy<Value = Reg> {
    prop_oneof![Just(0u8), 2u8..10].prop_map(reg)
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(i32::MIN),
        Just(i32::MAX),
        Just(31),
        Just(32),
        Just(63),
        Just(64),
        any::<i32>(),
        -16i32..16,
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        value_reg().prop_map(Operand::Reg),
        imm().prop_map(Operand::Imm)
    ]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop_oneof![
        Just(AluOp::Add),
        Just(AluOp::Sub),
        Just(AluOp::Mul),
        Just(AluOp::Div),
        Just(AluOp::SDiv),
        Just(AluOp::Or),
        Just(AluOp::And),
        Just(AluOp::Lsh),
        Just(AluOp::Rsh),
        Just(AluOp::Mod),
        Just(AluOp::SMod),
        Just(AluOp::Xor),
        Just(AluOp::Mov),
        Just(AluOp::Arsh),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::Eq),
        Just(Cond::Gt),
        Just(Cond::Ge),
        Just(Cond::Set),
        Just(Cond::Ne),
        Just(Cond::Sgt),
        Just(Cond::Sge),
        Just(Cond::Lt),
        Just(Cond::Le),
        Just(Cond::Slt),
        Just(Cond::Sle),
    ]
}

/// One generated step; jump offsets are fixed up once the program's length is known.
#[derive(Clone, Debug)]
enum Step {
    One(Insn),
    /// A conditional jump forward by `skip` % (instructions left) + 0.
    Jump(Width, Cond, Reg, Operand, u16),
    Lddw(Reg, u64),
}

fn step() -> impl Strategy<Value = Step> {
    let alu = (width(), alu_op(), value_reg(), operand()).prop_map(|(width, op, dst, src)| {
        Step::One(Insn::Alu {
            width,
            op,
            dst,
            src,
        })
    });
    let movsx = (
        width(),
        prop_oneof![Just(8u8), Just(16), Just(32)],
        value_reg(),
        value_reg(),
    )
        .prop_map(|(width, bits, dst, s)| {
            let bits = if width == Width::W32 && bits == 32 {
                16
            } else {
                bits
            };
            Step::One(Insn::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst,
                src: Operand::Reg(s),
            })
        });
    let neg = (width(), value_reg()).prop_map(|(width, dst)| Step::One(Insn::Neg { width, dst }));
    let endian = (
        prop_oneof![Just(Endian::ToLe), Just(Endian::ToBe), Just(Endian::Swap)],
        prop_oneof![Just(16u8), Just(32), Just(64)],
        value_reg(),
    )
        .prop_map(|(kind, bits, dst)| Step::One(Insn::Endian { kind, bits, dst }));
    // Memory: [r1 + off] inside the input, or [r10 - off] inside the stack.
    let base_off = |n: usize| {
        prop_oneof![
            (0..=(MEM - n) as i16).prop_map(|o| (1u8, o)),
            (1..=64i16).prop_map(move |k| (10u8, -(k * 8))),
        ]
    };
    let load = (size(), any::<bool>(), value_reg(), base_off(8)).prop_map(
        |(size, signed, dst, (b, off))| {
            Step::One(Insn::Load {
                size,
                signed: signed && size != Size::DW,
                dst,
                src: reg(b),
                off,
            })
        },
    );
    let store = (size(), base_off(8), operand()).prop_map(|(size, (b, off), value)| {
        Step::One(Insn::Store {
            size,
            dst: reg(b),
            off,
            value,
        })
    });
    let atomic = (
        prop_oneof![Just(Size::W), Just(Size::DW)],
        prop_oneof![
            Just((AtomicOp::Add, false)),
            Just((AtomicOp::Add, true)),
            Just((AtomicOp::Or, false)),
            Just((AtomicOp::Or, true)),
            Just((AtomicOp::And, false)),
            Just((AtomicOp::And, true)),
            Just((AtomicOp::Xor, false)),
            Just((AtomicOp::Xor, true)),
            Just((AtomicOp::Xchg, true)),
            Just((AtomicOp::CmpXchg, true)),
        ],
        0..(MEM / 8) as i16,
        value_reg(),
    )
        .prop_map(|(size, (op, fetch), slot, src)| {
            Step::One(Insn::Atomic {
                size,
                op,
                fetch,
                dst: reg(1),
                src,
                off: slot * 8,
            })
        });
    let jump = (width(), cond(), value_reg(), operand(), any::<u16>())
        .prop_map(|(w, c, d, s, k)| Step::Jump(w, c, d, s, k));
    let lddw = (value_reg(), any::<u64>()).prop_map(|(d, v)| Step::Lddw(d, v));
    let call = Just(Step::One(Insn::Call(CallTarget::Helper(2))));
    prop_oneof![
        6 => alu,
        1 => movsx,
        1 => neg,
        1 => endian,
        2 => load,
        2 => store,
        1 => atomic,
        2 => jump,
        1 => lddw,
        1 => call,
    ]
}

/// Lays the steps out: `lddw` takes two slots, jumps go forward to an instruction start, and
/// the program ends with `exit`.
fn assemble(steps: &[Step]) -> Vec<Insn> {
    // Slot of each step, and of the final exit.
    let mut slots = Vec::with_capacity(steps.len() + 1);
    let mut n = 0;
    for s in steps {
        slots.push(n);
        n += if matches!(s, Step::Lddw(..)) { 2 } else { 1 };
    }
    slots.push(n);
    let mut out = Vec::with_capacity(n + 1);
    for (i, s) in steps.iter().enumerate() {
        match *s {
            Step::One(insn) => out.push(insn),
            Step::Lddw(dst, v) => {
                out.push(Insn::LoadImm64 {
                    dst,
                    kind: Imm64Kind::Value,
                    imm: v as u32 as i32,
                    next_imm: (v >> 32) as u32 as i32,
                });
                out.push(Insn::WideTail);
            }
            Step::Jump(width, cond, dst, src, k) => {
                let left = steps.len() - i; // targets: steps i+1 ..= the exit
                let target = i + 1 + usize::from(k) % left;
                let off = (slots[target] - slots[i] - 1) as i16;
                out.push(Insn::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    off,
                });
            }
        }
    }
    out.push(Insn::Exit);
    out
}

fn interpret(prog: &[Insn], mem: &[u8]) -> (u64, Vec<u8>) {
    let mut vm = Vm::new(ConformanceHelpers, Config::default());
    let id = vm
        .mem
        .add(RegionKind::Input, mem.to_vec(), true)
        .expect("region");
    let base = vm.mem.base(id);
    let exit = vm
        .run(prog, [base, mem.len() as u64, 0, 0, 0])
        .unwrap_or_else(|t| panic!("interpreter trapped: {t}\n{prog:#?}"));
    (exit.r0, vm.mem.bytes(id).to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_agree(steps in prop::collection::vec(step(), 1..60), mem in prop::collection::vec(any::<u8>(), MEM)) {
        let prog = assemble(&steps);
        let (r0, after) = interpret(&prog, &mem);
        // SAFETY: the generated programs touch only their input memory (offsets inside it off r1,
        // which they never overwrite) and their stack, call a pure helper, and end.
        let (exit, jit_mem) = unsafe { run_jit(&prog, Some(mem.clone())) }
            .unwrap_or_else(|t| panic!("JIT trapped: {t}"));
        prop_assert_eq!(exit.r0, r0, "r0 differs");
        prop_assert_eq!(jit_mem, Some(after), "memory differs");
    }
}

// ---------------------------------------------------------------------------------------------
// Accepted corpus and sample programs.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{
    MAX_PACKET, is_subprogram, listed_by_file, load_verified, populate, random_packet, seed_of,
};
use vouch_verifier::analysis::map_table;
use vouch_verifier::interp::Trap;
use vouch_verifier::jit::load::Loaded;
use vouch_verifier::runtime::{Rng, RunInput, Runtime, RuntimeConfig, native, vm};

/// Inputs per program (override with `VOUCH_JIT_DIFF_RUNS`).
const RUNS: usize = 8;
const MAX_STEPS: u64 = 200_000;
/// Corpus programs that must be compared (measured; lower only with a reason). 47: every
/// accepted entry program, `bpf_loop` and `bpf_for_each_map_elem` callbacks included.
const MIN_CORPUS_COMPARED: usize = 47;

#[derive(Default)]
struct Summary {
    compared: usize,
    runs: usize,
    skipped: BTreeMap<String, usize>,
    differences: Vec<String>,
}

/// Everything a run leaves behind that the two engines must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Effects {
    r0: u64,
    ctx: Vec<u8>,
    packet: Option<Vec<u8>>,
    tail_calls: u32,
    maps: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    trace: Vec<String>,
    ringbuf: Vec<(usize, Vec<u8>)>,
    perf: Vec<(usize, Vec<u8>)>,
}

fn effects(out: vm::Outcome, rt: &mut Runtime) -> Effects {
    let maps = rt
        .maps
        .iter_mut()
        .map(|m| {
            let mut keys = m.keys();
            keys.sort();
            keys.into_iter()
                .map(|k| {
                    let v = m.lookup(&k).map(|v| v.to_vec()).unwrap_or_default();
                    (k, v)
                })
                .collect()
        })
        .collect();
    let recs = |r: &[vouch_verifier::runtime::Record]| {
        r.iter()
            .map(|r| (r.map, r.data.clone()))
            .collect::<Vec<_>>()
    };
    Effects {
        r0: out.r0,
        ctx: out.ctx,
        packet: out.packet,
        tail_calls: out.tail_calls,
        maps,
        trace: rt.sinks.trace.clone(),
        ringbuf: recs(&rt.sinks.ringbuf),
        perf: recs(&rt.sinks.perf),
    }
}

/// What differs between two runs' effects, briefly.
fn describe(i: &Effects, j: &Effects) -> String {
    let bytes = |what: &str, a: &[u8], b: &[u8]| {
        let at: Vec<usize> = (0..a.len().max(b.len()))
            .filter(|&k| a.get(k) != b.get(k))
            .take(8)
            .collect();
        format!(
            "{what}: lengths {}/{}, differing bytes at {at:?}",
            a.len(),
            b.len()
        )
    };
    let mut out = Vec::new();
    if i.r0 != j.r0 {
        out.push(format!("r0 {:#x} (interpreter) vs {:#x} (JIT)", i.r0, j.r0));
    }
    if i.ctx != j.ctx {
        out.push(bytes("ctx", &i.ctx, &j.ctx));
    }
    if i.packet != j.packet {
        let (a, b) = (
            i.packet.clone().unwrap_or_default(),
            j.packet.clone().unwrap_or_default(),
        );
        out.push(bytes("packet", &a, &b));
    }
    if i.maps != j.maps {
        out.push(format!("maps: {:?} vs {:?}", i.maps, j.maps));
    }
    if (&i.trace, &i.ringbuf, &i.perf, i.tail_calls)
        != (&j.trace, &j.ringbuf, &j.perf, j.tail_calls)
    {
        out.push(format!(
            "sinks/tail calls: {:?} vs {:?}",
            (&i.trace, &i.ringbuf, &i.perf, i.tail_calls),
            (&j.trace, &j.ringbuf, &j.perf, j.tail_calls)
        ));
    }
    out.join("; ")
}

fn runs() -> usize {
    support::runs("VOUCH_JIT_DIFF_RUNS", RUNS)
}

fn compare_object(dir: &Path, file: &str, wanted: &[(String, String)], sum: &mut Summary) {
    let Some((object, accepted)) = load_verified(dir, file) else {
        return;
    };
    let table = map_table(&object.maps);
    let insns: Vec<&[Insn]> = object
        .programs
        .iter()
        .map(|p| p.insns.as_deref().unwrap_or(&[]))
        .collect();
    // Compile every accepted entry program once (tail-call targets included).
    let loaded: Vec<Result<Loaded, String>> = object
        .programs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if !accepted[i] || is_subprogram(&object, p) {
                return Err("not an accepted entry program".into());
            }
            let image = vouch_verifier::jit::compile(insns[i], &table, Some(p.program_type))
                .map_err(|e| match e {
                    vouch_verifier::jit::JitError::Unsupported { what, .. } => {
                        format!("JIT: {what}")
                    }
                    e => format!("JIT: {e}"),
                })?;
            Loaded::new(&image).map_err(|e| e.to_string())
        })
        .collect();
    for (index, p) in object.programs.iter().enumerate() {
        if !wanted
            .iter()
            .any(|(s, f)| *s == p.section && *f == p.function)
            || !accepted[index]
        {
            continue;
        }
        let name = format!("{file}:{}/{}", p.section, p.function);
        let skip = |sum: &mut Summary, why: String| *sum.skipped.entry(why).or_default() += 1;
        if is_subprogram(&object, p) {
            skip(sum, "subprogram".into());
            continue;
        }
        if !p.kfuncs.is_empty() {
            skip(sum, "calls a kfunc".into());
            continue;
        }
        if let Err(why) = &loaded[index] {
            skip(sum, why.clone());
            continue;
        }
        let targets: Vec<u32> = (0..object.programs.len())
            .filter(|&j| object.programs[j].program_type == p.program_type && loaded[j].is_ok())
            .map(|j| j as u32)
            .collect();
        // Only targets both engines can run.
        let natives: Vec<Option<&Loaded>> = loaded
            .iter()
            .enumerate()
            .map(|(j, l)| l.as_ref().ok().filter(|_| targets.contains(&(j as u32))))
            .collect();
        let mut rng = Rng::new(seed_of(&name));
        let config = RuntimeConfig {
            seed: rng.next_u64(),
            fallback_by_prototype: true,
            ..RuntimeConfig::default()
        };
        let (Ok(mut rt_i), Ok(mut rt_j)) = (
            Runtime::for_object(&object, config.clone()),
            Runtime::for_object(&object, config),
        ) else {
            skip(sum, "runtime setup".into());
            continue;
        };
        let mut fill_rng = rng.clone();
        populate(&mut rt_i, &object, &table, &mut rng, &targets);
        populate(&mut rt_j, &object, &table, &mut fill_rng, &targets);
        let mut ran = 0;
        let mut why_not = None;
        for run in 0..runs() {
            let mut input = RunInput::random(p.program_type, &mut rng, MAX_PACKET);
            if input.packet.is_some() {
                input = input.with_packet(random_packet(&mut rng));
            }
            input.kernel_object = rt_i.kernel_object() as u64;
            rt_j.kernel_object();
            input.socket = if rng.below(3) == 0 {
                0
            } else {
                input.kernel_object
            };
            let cpu = rng.below(4) as u32;
            rt_i.config.cpu = cpu;
            rt_j.config.cpu = cpu;
            let config = Config {
                max_steps: MAX_STEPS,
                ..Config::default()
            };
            let interp = match vm::run(&mut rt_i, &insns, index, &input, config) {
                Ok(out) => effects(out, &mut rt_i),
                Err(Trap::BudgetExhausted { .. }) => {
                    why_not = Some("budget exhausted in the interpreter".to_string());
                    break;
                }
                Err(t) => {
                    why_not = Some(match t {
                        Trap::Helper { error, .. } => format!("interpreter: {error}"),
                        Trap::Unsupported { what, .. } => format!("interpreter: {what}"),
                        t => format!("interpreter trapped: {t}"),
                    });
                    break;
                }
            };
            // SAFETY: every image comes from an accepted program of this object, compiled with
            // its map table, and runs on an input of its program type with the runtime the
            // interpreter just ran without a fault on the same input.
            let jit = match unsafe { native::run(&mut rt_j, &natives, index, &input) } {
                Ok(out) => effects(out, &mut rt_j),
                Err(t) => {
                    sum.differences.push(format!(
                        "{name} run {run}: interpreter ran, JIT trapped: {t}"
                    ));
                    break;
                }
            };
            if interp != jit {
                sum.differences
                    .push(format!("{name} run {run}: {}", describe(&interp, &jit)));
                break;
            }
            ran += 1;
        }
        sum.runs += ran;
        match why_not {
            Some(why) if ran == 0 => skip(sum, why),
            _ => sum.compared += 1,
        }
    }
}

fn compare_dir(dir: &Path, sum: &mut Summary) {
    for (file, wanted) in listed_by_file(dir) {
        compare_object(dir, &file, &wanted, sum);
    }
}

#[test]
fn accepted_programs_agree_in_interpreter_and_jit() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut sum = Summary::default();
    compare_dir(&root.join("../corpus"), &mut sum);
    let corpus = sum.compared;
    let samples = root.join("../../shared/samples");
    if samples.join("EXPECTED.tsv").exists() {
        compare_dir(&samples, &mut sum);
    }
    println!("JIT vs interpreter: {} inputs per program", runs());
    println!(
        "  programs compared {:5} (corpus {corpus}, samples {})",
        sum.compared,
        sum.compared - corpus
    );
    println!("  runs compared     {:5}", sum.runs);
    for (why, n) in &sum.skipped {
        println!("  skipped {n:5}  {why}");
    }
    assert!(
        sum.differences.is_empty(),
        "{} program(s) differ:\n{}",
        sum.differences.len(),
        sum.differences.join("\n")
    );
    let uncompiled: Vec<&String> = sum
        .skipped
        .keys()
        .filter(|w| w.starts_with("JIT"))
        .collect();
    assert!(
        uncompiled.is_empty(),
        "accepted programs the JIT cannot compile: {uncompiled:?}"
    );
    assert!(
        corpus >= MIN_CORPUS_COMPARED,
        "only {corpus} corpus programs compared (baseline {MIN_CORPUS_COMPARED})"
    );
}
