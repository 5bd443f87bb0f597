//! Every class of invalid program gives its own typed error naming the pc.

use vouch_verifier::isa::{DecodeError, RawInsn, decode_program, decode_raw};

fn raw(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        opcode,
        dst,
        src,
        off,
        imm,
    }
}

const EXIT: RawInsn = RawInsn {
    opcode: 0x95,
    dst: 0,
    src: 0,
    off: 0,
    imm: 0,
};
const MOV_R0_0: RawInsn = RawInsn {
    opcode: 0xb7,
    dst: 0,
    src: 0,
    off: 0,
    imm: 0,
};

fn decode(slots: &[RawInsn]) -> Result<(), DecodeError> {
    decode_raw(slots).map(|_| ())
}

#[test]
fn table_of_invalid_programs() {
    use DecodeError::*;
    let cases: Vec<(&str, Vec<RawInsn>, DecodeError)> = vec![
        (
            "unknown opcode",
            vec![MOV_R0_0, raw(0xff, 0, 0, 0, 0)],
            UnknownOpcode {
                pc: 1,
                opcode: 0xff,
            },
        ),
        (
            "alu64 end with X source",
            vec![raw(0xdf, 1, 0, 0, 16), EXIT],
            UnknownOpcode {
                pc: 0,
                opcode: 0xdf,
            },
        ),
        (
            "lddw-like ld with mode mem",
            vec![raw(0x60, 0, 0, 0, 0), EXIT],
            UnknownOpcode {
                pc: 0,
                opcode: 0x60,
            },
        ),
        (
            "memsx dw",
            vec![raw(0x99, 1, 2, 0, 0), EXIT],
            UnknownOpcode {
                pc: 0,
                opcode: 0x99,
            },
        ),
        (
            "atomic byte",
            vec![raw(0xd3, 1, 2, 0, 0), EXIT],
            UnknownOpcode {
                pc: 0,
                opcode: 0xd3,
            },
        ),
        (
            "call in jmp32",
            vec![raw(0x86, 0, 0, 0, 1), EXIT],
            UnknownOpcode {
                pc: 0,
                opcode: 0x86,
            },
        ),
        (
            "dst register 11",
            vec![raw(0xb7, 11, 0, 0, 0), EXIT],
            InvalidRegister { pc: 0, reg: 11 },
        ),
        (
            "src register 15",
            vec![raw(0xbf, 1, 15, 0, 0), EXIT],
            InvalidRegister { pc: 0, reg: 15 },
        ),
        (
            "load base register 12",
            vec![raw(0x61, 1, 12, 0, 0), EXIT],
            InvalidRegister { pc: 0, reg: 12 },
        ),
        (
            "write to r10 (alu)",
            vec![raw(0x07, 10, 0, 0, 8), EXIT],
            WriteToFramePointer { pc: 0 },
        ),
        (
            "write to r10 (load)",
            vec![raw(0x79, 10, 1, 0, 0), EXIT],
            WriteToFramePointer { pc: 0 },
        ),
        (
            "write to r10 (lddw)",
            vec![raw(0x18, 10, 0, 0, 0), raw(0, 0, 0, 0, 0), EXIT],
            WriteToFramePointer { pc: 0 },
        ),
        (
            "write to r10 (atomic fetch)",
            vec![raw(0xdb, 1, 10, 0, 0x01), EXIT],
            WriteToFramePointer { pc: 0 },
        ),
        (
            "alu K with src set",
            vec![raw(0x07, 1, 3, 0, 1), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x07,
                field: "src",
                expected: "0",
                found: 3,
            },
        ),
        (
            "alu X with imm set",
            vec![raw(0x0f, 1, 2, 0, 5), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x0f,
                field: "imm",
                expected: "0",
                found: 5,
            },
        ),
        (
            "add with offset",
            vec![raw(0x07, 1, 0, 1, 1), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x07,
                field: "offset",
                expected: "0",
                found: 1,
            },
        ),
        (
            "div with offset 2",
            vec![raw(0x37, 1, 0, 2, 1), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x37,
                field: "offset",
                expected: "0 or 1",
                found: 2,
            },
        ),
        (
            "movsx32 in alu32",
            vec![raw(0xbc, 1, 2, 32, 0), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0xbc,
                field: "offset",
                expected: "0, 8 or 16",
                found: 32,
            },
        ),
        (
            "end with width 8",
            vec![raw(0xd4, 1, 0, 0, 8), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0xd4,
                field: "imm",
                expected: "16, 32 or 64",
                found: 8,
            },
        ),
        (
            "exit with imm",
            vec![raw(0x95, 0, 0, 0, 1)],
            ReservedField {
                pc: 0,
                opcode: 0x95,
                field: "imm",
                expected: "0",
                found: 1,
            },
        ),
        (
            "ja with dst",
            vec![raw(0x05, 1, 0, 0, 0), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x05,
                field: "dst",
                expected: "0",
                found: 1,
            },
        ),
        (
            "call with src 3",
            vec![raw(0x85, 0, 3, 0, 1), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0x85,
                field: "src",
                expected: "0, 1 or 2",
                found: 3,
            },
        ),
        (
            "atomic with unknown op",
            vec![raw(0xdb, 1, 2, 0, 0x10), EXIT],
            ReservedField {
                pc: 0,
                opcode: 0xdb,
                field: "imm",
                expected: "an atomic operation (add, or, and, xor [| fetch], xchg, cmpxchg)",
                found: 0x10,
            },
        ),
        (
            "lddw second slot with opcode",
            vec![raw(0x18, 1, 0, 0, 0), raw(0x95, 0, 0, 0, 0)],
            ReservedField {
                pc: 1,
                opcode: 0x95,
                field: "opcode",
                expected: "0 (second slot of lddw)",
                found: 0x95,
            },
        ),
        (
            "lddw second slot with dst",
            vec![raw(0x18, 1, 0, 0, 0), raw(0, 2, 0, 0, 0), EXIT],
            ReservedField {
                pc: 1,
                opcode: 0,
                field: "dst",
                expected: "0",
                found: 2,
            },
        ),
        (
            "lddw without second slot",
            vec![MOV_R0_0, raw(0x18, 1, 0, 0, 0)],
            IncompleteLddw { pc: 1 },
        ),
        (
            "lddw with src 7",
            vec![raw(0x18, 1, 7, 0, 0), raw(0, 0, 0, 0, 0), EXIT],
            InvalidLddwSource { pc: 0, src: 7 },
        ),
        (
            "jump past the end",
            vec![raw(0x05, 0, 0, 1, 0), EXIT],
            JumpOutOfBounds {
                pc: 0,
                target: 2,
                len: 2,
            },
        ),
        (
            "jump before the start",
            vec![raw(0x15, 1, 0, -2, 0), EXIT],
            JumpOutOfBounds {
                pc: 0,
                target: -1,
                len: 2,
            },
        ),
        (
            "gotol past the end",
            vec![raw(0x06, 0, 0, 0, 100), EXIT],
            JumpOutOfBounds {
                pc: 0,
                target: 101,
                len: 2,
            },
        ),
        (
            "local call past the end",
            vec![raw(0x85, 0, 1, 0, 5), EXIT],
            JumpOutOfBounds {
                pc: 0,
                target: 6,
                len: 2,
            },
        ),
        (
            "jump into lddw",
            vec![
                raw(0x05, 0, 0, 1, 0),
                raw(0x18, 0, 0, 0, 1),
                raw(0, 0, 0, 0, 0),
                EXIT,
            ],
            JumpIntoLddw { pc: 0, target: 2 },
        ),
        (
            "callback reference into lddw",
            vec![raw(0x18, 1, 4, 0, 0), raw(0, 0, 0, 0, 0), EXIT],
            JumpIntoLddw { pc: 0, target: 1 },
        ),
    ];
    let mut wrong = Vec::new();
    for (name, slots, expected) in cases {
        match decode(&slots) {
            Err(e) if e == expected => {
                // Every message names the pc, so a user can find the instruction.
                assert!(
                    e.to_string().starts_with("pc "),
                    "{name}: message `{e}` does not name the pc"
                );
            }
            other => wrong.push(format!("{name}: expected {expected:?}, got {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn whole_program_errors() {
    assert_eq!(decode_program(&[]), Err(DecodeError::Empty));
    assert_eq!(
        decode_program(&[0x95, 0, 0, 0]),
        Err(DecodeError::TruncatedSlot { len: 4 })
    );
    let too_long = vec![EXIT; vouch_verifier::isa::MAX_SLOTS + 1];
    assert!(matches!(
        decode_raw(&too_long),
        Err(DecodeError::TooLong { .. })
    ));
}

#[test]
fn valid_edge_cases_decode() {
    // Jump to the last instruction, backwards jump to 0, lddw followed by a jump over it.
    let prog = [
        raw(0x18, 1, 0, 0, 1),
        raw(0, 0, 0, 0, 2),
        raw(0x15, 1, 0, -3, 0),
        raw(0x05, 0, 0, 0, 0),
        EXIT,
    ];
    assert!(decode(&prog).is_ok());
    // Kfunc calls carry a module index in the offset field.
    assert!(decode(&[raw(0x85, 0, 2, 3, 1234), EXIT]).is_ok());
}
