use super::core_relo::{essential_name, parse_access, target_candidates};
use super::*;
use crate::elf::btf::builder::BtfBuilder;

/// One part of a `.BTF.ext`: `rec_size`, then `(section name offset, records)` blocks, each
/// record padded with zero words up to `rec_size`.
fn part(rec_size: u32, blocks: &[(u32, Vec<Vec<u32>>)]) -> Vec<u32> {
    let mut words = vec![rec_size];
    for (sec, records) in blocks {
        words.push(*sec);
        words.push(records.len() as u32);
        for r in records {
            let mut r = r.clone();
            r.resize(rec_size as usize / 4, 0);
            words.extend(r);
        }
    }
    words
}

/// A little-endian `.BTF.ext` with the given parts; `core: None` writes the short 24-byte header.
fn ext_blob(func: &[u32], line: &[u32], core: Option<&[u32]>) -> Vec<u8> {
    let hdr_len: u32 = if core.is_some() { 32 } else { 24 };
    let func_len = 4 * func.len() as u32;
    let line_len = 4 * line.len() as u32;
    let core_len = 4 * core.map_or(0, <[u32]>::len) as u32;
    let mut words = vec![hdr_len, 0, func_len, func_len, line_len];
    if core.is_some() {
        words.extend([func_len + line_len, core_len]);
    }
    words.extend_from_slice(func);
    words.extend_from_slice(line);
    words.extend_from_slice(core.unwrap_or(&[]));
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// `struct inner { int x; unsigned flags: 4; unsigned mode: 12; }` inside
/// `struct outer { long pad; struct inner in[3]; union { int y; }; }`, a function, and the
/// strings a compiler would write for their BTF.ext.
struct Fixture {
    b: BtfBuilder,
    int: TypeId,
    outer: TypeId,
    func: TypeId,
    xdp: u32,
    file: u32,
    text: u32,
    access: u32,
}

fn fixture() -> Fixture {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let uint = b.int("unsigned int", 4, 0, 32);
    let long = b.int("long", 8, 1, 64);
    let inner = b.composite(
        false,
        "inner",
        8,
        &[
            ("x", int, 0, 0),
            ("flags", uint, 32, 4),
            ("mode", uint, 36, 12),
        ],
    );
    let arr = b.array(inner, int, 3);
    let anon = b.composite(true, "", 4, &[("y", int, 0, 0)]);
    let outer = b.struct_(
        "outer",
        40,
        &[("pad", long, 0), ("in", arr, 64), ("", anon, 256)],
    );
    let proto = b.func_proto(int, &[("ctx", outer)], false);
    let func = b.func("prog", proto, 1);
    let xdp = b.str("xdp");
    let file = b.str("/src/prog.bpf.c");
    let text = b.str("\treturn ctx->in[2].mode;");
    let access = b.str("0:1:2:2");
    Fixture {
        b,
        int,
        outer,
        func,
        xdp,
        file,
        text,
        access,
    }
}

fn parse_with(f: &Fixture, ext: &[u8]) -> Result<BtfExt, BtfError> {
    let btf = Btf::parse(&f.b.build()).expect("fixture BTF parses");
    BtfExt::parse(ext, &btf)
}

fn good_ext(f: &Fixture) -> Vec<u8> {
    let func = part(8, &[(f.xdp, vec![vec![0, f.func]])]);
    let line = part(
        16,
        &[(
            f.xdp,
            vec![
                vec![0, f.file, f.text, (7 << 10) | 5],
                vec![24, f.file, 0, 8 << 10],
            ],
        )],
    );
    let core = part(16, &[(f.xdp, vec![vec![16, f.outer, f.access, 0]])]);
    ext_blob(&func, &line, Some(&core))
}

#[test]
fn decodes_func_line_and_core_records() {
    let f = fixture();
    let ext = parse_with(&f, &good_ext(&f)).expect("parses");
    assert_eq!(
        ext.func_info("xdp"),
        &[FuncInfo {
            insn: 0,
            type_id: f.func,
            name: "prog".into()
        }]
    );
    let lines = ext.line_info("xdp");
    assert_eq!(
        lines[0],
        LineInfo {
            insn: 0,
            file: "/src/prog.bpf.c".into(),
            line_text: "\treturn ctx->in[2].mode;".into(),
            line: 7,
            column: 5,
        }
    );
    assert_eq!(
        (
            lines[1].insn,
            lines[1].line,
            lines[1].column,
            lines[1].line_text.as_str()
        ),
        (3, 8, 0, "")
    );
    assert_eq!(ext.line_for_insn("xdp", 2).map(|l| l.line), Some(7));
    assert_eq!(ext.line_for_insn("xdp", 9).map(|l| l.line), Some(8));
    assert!(ext.line_for_insn("tc", 0).is_none());
    let relo = &ext.core_relos("xdp")[0];
    assert_eq!(
        (
            relo.insn,
            relo.type_id,
            relo.kind,
            relo.access_str.as_str(),
            relo.access.as_slice()
        ),
        (
            2,
            f.outer,
            CoreReloKind::FieldByteOffset,
            "0:1:2:2",
            &[0, 1, 2, 2][..]
        )
    );
    assert!(ext.func_info("tc").is_empty());
    assert_eq!(ext.all_func_info().len(), 1);
}

#[test]
fn short_header_has_no_core_relos() {
    let f = fixture();
    let func = part(8, &[(f.xdp, vec![vec![0, f.func]])]);
    let ext = parse_with(&f, &ext_blob(&func, &[], None)).expect("parses");
    assert_eq!(ext.func_info("xdp").len(), 1);
    assert!(ext.all_line_info().is_empty() && ext.all_core_relos().is_empty());
}

#[test]
fn larger_records_are_read_for_their_known_prefix() {
    let f = fixture();
    let func = part(
        16,
        &[(
            f.xdp,
            vec![vec![0, f.func, 0xdead, 0xbeef], vec![8, f.func]],
        )],
    );
    let line = part(
        20,
        &[(f.xdp, vec![vec![0, f.file, f.text, 1 << 10, 0xffff_ffff]])],
    );
    let ext = parse_with(&f, &ext_blob(&func, &line, Some(&[]))).expect("parses");
    let insns: Vec<usize> = ext.func_info("xdp").iter().map(|r| r.insn).collect();
    assert_eq!(insns, [0, 1]);
    assert_eq!(ext.line_info("xdp")[0].line, 1);
}

#[test]
fn blocks_of_the_same_section_are_merged() {
    let f = fixture();
    let func = part(
        8,
        &[
            (f.xdp, vec![vec![0, f.func]]),
            (f.xdp, vec![vec![80, f.func]]),
        ],
    );
    let ext = parse_with(&f, &ext_blob(&func, &[], None)).expect("parses");
    assert_eq!(ext.func_info("xdp").len(), 2);
}

#[test]
fn malformed_records_are_rejected() {
    let f = fixture();
    let func_ok = part(8, &[(f.xdp, vec![vec![0, f.func]])]);
    type Expected = fn(&BtfError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        (
            "record size below minimum",
            ext_blob(&part(4, &[(f.xdp, vec![vec![0]])]), &[], None),
            |e| {
                matches!(
                    e,
                    BtfError::BadRecordSize {
                        rec_size: 4,
                        min: 8,
                        ..
                    }
                )
            },
        ),
        (
            "record size not a multiple of 4",
            ext_blob(&[10, f.xdp, 0], &[], None),
            |e| matches!(e, BtfError::BadRecordSize { rec_size: 10, .. }),
        ),
        (
            "count past the end",
            ext_blob(&[8, f.xdp, 1_000_000, 0, f.func], &[], None),
            |e| {
                matches!(
                    e,
                    BtfError::ExtTruncated {
                        need: 8_000_000,
                        avail: 8,
                        ..
                    }
                )
            },
        ),
        (
            "block header cut short",
            ext_blob(&[8, f.xdp], &[], None),
            |e| matches!(e, BtfError::ExtTruncated { .. }),
        ),
        (
            "unaligned instruction offset",
            ext_blob(&part(8, &[(f.xdp, vec![vec![4, f.func]])]), &[], None),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("multiple of 8")),
        ),
        (
            "func info type is not a FUNC",
            ext_blob(&part(8, &[(f.xdp, vec![vec![0, f.int]])]), &[], None),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("expected FUNC")),
        ),
        (
            "func info type out of range",
            ext_blob(&part(8, &[(f.xdp, vec![vec![0, 500]])]), &[], None),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("[500]")),
        ),
        (
            "bad section name offset",
            ext_blob(&part(8, &[(99_999, vec![vec![0, f.func]])]), &[], None),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("99999")),
        ),
        (
            "bad line text offset",
            ext_blob(
                &func_ok,
                &part(16, &[(f.xdp, vec![vec![0, f.file, 77_777, 0]])]),
                None,
            ),
            |e| {
                matches!(
                    e,
                    BtfError::BadRecord {
                        part: "line info",
                        ..
                    }
                )
            },
        ),
        (
            "unknown relocation kind",
            ext_blob(
                &[],
                &[],
                Some(&part(16, &[(f.xdp, vec![vec![0, f.outer, f.access, 13]])])),
            ),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("kind 13")),
        ),
        (
            "bad access string",
            ext_blob(
                &[],
                &[],
                Some(&part(16, &[(f.xdp, vec![vec![0, f.outer, f.file, 0]])])),
            ),
            |e| matches!(e, BtfError::BadRecord { reason, .. } if reason.contains("access string")),
        ),
        (
            "relocation type out of range",
            ext_blob(
                &[],
                &[],
                Some(&part(16, &[(f.xdp, vec![vec![0, 500, f.access, 0]])])),
            ),
            |e| matches!(e, BtfError::BadRecord { .. }),
        ),
    ];
    for (what, blob, expected) in cases {
        match parse_with(&f, &blob) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => assert!(expected(&e), "{what}: unexpected error {e}"),
        }
    }
}

#[test]
fn malformed_headers_are_rejected() {
    let f = fixture();
    let good = good_ext(&f);
    for len in 0..24 {
        assert!(parse_with(&f, &good[..len]).is_err(), "{len}-byte prefix");
    }
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&4000u32.to_le_bytes()); // func_info_off past the end
    assert!(matches!(
        parse_with(&f, &bad),
        Err(BtfError::PartOutOfBounds {
            part: "func info",
            ..
        })
    ));
    let mut bad = good.clone();
    bad[4..8].copy_from_slice(&9999u32.to_le_bytes());
    assert!(matches!(
        parse_with(&f, &bad),
        Err(BtfError::BadHeader { .. })
    ));
    let mut bad = good;
    bad[3] = 1;
    assert!(matches!(
        parse_with(&f, &bad),
        Err(BtfError::BadHeader { .. })
    ));
}

#[test]
fn every_truncation_and_byte_flip_is_handled() {
    let f = fixture();
    let btf = Btf::parse(&f.b.build()).expect("fixture BTF parses");
    let blob = good_ext(&f);
    for len in 0..blob.len() {
        let _ = BtfExt::parse(&blob[..len], &btf);
    }
    for i in 0..blob.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bad = blob.clone();
            bad[i] = v;
            if let Ok(ext) = BtfExt::parse(&bad, &btf) {
                for relo in ext.all_core_relos().values().flatten() {
                    if let Ok(field) = relo.local_field(&btf) {
                        let _ = relo.field_value(&btf, &field);
                    }
                    let _ = relo.target_field(&btf, &btf);
                }
            }
        }
    }
}

fn relo(type_id: TypeId, kind: CoreReloKind, access: &str) -> CoreRelo {
    CoreRelo {
        insn: 0,
        type_id,
        kind,
        access_str: access.into(),
        access: parse_access(access).expect("valid access string"),
    }
}

#[test]
fn local_field_walks_members_and_elements() {
    let f = fixture();
    let btf = Btf::parse(&f.b.build()).expect("parses");
    // outer.in[2].mode: in at byte 8, element 2 at +16, mode at bit 36 of the element.
    let r = relo(f.outer, CoreReloKind::FieldByteOffset, "0:1:2:2");
    let field = r.local_field(&btf).expect("walks");
    assert_eq!(field.bit_offset, (8 + 16) * 8 + 36);
    assert_eq!(field.bitfield_size, 12);
    // outer[1].pad: the root index steps over a whole struct outer.
    let field = relo(f.outer, CoreReloKind::FieldByteOffset, "1:0")
        .local_field(&btf)
        .expect("walks");
    assert_eq!(field.bit_offset, 40 * 8);
    // The anonymous union's y.
    let field = relo(f.outer, CoreReloKind::FieldByteOffset, "0:2:0")
        .local_field(&btf)
        .expect("walks");
    assert_eq!((field.bit_offset, field.ty), (256, f.int));
    for (access, needle) in [
        ("0:3", "member index 3 is out of range"),
        ("0:1:3", "array index 3 is out of range"),
        ("0:0:0", "has no members or elements"),
    ] {
        let e = relo(f.outer, CoreReloKind::FieldByteOffset, access).local_field(&btf);
        match e {
            Err(BtfError::CoreAccess { reason, .. }) => {
                assert!(reason.contains(needle), "{access}: {reason}")
            }
            other => panic!("{access}: {other:?}"),
        }
    }
}

#[test]
fn field_values_follow_libbpf() {
    let f = fixture();
    let btf = Btf::parse(&f.b.build()).expect("parses");
    // (access, kind, value). `mode` is bits 36..48 of an 8-byte struct inner at byte 24.
    let cases = [
        ("0:0", CoreReloKind::FieldByteOffset, 0),
        ("0:0", CoreReloKind::FieldByteSize, 8),
        ("0:0", CoreReloKind::FieldSigned, 1),
        ("0:0", CoreReloKind::FieldExists, 1),
        ("0:0", CoreReloKind::FieldLshiftU64, 0),
        ("0:0", CoreReloKind::FieldRshiftU64, 0),
        ("0:1:2:0", CoreReloKind::FieldByteOffset, 24),
        ("0:1:2:0", CoreReloKind::FieldByteSize, 4),
        ("0:1:2:2", CoreReloKind::FieldByteOffset, 28),
        ("0:1:2:2", CoreReloKind::FieldByteSize, 4),
        ("0:1:2:2", CoreReloKind::FieldSigned, 0),
        // In the u32 at byte 28, mode is bits 4..16: shift left 64-16, right 64-12.
        ("0:1:2:2", CoreReloKind::FieldLshiftU64, 48),
        ("0:1:2:2", CoreReloKind::FieldRshiftU64, 52),
        ("0:1:2:1", CoreReloKind::FieldLshiftU64, 60),
        ("0:1:2:1", CoreReloKind::FieldRshiftU64, 60),
    ];
    for (access, kind, value) in cases {
        let r = relo(f.outer, kind, access);
        let field = r.local_field(&btf).expect("walks");
        assert_eq!(r.field_value(&btf, &field), Ok(value), "{access} {kind:?}");
    }
    let r = relo(f.outer, CoreReloKind::TypeSize, "0");
    let field = r.local_field(&btf).expect("walks");
    assert!(r.field_value(&btf, &field).is_err());
}

#[test]
fn target_fields_are_matched_by_name() {
    // Local: struct pkt___v1 { int a; int b; int arr[4]; }.
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, 1, 32);
    let arr = l.array(int, int, 4);
    let local_pkt = l.struct_(
        "pkt___v1",
        24,
        &[("a", int, 0), ("b", int, 32), ("arr", arr, 64)],
    );
    let local_other = l.struct_("other", 4, &[("z", int, 0)]);
    let local = Btf::parse(&l.build()).expect("local parses");
    // Target: struct pkt { long pad; union { int b; }; int arr[2]; int a; } and a flavour with a
    // different layout that lacks `arr`.
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, 1, 32);
    let long = t.int("long", 8, 1, 64);
    let arr = t.array(int, int, 2);
    let anon = t.composite(true, "", 4, &[("b", int, 0, 0)]);
    let target_pkt = t.struct_(
        "pkt",
        24,
        &[
            ("pad", long, 0),
            ("", anon, 64),
            ("arr", arr, 96),
            ("a", int, 160),
        ],
    );
    let target_bytes = t.build();
    let target = Btf::parse(&target_bytes).expect("target parses");
    assert_eq!(
        target_candidates(&local, local_pkt, &target),
        Ok(vec![target_pkt])
    );

    let found = |access: &str| match relo(local_pkt, CoreReloKind::FieldByteOffset, access)
        .target_field(&local, &target)
        .expect("lookup works")
    {
        TargetField::Found { root, field } => {
            assert_eq!(root, target_pkt);
            Some(field.bit_offset)
        }
        TargetField::NoField { reason } => {
            assert!(!reason.is_empty());
            None
        }
        TargetField::NoType { name } => panic!("no type {name}"),
    };
    assert_eq!(found("0:0"), Some(160));
    assert_eq!(found("0:1"), Some(64));
    assert_eq!(found("0:2:1"), Some(96 + 32));
    // arr[3] exists locally (4 elements) but not in the target (2).
    assert_eq!(found("0:2:3"), None);
    let missing = relo(local_other, CoreReloKind::FieldExists, "0:0").target_field(&local, &target);
    assert_eq!(
        missing,
        Ok(TargetField::NoType {
            name: "struct other".into()
        })
    );

    // A target with a second flavour placing `a` elsewhere makes `a` ambiguous.
    let mut t2 = BtfBuilder::new();
    let int = t2.int("int", 4, 1, 32);
    t2.struct_("pkt", 8, &[("a", int, 0)]);
    t2.struct_("pkt___new", 8, &[("b", int, 0), ("a", int, 32)]);
    let target2 = Btf::parse(&t2.build()).expect("parses");
    let r = relo(local_pkt, CoreReloKind::FieldByteOffset, "0:0");
    assert!(matches!(
        r.target_field(&local, &target2),
        Err(BtfError::CoreAccess { .. })
    ));
    // `b` exists only in the second flavour: found there.
    let r = relo(local_pkt, CoreReloKind::FieldByteOffset, "0:1");
    assert!(
        matches!(r.target_field(&local, &target2), Ok(TargetField::Found { field, .. }) if field.bit_offset == 0)
    );
}

#[test]
fn target_field_of_incompatible_type_is_missing() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, 1, 32);
    let s = l.struct_("s", 4, &[("x", int, 0)]);
    let local = Btf::parse(&l.build()).expect("parses");
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, 1, 32);
    let inner = t.struct_("inner", 4, &[("q", int, 0)]);
    t.struct_("s", 4, &[("x", inner, 0)]);
    let target = Btf::parse(&t.build()).expect("parses");
    let r = relo(s, CoreReloKind::FieldExists, "0:0");
    assert!(matches!(
        r.target_field(&local, &target),
        Ok(TargetField::NoField { .. })
    ));
}

#[test]
fn essential_names_and_access_strings() {
    for (name, essential) in [
        ("task_struct", "task_struct"),
        ("task_struct___old", "task_struct"),
        ("a___b___c", "a___b"),
        ("x____y", "x____y"),
        ("___x", "___x"),
        ("a___", "a___"),
        ("", ""),
    ] {
        assert_eq!(essential_name(name), essential, "{name}");
    }
    assert_eq!(parse_access("0"), Ok(vec![0]));
    assert_eq!(parse_access("0:12:3"), Ok(vec![0, 12, 3]));
    for bad in ["", ":", "0:", "0::1", "a", "-1", "+1", "99999999999"] {
        assert!(parse_access(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn byte_order_must_match_the_btf() {
    let f = fixture();
    let btf = Btf::parse(&f.b.build_big_endian()).expect("big-endian BTF parses");
    let e = BtfExt::parse(&good_ext(&f), &btf);
    assert!(matches!(e, Err(BtfError::BadHeader { .. })));
}

#[test]
fn inner_struct_is_named_in_errors() {
    let f = fixture();
    let btf = Btf::parse(&f.b.build()).expect("parses");
    let e = relo(f.outer, CoreReloKind::FieldByteOffset, "0:1:2:9")
        .local_field(&btf)
        .expect_err("out of range");
    let msg = e.to_string();
    assert!(
        msg.contains("struct outer") && msg.contains("struct inner") && msg.contains("0:1:2:9"),
        "{msg}"
    );
}

#[test]
fn quoted_strings_are_bounded() {
    // Many records naming one long line: each copies it, so the total is budgeted.
    let mut f = fixture();
    let long = f.b.str(&"x".repeat(1000));
    let records = vec![vec![0, f.file, long, 1 << 10]; 100];
    let line = part(16, &[(f.xdp, records)]);
    let btf = Btf::parse(&f.b.build()).expect("parses");
    let blob = ext_blob(&[], &line, None);
    assert!(BtfExt::parse_with_budget(&blob, &btf, 200_000).is_ok());
    let e = BtfExt::parse_with_budget(&blob, &btf, 50_000).expect_err("over budget");
    assert!(e.to_string().contains("budget"), "{e}");
}

#[test]
fn access_strings_are_bounded() {
    let long = vec!["0"; core_relo::MAX_ACCESS_LEN + 1].join(":");
    assert!(parse_access(&long).is_err());
    let ok = vec!["0"; core_relo::MAX_ACCESS_LEN].join(":");
    assert_eq!(
        parse_access(&ok).map(|a| a.len()),
        Ok(core_relo::MAX_ACCESS_LEN)
    );
}

/// A bitfield's offset, size and shifts depend on the load width compiler and libbpf each pick,
/// so, as libbpf, the loader does not refuse an instruction holding another value for them: it
/// patches libbpf's. Anything else that disagrees is still refused.
#[test]
fn bitfield_relocations_are_patched_without_validation() {
    use crate::elf::core::{Outcome, ambiguous, patch};
    use crate::isa::RawInsn;
    let f = fixture();
    let btf = Btf::parse(&f.b.build()).expect("parses");
    let mode = |kind| relo(f.outer, kind, "0:1:2:2");
    assert_eq!(
        ambiguous(&mode(CoreReloKind::FieldByteOffset), &btf),
        Ok(true)
    );
    assert_eq!(
        ambiguous(&mode(CoreReloKind::FieldLshiftU64), &btf),
        Ok(true)
    );
    assert_eq!(ambiguous(&mode(CoreReloKind::FieldSigned), &btf), Ok(false));
    assert_eq!(ambiguous(&mode(CoreReloKind::FieldExists), &btf), Ok(false));
    let x = relo(f.outer, CoreReloKind::FieldByteOffset, "0:1:2:0");
    assert_eq!(ambiguous(&x, &btf), Ok(false));
    // `r1 <<= 16` where libbpf computes 48.
    let lsh = RawInsn {
        opcode: 0x67,
        dst: 1,
        src: 0,
        off: 0,
        imm: 16,
    };
    let mut slots = [lsh];
    let v = || Outcome::Value(48);
    assert!(patch(&mut slots, 0, &v(), &v(), true).is_err());
    assert_eq!(patch(&mut slots, 0, &v(), &v(), false), Ok(()));
    assert_eq!(slots[0].imm, 48);
}
