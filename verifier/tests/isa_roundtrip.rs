//! Property tests of the instruction set: for every valid encoding `x`,
//! `encode(decode(x)) == x` and `asm(disasm(decode(x))) == decode(x)`.
//!
//! Two sources of instructions: an exhaustive sweep of every opcode byte, register pair and a set of
//! representative offsets and immediates; and random slots biased toward the values valid
//! encodings use (any `i16`/`i32` too), which also shows decoding never panics.

use proptest::prelude::*;
use vouch_verifier::isa::{self, Insn, RawInsn, asm, decode_at, disasm::disasm, encode};

fn interesting_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(8),
        Just(16),
        Just(32),
        Just(64),
        Just(0x01),
        Just(0x41),
        Just(0x51),
        Just(0xa1),
        Just(0xe1),
        Just(0xf1),
        Just(i32::MIN),
        Just(i32::MAX),
        any::<i32>(),
    ]
}

fn interesting_i16() -> impl Strategy<Value = i16> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(8),
        Just(16),
        Just(32),
        Just(-8),
        any::<i16>()
    ]
}

fn slot() -> impl Strategy<Value = RawInsn> {
    (
        any::<u8>(),
        0u8..12,
        0u8..12,
        interesting_i16(),
        interesting_i32(),
    )
        .prop_map(|(opcode, dst, src, off, imm)| RawInsn {
            opcode,
            dst,
            src,
            off,
            imm,
        })
}

/// Checks both round trips for one valid instruction.
fn check_round_trip(slots: &[RawInsn; 2], insn: Insn) -> Result<(), String> {
    let encoded = encode(&insn);
    if encoded[..] != slots[..insn.slots()] {
        return Err(format!("{insn:?} re-encodes to {encoded:?}, not {slots:?}"));
    }
    let text = disasm(&insn);
    let assembled = asm::assemble(&text).map_err(|e| format!("`{text}`: {e}"))?;
    let expected: Vec<Insn> = if insn.slots() == 2 {
        vec![insn, Insn::WideTail]
    } else {
        vec![insn]
    };
    if assembled != expected {
        return Err(format!(
            "`{text}` assembles to {assembled:?}, not {expected:?}"
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    /// Random slots: decoding never panics, and whatever decodes round-trips.
    #[test]
    fn random_slots_round_trip(first in slot(), tail_imm in interesting_i32()) {
        let slots = [first, RawInsn { imm: tail_imm, ..RawInsn::default() }];
        if let Ok(insn) = decode_at(&slots, 0) {
            check_round_trip(&slots, insn).map_err(TestCaseError::fail)?;
        }
    }
}

/// Every opcode with every register pair and representative offsets and immediates: each valid
/// combination round-trips. Together with the opcode table below this covers every valid form.
#[test]
fn every_valid_field_combination_round_trips() {
    let offs = [0i16, 1, -1, 8, 16, 32, i16::MIN, i16::MAX];
    let imms = [
        0i32,
        1,
        -1,
        16,
        32,
        64,
        0x41,
        0xa1,
        0xe1,
        0xf1,
        i32::MIN,
        i32::MAX,
    ];
    let mut valid = 0usize;
    let mut failures = Vec::new();
    for opcode in 0..=255u8 {
        for dst in 0..16u8 {
            for src in 0..16u8 {
                for &off in &offs {
                    for &imm in &imms {
                        let first = RawInsn {
                            opcode,
                            dst,
                            src,
                            off,
                            imm,
                        };
                        let slots = [
                            first,
                            RawInsn {
                                imm: imm.wrapping_add(7),
                                ..RawInsn::default()
                            },
                        ];
                        let Ok(insn) = decode_at(&slots, 0) else {
                            continue;
                        };
                        valid += 1;
                        if let Err(e) = check_round_trip(&slots, insn) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        valid > 10_000,
        "only {valid} valid combinations: the decoder rejects too much"
    );
}

/// Every opcode byte RFC 9669 defines decodes in some form; everything else is rejected. This
/// pins the opcode table so a decoder change that drops or adds an opcode is noticed.
#[test]
fn opcode_table_matches_rfc9669() {
    let mut valid = Vec::new();
    for opcode in 0..=255u8 {
        let candidates = [
            RawInsn {
                opcode,
                ..RawInsn::default()
            },
            RawInsn {
                opcode,
                imm: 16,
                ..RawInsn::default()
            },
            RawInsn {
                opcode,
                dst: 1,
                src: 2,
                ..RawInsn::default()
            },
            RawInsn {
                opcode,
                off: 1,
                ..RawInsn::default()
            },
            RawInsn {
                opcode,
                dst: 1,
                src: 2,
                off: 8,
                ..RawInsn::default()
            },
            RawInsn {
                opcode,
                dst: 1,
                src: 2,
                imm: 0xe1,
                ..RawInsn::default()
            },
        ];
        let slots_ok = candidates.iter().any(|c| {
            let slots = [*c, RawInsn::default()];
            decode_at(&slots, 0).is_ok()
        });
        if slots_ok {
            valid.push(opcode);
        }
    }
    let expected: Vec<u8> = vec![
        // ALU (32-bit), K and X forms of add..arsh, neg, end (le/be).
        0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74,
        0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc,
        // ALU64, with bswap (0xd7) but no 0xdf.
        0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77,
        0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7,
        // JMP: ja, conditionals K/X, call (helper/local/kfunc), callx, exit.
        0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d,
        0x85, 0x8d, 0x95, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd,
        // JMP32: gotol, conditionals K/X.
        0x06, 0x16, 0x1e, 0x26, 0x2e, 0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e,
        0xa6, 0xae, 0xb6, 0xbe, 0xc6, 0xce, 0xd6, 0xde,
        // LD: lddw, legacy abs/ind (w, h, b).
        0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,
        // LDX: mem (w, h, b, dw), memsx (w, h, b).
        0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, // ST and STX mem, STX atomic (w, dw).
        0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb,
    ];
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_unstable();
    assert_eq!(valid, expected_sorted);
    let _ = isa::MAX_SLOTS;
}
