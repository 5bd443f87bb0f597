//! The encoder against iced-x86: every form the JIT emits, for every register, for every base
//! register with every displacement class (none, disp8, disp32; rsp/r12 need a SIB byte, rbp/r13
//! a zero disp8) and every immediate class, is decoded with iced-x86's decoder and compared with
//! what iced-x86's assembler makes of the same instruction. The comparison is by meaning
//! (mnemonic, operands, immediate values at the operation's width), not by bytes, because the two
//! may pick different but equivalent encodings.

use super::encode::{Alu, Asm, Cc, Gpr, Label, Mem, R11, RAX, RCX, RDX, RSP, Shift, Unary, W, mem};
use iced_x86::code_asm::*;
use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind};

const Q: [AsmRegister64; 16] = [
    rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
];
const D: [AsmRegister32; 16] = [
    eax, ecx, edx, ebx, esp, ebp, esi, edi, r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d,
];
const H: [AsmRegister16; 16] = [
    ax, cx, dx, bx, sp, bp, si, di, r8w, r9w, r10w, r11w, r12w, r13w, r14w, r15w,
];
const B: [AsmRegister8; 16] = [
    al, cl, dl, bl, spl, bpl, sil, dil, r8b, r9b, r10b, r11b, r12b, r13b, r14b, r15b,
];

/// No displacement, disp8 (both ends), disp32 (both ends and just past disp8).
const DISPS: [i32; 9] = [0, 1, -1, 127, -128, 128, -129, i32::MAX, i32::MIN];
/// imm8 (both ends), imm32 (both ends and just past imm8).
const IMMS: [i32; 9] = [0, 1, -1, 127, -128, 128, -129, i32::MAX, i32::MIN];

fn gprs() -> impl Iterator<Item = Gpr> {
    (0..16).map(Gpr)
}

fn mems() -> impl Iterator<Item = Mem> {
    gprs().flat_map(|b| DISPS.iter().map(move |&d| mem(b, d)))
}

fn am(m: Mem) -> AsmMemoryOperand {
    Q[m.base.0 as usize] + m.disp
}

fn q(r: Gpr) -> AsmRegister64 {
    Q[r.0 as usize]
}
fn d(r: Gpr) -> AsmRegister32 {
    D[r.0 as usize]
}

/// Decodes `bytes` as exactly one valid instruction.
fn decode_one(bytes: &[u8]) -> Instruction {
    let mut dec = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let i = dec.decode();
    assert!(!i.is_invalid(), "{bytes:02x?} does not decode");
    assert_eq!(
        i.len(),
        bytes.len(),
        "{bytes:02x?} decodes as {:?}, {} bytes",
        i.code(),
        i.len()
    );
    i
}

/// Operand size of the first operand, in bytes (immediates are compared at this width).
fn op0_size(i: &Instruction) -> usize {
    match i.op_kind(0) {
        OpKind::Register => i.op_register(0).size(),
        OpKind::Memory => i.memory_size().size(),
        _ => 8,
    }
}

/// What an instruction does, not how it is encoded.
fn meaning(i: &Instruction) -> String {
    let mut s = format!("{:?}", i.mnemonic());
    if i.has_lock_prefix() {
        s.insert_str(0, "lock ");
    }
    let mask = match op0_size(i) {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    };
    for k in 0..i.op_count() {
        let op = match i.op_kind(k) {
            OpKind::Register => format!("{:?}", i.op_register(k)),
            OpKind::Memory => format!(
                "{:?}[{:?}+{:?}+{:#x}]",
                i.memory_size(),
                i.memory_base(),
                i.memory_index(),
                i.memory_displacement64()
            ),
            OpKind::NearBranch64 => format!("->{:#x}", i.near_branch64()),
            _ => format!("{:#x}", i.immediate(k) & mask),
        };
        s.push(' ');
        s.push_str(&op);
    }
    s
}

/// Encodes with `mine` and with iced-x86's assembler (`theirs`) and compares the meanings.
fn check(
    mine: impl FnOnce(&mut Asm),
    theirs: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    let mut a = Asm::new(16, 0);
    mine(&mut a);
    let bytes = a.finish().expect("no labels");
    let got = decode_one(&bytes);
    let mut c = CodeAssembler::new(64).expect("64-bit");
    theirs(&mut c).expect("iced-x86 assembles it");
    let want = c.instructions()[0];
    assert_eq!(meaning(&got), meaning(&want), "bytes {bytes:02x?}");
}

const ALU: [Alu; 6] = [Alu::Add, Alu::Or, Alu::And, Alu::Sub, Alu::Xor, Alu::Cmp];

macro_rules! alu {
    ($c:expr, $op:expr, $x:expr, $y:expr) => {
        match $op {
            Alu::Add => $c.add($x, $y),
            Alu::Or => $c.or($x, $y),
            Alu::And => $c.and($x, $y),
            Alu::Sub => $c.sub($x, $y),
            Alu::Xor => $c.xor($x, $y),
            Alu::Cmp => $c.cmp($x, $y),
        }
    };
}

#[test]
fn alu_register_and_immediate_forms() {
    for op in ALU {
        for x in gprs() {
            for y in gprs() {
                check(|a| a.alu_rr(op, W::Q, x, y), |c| alu!(c, op, q(x), q(y)));
                check(|a| a.alu_rr(op, W::D, x, y), |c| alu!(c, op, d(x), d(y)));
            }
            for i in IMMS {
                check(|a| a.alu_ri(op, W::Q, x, i), |c| alu!(c, op, q(x), i));
                check(|a| a.alu_ri(op, W::D, x, i), |c| alu!(c, op, d(x), i));
            }
        }
    }
}

#[test]
fn alu_memory_forms() {
    for op in ALU {
        for m in mems() {
            for r in [RAX, RDX, RSP, R11, Gpr(12), Gpr(13), Gpr(15)] {
                check(
                    |a| a.alu_rm(op, W::Q, r, m),
                    |c| alu!(c, op, q(r), qword_ptr(am(m))),
                );
                check(
                    |a| a.alu_rm(op, W::D, r, m),
                    |c| alu!(c, op, d(r), dword_ptr(am(m))),
                );
                if op == Alu::Cmp {
                    // `lock cmp` does not exist; the JIT only locks the others.
                    continue;
                }
                check(
                    |a| {
                        a.lock();
                        a.alu_mr(op, W::Q, m, r)
                    },
                    |c| alu!(c.lock(), op, qword_ptr(am(m)), q(r)),
                );
                check(
                    |a| {
                        a.lock();
                        a.alu_mr(op, W::D, m, r)
                    },
                    |c| alu!(c.lock(), op, dword_ptr(am(m)), d(r)),
                );
            }
            for i in IMMS {
                check(
                    |a| a.alu_mi(op, W::Q, m, i),
                    |c| alu!(c, op, qword_ptr(am(m)), i),
                );
            }
        }
    }
}

#[test]
fn test_mov_and_imul() {
    for x in gprs() {
        for y in gprs() {
            check(|a| a.test_rr(W::Q, x, y), |c| c.test(q(x), q(y)));
            check(|a| a.test_rr(W::D, x, y), |c| c.test(d(x), d(y)));
            check(|a| a.mov_rr(W::Q, x, y), |c| c.mov(q(x), q(y)));
            check(|a| a.mov_rr(W::D, x, y), |c| c.mov(d(x), d(y)));
            check(|a| a.imul_rr(W::Q, x, y), |c| c.imul_2(q(x), q(y)));
            check(|a| a.imul_rr(W::D, x, y), |c| c.imul_2(d(x), d(y)));
            check(|a| a.movzx_rr16(x, y), |c| c.movzx(d(x), H[y.0 as usize]));
            for w in [W::D, W::Q] {
                let yb = B[y.0 as usize];
                let yh = H[y.0 as usize];
                if w == W::Q {
                    check(|a| a.movsx_rr(w, x, y, W::B), |c| c.movsx(q(x), yb));
                    check(|a| a.movsx_rr(w, x, y, W::H), |c| c.movsx(q(x), yh));
                    check(|a| a.movsx_rr(w, x, y, W::D), |c| c.movsxd(q(x), d(y)));
                } else {
                    check(|a| a.movsx_rr(w, x, y, W::B), |c| c.movsx(d(x), yb));
                    check(|a| a.movsx_rr(w, x, y, W::H), |c| c.movsx(d(x), yh));
                }
            }
            for i in IMMS {
                check(|a| a.imul_rri(W::Q, x, y, i), |c| c.imul_3(q(x), q(y), i));
                check(|a| a.imul_rri(W::D, x, y, i), |c| c.imul_3(d(x), d(y), i));
            }
        }
        for i in IMMS {
            check(|a| a.test_ri(W::Q, x, i), |c| c.test(q(x), i));
            check(|a| a.test_ri(W::D, x, i), |c| c.test(d(x), i));
            check(|a| a.mov_ri32(x, i as u32), |c| c.mov(d(x), i as u32));
        }
    }
}

/// `mov_ri64` picks the shortest form; what matters is the 64-bit value the register ends with.
#[test]
fn mov_imm64_sets_all_64_bits() {
    let values = [
        0,
        1,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        0xffff_ffff_8000_0000,
        0xffff_ffff_7fff_ffff,
        0x1122_3344_5566_7788,
        0xffff_8000_0000_0000,
    ];
    for r in gprs() {
        for v in values {
            let mut a = Asm::new(16, 0);
            a.mov_ri64(r, v);
            let bytes = a.finish().expect("no labels");
            let i = decode_one(&bytes);
            assert_eq!(format!("{:?}", i.mnemonic()), "Mov", "{bytes:02x?}");
            let reg = i.op_register(0);
            assert_eq!(reg.full_register(), iced_x86::Register::from(q(r)));
            let got = match (reg.size(), i.op_kind(1)) {
                (4, _) => i.immediate(1) & 0xffff_ffff,
                (8, _) => i.immediate(1),
                _ => panic!("{bytes:02x?}: not a 32- or 64-bit destination"),
            };
            assert_eq!(got, v, "{bytes:02x?}");
        }
    }
}

#[test]
fn loads_stores_and_lea() {
    for m in mems() {
        for r in gprs() {
            let (rq, rd) = (q(r), d(r));
            let (rh, rb) = (H[r.0 as usize], B[r.0 as usize]);
            check(|a| a.mov_rm(W::Q, r, m), |c| c.mov(rq, qword_ptr(am(m))));
            check(|a| a.mov_rm(W::D, r, m), |c| c.mov(rd, dword_ptr(am(m))));
            check(|a| a.mov_mr(W::Q, m, r), |c| c.mov(qword_ptr(am(m)), rq));
            check(|a| a.mov_mr(W::D, m, r), |c| c.mov(dword_ptr(am(m)), rd));
            check(|a| a.mov_mr(W::H, m, r), |c| c.mov(word_ptr(am(m)), rh));
            check(|a| a.mov_mr(W::B, m, r), |c| c.mov(byte_ptr(am(m)), rb));
            check(|a| a.movzx_rm(r, m, W::B), |c| c.movzx(rd, byte_ptr(am(m))));
            check(|a| a.movzx_rm(r, m, W::H), |c| c.movzx(rd, word_ptr(am(m))));
            check(
                |a| a.movsx_rm(W::Q, r, m, W::B),
                |c| c.movsx(rq, byte_ptr(am(m))),
            );
            check(
                |a| a.movsx_rm(W::Q, r, m, W::H),
                |c| c.movsx(rq, word_ptr(am(m))),
            );
            check(
                |a| a.movsx_rm(W::Q, r, m, W::D),
                |c| c.movsxd(rq, dword_ptr(am(m))),
            );
            check(|a| a.lea(r, m), |c| c.lea(rq, qword_ptr(am(m))));
            check(|a| a.xchg_mr(W::Q, m, r), |c| c.xchg(qword_ptr(am(m)), rq));
            check(|a| a.xchg_mr(W::D, m, r), |c| c.xchg(dword_ptr(am(m)), rd));
            check(
                |a| {
                    a.lock();
                    a.xadd_mr(W::Q, m, r)
                },
                |c| c.lock().xadd(qword_ptr(am(m)), rq),
            );
            check(
                |a| {
                    a.lock();
                    a.xadd_mr(W::D, m, r)
                },
                |c| c.lock().xadd(dword_ptr(am(m)), rd),
            );
            check(
                |a| {
                    a.lock();
                    a.cmpxchg_mr(W::Q, m, r)
                },
                |c| c.lock().cmpxchg(qword_ptr(am(m)), rq),
            );
            check(
                |a| {
                    a.lock();
                    a.cmpxchg_mr(W::D, m, r)
                },
                |c| c.lock().cmpxchg(dword_ptr(am(m)), rd),
            );
        }
        for i in IMMS {
            check(|a| a.mov_mi(W::Q, m, i), |c| c.mov(qword_ptr(am(m)), i));
            check(|a| a.mov_mi(W::D, m, i), |c| c.mov(dword_ptr(am(m)), i));
            let h = i32::from(i as i16);
            check(|a| a.mov_mi(W::H, m, i), |c| c.mov(word_ptr(am(m)), h));
            let b = i32::from(i as i8);
            check(|a| a.mov_mi(W::B, m, i), |c| c.mov(byte_ptr(am(m)), b));
        }
        check(|a| a.call_mem(m), |c| c.call(qword_ptr(am(m))));
    }
}

#[test]
fn shifts_unary_and_the_rest() {
    for r in gprs() {
        let (rq, rd, rh) = (q(r), d(r), H[r.0 as usize]);
        for n in [1u8, 7, 8, 31, 63] {
            let n32 = u32::from(n);
            check(|a| a.shift_ri(Shift::Shl, W::Q, r, n), |c| c.shl(rq, n32));
            check(|a| a.shift_ri(Shift::Shr, W::Q, r, n), |c| c.shr(rq, n32));
            check(|a| a.shift_ri(Shift::Sar, W::Q, r, n), |c| c.sar(rq, n32));
            if n < 32 {
                check(|a| a.shift_ri(Shift::Shl, W::D, r, n), |c| c.shl(rd, n32));
                check(|a| a.shift_ri(Shift::Shr, W::D, r, n), |c| c.shr(rd, n32));
                check(|a| a.shift_ri(Shift::Sar, W::D, r, n), |c| c.sar(rd, n32));
            }
        }
        check(|a| a.shift_ri(Shift::Ror, W::H, r, 8), |c| c.ror(rh, 8u32));
        for (w, x) in [(W::Q, None), (W::D, Some(rd))] {
            let shl = |c: &mut CodeAssembler| match x {
                None => c.shl(rq, cl),
                Some(x) => c.shl(x, cl),
            };
            check(|a| a.shift_rcl(Shift::Shl, w, r), shl);
            let shr = |c: &mut CodeAssembler| match x {
                None => c.shr(rq, cl),
                Some(x) => c.shr(x, cl),
            };
            check(|a| a.shift_rcl(Shift::Shr, w, r), shr);
            let sar = |c: &mut CodeAssembler| match x {
                None => c.sar(rq, cl),
                Some(x) => c.sar(x, cl),
            };
            check(|a| a.shift_rcl(Shift::Sar, w, r), sar);
        }
        check(|a| a.unary(Unary::Neg, W::Q, r), |c| c.neg(rq));
        check(|a| a.unary(Unary::Neg, W::D, r), |c| c.neg(rd));
        check(|a| a.unary(Unary::Div, W::Q, r), |c| c.div(rq));
        check(|a| a.unary(Unary::Div, W::D, r), |c| c.div(rd));
        check(|a| a.unary(Unary::Idiv, W::Q, r), |c| c.idiv(rq));
        check(|a| a.unary(Unary::Idiv, W::D, r), |c| c.idiv(rd));
        check(|a| a.bswap(W::Q, r), |c| c.bswap(rq));
        check(|a| a.bswap(W::D, r), |c| c.bswap(rd));
        check(|a| a.push(r), |c| c.push(rq));
        check(|a| a.pop(r), |c| c.pop(rq));
    }
    check(|a| a.sign_extend_rax(W::Q), |c| c.cqo());
    check(|a| a.sign_extend_rax(W::D), |c| c.cdq());
    check(|a| a.ret(), |c| c.ret());
    // The operands used with `cl` above are real: rcx is the count register.
    check(|a| a.shift_rcl(Shift::Shl, W::Q, RCX), |c| c.shl(rcx, cl));
}

const CCS: [(Cc, iced_x86::Mnemonic); 10] = {
    use iced_x86::Mnemonic as M;
    [
        (Cc::B, M::Jb),
        (Cc::Ae, M::Jae),
        (Cc::E, M::Je),
        (Cc::Ne, M::Jne),
        (Cc::Be, M::Jbe),
        (Cc::A, M::Ja),
        (Cc::L, M::Jl),
        (Cc::Ge, M::Jge),
        (Cc::Le, M::Jle),
        (Cc::G, M::Jg),
    ]
};

/// Decodes the whole buffer and returns (offset, instruction) pairs.
fn decode_all(bytes: &[u8]) -> Vec<(u64, Instruction)> {
    let mut dec = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let mut out = Vec::new();
    while dec.can_decode() {
        let ip = dec.ip();
        let i = dec.decode();
        assert!(!i.is_invalid(), "invalid at {ip:#x}");
        out.push((ip, i));
    }
    out
}

/// Forward (always rel32, patched), backward short (rel8) and backward long (rel32) branches
/// all reach their label.
#[test]
fn branches_reach_their_labels() {
    for gap in [0usize, 1, 100, 125, 126, 127, 128, 129, 200, 5000] {
        for &(cc, mnemonic) in &CCS {
            let mut a = Asm::new(64, 3);
            let (back, fwd, call) = (Label(0), Label(1), Label(2));
            a.bind(back);
            for _ in 0..gap {
                a.ret();
            }
            let at_back = 0u64;
            a.jcc(cc, back);
            a.jmp(back);
            a.jcc(cc, fwd);
            a.jmp(fwd);
            a.call(call);
            for _ in 0..gap {
                a.ret();
            }
            let at_fwd = a_len(&a);
            a.bind(fwd);
            a.bind(call);
            a.ret();
            let code = a.finish().expect("all bound");
            let insns = decode_all(&code);
            let branches: Vec<&Instruction> = insns
                .iter()
                .map(|(_, i)| i)
                .filter(|i| format!("{:?}", i.mnemonic()) != "Ret")
                .collect();
            assert_eq!(branches.len(), 5, "gap {gap}");
            assert_eq!(branches[0].mnemonic(), mnemonic);
            assert_eq!(branches[0].near_branch64(), at_back, "gap {gap}");
            assert_eq!(branches[1].near_branch64(), at_back, "gap {gap}");
            assert_eq!(branches[2].mnemonic(), mnemonic);
            assert_eq!(branches[2].near_branch64(), at_fwd, "gap {gap}");
            assert_eq!(branches[3].near_branch64(), at_fwd, "gap {gap}");
            assert_eq!(format!("{:?}", branches[4].mnemonic()), "Call");
            assert_eq!(branches[4].near_branch64(), at_fwd, "gap {gap}");
            // Backward branches within reach are short.
            if gap < 120 {
                assert_eq!(branches[0].len(), 2, "gap {gap}");
            }
        }
    }
}

fn a_len(a: &Asm) -> u64 {
    a.offset() as u64
}

#[test]
fn unbound_and_rebound_labels_are_errors_not_panics() {
    let mut a = Asm::new(16, 1);
    a.jmp(Label(0));
    assert!(a.finish().is_err());
    let mut a = Asm::new(16, 1);
    a.bind(Label(0));
    a.bind(Label(0));
    assert!(a.finish().is_err());
    let mut a = Asm::new(16, 1);
    a.jmp(Label(7));
    assert!(a.finish().is_err());
}

/// `lea r, [rip + rel32]` to a label before and after it, for every register: iced-x86 decodes
/// a RIP-relative `lea` of that register whose target is the label.
#[test]
fn rip_relative_lea_reaches_its_label() {
    for r in gprs() {
        let mut a = Asm::new(64, 2);
        let (back, fwd) = (Label(0), Label(1));
        a.ret();
        a.bind(back);
        a.ret();
        a.lea_rip(r, back);
        a.lea_rip(r, fwd);
        a.ret();
        let at_fwd = a_len(&a);
        a.bind(fwd);
        a.ret();
        let code = a.finish().expect("all bound");
        let leas: Vec<Instruction> = decode_all(&code)
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| format!("{:?}", i.mnemonic()) == "Lea")
            .collect();
        assert_eq!(leas.len(), 2);
        for (i, target) in leas.iter().zip([1, at_fwd]) {
            assert!(i.is_ip_rel_memory_operand(), "{r:?}");
            assert_eq!(i.op0_register(), iced_x86::Register::from(q(r)), "{r:?}");
            assert_eq!(i.ip_rel_memory_address(), target, "{r:?}");
        }
    }
}
