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
