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
    prop_oneof![value_reg().prop_map(Operand::Reg), imm().prop_map(Operand::Imm)]
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
    let alu = (width(), alu_op(), value_reg(), operand())
        .prop_map(|(width, op, dst, src)| Step::One(Insn::Alu { width, op, dst, src }));
    let movsx = (width(), prop_oneof![Just(8u8), Just(16), Just(32)], value_reg(), value_reg())
        .prop_map(|(width, bits, dst, s)| {
            let bits = if width == Width::W32 && bits == 32 { 16 } else { bits };
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
