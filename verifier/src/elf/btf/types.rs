//! The decoded form of each BTF kind. Names are kept as offsets into the string table (resolve them
//! with [`Btf::string_at`](super::Btf::string_at)); references to other types are [`TypeId`]s that
//! [`Btf::parse`](super::Btf::parse) has checked to exist.

use std::fmt;

/// Index of a type in a [`Btf`](super::Btf). Id 0 is `void`.
pub type TypeId = u32;

/// One BTF type: its name (an offset into the string table, 0 for anonymous) and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    pub name_off: u32,
    pub kind: TypeKind,
}

impl Type {
    /// The kind tag, without the kind's data.
    pub fn btf_kind(&self) -> BtfKind {
        self.kind.btf_kind()
    }
}

/// What a type is, with the data of its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind {
    /// Type id 0. Never appears in the type section itself.
    Void,
    Int(Int),
    Ptr(TypeId),
    Array(Array),
    Struct(Composite),
    Union(Composite),
    Enum(Enum),
    Fwd(FwdKind),
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func(Func),
    FuncProto(FuncProto),
    Var(Var),
    Datasec(Datasec),
    /// A floating-point type of this many bytes.
    Float(u32),
    DeclTag(DeclTag),
    TypeTag(TypeTag),
    /// Like [`TypeKind::Enum`], with 64-bit values.
    Enum64(Enum),
}

impl TypeKind {
    pub fn btf_kind(&self) -> BtfKind {
        match self {
            TypeKind::Void => BtfKind::Void,
            TypeKind::Int(_) => BtfKind::Int,
            TypeKind::Ptr(_) => BtfKind::Ptr,
            TypeKind::Array(_) => BtfKind::Array,
            TypeKind::Struct(_) => BtfKind::Struct,
            TypeKind::Union(_) => BtfKind::Union,
            TypeKind::Enum(_) => BtfKind::Enum,
            TypeKind::Fwd(_) => BtfKind::Fwd,
            TypeKind::Typedef(_) => BtfKind::Typedef,
            TypeKind::Volatile(_) => BtfKind::Volatile,
            TypeKind::Const(_) => BtfKind::Const,
            TypeKind::Restrict(_) => BtfKind::Restrict,
            TypeKind::Func(_) => BtfKind::Func,
            TypeKind::FuncProto(_) => BtfKind::FuncProto,
            TypeKind::Var(_) => BtfKind::Var,
            TypeKind::Datasec(_) => BtfKind::Datasec,
            TypeKind::Float(_) => BtfKind::Float,
            TypeKind::DeclTag(_) => BtfKind::DeclTag,
            TypeKind::TypeTag(_) => BtfKind::TypeTag,
            TypeKind::Enum64(_) => BtfKind::Enum64,
        }
    }

    /// The type this one merely qualifies or renames (typedef, const, volatile, restrict, type
    /// tag), if it is such a type.
    pub fn modified_type(&self) -> Option<TypeId> {
        match *self {
            TypeKind::Typedef(t)
            | TypeKind::Volatile(t)
            | TypeKind::Const(t)
            | TypeKind::Restrict(t) => Some(t),
            TypeKind::TypeTag(ref tag) => Some(tag.target),
            _ => None,
        }
    }

    /// Members of a struct or union.
    pub fn members(&self) -> Option<&[Member]> {
        match self {
            TypeKind::Struct(c) | TypeKind::Union(c) => Some(&c.members),
            _ => None,
        }
    }
}

/// The kind of a type, numbered as in `BTF_KIND_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BtfKind {
    Void = 0,
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl BtfKind {
    /// The `BTF_KIND_*` name, as `bpftool btf dump` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            BtfKind::Void => "VOID",
            BtfKind::Int => "INT",
            BtfKind::Ptr => "PTR",
            BtfKind::Array => "ARRAY",
            BtfKind::Struct => "STRUCT",
            BtfKind::Union => "UNION",
            BtfKind::Enum => "ENUM",
            BtfKind::Fwd => "FWD",
            BtfKind::Typedef => "TYPEDEF",
            BtfKind::Volatile => "VOLATILE",
            BtfKind::Const => "CONST",
            BtfKind::Restrict => "RESTRICT",
            BtfKind::Func => "FUNC",
            BtfKind::FuncProto => "FUNC_PROTO",
            BtfKind::Var => "VAR",
            BtfKind::Datasec => "DATASEC",
            BtfKind::Float => "FLOAT",
            BtfKind::DeclTag => "DECL_TAG",
            BtfKind::TypeTag => "TYPE_TAG",
            BtfKind::Enum64 => "ENUM64",
        }
    }
}

impl fmt::Display for BtfKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the bits of an integer are to be read (`BTF_INT_*`; at most one is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntEncoding {
    Unsigned,
    Signed,
    Char,
    Bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int {
    /// Storage size in bytes.
    pub size: u32,
    pub encoding: IntEncoding,
    /// Bit offset of the value inside its storage (legacy bitfield encoding; usually 0).
    pub offset: u8,
    /// Number of value bits.
    pub bits: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Array {
    pub elem: TypeId,
    pub index: TypeId,
    pub nelems: u32,
}

/// A struct or union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composite {
    pub size: u32,
    pub members: Vec<Member>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub ty: TypeId,
    /// Offset of the member from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield member in bits; 0 if the member is not a bitfield.
    pub bitfield_size: u8,
}

/// An enum, 32-bit ([`TypeKind::Enum`]) or 64-bit ([`TypeKind::Enum64`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enum {
    pub size: u32,
    pub signed: bool,
    pub values: Vec<Enumerator>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enumerator {
    pub name_off: u32,
    /// The value's 64 bits: sign-extended from 32 bits for a signed 32-bit enum, zero-extended
    /// otherwise. Read it as `i64` when the enum is signed.
    pub value: u64,
}

/// What a forward declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwdKind {
    Struct,
    Union,
}

/// `BTF_FUNC_*` linkage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncLinkage {
    Static,
    Global,
    Extern,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    /// The function's [`TypeKind::FuncProto`].
    pub proto: TypeId,
    pub linkage: FuncLinkage,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncProto {
    /// Return type; 0 for `void`.
    pub ret: TypeId,
    /// Named parameters, without the `...` marker.
    pub params: Vec<Param>,
    /// Whether the prototype ends with `...`.
    pub variadic: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name_off: u32,
    pub ty: TypeId,
}

/// `BTF_VAR_*` linkage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarLinkage {
    Static,
    Global,
    Extern,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var {
    pub ty: TypeId,
    pub linkage: VarLinkage,
}

/// A data section (`.data`, `.bss`, `.rodata`, `.maps`, `license`, …) and the variables in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datasec {
    /// Section size in bytes. Compilers leave it 0; loaders fill it in from the ELF section.
    pub size: u32,
    pub vars: Vec<VarSecinfo>,
}

/// Where one variable of a [`Datasec`] lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecinfo {
    /// A [`TypeKind::Var`], or a [`TypeKind::Func`] for an extern kernel function in `.ksyms`.
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// A `btf_decl_tag` attribute on a declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclTag {
    /// The tagged struct, union, function, variable or typedef.
    pub target: TypeId,
    /// The member or parameter tagged; `None` for the declaration itself.
    pub component: Option<u32>,
    /// The tag is a plain `__attribute__` rather than a `btf_decl_tag` (kind flag set).
    pub attribute: bool,
}

/// A `btf_type_tag` qualifier (such as `__user` or `__rcu`) on the type it points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeTag {
    pub target: TypeId,
    /// The tag is a plain `__attribute__` rather than a `btf_type_tag` (kind flag set).
    pub attribute: bool,
}
