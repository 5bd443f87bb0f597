//! BTF.ext, the `.BTF.ext` section: per ELF section, which instructions start which functions
//! (func info), which source line each instruction came from (line info) and which instructions
//! need CO-RE relocation against the kernel's types (see [`core_relo`]).
//!
//! Every string and type id a record names is looked up in the object's [`Btf`] while parsing, so
//! a parsed [`BtfExt`] holds only resolved, checked data. Instruction offsets, stored in bytes,
//! become instruction indices (`insn_off / 8`). Records larger than the ones described here (a
//! newer format) are read for their known prefix and the rest skipped.

pub mod core_relo;
#[cfg(test)]
mod tests;

pub use core_relo::{CoreRelo, CoreReloKind, FieldLocation, TargetField};

use super::btf::{Btf, BtfError, Bytes, TypeId, TypeKind};
use super::btf::{header_word, part, read_common_header};
use std::cell::Cell;
use std::collections::BTreeMap;

const SECTION: &str = ".BTF.ext";
/// magic, version, flags, hdr_len, func_info_off/len, line_info_off/len.
const MIN_HEADER_LEN: usize = 24;
/// The header with core_relo_off/len.
const CORE_HEADER_LEN: usize = 32;
/// Most bytes of strings (file names, source lines, function names) one section may decode.
/// Records copy their strings, and many small records can all name one huge string, so without
/// a budget a small hostile section could ask for gigabytes. Real objects use a few megabytes.
pub const MAX_STRING_BYTES: usize = 256 << 20;

/// Func info: instruction `insn` of a section starts function `type_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn: usize,
    /// A [`TypeKind::Func`] of the object's BTF.
    pub type_id: TypeId,
    pub name: String,
}

/// Line info: instruction `insn` of a section came from this source line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    pub insn: usize,
    pub file: String,
    /// The text of the source line, as the compiler stored it in the string table.
    pub line_text: String,
    pub line: u32,
    pub column: u32,
}

/// The records of one `.BTF.ext` section, grouped by the ELF section they describe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    func_info: BTreeMap<String, Vec<FuncInfo>>,
    line_info: BTreeMap<String, Vec<LineInfo>>,
    core_relos: BTreeMap<String, Vec<CoreRelo>>,
}

impl BtfExt {
    /// Parses a `.BTF.ext` section whose strings and types live in `btf`.
    pub fn parse(bytes: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        BtfExt::parse_with_budget(bytes, btf, MAX_STRING_BYTES)
    }

    /// [`BtfExt::parse`] with a smaller string budget than [`MAX_STRING_BYTES`].
    pub(crate) fn parse_with_budget(
        bytes: &[u8],
        btf: &Btf,
        string_budget: usize,
    ) -> Result<BtfExt, BtfError> {
        let header = read_common_header(bytes, SECTION, MIN_HEADER_LEN)?;
        if header.bytes.is_big_endian() != btf.is_big_endian() {
            return Err(BtfError::BadHeader {
                section: SECTION,
                reason: "its byte order differs from the .BTF section's".into(),
            });
        }
        let word = |i| header_word(&header, SECTION, i);
        let core = if header.hdr_len as usize >= CORE_HEADER_LEN {
            (word(4)?, word(5)?)
        } else {
            (0, 0)
        };
        let budget = Cell::new(string_budget);
        let make_part = |name, off, len| -> Result<Part<'_>, BtfError> {
            Ok(Part {
                name,
                bytes: header
                    .bytes
                    .with_same_order(part(&header, SECTION, name, off, len)?),
                base: header.hdr_len as usize + off as usize,
                btf,
                budget: &budget,
            })
        };
        let func = make_part("func info", word(0)?, word(1)?)?;
        let line = make_part("line info", word(2)?, word(3)?)?;
        let core = make_part("CO-RE relocations", core.0, core.1)?;
        Ok(BtfExt {
            func_info: func.records(8, func_info)?,
            line_info: line.records(16, line_info)?,
            core_relos: core.records(16, core_relo::decode)?,
        })
    }

    /// Func info of ELF section `section` (empty if it has none).
    pub fn func_info(&self, section: &str) -> &[FuncInfo] {
        self.func_info.get(section).map_or(&[], Vec::as_slice)
    }

    /// Line info of ELF section `section`, in the order the compiler wrote it.
    pub fn line_info(&self, section: &str) -> &[LineInfo] {
        self.line_info.get(section).map_or(&[], Vec::as_slice)
    }

    /// CO-RE relocations of ELF section `section`.
    pub fn core_relos(&self, section: &str) -> &[CoreRelo] {
        self.core_relos.get(section).map_or(&[], Vec::as_slice)
    }

    /// All func info, by section name.
    pub fn all_func_info(&self) -> &BTreeMap<String, Vec<FuncInfo>> {
        &self.func_info
    }

    /// All line info, by section name.
    pub fn all_line_info(&self) -> &BTreeMap<String, Vec<LineInfo>> {
        &self.line_info
    }

    /// All CO-RE relocations, by section name.
    pub fn all_core_relos(&self) -> &BTreeMap<String, Vec<CoreRelo>> {
        &self.core_relos
    }

    /// The source line instruction `insn` of `section` belongs to: the line info record with the
    /// greatest instruction index not after `insn`.
    pub fn line_for_insn(&self, section: &str, insn: usize) -> Option<&LineInfo> {
        self.line_info(section)
            .iter()
            .filter(|l| l.insn <= insn)
            .max_by_key(|l| l.insn)
    }
}

/// One of the three parts of the section: `rec_size`, then blocks of
/// `{sec_name_off, num_info, records…}`.
struct Part<'a> {
    name: &'static str,
    bytes: Bytes<'a>,
    /// Offset of the part from the start of the `.BTF.ext` section, for messages.
    base: usize,
    btf: &'a Btf,
    /// String bytes the section may still decode.
    budget: &'a Cell<usize>,
}

/// What a record decoder sees: the record's bytes (only the known prefix is read), where it is,
/// and the BTF its strings and types live in.
pub(crate) struct RawRecord<'a> {
    part: &'static str,
    bytes: Bytes<'a>,
    start: usize,
    base: usize,
    pub(crate) btf: &'a Btf,
    budget: &'a Cell<usize>,
}

impl RawRecord<'_> {
    /// The `index`-th u32 of the record (the caller stays within the minimum record size).
    pub(crate) fn word(&self, index: usize) -> Result<u32, BtfError> {
        self.bytes
            .u32(self.start + 4 * index)
            .ok_or_else(|| self.error(format!("record too short for field {index}")))
    }

    pub(crate) fn error(&self, reason: String) -> BtfError {
        BtfError::BadRecord {
            part: self.part,
            offset: self.base + self.start,
            reason,
        }
    }

    /// Converts a byte offset into the section's code to an instruction index.
    pub(crate) fn insn(&self, insn_off: u32) -> Result<usize, BtfError> {
        if !insn_off.is_multiple_of(8) {
            return Err(self.error(format!(
                "instruction offset {insn_off} is not a multiple of 8 bytes"
            )));
        }
        Ok(insn_off as usize / 8)
    }

    /// A string of the BTF string table, bytes that are not UTF-8 replaced, charged to the
    /// section's string budget.
    pub(crate) fn string(&self, offset: u32, what: &str) -> Result<String, BtfError> {
        let bytes = self
            .btf
            .raw_string_at(offset)
            .map_err(|e| self.error(format!("{what}: {e}")))?;
        let left = self.budget.get().checked_sub(bytes.len()).ok_or_else(|| {
            self.error(format!(
                "{what}: the section's records quote more strings than the budget of \
                 {MAX_STRING_BYTES} bytes"
            ))
        })?;
        self.budget.set(left);
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

impl<'a> Part<'a> {
    fn records<T>(
        &self,
        min_rec_size: u32,
        decode: fn(&RawRecord<'a>) -> Result<T, BtfError>,
    ) -> Result<BTreeMap<String, Vec<T>>, BtfError> {
        let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
        if self.bytes.len() == 0 {
            return Ok(out);
        }
        let rec_size = self.u32(0, "the record size")?;
        if rec_size < min_rec_size || !rec_size.is_multiple_of(4) {
            return Err(BtfError::BadRecordSize {
                part: self.name,
                rec_size,
                min: min_rec_size,
            });
        }
        let mut off = 4;
        while off < self.bytes.len() {
            let sec_name_off = self.u32(off, "a block header")?;
            let num_info = self.u32(off + 4, "a block header")?;
            let section = self
                .btf
                .string_at(sec_name_off)
                .map_err(|e| BtfError::BadRecord {
                    part: self.name,
                    offset: self.base + off,
                    reason: format!("section name: {e}"),
                })?;
            off += 8;
            let need = u64::from(num_info) * u64::from(rec_size);
            let avail = self.bytes.len() - off;
            if need > avail as u64 {
                return Err(BtfError::ExtTruncated {
                    part: self.name,
                    offset: self.base + off,
                    what: format!("{num_info} records of {rec_size} bytes for section {section:?}"),
                    need: usize::try_from(need).unwrap_or(usize::MAX),
                    avail,
                });
            }
            // Bounded by the check above: `num_info` records fit in the bytes that remain.
            let records = out.entry(section.to_owned()).or_default();
            records.reserve(num_info as usize);
            for _ in 0..num_info {
                let raw = RawRecord {
                    part: self.name,
                    bytes: self.bytes,
                    start: off,
                    base: self.base,
                    btf: self.btf,
                    budget: self.budget,
                };
                records.push(decode(&raw)?);
                off += rec_size as usize;
            }
        }
        Ok(out)
    }

    fn u32(&self, off: usize, what: &str) -> Result<u32, BtfError> {
        self.bytes.u32(off).ok_or_else(|| BtfError::ExtTruncated {
            part: self.name,
            offset: self.base + off,
            what: what.into(),
            need: 4,
            avail: self.bytes.len().saturating_sub(off),
        })
    }
}

fn func_info(raw: &RawRecord<'_>) -> Result<FuncInfo, BtfError> {
    let insn = raw.insn(raw.word(0)?)?;
    let type_id = raw.word(1)?;
    let ty = raw
        .btf
        .get(type_id)
        .ok_or_else(|| raw.error(format!("type [{type_id}] does not exist")))?;
    if !matches!(ty.kind, TypeKind::Func(_)) {
        return Err(raw.error(format!(
            "type [{type_id}] is a {}, expected FUNC",
            ty.btf_kind()
        )));
    }
    Ok(FuncInfo {
        insn,
        type_id,
        name: raw.string(ty.name_off, "function name")?,
    })
}

fn line_info(raw: &RawRecord<'_>) -> Result<LineInfo, BtfError> {
    let line_col = raw.word(3)?;
    Ok(LineInfo {
        insn: raw.insn(raw.word(0)?)?,
        file: raw.string(raw.word(1)?, "file name")?,
        line_text: raw.string(raw.word(2)?, "line text")?,
        line: line_col >> 10,
        column: line_col & 0x3ff,
    })
}
