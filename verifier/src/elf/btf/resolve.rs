//! Questions that follow type references: what a typedef stands for, how big a type is, where a
//! member lies. The type graph of a hostile blob may have cycles or exponential fan-out, so each
//! walk is bounded in depth ([`MAX_RESOLVE_DEPTH`]) and in total steps.

use super::types::*;
use super::{Btf, BtfError};

/// Longest chain of references (typedefs, qualifiers, arrays, anonymous members) a query follows
/// before concluding that the BTF has a cycle.
pub const MAX_RESOLVE_DEPTH: usize = 64;

/// Most types one member search visits (it descends into anonymous members, which fan out).
const MAX_MEMBER_VISITS: usize = 1 << 16;

/// A struct or union member found by name, possibly inside anonymous struct or union members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The member's declared type (may be a typedef or qualified).
    pub ty: TypeId,
    /// Offset from the start of the outer struct, in bits.
    pub bit_offset: u64,
    /// Width of a bitfield member in bits; 0 if the member is not a bitfield.
    pub bitfield_size: u8,
}

impl Field {
    /// Offset of the byte holding the member's first bit.
    pub fn byte_offset(&self) -> u64 {
        self.bit_offset / 8
    }
}

impl Btf {
    /// Follows typedef, const, volatile, restrict and type tag references to the type they name.
    pub fn resolve(&self, id: TypeId) -> Result<TypeId, BtfError> {
        let mut current = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            match self.lookup(current)?.kind.modified_type() {
                Some(next) => current = next,
                None => return Ok(current),
            }
        }
        Err(BtfError::TooDeep {
            id,
            limit: MAX_RESOLVE_DEPTH,
        })
    }

    /// Size in bytes of a value of type `id`. Pointers are 8 bytes; an array is its element size
    /// times its length; a VAR has the size of its type. Void, functions, prototypes, forward
    /// declarations and tags have no size.
    pub fn size_of(&self, id: TypeId) -> Result<u64, BtfError> {
        let mut elements: u64 = 1;
        let mut current = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let ty = self.lookup(current)?;
            let size = match &ty.kind {
                TypeKind::Int(int) => int.size,
                TypeKind::Ptr(_) => 8,
                TypeKind::Struct(c) | TypeKind::Union(c) => c.size,
                TypeKind::Enum(e) | TypeKind::Enum64(e) => e.size,
                TypeKind::Datasec(sec) => sec.size,
                TypeKind::Float(size) => *size,
                TypeKind::Array(a) => {
                    elements = elements
                        .checked_mul(u64::from(a.nelems))
                        .ok_or(BtfError::SizeOverflow { id })?;
                    current = a.elem;
                    continue;
                }
                TypeKind::Var(var) => {
                    current = var.ty;
                    continue;
                }
                kind => match kind.modified_type() {
                    Some(next) => {
                        current = next;
                        continue;
                    }
                    None => {
                        return Err(BtfError::NoSize {
                            id: current,
                            kind: ty.btf_kind(),
                        });
                    }
                },
            };
            return elements
                .checked_mul(u64::from(size))
                .ok_or(BtfError::SizeOverflow { id });
        }
        Err(BtfError::TooDeep {
            id,
            limit: MAX_RESOLVE_DEPTH,
        })
    }

    /// Whether `id`, once resolved, is a struct or union.
    pub fn is_composite(&self, id: TypeId) -> bool {
        self.resolve(id)
            .ok()
            .and_then(|r| self.get(r))
            .is_some_and(|t| t.kind.members().is_some())
    }

    /// The members of struct or union `id` (typedefs and qualifiers resolved).
    pub fn members(&self, id: TypeId) -> Result<&[Member], BtfError> {
        let resolved = self.resolve(id)?;
        let ty = self.lookup(resolved)?;
        ty.kind.members().ok_or(BtfError::WrongKind {
            id: resolved,
            kind: ty.btf_kind(),
            expected: "a struct or union",
        })
    }

    /// The member called `name` of struct or union `id`, looking inside anonymous struct and union
    /// members as C does. `Ok(None)` if there is no such member.
    pub fn member(&self, id: TypeId, name: &str) -> Result<Option<Field>, BtfError> {
        let mut visits = 0;
        self.find_member(id, name, 0, 0, &mut visits)
    }

    fn find_member(
        &self,
        id: TypeId,
        name: &str,
        base_bits: u64,
        depth: usize,
        visits: &mut usize,
    ) -> Result<Option<Field>, BtfError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_RESOLVE_DEPTH,
            });
        }
        *visits += 1;
        if *visits > MAX_MEMBER_VISITS {
            return Err(BtfError::TooComplex {
                id,
                limit: MAX_MEMBER_VISITS,
            });
        }
        let members = self.members(id)?;
        if let Some(m) = members
            .iter()
            .find(|m| m.name_off != 0 && self.string_is(m.name_off, name))
        {
            return Ok(Some(Field {
                ty: m.ty,
                bit_offset: base_bits + u64::from(m.bit_offset),
                bitfield_size: m.bitfield_size,
            }));
        }
        for m in members.iter().filter(|m| self.is_anonymous_composite(m)) {
            let base = base_bits + u64::from(m.bit_offset);
            if let Some(found) = self.find_member(m.ty, name, base, depth + 1, visits)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// An unnamed member of struct or union type: its members are reachable by name from the
    /// outer struct.
    pub(crate) fn is_anonymous_composite(&self, m: &Member) -> bool {
        self.string_is(m.name_off, "") && self.is_composite(m.ty)
    }
}
