//! Everything that can be wrong with a `.BTF` or `.BTF.ext` section, or with a question asked of
//! one. Each message names the section, the type id or byte offset, and what was expected.

use super::types::{BtfKind, TypeId};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BtfError {
    #[error("{section}: {len} bytes is too short for its header (at least {need} bytes)")]
    TruncatedHeader {
        section: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{section}: bad magic {found:02x?}, expected 0xeb9f in either byte order")]
    BadMagic {
        section: &'static str,
        found: [u8; 2],
    },
    #[error("{section}: version {version} is not supported (expected 1)")]
    UnsupportedVersion { section: &'static str, version: u8 },
    #[error("{section}: malformed header: {reason}")]
    BadHeader {
        section: &'static str,
        reason: String,
    },
    #[error(
        "{section}: the {part} (offset {off}, length {len} after the {hdr_len}-byte header) \
         extends past the end of the {total}-byte section"
    )]
    PartOutOfBounds {
        section: &'static str,
        part: &'static str,
        off: u32,
        len: u32,
        hdr_len: u32,
        total: usize,
    },
    #[error(".BTF: invalid string table: {reason}")]
    BadStringTable { reason: &'static str },
    #[error(
        ".BTF: string offset {offset} is past the end of the {len}-byte string table \
         (used by {user})"
    )]
    StringOffset {
        offset: u32,
        len: usize,
        user: String,
    },
    #[error(".BTF: the string at offset {offset} of the string table {reason}")]
    BadString { offset: u32, reason: &'static str },
    #[error(
        ".BTF: type [{id}] at offset {offset} of the type section: {what} needs {need} bytes, \
         but only {avail} remain in the type section"
    )]
    TypeTruncated {
        id: TypeId,
        offset: usize,
        what: String,
        need: usize,
        avail: usize,
    },
    #[error(
        ".BTF: type [{id}] at offset {offset} of the type section has unknown kind {kind} \
         (known kinds are 1-19)"
    )]
    UnknownKind {
        id: TypeId,
        offset: usize,
        kind: u32,
    },
    #[error(
        ".BTF: type [{id}] ({kind}) {role} refers to type [{target}], but the BTF has only types [0]-[{last}]"
    )]
    TypeRefOutOfRange {
        id: TypeId,
        kind: BtfKind,
        role: String,
        target: TypeId,
        last: TypeId,
    },
    #[error(".BTF: type [{id}] ({kind}): {reason}")]
    InvalidType {
        id: TypeId,
        kind: BtfKind,
        reason: String,
    },
    #[error("no BTF type [{id}] (the BTF has {count} types, [0]-[{}])", count.saturating_sub(1))]
    NoSuchType { id: TypeId, count: usize },
    #[error(
        "type [{id}]: resolution went more than {limit} levels deep; the BTF has a cycle of \
         typedefs, qualifiers, arrays or embedded structs"
    )]
    TooDeep { id: TypeId, limit: usize },
    #[error(
        "type [{id}]: gave up after visiting {limit} types; the BTF nests anonymous members or \
         prototypes too deeply to be real"
    )]
    TooComplex { id: TypeId, limit: usize },
    #[error("type [{id}] ({kind}) has no size")]
    NoSize { id: TypeId, kind: BtfKind },
    #[error("type [{id}]: size overflows 64 bits")]
    SizeOverflow { id: TypeId },
    #[error("type [{id}] is a {kind}, expected {expected}")]
    WrongKind {
        id: TypeId,
        kind: BtfKind,
        expected: &'static str,
    },
    #[error(
        ".BTF.ext: {part} at offset {offset}: {what} needs {need} bytes, but only {avail} remain"
    )]
    ExtTruncated {
        part: &'static str,
        offset: usize,
        what: String,
        need: usize,
        avail: usize,
    },
    #[error(
        ".BTF.ext: {part} record size {rec_size} is invalid (expected a multiple of 4, at \
         least {min})"
    )]
    BadRecordSize {
        part: &'static str,
        rec_size: u32,
        min: u32,
    },
    #[error(".BTF.ext: {part} record at offset {offset}: {reason}")]
    BadRecord {
        part: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("CO-RE access \"{access}\" on type [{type_id}] ({type_name}): {reason}")]
    CoreAccess {
        type_id: TypeId,
        type_name: String,
        access: String,
        reason: String,
    },
}
