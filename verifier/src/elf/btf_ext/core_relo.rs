//! CO-RE ("compile once, run everywhere") relocations: an instruction whose immediate or offset
//! depends on the layout of a type the program was compiled against (the LOCAL BTF, in the
//! object) and must be recomputed against the types of the kernel it runs on (the TARGET BTF,
//! e.g. `/sys/kernel/btf/vmlinux`).
//!
//! A relocation names a local root type and an access string such as `0:1:2`: the first index
//! is an array index on the root (`&p[0]`), each later one a member index of a struct or union or
//! an element index of an array. [`CoreRelo::local_field`] walks it in the local BTF;
//! [`CoreRelo::target_field`] repeats the walk in a target BTF by member *name*, as libbpf does,
//! and says so when the field does not exist there ([`TargetField::NoField`]), which a program
//! may legitimately test with `bpf_core_field_exists`. [`CoreRelo::field_value`] turns a located
//! field into the number the instruction needs (offset, size, signedness, shifts), following
//! libbpf's `bpf_core_calc_field_relo`.

use super::RawRecord;
use crate::elf::btf::{Btf, BtfError, BtfKind, IntEncoding, TypeId, TypeKind};

/// `enum bpf_core_relo_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CoreReloKind {
    FieldByteOffset = 0,
    FieldByteSize = 1,
    FieldExists = 2,
    FieldSigned = 3,
    FieldLshiftU64 = 4,
    FieldRshiftU64 = 5,
    TypeIdLocal = 6,
    TypeIdTarget = 7,
    TypeExists = 8,
    TypeSize = 9,
    EnumvalExists = 10,
    EnumvalValue = 11,
    TypeMatches = 12,
}

impl CoreReloKind {
    pub fn from_u32(raw: u32) -> Option<CoreReloKind> {
        use CoreReloKind::*;
        const KINDS: [CoreReloKind; 13] = [
            FieldByteOffset,
            FieldByteSize,
            FieldExists,
            FieldSigned,
            FieldLshiftU64,
            FieldRshiftU64,
            TypeIdLocal,
            TypeIdTarget,
            TypeExists,
            TypeSize,
            EnumvalExists,
            EnumvalValue,
            TypeMatches,
        ];
        KINDS.get(raw as usize).copied()
    }

    /// Relocations about a field: the access string walks to a member or element.
    pub fn is_field_based(self) -> bool {
        (self as u32) <= CoreReloKind::FieldRshiftU64 as u32
    }

    /// Relocations about the root type itself (access string `0`).
    pub fn is_type_based(self) -> bool {
        matches!(
            self,
            CoreReloKind::TypeIdLocal
                | CoreReloKind::TypeIdTarget
                | CoreReloKind::TypeExists
                | CoreReloKind::TypeSize
                | CoreReloKind::TypeMatches
        )
    }

    /// Relocations about an enumerator (access string = its index).
    pub fn is_enumval_based(self) -> bool {
        matches!(
            self,
            CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
        )
    }
}

/// One CO-RE relocation record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Index of the instruction to patch in its section.
    pub insn: usize,
    /// The local root type.
    pub type_id: TypeId,
    pub kind: CoreReloKind,
    /// The access string as written, e.g. `0:1:2`.
    pub access_str: String,
    /// The access string parsed; never empty.
    pub access: Vec<u32>,
}

/// Where an accessed field lies, in one BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLocation {
    /// The field's declared type (may be a typedef or qualified).
    pub ty: TypeId,
    /// Offset from the start of the root object, in bits.
    pub bit_offset: u64,
    /// Width of a bitfield in bits; 0 if the field is not a bitfield.
    pub bitfield_size: u8,
}

/// The outcome of looking a local field up in a target BTF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetField {
    /// The field exists; `root` is the target type matched to the local root.
    Found { root: TypeId, field: FieldLocation },
    /// The target has no type of the root's kind and essential name.
    NoType { name: String },
    /// Matching types exist, but none has the field (reason says where the walk stopped).
    NoField { reason: String },
}

pub(super) fn decode(raw: &RawRecord<'_>) -> Result<CoreRelo, BtfError> {
    let insn = raw.insn(raw.word(0)?)?;
    let type_id = raw.word(1)?;
    if raw.btf.get(type_id).is_none() {
        return Err(raw.error(format!(
            "type [{type_id}] does not exist (the BTF has {} types)",
            raw.btf.type_count()
        )));
    }
    let access_str = raw.string(raw.word(2)?, "access string")?;
    let kind_raw = raw.word(3)?;
    let kind = CoreReloKind::from_u32(kind_raw).ok_or_else(|| {
        raw.error(format!(
            "unknown CO-RE relocation kind {kind_raw} (known kinds are 0-12)"
        ))
    })?;
    let access = parse_access(&access_str)
        .map_err(|reason| raw.error(format!("access string {access_str:?}: {reason}")))?;
    Ok(CoreRelo {
        insn,
        type_id,
        kind,
        access_str,
        access,
    })
}

/// Most indices in an access string (libbpf's `BPF_CORE_SPEC_MAX_LEN`).
pub const MAX_ACCESS_LEN: usize = 64;

/// `"0:1:2"` → `[0, 1, 2]`.
pub fn parse_access(access: &str) -> Result<Vec<u32>, String> {
    if access.is_empty() {
        return Err("it is empty".into());
    }
    let len = access.split(':').count();
    if len > MAX_ACCESS_LEN {
        return Err(format!(
            "it has {len} indices, more than the limit of {MAX_ACCESS_LEN}"
        ));
    }
    access
        .split(':')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{part:?} is not a decimal index"));
            }
            part.parse::<u32>()
                .map_err(|_| format!("index {part} does not fit in 32 bits"))
        })
        .collect()
}

/// The name without a `___flavour` suffix (`task_struct___old` → `task_struct`), as libbpf
/// matches local types to target types.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    // The last `X___Y` where X and Y are not underscores; the name keeps X.
    for i in (0..b.len().saturating_sub(4)).rev() {
        if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
            return name.get(..=i).unwrap_or(name);
        }
    }
    name
}

impl CoreRelo {
    fn error(&self, btf: &Btf, reason: String) -> BtfError {
        BtfError::CoreAccess {
            type_id: self.type_id,
            type_name: btf.type_name(self.type_id),
            access: self.access_str.clone(),
            reason,
        }
    }

    /// Walks the access string in the local BTF: where the field lies and what type it has.
    /// Errors if an index is out of range or applied to a type without members or elements.
    pub fn local_field(&self, btf: &Btf) -> Result<FieldLocation, BtfError> {
        let err = |reason| self.error(btf, reason);
        let (&first, rest) = self
            .access
            .split_first()
            .ok_or_else(|| err("empty access string".into()))?;
        let mut bit_offset = array_bits(btf, self.type_id, first).ok_or_else(|| {
            err(format!(
                "root index {first} overflows or the root type has no size"
            ))
        })?;
        let mut current = self.type_id;
        let mut bitfield_size = 0;
        for &index in rest {
            let resolved = btf.resolve(current)?;
            let ty = btf.lookup(resolved)?;
            let step_bits = match &ty.kind {
                TypeKind::Struct(c) | TypeKind::Union(c) => {
                    let m = c.members.get(index as usize).ok_or_else(|| {
                        err(format!(
                            "member index {index} is out of range: {} has {} members",
                            btf.type_name(resolved),
                            c.members.len()
                        ))
                    })?;
                    current = m.ty;
                    bitfield_size = m.bitfield_size;
                    u64::from(m.bit_offset)
                }
                TypeKind::Array(a) => {
                    if a.nelems != 0 && index >= a.nelems {
                        return Err(err(format!(
                            "array index {index} is out of range: {} has {} elements",
                            btf.type_name(resolved),
                            a.nelems
                        )));
                    }
                    current = a.elem;
                    bitfield_size = 0;
                    array_bits(btf, a.elem, index)
                        .ok_or_else(|| err(format!("element {index} offset overflows")))?
                }
                _ => {
                    return Err(err(format!(
                        "index {index} applied to {}, which has no members or elements",
                        btf.type_name(resolved)
                    )));
                }
            };
            bit_offset = bit_offset
                .checked_add(step_bits)
                .ok_or_else(|| err("field offset overflows".into()))?;
        }
        Ok(FieldLocation {
            ty: current,
            bit_offset,
            bitfield_size,
        })
    }

    /// The value a field-based relocation patches into its instruction, for `field` located in
    /// `btf` (the local BTF or a target's). Like libbpf, a bitfield's offset and size are those
    /// of the smallest aligned load (up to 8 bytes) that covers it, and the shifts extract it
    /// from a u64 holding that load.
    pub fn field_value(&self, btf: &Btf, field: &FieldLocation) -> Result<u64, BtfError> {
        let err = |reason| self.error(btf, reason);
        if self.kind == CoreReloKind::FieldExists {
            return Ok(1);
        }
        if !self.kind.is_field_based() {
            return Err(err(format!("{:?} is not a field relocation", self.kind)));
        }
        let resolved = btf.resolve(field.ty)?;
        let ty = btf.lookup(resolved)?;
        let bit_off = field.bit_offset;
        let (byte_off, byte_size, bit_size) = if field.bitfield_size == 0 {
            let size = btf.size_of(resolved)?;
            let bit_size = size
                .checked_mul(8)
                .ok_or_else(|| err("field size overflows".into()))?;
            (bit_off / 8, size, bit_size)
        } else {
            let bit_size = u64::from(field.bitfield_size);
            let mut size = btf.size_of(resolved)?;
            if size == 0 {
                return Err(err("bitfield of a zero-size type".into()));
            }
            let mut byte_off = bit_off / 8 / size * size;
            while bit_off + bit_size - byte_off * 8 > size * 8 {
                if size >= 8 {
                    return Err(err(format!(
                        "the {bit_size}-bit bitfield at bit {bit_off} cannot be read with one \
                         load of at most 8 bytes"
                    )));
                }
                size *= 2;
                byte_off = bit_off / 8 / size * size;
            }
            (byte_off, size, bit_size)
        };
        Ok(match self.kind {
            CoreReloKind::FieldByteOffset => byte_off,
            CoreReloKind::FieldByteSize => byte_size,
            CoreReloKind::FieldSigned => u64::from(match &ty.kind {
                TypeKind::Enum(e) | TypeKind::Enum64(e) => e.signed,
                TypeKind::Int(i) => i.encoding == IntEncoding::Signed,
                _ => false,
            }),
            CoreReloKind::FieldLshiftU64 => {
                let in_load = bit_off - byte_off * 8;
                if btf.is_big_endian() {
                    (8u64.saturating_sub(byte_size)) * 8 + in_load
                } else {
                    64u64.saturating_sub(in_load + bit_size)
                }
            }
            CoreReloKind::FieldRshiftU64 => 64u64.saturating_sub(bit_size),
            _ => return Err(err(format!("{:?} is not a field relocation", self.kind))),
        })
    }

    /// Looks the field up in `target` by name. Candidates are target types of the same kind
    /// (struct, union, …) whose essential name equals the local root's; each is walked member by
    /// member by name (descending into anonymous members), and array indices are checked against
    /// the target's bounds. If several candidates have the field at different places the
    /// relocation is ambiguous, an error.
    pub fn target_field(&self, local: &Btf, target: &Btf) -> Result<TargetField, BtfError> {
        let candidates = target_candidates(local, self.type_id, target)?;
        if candidates.is_empty() {
            let root = local.resolve(self.type_id)?;
            return Ok(TargetField::NoType {
                name: local.type_name(root),
            });
        }
        let mut found: Option<(TypeId, FieldLocation)> = None;
        let mut first_miss = None;
        for candidate in candidates {
            match self.walk_target(local, target, candidate)? {
                Ok(field) => match found {
                    Some((_, prev))
                        if (prev.bit_offset, prev.bitfield_size)
                            != (field.bit_offset, field.bitfield_size) =>
                    {
                        return Err(self.error(
                            local,
                            format!(
                                "ambiguous: target types [{}] and [{candidate}] both match, with \
                                 the field at bits {} and {}",
                                found.map_or(0, |f| f.0),
                                prev.bit_offset,
                                field.bit_offset
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => found = Some((candidate, field)),
                },
                Err(reason) => {
                    first_miss.get_or_insert(reason);
                }
            }
        }
        Ok(match found {
            Some((root, field)) => TargetField::Found { root, field },
            None => TargetField::NoField {
                reason: first_miss.unwrap_or_default(),
            },
        })
    }

    /// The walk in one candidate: `Ok(Err(reason))` when the field is missing there.
    fn walk_target(
        &self,
        local: &Btf,
        target: &Btf,
        root: TypeId,
    ) -> Result<Result<FieldLocation, String>, BtfError> {
        let err = |reason| self.error(local, reason);
        let (&first, rest) = self
            .access
            .split_first()
            .ok_or_else(|| err("empty access string".into()))?;
        let Some(mut bit_offset) = array_bits(target, root, first) else {
            return Ok(Err(format!(
                "{} has no size in the target",
                target.type_name(root)
            )));
        };
        let mut local_cur = self.type_id;
        let mut target_cur = root;
        let mut bitfield_size = 0;
        for &index in rest {
            let l_id = local.resolve(local_cur)?;
            let t_id = target.resolve(target_cur)?;
            let t_kind = &target.lookup(t_id)?.kind;
            match &local.lookup(l_id)?.kind {
                TypeKind::Struct(c) | TypeKind::Union(c) => {
                    let m = c.members.get(index as usize).ok_or_else(|| {
                        err(format!(
                            "member index {index} is out of range in the local type"
                        ))
                    })?;
                    local_cur = m.ty;
                    if local.is_anonymous_composite(m) {
                        // Named lookups in the target descend into anonymous members themselves.
                        continue;
                    }
                    let name = local.string_at(m.name_off)?;
                    if t_kind.members().is_none() {
                        return Ok(Err(format!(
                            "{} is not a struct or union in the target",
                            target.type_name(t_id)
                        )));
                    }
                    let Some(f) = target.member(t_id, name)? else {
                        return Ok(Err(format!(
                            "{} has no member `{name}` in the target",
                            target.type_name(t_id)
                        )));
                    };
                    if !compatible(local, m.ty, target, f.ty)? {
                        return Ok(Err(format!(
                            "member `{name}` is {} locally but {} in the target",
                            local.type_name(m.ty),
                            target.type_name(f.ty)
                        )));
                    }
                    target_cur = f.ty;
                    bitfield_size = f.bitfield_size;
                    bit_offset = bit_offset.saturating_add(f.bit_offset);
                }
                TypeKind::Array(_) => {
                    let TypeKind::Array(ta) = t_kind else {
                        return Ok(Err(format!(
                            "{} is not an array in the target",
                            target.type_name(t_id)
                        )));
                    };
                    if ta.nelems != 0 && index >= ta.nelems {
                        return Ok(Err(format!(
                            "index {index} is past the end of {} in the target",
                            target.type_name(t_id)
                        )));
                    }
                    let Some(bits) = array_bits(target, ta.elem, index) else {
                        return Ok(Err(format!("element {index} has no size in the target")));
                    };
                    local_cur = match &local.lookup(l_id)?.kind {
                        TypeKind::Array(la) => la.elem,
                        _ => local_cur,
                    };
                    target_cur = ta.elem;
                    bitfield_size = 0;
                    bit_offset = bit_offset.saturating_add(bits);
                }
                _ => {
                    return Err(err(format!(
                        "index {index} applied to {}, which has no members or elements",
                        local.type_name(l_id)
                    )));
                }
            }
        }
        Ok(Ok(FieldLocation {
            ty: target_cur,
            bit_offset,
            bitfield_size,
        }))
    }
}

/// Target types that may correspond to local type `local_id`: same kind (enum and enum64
/// interchangeable) and same essential name. A linear scan of the target.
pub fn target_candidates(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
) -> Result<Vec<TypeId>, BtfError> {
    let resolved = local.resolve(local_id)?;
    let kind = local.lookup(resolved)?.btf_kind();
    let Some(name) = local.name(resolved) else {
        return Err(BtfError::WrongKind {
            id: resolved,
            kind,
            expected: "a named type (CO-RE matches types by name)",
        });
    };
    let wanted = essential_name(name);
    let family = |k: BtfKind| match k {
        BtfKind::Enum64 => BtfKind::Enum,
        k => k,
    };
    Ok(target
        .types()
        .iter()
        .enumerate()
        .filter(|(_, t)| family(t.btf_kind()) == family(kind))
        // The cheap prefix test first: this scans every type of a kernel's BTF.
        .filter(|(_, t)| target.string_starts_with(t.name_off, wanted))
        .filter(|(_, t)| {
            target
                .string_at(t.name_off)
                .is_ok_and(|n| essential_name(n) == wanted)
        })
        .map(|(id, _)| id as TypeId)
        .collect())
}

/// `index * size_of(ty)` in bits, or `None` on overflow or a type without size.
fn array_bits(btf: &Btf, ty: TypeId, index: u32) -> Option<u64> {
    if index == 0 {
        return Some(0);
    }
    btf.size_of(ty)
        .ok()?
        .checked_mul(u64::from(index))?
        .checked_mul(8)
}

/// libbpf's `bpf_core_fields_are_compat`: composites match composites, scalars match scalars of
/// the same family, arrays match arrays of compatible elements.
fn compatible(local: &Btf, l: TypeId, target: &Btf, t: TypeId) -> Result<bool, BtfError> {
    let (mut l, mut t) = (l, t);
    for _ in 0..=crate::elf::btf::MAX_RESOLVE_DEPTH {
        let l_id = local.resolve(l)?;
        let t_id = target.resolve(t)?;
        let lk = &local.lookup(l_id)?.kind;
        let tk = &target.lookup(t_id)?.kind;
        let family = |k: &TypeKind| match k.btf_kind() {
            BtfKind::Union => BtfKind::Struct,
            BtfKind::Enum64 => BtfKind::Enum,
            k => k,
        };
        if lk.members().is_some() && tk.members().is_some() {
            return Ok(true);
        }
        match (lk, tk) {
            (TypeKind::Array(la), TypeKind::Array(ta)) => {
                l = la.elem;
                t = ta.elem;
            }
            _ => return Ok(family(lk) == family(tk)),
        }
    }
    Err(BtfError::TooDeep {
        id: l,
        limit: crate::elf::btf::MAX_RESOLVE_DEPTH,
    })
}
