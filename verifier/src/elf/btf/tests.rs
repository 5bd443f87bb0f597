use super::builder::BtfBuilder;
use super::*;

/// A blob with one of every kind, as a C compiler might emit for
/// `struct pkt { int len; unsigned flags: 3; union { char tag[16]; u64 raw; }; }` and friends.
struct Sample {
    btf: Btf,
    int: TypeId,
    uint: TypeId,
    char_: TypeId,
    u64_: TypeId,
    ptr_void: TypeId,
    char16: TypeId,
    anon_union: TypeId,
    pkt: TypeId,
    color: TypeId,
    fwd: TypeId,
    typedef_u64: TypeId,
    volatile_: TypeId,
    const_char: TypeId,
    restrict_: TypeId,
    proto: TypeId,
    func: TypeId,
    var: TypeId,
    datasec: TypeId,
    float: TypeId,
    decl_tag: TypeId,
    type_tag: TypeId,
    big: TypeId,
    ptr_const_char: TypeId,
}

fn sample() -> Sample {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let uint = b.int("unsigned int", 4, 0, 32);
    let char_ = b.int("char", 1, 2, 8);
    let u64_ = b.int("long long unsigned int", 8, 0, 64);
    let ptr_void = b.ptr(0);
    let char16 = b.array(char_, int, 16);
    let typedef_u64 = b.typedef("u64", u64_);
    let anon_union = b.composite(
        true,
        "",
        16,
        &[("tag", char16, 0, 0), ("raw", typedef_u64, 0, 0)],
    );
    let pkt = b.composite(
        false,
        "pkt",
        24,
        &[
            ("len", int, 0, 0),
            ("flags", uint, 32, 3),
            ("", anon_union, 64, 0),
        ],
    );
    let color = b.enum32("color", true, &[("RED", -1), ("GREEN", 7)]);
    let fwd = b.fwd("later", true);
    let volatile_ = b.modifier(9, int);
    let const_char = b.modifier(10, char_);
    let ptr_const_char = b.ptr(const_char);
    let restrict_ = b.modifier(11, ptr_void);
    let proto = b.func_proto(int, &[("ctx", ptr_void), ("name", ptr_const_char)], true);
    let func = b.func("handle", proto, 1);
    let var = b.var("counter", u64_, 1);
    let datasec = b.datasec(".bss", 8, &[(var, 0, 8)]);
    let float = b.float("double", 8);
    let decl_tag = b.decl_tag("kfunc", func, 0);
    let type_tag = b.type_tag("user", int);
    let big = b.enum64("big", false, &[("HUGE", 1 << 40)]);
    let btf = Btf::parse(&b.build()).expect("sample BTF parses");
    Sample {
        btf,
        int,
        uint,
        char_,
        u64_,
        ptr_void,
        char16,
        anon_union,
        pkt,
        color,
        fwd,
        typedef_u64,
        volatile_,
        const_char,
        restrict_,
        proto,
        func,
        var,
        datasec,
        float,
        decl_tag,
        type_tag,
        big,
        ptr_const_char,
    }
}

#[test]
fn decodes_every_kind() {
    let s = sample();
    let b = &s.btf;
    let kind = |id| &b.get(id).expect("type exists").kind;
    assert_eq!(kind(0), &TypeKind::Void);
    assert_eq!(b.type_count(), 24);
    assert_eq!(
        kind(s.int),
        &TypeKind::Int(Int {
            size: 4,
            encoding: IntEncoding::Signed,
            offset: 0,
            bits: 32
        })
    );
    assert!(matches!(
        kind(s.char_),
        TypeKind::Int(Int {
            encoding: IntEncoding::Char,
            ..
        })
    ));
    assert_eq!(kind(s.ptr_void), &TypeKind::Ptr(0));
    assert_eq!(
        kind(s.char16),
        &TypeKind::Array(Array {
            elem: s.char_,
            index: s.int,
            nelems: 16
        })
    );
    let TypeKind::Struct(pkt) = kind(s.pkt) else {
        panic!("pkt is a struct")
    };
    assert_eq!(pkt.size, 24);
    assert_eq!(
        pkt.members[1],
        Member {
            name_off: pkt.members[1].name_off,
            ty: s.uint,
            bit_offset: 32,
            bitfield_size: 3
        }
    );
    assert_eq!(b.string_at(pkt.members[1].name_off), Ok("flags"));
    assert!(matches!(kind(s.anon_union), TypeKind::Union(u) if u.members.len() == 2));
    let TypeKind::Enum(color) = kind(s.color) else {
        panic!("color is an enum")
    };
    assert!(color.signed);
    assert_eq!(color.values[0].value as i64, -1);
    assert_eq!(color.values[1].value, 7);
    assert_eq!(kind(s.fwd), &TypeKind::Fwd(FwdKind::Union));
    assert_eq!(kind(s.typedef_u64), &TypeKind::Typedef(s.u64_));
    assert_eq!(kind(s.volatile_), &TypeKind::Volatile(s.int));
    assert_eq!(kind(s.const_char), &TypeKind::Const(s.char_));
    assert_eq!(kind(s.restrict_), &TypeKind::Restrict(s.ptr_void));
    let TypeKind::FuncProto(proto) = kind(s.proto) else {
        panic!("proto")
    };
    assert_eq!(
        (proto.ret, proto.params.len(), proto.variadic),
        (s.int, 2, true)
    );
    assert_eq!(b.string_at(proto.params[0].name_off), Ok("ctx"));
    assert_eq!(
        kind(s.func),
        &TypeKind::Func(Func {
            proto: s.proto,
            linkage: FuncLinkage::Global
        })
    );
    assert_eq!(
        kind(s.var),
        &TypeKind::Var(Var {
            ty: s.u64_,
            linkage: VarLinkage::Global
        })
    );
    assert_eq!(
        kind(s.datasec),
        &TypeKind::Datasec(Datasec {
            size: 8,
            vars: vec![VarSecinfo {
                ty: s.var,
                offset: 0,
                size: 8
            }]
        })
    );
    assert_eq!(kind(s.float), &TypeKind::Float(8));
    assert_eq!(
        kind(s.decl_tag),
        &TypeKind::DeclTag(DeclTag {
            target: s.func,
            component: Some(0),
            attribute: false
        })
    );
    assert_eq!(
        kind(s.type_tag),
        &TypeKind::TypeTag(TypeTag {
            target: s.int,
            attribute: false
        })
    );
    let TypeKind::Enum64(big) = kind(s.big) else {
        panic!("enum64")
    };
    assert_eq!((big.signed, big.values[0].value), (false, 1 << 40));
}

#[test]
fn names_and_lookups() {
    let s = sample();
    let b = &s.btf;
    assert_eq!(b.name(s.pkt), Some("pkt"));
    assert_eq!(b.name(s.ptr_void), None);
    assert_eq!(b.name(0), None);
    assert_eq!(b.name(999), None);
    assert_eq!(b.find_by_name(BtfKind::Struct, "pkt"), Some(s.pkt));
    assert_eq!(b.find_by_name(BtfKind::Union, "pkt"), None);
    assert_eq!(b.find_by_name(BtfKind::Int, "int"), Some(s.int));
    assert_eq!(b.find_by_name(BtfKind::Int, "in"), None);
    assert_eq!(b.string_at(0), Ok(""));
    assert!(matches!(
        b.string_at(100_000),
        Err(BtfError::StringOffset {
            offset: 100_000,
            ..
        })
    ));
    let (id, sec) = b.find_datasec(".bss").expect(".bss datasec");
    assert_eq!(id, s.datasec);
    let vars = b.datasec_vars(sec).expect("vars resolve");
    assert_eq!(
        vars,
        vec![DatasecVar {
            id: s.var,
            name: "counter",
            ty: s.u64_,
            offset: 0,
            size: 8
        }]
    );
    assert!(b.find_datasec(".data").is_none());
}

#[test]
fn resolve_size_and_members() {
    let s = sample();
    let b = &s.btf;
    assert_eq!(b.resolve(s.typedef_u64), Ok(s.u64_));
    assert_eq!(b.resolve(s.type_tag), Ok(s.int));
    assert_eq!(b.resolve(s.restrict_), Ok(s.ptr_void));
    assert_eq!(b.resolve(s.pkt), Ok(s.pkt));
    let sizes = [
        (s.int, 4),
        (s.ptr_void, 8),
        (s.char16, 16),
        (s.pkt, 24),
        (s.color, 4),
        (s.typedef_u64, 8),
        (s.const_char, 1),
        (s.var, 8),
        (s.datasec, 8),
        (s.float, 8),
        (s.big, 8),
    ];
    for (id, size) in sizes {
        assert_eq!(b.size_of(id), Ok(size), "size of {}", b.type_name(id));
    }
    for id in [0, s.func, s.proto, s.fwd, s.decl_tag] {
        assert!(
            matches!(b.size_of(id), Err(BtfError::NoSize { .. })),
            "{id} has no size"
        );
    }
    assert_eq!(
        b.member(s.pkt, "len"),
        Ok(Some(Field {
            ty: s.int,
            bit_offset: 0,
            bitfield_size: 0
        }))
    );
    assert_eq!(
        b.member(s.pkt, "flags"),
        Ok(Some(Field {
            ty: s.uint,
            bit_offset: 32,
            bitfield_size: 3
        }))
    );
    // `raw` lives in the anonymous union at bit 64.
    let raw = b
        .member(s.pkt, "raw")
        .expect("search works")
        .expect("raw found");
    assert_eq!((raw.ty, raw.byte_offset()), (s.typedef_u64, 8));
    assert_eq!(b.member(s.pkt, "missing"), Ok(None));
    assert!(matches!(
        b.member(s.int, "x"),
        Err(BtfError::WrongKind { .. })
    ));
}

#[test]
fn pretty_names() {
    let s = sample();
    let b = &s.btf;
    let cases = [
        (0, "void"),
        (s.uint, "unsigned int"),
        (s.ptr_void, "void *"),
        (s.char16, "char[16]"),
        (s.pkt, "struct pkt"),
        (s.anon_union, "union <anon>"),
        (s.color, "enum color"),
        (s.fwd, "union later"),
        (s.typedef_u64, "u64"),
        (s.volatile_, "volatile int"),
        (s.ptr_const_char, "const char *"),
        (s.restrict_, "void *restrict"),
        (s.proto, "int (void *, const char *, ...)"),
        (s.func, "int handle(void *, const char *, ...)"),
        (s.var, "long long unsigned int counter"),
        (s.datasec, "DATASEC .bss"),
        (s.type_tag, "__user int"),
        (999, "<no type [999]>"),
    ];
    for (id, name) in cases {
        assert_eq!(b.type_name(id), name);
    }
}

#[test]
fn pointer_to_array_and_function() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let arr = b.array(int, int, 4);
    let arr2 = b.array(arr, int, 2);
    let p_arr = b.ptr(arr);
    let proto = b.func_proto(int, &[], false);
    let p_fn = b.ptr(proto);
    let pp = b.ptr(p_fn);
    let p_int = b.ptr(int);
    let arr_p = b.array(p_int, int, 4);
    let p_arr_p = b.ptr(arr_p);
    let btf = Btf::parse(&b.build()).expect("parses");
    assert_eq!(btf.type_name(arr2), "int[2][4]");
    assert_eq!(btf.type_name(p_arr), "int (*)[4]");
    assert_eq!(btf.type_name(p_fn), "int (*)(void)");
    assert_eq!(btf.type_name(pp), "int (**)(void)");
    assert_eq!(btf.type_name(arr_p), "int *[4]");
    assert_eq!(btf.type_name(p_arr_p), "int *(*)[4]");
    assert_eq!(btf.size_of(arr2), Ok(32));
}

#[test]
fn big_endian_blob_decodes_the_same() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let s = b.struct_("pair", 8, &[("a", int, 0), ("b", int, 32)]);
    let btf = Btf::parse(&b.build_big_endian()).expect("big-endian parses");
    assert!(btf.is_big_endian());
    assert_eq!(
        btf.member(s, "b").map(|f| f.map(|f| f.byte_offset())),
        Ok(Some(4))
    );
}

#[test]
fn typedef_cycle_errors_instead_of_hanging() {
    let mut b = BtfBuilder::new();
    // [1] typedef a -> [2], [2] typedef b -> [1]
    let a = b.typedef("a", 2);
    let _ = b.typedef("b", a);
    let s = b.struct_("s", 4, &[("x", a, 0)]);
    let p = b.ptr(a);
    let btf = Btf::parse(&b.build()).expect("a cycle is only an error when followed");
    assert!(matches!(btf.resolve(a), Err(BtfError::TooDeep { .. })));
    assert!(matches!(btf.size_of(a), Err(BtfError::TooDeep { .. })));
    assert!(matches!(btf.member(a, "x"), Err(BtfError::TooDeep { .. })));
    assert_eq!(btf.size_of(p), Ok(8));
    assert_eq!(btf.member(s, "x").map(|f| f.is_some()), Ok(true));
    assert!(btf.type_name(p).contains("a *"));
}

#[test]
fn self_embedding_anonymous_struct_errors() {
    let mut b = BtfBuilder::new();
    // struct [1] { struct [1]; } embedded anonymously in itself.
    let s = b.struct_("loop", 4, &[("", 1, 0)]);
    let btf = Btf::parse(&b.build()).expect("parses");
    assert!(matches!(btf.member(s, "x"), Err(BtfError::TooDeep { .. })));
}

#[test]
fn exponential_fan_out_is_bounded() {
    // Each struct embeds the previous one twice, anonymously: 2^40 paths.
    let mut b = BtfBuilder::new();
    let mut prev = b.struct_("", 4, &[]);
    for _ in 0..40 {
        prev = b.struct_("", 4, &[("", prev, 0), ("", prev, 0)]);
    }
    let proto_chain = {
        let mut p = b.func_proto(0, &[], false);
        for _ in 0..40 {
            let ptr = b.ptr(p);
            p = b.func_proto(ptr, &[("", ptr), ("", ptr)], false);
        }
        p
    };
    let btf = Btf::parse(&b.build()).expect("parses");
    assert!(matches!(
        btf.member(prev, "x"),
        Err(BtfError::TooComplex { .. })
    ));
    assert!(btf.type_name(proto_chain).contains("..."));
}

#[test]
fn array_size_overflow_is_an_error() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let a = b.array(int, int, u32::MAX);
    let aa = b.array(a, int, 2);
    let aaa = b.array(aa, int, u32::MAX);
    let btf = Btf::parse(&b.build()).expect("parses");
    assert_eq!(btf.size_of(aa), Ok(8 * u64::from(u32::MAX)));
    assert!(matches!(
        btf.size_of(aaa),
        Err(BtfError::SizeOverflow { .. })
    ));
}

/// Parses a blob expected to be rejected and returns the error.
fn reject(blob: &[u8]) -> BtfError {
    match Btf::parse(blob) {
        Ok(_) => panic!("blob was accepted"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn truncated_and_bad_headers() {
    let good = {
        let mut b = BtfBuilder::new();
        b.int("int", 4, 1, 32);
        b.build()
    };
    assert!(Btf::parse(&good).is_ok());
    for len in 0..24 {
        let e = reject(&good[..len]);
        assert!(
            matches!(
                e,
                BtfError::TruncatedHeader { .. } | BtfError::BadMagic { .. }
            ),
            "{len}: {e}"
        );
    }
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(reject(&bad), BtfError::BadMagic { .. }));
    let mut bad = good.clone();
    bad[2] = 2;
    assert!(matches!(
        reject(&bad),
        BtfError::UnsupportedVersion { version: 2, .. }
    ));
    let mut bad = good.clone();
    bad[3] = 1;
    assert!(matches!(reject(&bad), BtfError::BadHeader { .. }));
    // hdr_len past the end, and below 24.
    for hdr_len in [1000u32, 8] {
        let mut bad = good.clone();
        bad[4..8].copy_from_slice(&hdr_len.to_le_bytes());
        assert!(matches!(reject(&bad), BtfError::BadHeader { .. }));
    }
    // Type section longer than the blob.
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&0x1000u32.to_le_bytes());
    let e = reject(&bad);
    assert!(
        matches!(
            e,
            BtfError::PartOutOfBounds {
                part: "type section",
                ..
            }
        ),
        "{e}"
    );
    // String offset so large that offset + length wraps u32.
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        reject(&bad),
        BtfError::PartOutOfBounds {
            part: "string table",
            ..
        }
    ));
    // Overlapping parts.
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(reject(&bad), BtfError::BadHeader { .. }));
}

#[test]
fn bad_string_tables() {
    let mut b = BtfBuilder::new();
    b.int("int", 4, 1, 32);
    let good = b.build();
    let str_start = good.len() - "\0int\0".len();
    let mut bad = good.clone();
    bad[str_start] = b'x';
    assert!(matches!(reject(&bad), BtfError::BadStringTable { .. }));
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] = b'x';
    assert!(matches!(reject(&bad), BtfError::BadStringTable { .. }));
    let mut bad = good;
    bad[20..24].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(reject(&bad), BtfError::BadStringTable { .. }));
}

#[test]
fn bad_string_offset_is_rejected() {
    let mut b = BtfBuilder::new();
    b.record_at(5000, 1, 0, false, 4);
    b.word(32);
    let e = reject(&b.build());
    assert!(
        matches!(e, BtfError::StringOffset { offset: 5000, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("type [1]"), "{e}");
    // A member name out of range.
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    b.record("s", 4, 1, false, 4);
    b.word(9999).word(int).word(0);
    assert!(matches!(
        reject(&b.build()),
        BtfError::StringOffset { offset: 9999, .. }
    ));
}

#[test]
fn count_past_the_end_is_rejected_before_allocating() {
    let mut b = BtfBuilder::new();
    // A struct claiming 65535 members with none present.
    b.record("s", 4, 0xffff, false, 4);
    let e = reject(&b.build());
    assert!(
        matches!(
            e,
            BtfError::TypeTruncated {
                id: 1,
                need: 786_432,
                avail: 12,
                ..
            }
        ),
        "{e}"
    );
    // A record header cut short.
    let mut b = BtfBuilder::new();
    b.word(0).word(1 << 24);
    assert!(matches!(
        reject(&b.build()),
        BtfError::TypeTruncated { id: 1, .. }
    ));
}

#[test]
fn out_of_range_references_are_rejected() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    b.struct_("s", 8, &[("a", int, 0), ("b", 77, 32)]);
    let e = reject(&b.build());
    assert!(
        matches!(&e, BtfError::TypeRefOutOfRange { id: 2, target: 77, last: 2, role, .. } if role == "member 1"),
        "{e}"
    );
    for make in [
        |b: &mut BtfBuilder| b.ptr(50),
        |b: &mut BtfBuilder| b.array(1, 50, 1),
        |b: &mut BtfBuilder| b.func_proto(50, &[], false),
        |b: &mut BtfBuilder| b.var("v", 50, 0),
        |b: &mut BtfBuilder| b.typedef("t", 50),
    ] {
        let mut b = BtfBuilder::new();
        b.int("int", 4, 1, 32);
        make(&mut b);
        assert!(matches!(
            reject(&b.build()),
            BtfError::TypeRefOutOfRange { target: 50, .. }
        ));
    }
}

#[test]
fn invalid_records_are_rejected() {
    type Make = fn(&mut BtfBuilder);
    let cases: Vec<(&str, Make)> = vec![
        ("unknown kind", |b| {
            b.record("x", 25, 0, false, 0);
        }),
        ("kind 0", |b| {
            b.record("x", 0, 0, false, 0);
        }),
        ("reserved info bits", |b| {
            b.word(0).word((2 << 24) | (1 << 20)).word(0);
        }),
        ("int size", |b| {
            b.int("int", 3, 1, 24);
        }),
        ("int bits", |b| {
            b.int("int", 4, 1, 33);
        }),
        ("int encoding", |b| {
            b.int("int", 4, 3, 32);
        }),
        ("func linkage", |b| {
            let p = b.func_proto(0, &[], false);
            b.func("f", p, 3);
        }),
        ("func not proto", |b| {
            let i = b.int("int", 4, 1, 32);
            b.func("f", i, 0);
        }),
        ("var linkage", |b| {
            let i = b.int("int", 4, 1, 32);
            b.var("v", i, 7);
        }),
        ("void var", |b| {
            b.var("v", 0, 0);
        }),
        ("datasec entry", |b| {
            let i = b.int("int", 4, 1, 32);
            b.datasec(".data", 4, &[(i, 0, 4)]);
        }),
        ("void param not last", |b| {
            let i = b.int("int", 4, 1, 32);
            let id = b.record("", 13, 2, false, i);
            assert_eq!(id, 2);
            b.word(0).word(0).word(0).word(i);
        }),
        ("decl tag component", |b| {
            let i = b.int("int", 4, 1, 32);
            let s = b.struct_("s", 4, &[("x", i, 0)]);
            b.decl_tag("t", s, 1);
        }),
        ("decl tag on int component", |b| {
            let i = b.int("int", 4, 1, 32);
            b.decl_tag("t", i, 0);
        }),
        ("decl tag index", |b| {
            let i = b.int("int", 4, 1, 32);
            b.decl_tag("t", i, -2);
        }),
        ("float size", |b| {
            b.float("f", 3);
        }),
        ("enum size", |b| {
            b.record("e", 6, 0, false, 3);
        }),
    ];
    for (what, make) in cases {
        let mut b = BtfBuilder::new();
        make(&mut b);
        let e = Btf::parse(&b.build());
        assert!(e.is_err(), "{what}: accepted");
    }
}

#[test]
fn every_truncation_and_byte_flip_is_handled() {
    // Not a fuzzer, but every prefix and single-byte corruption of the sample must either parse or
    // fail with an error, and queries on whatever parses must not panic.
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let t = b.typedef("t", int);
    let p = b.ptr(t);
    b.struct_("s", 16, &[("a", t, 0), ("b", p, 64)]);
    b.enum32("e", false, &[("A", 1)]);
    let proto = b.func_proto(int, &[("x", p)], false);
    b.func("f", proto, 1);
    let blob = b.build();
    let exercise = |btf: &Btf| {
        for id in 0..btf.type_count() as TypeId + 2 {
            let _ = btf.resolve(id);
            let _ = btf.size_of(id);
            let _ = btf.member(id, "a");
            let _ = btf.type_name(id);
        }
    };
    for len in 0..blob.len() {
        if let Ok(btf) = Btf::parse(&blob[..len]) {
            exercise(&btf);
        }
    }
    for i in 0..blob.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bad = blob.clone();
            bad[i] = v;
            if let Ok(btf) = Btf::parse(&bad) {
                exercise(&btf);
            }
        }
    }
}
