use crate::conformance::run_jit;
use crate::isa::asm::assemble;

fn jit(asm: &str, mem: Option<Vec<u8>>) -> u64 {
    let prog = assemble(asm).expect("assembles");
    let interp = crate::conformance::run_interpreter(&prog, mem.clone(), Default::default())
        .expect("interpreter runs");
    // SAFETY: the test programs only touch their memory and stack.
    let (exit, _) = unsafe { run_jit(&prog, mem) }.expect("jit runs");
    assert_eq!(exit.r0, interp.r0, "JIT and interpreter differ on:\n{asm}");
    exit.r0
}

#[test]
fn arithmetic_corners() {
    assert_eq!(jit("mov %r0, 7\nexit", None), 7);
    assert_eq!(
        jit(
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit",
            None
        ),
        0x8000_0000_0000_0000
    );
    assert_eq!(
        jit(
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit",
            None
        ),
        0
    );
    assert_eq!(jit("mov %r0, 9\nmov %r3, 0\nmod32 %r0, %r3\nexit", None), 9);
    assert_eq!(
        jit(
            "mov %r3, 9\nmov %r0, 0\ndiv %r3, %r0\nmov %r0, %r3\nexit",
            None
        ),
        0
    );
    assert_eq!(
        jit(
            "mov %r4, 3\nmov %r0, 1\nlsh %r0, %r4\nadd %r0, %r4\nexit",
            None
        ),
        11
    );
    assert_eq!(
        jit(
            "mov %r4, 35\nmov32 %r4, %r4\nlsh32 %r4, %r4\nmov %r0, %r4\nexit",
            None
        ),
        35 << 3
    );
    assert_eq!(
        jit("lddw %r0, 0xffffffff00000001\nlsh32 %r0, 0\nexit", None),
        1
    );
}

#[test]
fn local_calls_keep_r6_to_r9_and_frames() {
    let asm = "
        mov %r6, 5
        stdw [%r10-8], 11
        call local f
        ldxdw %r1, [%r10-8]
        add %r0, %r6
        add %r0, %r1
        exit
    f:
        mov %r6, 100
        stdw [%r10-8], 1000
        mov %r0, 1
        exit";
    assert_eq!(jit(asm, None), 17);
}

#[test]
fn deep_recursion_is_a_trap_not_a_crash() {
    let prog = assemble("f:\ncall local f\nexit").expect("assembles");
    // SAFETY: the program only touches its stack.
    let r = unsafe { run_jit(&prog, None) };
    assert!(
        matches!(r, Err(crate::interp::Trap::CallDepth { .. })),
        "{r:?}"
    );
}

#[test]
fn images_are_deterministic_and_position_independent() {
    let prog = assemble("mov %r1, 1\ncall 0\nlddw %r2, 0x1122334455667788\nadd %r0, %r2\nexit")
        .expect("assembles");
    let a = super::compile(&prog, &[], None).expect("compiles");
    let b = super::compile(&prog, &[], None).expect("compiles");
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.helpers, vec![0]);
    let back = crate::jit::Image::from_bytes(&a.to_bytes().expect("encodes")).expect("parses");
    assert_eq!(back, a);
}

/// Helper calls go through shared stubs (one per slot, one common body): several slots, repeated
/// calls, `callx`, r1-r5 kept across each, and a helper that ends the program from inside a stub.
#[test]
fn helper_stubs_keep_registers_and_unwind() {
    let asm = "
        mov %r1, 1
        mov %r2, 2
        mov %r3, 3
        mov %r4, 4
        mov %r5, 5
        mov %r6, 0
        call 0
        add %r6, %r0
        call 3
        add %r6, %r0
        call 0
        add %r6, %r0
        mov %r7, 3
        callx %r7
        add %r6, %r0
        add %r6, %r1
        add %r6, %r2
        add %r6, %r3
        add %r6, %r4
        add %r6, %r5
        mov %r0, %r6
        exit";
    assert_eq!(jit(asm, None), 2 * 0x01_0203_0405 + 1 + 1 + 15);
    assert_eq!(jit("mov %r1, 7\ncall 5\nexit", None), 7);
    assert_eq!(jit("mov %r1, 0\ncall 5\nmov %r0, 9\nexit", None), 0);
    // From a subprogram: the unwind crosses frames.
    let asm = "
        mov %r0, 1
        call local f
        mov %r0, 9
        exit
    f:
        mov %r1, 0
        call 5
        mov %r0, 8
        exit";
    assert_eq!(jit(asm, None), 0);
}

/// Division and modulo share one stub per (width, operation); destinations r0 and r3 live in
/// rax and rdx, which the stub uses.
#[test]
fn division_stub_for_every_destination() {
    for op in ["div", "mod", "sdiv", "smod"] {
        for suffix in ["", "32"] {
            for dst in [0, 3, 4, 6, 9] {
                for (x, y) in [(100, 7), (-100, 7), (100, 0), (-9, -1), (i32::MIN, -1)] {
                    let src = if dst == 2 { 5 } else { 2 };
                    let asm = format!(
                        "mov %r0, 11\nmov %r3, 33\nmov %r{dst}, {x}\nmov %r{src}, {y}\n\
                         {op}{suffix} %r{dst}, %r{src}\n{op}{suffix} %r{dst}, 5\n\
                         add %r0, %r3\nadd %r0, %r{dst}\nexit"
                    );
                    jit(&asm, None);
                }
            }
        }
    }
}

/// `ld_abs` / `ld_ind` through the shared stub: big-endian values, r1-r5 kept, and an
/// out-of-bounds load ends the program with r0 = 0.
#[test]
fn legacy_loads() {
    let mem: Vec<u8> = (1..=16).collect();
    let asm = "
        mov %r2, 11
        mov %r5, 13
        mov %r6, 3
        ldabsw 0
        mov %r7, %r0
        ldindh %r6, 1
        add %r7, %r0
        ldabsb 15
        add %r7, %r0
        ldabsdw 8
        add %r7, %r0
        add %r7, %r2
        add %r7, %r5
        mov %r0, %r7
        exit";
    assert_eq!(
        jit(asm, Some(mem.clone())),
        0x0102_0304 + 0x0506 + 16 + 0x090a_0b0c_0d0e_0f10 + 24
    );
    assert_eq!(
        jit("mov %r0, 5\nldabsw 100\nmov %r0, 7\nexit", Some(mem)),
        0
    );
}

/// A program without local calls asks for one frame of stack (a run zeroes all it asks for);
/// with local calls, eight.
#[test]
fn stack_size_is_one_frame_without_local_calls() {
    let flat = assemble("stdw [%r10-512], 1\nldxdw %r0, [%r10-512]\nexit").expect("assembles");
    let image = super::compile(&flat, &[], None).expect("compiles");
    assert_eq!(image.stack_size, 512);
    assert_eq!(
        jit("stdw [%r10-512], 1\nldxdw %r0, [%r10-512]\nexit", None),
        1
    );
    let calls = assemble("call local f\nexit\nf:\nmov %r0, 2\nexit").expect("assembles");
    let image = super::compile(&calls, &[], None).expect("compiles");
    assert_eq!(image.stack_size, 8 * 512);
}
