//! BTF, the BPF Type Format of a `.BTF` section or of a kernel's `/sys/kernel/btf/vmlinux`: the
//! types of a program's maps, globals and functions, and the string table that also carries the
//! source text quoted by line info.
//!
//! Start with [`Btf::parse`]. Guarantees of a parsed [`Btf`]: id 0 is [`TypeKind::Void`]; every
//! [`TypeId`] stored in a type is a valid index; every name offset is inside the string table;
//! a FUNC points to a FUNC_PROTO, a DATASEC lists only VARs and FUNCs, a DECL_TAG's component
//! exists. The type graph may still contain cycles (a hostile blob can make a typedef name
//! itself), so every query that follows references ([`Btf::resolve`], [`Btf::size_of`],
//! [`Btf::member`], [`Btf::type_name`]) stops after [`MAX_RESOLVE_DEPTH`] steps.
//!
//! Left out: split BTF (kernel module BTF that continues a base BTF's type ids).

mod bytes;
mod decode;
mod error;
mod header;
mod names;
mod resolve;
mod types;

#[cfg(test)]
pub(crate) mod builder;
#[cfg(test)]
mod tests;

pub(crate) use bytes::Bytes;
pub use error::BtfError;
pub(crate) use header::{header_word, part, read_common_header};
pub use resolve::{Field, MAX_RESOLVE_DEPTH};
pub use types::*;

use std::ffi::CStr;

/// A parsed BTF blob: types indexed by [`TypeId`] and the string table.
#[derive(Clone, Debug)]
pub struct Btf {
    /// Index = type id; `types[0]` is void.
    types: Vec<Type>,
    strings: Box<[u8]>,
    big_endian: bool,
}

/// One variable of a DATASEC, with its name looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasecVar<'a> {
    /// The VAR (or, in `.ksyms`, the extern FUNC) type.
    pub id: TypeId,
    pub name: &'a str,
    /// The variable's type (a FUNC's prototype for a FUNC).
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

impl Btf {
    /// Parses and validates a `.BTF` section or a kernel BTF file, in either byte order.
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        decode::parse(bytes)
    }

    /// All types, indexed by id; `types()[0]` is void.
    pub fn types(&self) -> &[Type] {
        &self.types
    }

    /// Number of types, void included: valid ids are `0..type_count()`.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    pub fn get(&self, id: TypeId) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Like [`Btf::get`], with an error naming the id for a missing type.
    pub fn lookup(&self, id: TypeId) -> Result<&Type, BtfError> {
        self.get(id).ok_or(BtfError::NoSuchType {
            id,
            count: self.types.len(),
        })
    }

    /// Whether the blob was written big-endian.
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// The type's name; `None` for anonymous types, void and ids that do not exist.
    pub fn name(&self, id: TypeId) -> Option<&str> {
        let ty = self.get(id)?;
        self.string_at(ty.name_off).ok().filter(|s| !s.is_empty())
    }

    /// The NUL-terminated string at `offset` of the string table.
    pub fn string_at(&self, offset: u32) -> Result<&str, BtfError> {
        std::str::from_utf8(self.raw_string_at(offset)?).map_err(|_| BtfError::BadString {
            offset,
            reason: "is not valid UTF-8",
        })
    }

    /// The bytes of the string at `offset`, without its NUL, whatever their encoding (source
    /// lines quoted by line info are not guaranteed to be UTF-8).
    pub fn raw_string_at(&self, offset: u32) -> Result<&[u8], BtfError> {
        let tail = self
            .strings
            .get(offset as usize..)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BtfError::StringOffset {
                offset,
                len: self.strings.len(),
                user: "a lookup".into(),
            })?;
        CStr::from_bytes_until_nul(tail)
            .map(CStr::to_bytes)
            .map_err(|_| BtfError::BadString {
                offset,
                reason: "is not NUL-terminated",
            })
    }

    /// Whether the string at `offset` is exactly `name`, without scanning the whole string.
    pub(crate) fn string_is(&self, offset: u32, name: &str) -> bool {
        let start = offset as usize;
        let Some(candidate) = start
            .checked_add(name.len() + 1)
            .and_then(|end| self.strings.get(start..end))
        else {
            return false;
        };
        candidate.split_last() == Some((&0, name.as_bytes()))
    }

    /// Whether the string at `offset` starts with `prefix`, without scanning the whole string.
    pub(crate) fn string_starts_with(&self, offset: u32, prefix: &str) -> bool {
        let start = offset as usize;
        start
            .checked_add(prefix.len())
            .and_then(|end| self.strings.get(start..end))
            .is_some_and(|s| s == prefix.as_bytes())
    }

    /// The first type of `kind` named `name`.
    pub fn find_by_name(&self, kind: BtfKind, name: &str) -> Option<TypeId> {
        self.types
            .iter()
            .position(|t| t.btf_kind() == kind && self.string_is(t.name_off, name))
            .map(|i| i as TypeId)
    }

    /// The DATASEC describing ELF section `section` (`.data`, `.bss`, `.rodata`, `.maps`, …).
    pub fn find_datasec(&self, section: &str) -> Option<(TypeId, &Datasec)> {
        let id = self.find_by_name(BtfKind::Datasec, section)?;
        match &self.get(id)?.kind {
            TypeKind::Datasec(sec) => Some((id, sec)),
            _ => None,
        }
    }

    /// The variables of a DATASEC, with names and types looked up.
    pub fn datasec_vars(&self, sec: &Datasec) -> Result<Vec<DatasecVar<'_>>, BtfError> {
        sec.vars
            .iter()
            .map(|v| {
                let entry = self.lookup(v.ty)?;
                let ty = match entry.kind {
                    TypeKind::Var(var) => var.ty,
                    TypeKind::Func(func) => func.proto,
                    _ => {
                        return Err(BtfError::WrongKind {
                            id: v.ty,
                            kind: entry.btf_kind(),
                            expected: "VAR or FUNC in a DATASEC",
                        });
                    }
                };
                Ok(DatasecVar {
                    id: v.ty,
                    name: self.string_at(entry.name_off)?,
                    ty,
                    offset: v.offset,
                    size: v.size,
                })
            })
            .collect()
    }
}
