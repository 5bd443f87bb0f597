//! `.BTF` bytes → [`Btf`]: the header, the string table, then every type record, then a pass that
//! checks every type reference and the few cross-type rules later stages rely on.
//!
//! Every count read from the blob is checked against the bytes that remain before anything is
//! allocated for it, so a hostile blob cannot make the parser allocate more than a small multiple
//! of its own size.

use super::Btf;
use super::bytes::Bytes;
use super::error::BtfError;
use super::header::{header_word, part, read_common_header};
use super::types::*;

const SECTION: &str = ".BTF";
const HEADER_LEN: usize = 24;
/// `struct btf_type`: name_off, info, size/type.
const TYPE_HEADER_LEN: usize = 12;
/// Bits of `btf_type.info` that may be set: vlen (0-15), kind (24-28), kind_flag (31).
const INFO_MASK: u32 = 0x9f00_ffff;

pub(super) fn parse(raw: &[u8]) -> Result<Btf, BtfError> {
    let header = read_common_header(raw, SECTION, HEADER_LEN)?;
    let bytes = header.bytes;
    let tail = bytes
        .slice(HEADER_LEN, header.hdr_len as usize - HEADER_LEN)
        .unwrap_or(&[]);
    if tail.iter().any(|&b| b != 0) {
        return Err(BtfError::BadHeader {
            section: SECTION,
            reason: format!(
                "header is {} bytes and the bytes after the first {HEADER_LEN} are not zero \
                 (a newer BTF version?)",
                header.hdr_len
            ),
        });
    }
    let type_off = header_word(&header, SECTION, 0)?;
    let type_len = header_word(&header, SECTION, 1)?;
    let str_off = header_word(&header, SECTION, 2)?;
    let str_len = header_word(&header, SECTION, 3)?;
    let type_bytes = part(&header, SECTION, "type section", type_off, type_len)?;
    let strings = part(&header, SECTION, "string table", str_off, str_len)?;
    check_layout(type_off, type_len, str_off, str_len)?;
    check_strings(strings)?;
    let types = decode_types(bytes.with_same_order(type_bytes), strings.len())?;
    check_types(&types)?;
    Ok(Btf {
        types,
        strings: strings.into(),
        big_endian: bytes.is_big_endian(),
    })
}

fn check_layout(type_off: u32, type_len: u32, str_off: u32, str_len: u32) -> Result<(), BtfError> {
    let bad = |reason: String| BtfError::BadHeader {
        section: SECTION,
        reason,
    };
    if !type_off.is_multiple_of(4) {
        return Err(bad(format!(
            "type section offset {type_off} is not a multiple of 4"
        )));
    }
    let (t0, t1) = (
        u64::from(type_off),
        u64::from(type_off) + u64::from(type_len),
    );
    let (s0, s1) = (u64::from(str_off), u64::from(str_off) + u64::from(str_len));
    if type_len > 0 && str_len > 0 && t0 < s1 && s0 < t1 {
        return Err(bad(format!(
            "type section {t0}..{t1} and string table {s0}..{s1} overlap"
        )));
    }
    Ok(())
}

/// The string table must start with the empty string and end with a NUL, so that every offset
/// inside it starts a terminated string.
fn check_strings(strings: &[u8]) -> Result<(), BtfError> {
    let reason = match (strings.first(), strings.last()) {
        (None, _) => "it is empty (it must hold at least the empty string at offset 0)",
        (Some(&first), _) if first != 0 => "it does not start with the empty string",
        (_, Some(&last)) if last != 0 => "its last string is not NUL-terminated",
        _ => return Ok(()),
    };
    Err(BtfError::BadStringTable { reason })
}

fn decode_types(bytes: Bytes<'_>, str_len: usize) -> Result<Vec<Type>, BtfError> {
    let words = bytes.words();
    // Each record takes at least 12 bytes, so this reservation is bounded by the input size.
    let mut types = Vec::with_capacity(1 + bytes.len() / TYPE_HEADER_LEN);
    types.push(Type {
        name_off: 0,
        kind: TypeKind::Void,
    });
    let mut offset = 0;
    while offset < bytes.len() {
        let id = TypeId::try_from(types.len()).map_err(|_| BtfError::InvalidType {
            id: TypeId::MAX,
            kind: BtfKind::Void,
            reason: "more than 2^32 types".into(),
        })?;
        let record = Record {
            words: &words,
            len: bytes.len(),
            id,
            start: offset,
            str_len,
        };
        let (ty, len) = record.decode()?;
        types.push(ty);
        offset += len;
    }
    Ok(types)
}

/// One type record at byte `start` of the type section.
struct Record<'a> {
    /// The type section as words; records start and end on word boundaries.
    words: &'a [u32],
    /// The type section's length in bytes.
    len: usize,
    id: TypeId,
    start: usize,
    str_len: usize,
}

impl Record<'_> {
    /// Decodes the record; returns the type and the record's length in bytes.
    fn decode(&self) -> Result<(Type, usize), BtfError> {
        let name_off = self.u32(0)?;
        let info = self.u32(4)?;
        let size_or_type = self.u32(8)?;
        let raw_kind = (info >> 24) & 0x1f;
        let kind = btf_kind(raw_kind).ok_or(BtfError::UnknownKind {
            id: self.id,
            offset: self.start,
            kind: raw_kind,
        })?;
        if info & !INFO_MASK != 0 {
            return Err(self.invalid(kind, format!("reserved bits of info {info:#010x} are set")));
        }
        let vlen = (info & 0xffff) as usize;
        let kind_flag = info >> 31 == 1;
        let need = TYPE_HEADER_LEN + extra_len(kind, vlen);
        let avail = self.len - self.start;
        if need > avail {
            return Err(BtfError::TypeTruncated {
                id: self.id,
                offset: self.start,
                what: describe(kind, vlen),
                need,
                avail,
            });
        }
        self.check_name(name_off, "name")?;
        let ctx = Fields {
            kind,
            vlen,
            kind_flag,
            size_or_type,
        };
        let type_kind = self.decode_kind(ctx)?;
        Ok((
            Type {
                name_off,
                kind: type_kind,
            },
            need,
        ))
    }

    fn decode_kind(&self, f: Fields) -> Result<TypeKind, BtfError> {
        let t = f.size_or_type;
        Ok(match f.kind {
            BtfKind::Void => return Err(self.invalid(f.kind, "kind 0 (UNKN) is not a type".into())),
            BtfKind::Int => TypeKind::Int(self.int(t)?),
            BtfKind::Ptr => TypeKind::Ptr(t),
            BtfKind::Array => TypeKind::Array(Array {
                elem: self.u32(12)?,
                index: self.u32(16)?,
                nelems: self.u32(20)?,
            }),
            BtfKind::Struct => TypeKind::Struct(self.composite(f)?),
            BtfKind::Union => TypeKind::Union(self.composite(f)?),
            BtfKind::Enum => TypeKind::Enum(self.enum32(f)?),
            BtfKind::Enum64 => TypeKind::Enum64(self.enum64(f)?),
            BtfKind::Fwd => TypeKind::Fwd(if f.kind_flag {
                FwdKind::Union
            } else {
                FwdKind::Struct
            }),
            BtfKind::Typedef => TypeKind::Typedef(t),
            BtfKind::Volatile => TypeKind::Volatile(t),
            BtfKind::Const => TypeKind::Const(t),
            BtfKind::Restrict => TypeKind::Restrict(t),
            BtfKind::Func => TypeKind::Func(Func {
                proto: t,
                linkage: match f.vlen {
                    0 => FuncLinkage::Static,
                    1 => FuncLinkage::Global,
                    2 => FuncLinkage::Extern,
                    l => return Err(self.invalid(f.kind, format!("unknown linkage {l}"))),
                },
            }),
            BtfKind::FuncProto => TypeKind::FuncProto(self.func_proto(f)?),
            BtfKind::Var => TypeKind::Var(Var {
                ty: t,
                linkage: match self.u32(12)? {
                    0 => VarLinkage::Static,
                    1 => VarLinkage::Global,
                    2 => VarLinkage::Extern,
                    l => return Err(self.invalid(f.kind, format!("unknown linkage {l}"))),
                },
            }),
            BtfKind::Datasec => TypeKind::Datasec(self.datasec(f)?),
            BtfKind::Float => match t {
                2 | 4 | 8 | 12 | 16 => TypeKind::Float(t),
                _ => return Err(self.invalid(f.kind, format!("size {t} is not 2, 4, 8, 12 or 16"))),
            },
            BtfKind::DeclTag => TypeKind::DeclTag(DeclTag {
                target: t,
                component: match self.u32(12)? as i32 {
                    -1 => None,
                    i if i >= 0 => Some(i as u32),
                    i => {
                        return Err(self.invalid(f.kind, format!("component index {i} < -1")));
                    }
                },
                attribute: f.kind_flag,
            }),
            BtfKind::TypeTag => TypeKind::TypeTag(TypeTag {
                target: t,
                attribute: f.kind_flag,
            }),
        })
    }

    fn int(&self, size: u32) -> Result<Int, BtfError> {
        let data = self.u32(12)?;
        let encoding = match (data >> 24) & 0xff {
            0 => IntEncoding::Unsigned,
            1 => IntEncoding::Signed,
            2 => IntEncoding::Char,
            4 => IntEncoding::Bool,
            e => {
                return Err(self.invalid(BtfKind::Int, format!("unknown encoding {e:#x}")));
            }
        };
        let offset = ((data >> 16) & 0xff) as u8;
        let bits = (data & 0xff) as u8;
        if !matches!(size, 1 | 2 | 4 | 8 | 16) {
            return Err(self.invalid(BtfKind::Int, format!("size {size} is not 1, 2, 4, 8 or 16")));
        }
        if bits > 128 || u32::from(offset) + u32::from(bits) > size * 8 {
            return Err(self.invalid(
                BtfKind::Int,
                format!("{bits} bits at bit offset {offset} do not fit in {size} bytes"),
            ));
        }
        Ok(Int {
            size,
            encoding,
            offset,
            bits,
        })
    }

    fn composite(&self, f: Fields) -> Result<Composite, BtfError> {
        let mut members = Vec::with_capacity(f.vlen);
        for i in 0..f.vlen {
            let at = TYPE_HEADER_LEN + 12 * i;
            let name_off = self.u32(at)?;
            self.check_name(name_off, "member name")?;
            let offset = self.u32(at + 8)?;
            let (bit_offset, bitfield_size) = if f.kind_flag {
                (offset & 0x00ff_ffff, (offset >> 24) as u8)
            } else {
                (offset, 0)
            };
            members.push(Member {
                name_off,
                ty: self.u32(at + 4)?,
                bit_offset,
                bitfield_size,
            });
        }
        Ok(Composite {
            size: f.size_or_type,
            members,
        })
    }

    fn enum32(&self, f: Fields) -> Result<Enum, BtfError> {
        self.check_enum_size(f)?;
        let mut values = Vec::with_capacity(f.vlen);
        for i in 0..f.vlen {
            let at = TYPE_HEADER_LEN + 8 * i;
            let name_off = self.u32(at)?;
            self.check_name(name_off, "enumerator name")?;
            let raw = self.u32(at + 4)?;
            let value = if f.kind_flag {
                i64::from(raw as i32) as u64
            } else {
                u64::from(raw)
            };
            values.push(Enumerator { name_off, value });
        }
        Ok(Enum {
            size: f.size_or_type,
            signed: f.kind_flag,
            values,
        })
    }

    fn enum64(&self, f: Fields) -> Result<Enum, BtfError> {
        self.check_enum_size(f)?;
        let mut values = Vec::with_capacity(f.vlen);
        for i in 0..f.vlen {
            let at = TYPE_HEADER_LEN + 12 * i;
            let name_off = self.u32(at)?;
            self.check_name(name_off, "enumerator name")?;
            let lo = u64::from(self.u32(at + 4)?);
            let hi = u64::from(self.u32(at + 8)?);
            values.push(Enumerator {
                name_off,
                value: hi << 32 | lo,
            });
        }
        Ok(Enum {
            size: f.size_or_type,
            signed: f.kind_flag,
            values,
        })
    }

    fn check_enum_size(&self, f: Fields) -> Result<(), BtfError> {
        match f.size_or_type {
            1 | 2 | 4 | 8 => Ok(()),
            s => Err(self.invalid(f.kind, format!("size {s} is not 1, 2, 4 or 8"))),
        }
    }

    fn func_proto(&self, f: Fields) -> Result<FuncProto, BtfError> {
        let mut params = Vec::with_capacity(f.vlen);
        let mut variadic = false;
        for i in 0..f.vlen {
            let at = TYPE_HEADER_LEN + 8 * i;
            let name_off = self.u32(at)?;
            let ty = self.u32(at + 4)?;
            if ty == 0 {
                // `void` as a parameter type marks `...`, which can only come last.
                if i + 1 != f.vlen || name_off != 0 {
                    return Err(self.invalid(
                        f.kind,
                        format!("parameter {i} has type void but is not a trailing unnamed `...`"),
                    ));
                }
                variadic = true;
                continue;
            }
            self.check_name(name_off, "parameter name")?;
            params.push(Param { name_off, ty });
        }
        Ok(FuncProto {
            ret: f.size_or_type,
            params,
            variadic,
        })
    }

    fn datasec(&self, f: Fields) -> Result<Datasec, BtfError> {
        let mut vars = Vec::with_capacity(f.vlen);
        for i in 0..f.vlen {
            let at = TYPE_HEADER_LEN + 12 * i;
            vars.push(VarSecinfo {
                ty: self.u32(at)?,
                offset: self.u32(at + 4)?,
                size: self.u32(at + 8)?,
            });
        }
        Ok(Datasec {
            size: f.size_or_type,
            vars,
        })
    }

    fn u32(&self, rel: usize) -> Result<u32, BtfError> {
        self.words
            .get((self.start + rel) / 4)
            .copied()
            .ok_or_else(|| BtfError::TypeTruncated {
                id: self.id,
                offset: self.start,
                what: format!("a field at byte {rel} of the record"),
                need: rel + 4,
                avail: self.len - self.start,
            })
    }

    fn check_name(&self, off: u32, what: &str) -> Result<(), BtfError> {
        if (off as usize) < self.str_len {
            return Ok(());
        }
        Err(BtfError::StringOffset {
            offset: off,
            len: self.str_len,
            user: format!(
                "the {what} of type [{}] at offset {} of the type section",
                self.id, self.start
            ),
        })
    }

    fn invalid(&self, kind: BtfKind, reason: String) -> BtfError {
        BtfError::InvalidType {
            id: self.id,
            kind,
            reason: format!(
                "{reason} (record at offset {} of the type section)",
                self.start
            ),
        }
    }
}

/// The fixed fields of a record, unpacked.
#[derive(Clone, Copy)]
struct Fields {
    kind: BtfKind,
    vlen: usize,
    kind_flag: bool,
    size_or_type: u32,
}

fn btf_kind(raw: u32) -> Option<BtfKind> {
    use BtfKind::*;
    const KINDS: [BtfKind; 20] = [
        Void, Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict, Func,
        FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64,
    ];
    KINDS.get(raw as usize).copied()
}

/// Bytes that follow the 12-byte record header.
fn extra_len(kind: BtfKind, vlen: usize) -> usize {
    match kind {
        BtfKind::Int | BtfKind::Var | BtfKind::DeclTag => 4,
        BtfKind::Array => 12,
        BtfKind::Struct | BtfKind::Union | BtfKind::Enum64 | BtfKind::Datasec => 12 * vlen,
        BtfKind::Enum | BtfKind::FuncProto => 8 * vlen,
        _ => 0,
    }
}

/// What a record of this kind holds, for a message about it being cut short.
fn describe(kind: BtfKind, vlen: usize) -> String {
    let items = match kind {
        BtfKind::Struct | BtfKind::Union => "members",
        BtfKind::Enum | BtfKind::Enum64 => "enumerators",
        BtfKind::FuncProto => "parameters",
        BtfKind::Datasec => "variables",
        _ => return format!("a {kind} record"),
    };
    format!("a {kind} with {vlen} {items}")
}

/// Where a type refers to another, for error messages.
enum Role {
    Target,
    Element,
    Index,
    Member(usize),
    Return,
    Param(usize),
    Entry(usize),
}

impl Role {
    fn describe(&self) -> String {
        match self {
            Role::Target => "target type".into(),
            Role::Element => "element type".into(),
            Role::Index => "index type".into(),
            Role::Member(i) => format!("member {i}"),
            Role::Return => "return type".into(),
            Role::Param(i) => format!("parameter {i}"),
            Role::Entry(i) => format!("variable {i}"),
        }
    }
}

fn for_each_ref(
    kind: &TypeKind,
    mut f: impl FnMut(Role, TypeId) -> Result<(), BtfError>,
) -> Result<(), BtfError> {
    match kind {
        TypeKind::Void | TypeKind::Int(_) | TypeKind::Fwd(_) | TypeKind::Float(_) => Ok(()),
        TypeKind::Enum(_) | TypeKind::Enum64(_) => Ok(()),
        TypeKind::Ptr(t)
        | TypeKind::Typedef(t)
        | TypeKind::Volatile(t)
        | TypeKind::Const(t)
        | TypeKind::Restrict(t) => f(Role::Target, *t),
        TypeKind::TypeTag(tag) => f(Role::Target, tag.target),
        TypeKind::DeclTag(tag) => f(Role::Target, tag.target),
        TypeKind::Func(func) => f(Role::Target, func.proto),
        TypeKind::Var(var) => f(Role::Target, var.ty),
        TypeKind::Array(a) => {
            f(Role::Element, a.elem)?;
            f(Role::Index, a.index)
        }
        TypeKind::Struct(c) | TypeKind::Union(c) => c
            .members
            .iter()
            .enumerate()
            .try_for_each(|(i, m)| f(Role::Member(i), m.ty)),
        TypeKind::FuncProto(p) => {
            f(Role::Return, p.ret)?;
            p.params
                .iter()
                .enumerate()
                .try_for_each(|(i, p)| f(Role::Param(i), p.ty))
        }
        TypeKind::Datasec(d) => d
            .vars
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| f(Role::Entry(i), v.ty)),
    }
}

/// Every reference in range, then the rules that need the referenced type.
fn check_types(types: &[Type]) -> Result<(), BtfError> {
    let last = (types.len() - 1) as TypeId;
    for (id, ty) in types.iter().enumerate() {
        let id = id as TypeId;
        let kind = ty.btf_kind();
        for_each_ref(&ty.kind, |role, target| {
            if target > last {
                return Err(BtfError::TypeRefOutOfRange {
                    id,
                    kind,
                    role: role.describe(),
                    target,
                    last,
                });
            }
            Ok(())
        })?;
        check_cross_rules(types, id, ty)?;
    }
    Ok(())
}

fn check_cross_rules(types: &[Type], id: TypeId, ty: &Type) -> Result<(), BtfError> {
    let kind_of = |t: TypeId| types.get(t as usize).map_or(BtfKind::Void, Type::btf_kind);
    let invalid = |reason: String| BtfError::InvalidType {
        id,
        kind: ty.btf_kind(),
        reason,
    };
    match &ty.kind {
        TypeKind::Func(func) if kind_of(func.proto) != BtfKind::FuncProto => Err(invalid(format!(
            "its type [{}] is a {}, expected FUNC_PROTO",
            func.proto,
            kind_of(func.proto)
        ))),
        TypeKind::Var(var) if var.ty == 0 => {
            Err(invalid("a variable cannot have type void".into()))
        }
        TypeKind::Datasec(sec) => {
            for (i, v) in sec.vars.iter().enumerate() {
                let k = kind_of(v.ty);
                if k != BtfKind::Var && k != BtfKind::Func {
                    return Err(invalid(format!(
                        "variable {i} is type [{}], a {k}, expected VAR or FUNC",
                        v.ty
                    )));
                }
            }
            Ok(())
        }
        TypeKind::DeclTag(tag) => check_decl_tag(types, tag).map_err(invalid),
        _ => Ok(()),
    }
}

fn check_decl_tag(types: &[Type], tag: &DeclTag) -> Result<(), String> {
    let target = types.get(tag.target as usize).map(|t| &t.kind);
    let Some(component) = tag.component else {
        return match target {
            Some(TypeKind::Void) | None => Err("it tags void".into()),
            _ => Ok(()),
        };
    };
    let count = match target {
        Some(TypeKind::Struct(c) | TypeKind::Union(c)) => c.members.len(),
        Some(TypeKind::Func(func)) => match types.get(func.proto as usize).map(|t| &t.kind) {
            Some(TypeKind::FuncProto(p)) => p.params.len(),
            _ => 0,
        },
        _ => {
            return Err(format!(
                "component {component} of type [{}], which is not a struct, union or function",
                tag.target
            ));
        }
    };
    if component as usize >= count {
        return Err(format!(
            "component {component} of type [{}], which has only {count}",
            tag.target
        ));
    }
    Ok(())
}
