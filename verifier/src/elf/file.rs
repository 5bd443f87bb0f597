//! The ELF file as the loader sees it: validated sections, symbols and relocations.
//!
//! goblin parses the ELF header and the section headers; the symbol table, string tables and
//! relocation tables are read here, by hand, because every field of them must be checked against
//! the file anyway (section data inside the file, symbol and section indices in range, relocation
//! offsets inside their section) and because names are read leniently: a name that is not UTF-8
//! is shown with replacement characters instead of failing the whole object. goblin runs under
//! `catch_unwind` as a last line of defence: a panic in a parser on a hostile file becomes a
//! [`LoadError`], never a crash.

use super::LoadError;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::{Elf, SectionHeader, section_header as sh};

/// Largest object accepted. Real objects are kilobytes to a few megabytes.
pub const MAX_OBJECT_BYTES: usize = 64 << 20;
/// Most sections, symbols or relocations accepted, each.
pub const MAX_TABLE_ENTRIES: usize = 1 << 20;

const EM_NONE: u16 = 0;
const EM_BPF: u16 = 247;
const STT_SECTION: u8 = 3;
const STT_FUNC: u8 = 2;
const SYM_SIZE: usize = 24;
const REL_SIZE: usize = 16;
const RELA_SIZE: usize = 24;

#[derive(Clone, Debug)]
pub struct Section<'a> {
    pub index: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub link: u32,
    pub info: u32,
    /// The section's bytes (empty for `SHT_NOBITS`).
    pub data: &'a [u8],
    /// The section's size in memory (equals `data.len()` except for `SHT_NOBITS`).
    pub size: u64,
}

impl Section<'_> {
    pub fn is_executable(&self) -> bool {
        self.sh_type == sh::SHT_PROGBITS && self.flags & u64::from(sh::SHF_EXECINSTR) != 0
    }
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    /// The section the symbol is defined in; `None` for undefined (extern), absolute or common
    /// symbols.
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
    pub kind: u8,
    pub bind: u8,
}

impl Symbol {
    pub fn is_function(&self) -> bool {
        self.kind == STT_FUNC
    }

    pub fn is_section(&self) -> bool {
        self.kind == STT_SECTION
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Reloc {
    /// Byte offset inside the target section.
    pub offset: u64,
    pub symbol: usize,
    pub r_type: u32,
    /// The explicit addend of a `SHT_RELA` entry (`SHT_REL` keeps it in the instruction).
    pub addend: Option<i64>,
}

/// A parsed, validated ELF object.
#[derive(Debug)]
pub struct ElfFile<'a> {
    pub sections: Vec<Section<'a>>,
    pub symbols: Vec<Symbol>,
    /// Relocations per target section index (only for code sections).
    pub relocs: Vec<Vec<Reloc>>,
}

impl<'a> ElfFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<ElfFile<'a>, LoadError> {
        if bytes.len() > MAX_OBJECT_BYTES {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                limit: MAX_OBJECT_BYTES,
            });
        }
        if !bytes.starts_with(b"\x7fELF") {
            return Err(LoadError::NotElf);
        }
        let parsed = std::panic::catch_unwind(|| -> Result<_, goblin::error::Error> {
            let header = Elf::parse_header(bytes)?;
            let ctx = Ctx::new(Container::Big, Endian::Little);
            let headers = if header.e_shoff == 0 {
                Vec::new()
            } else {
                let offset = usize::try_from(header.e_shoff).unwrap_or(usize::MAX);
                SectionHeader::parse(bytes, offset, usize::from(header.e_shnum), ctx)?
            };
            Ok((header, headers))
        });
        let (header, headers) = parsed
            .map_err(|_| LoadError::Malformed("the ELF parser failed on this file".into()))?
            .map_err(|e| {
                LoadError::Malformed(format!("cannot read the ELF or section headers: {e}"))
            })?;
        if header.e_ident[goblin::elf::header::EI_CLASS] != goblin::elf::header::ELFCLASS64
            || header.e_ident[goblin::elf::header::EI_DATA] != goblin::elf::header::ELFDATA2LSB
        {
            return Err(LoadError::Unsupported(
                "only 64-bit little-endian eBPF objects are supported".into(),
            ));
        }
        // Some old toolchains left the machine unset (EM_NONE); anything else is not eBPF.
        if header.e_machine != EM_BPF && header.e_machine != EM_NONE {
            return Err(LoadError::NotBpf {
                machine: header.e_machine,
            });
        }
        if headers.len() > MAX_TABLE_ENTRIES {
            return Err(LoadError::Malformed("too many sections".into()));
        }
        let sections = sections(&headers, usize::from(header.e_shstrndx), bytes)?;
        let symbols = symbols(&sections)?;
        let relocs = relocations(&sections, symbols.len())?;
        Ok(ElfFile {
            sections,
            symbols,
            relocs,
        })
    }

    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// The NUL-terminated string at `offset` of a string table section, read leniently.
fn string_at(table: Option<&Section<'_>>, offset: u32) -> String {
    let Some(data) = table.map(|t| t.data).and_then(|d| d.get(offset as usize..)) else {
        return String::new();
    };
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn sections<'a>(
    headers: &[SectionHeader],
    names_index: usize,
    bytes: &'a [u8],
) -> Result<Vec<Section<'a>>, LoadError> {
    let mut out: Vec<Section<'a>> = Vec::with_capacity(headers.len());
    for (index, h) in headers.iter().enumerate() {
        let data: &[u8] = if h.sh_type == sh::SHT_NOBITS || h.sh_type == sh::SHT_NULL {
            &[]
        } else {
            let start = usize::try_from(h.sh_offset).ok();
            let end = start
                .zip(usize::try_from(h.sh_size).ok())
                .and_then(|(s, n)| s.checked_add(n));
            match (start, end) {
                (Some(s), Some(e)) if e <= bytes.len() => &bytes[s..e],
                _ => {
                    return Err(LoadError::Malformed(format!(
                        "section {index} (offset {:#x}, size {:#x}) extends past the end of the file ({:#x} bytes)",
                        h.sh_offset,
                        h.sh_size,
                        bytes.len()
                    )));
                }
            }
        };
        out.push(Section {
            index,
            name: String::new(),
            sh_type: h.sh_type,
            flags: h.sh_flags,
            link: h.sh_link,
            info: h.sh_info,
            data,
            size: h.sh_size,
        });
    }
    let names: Vec<String> = headers
        .iter()
        .map(|h| {
            string_at(
                out.get(names_index).filter(|s| s.sh_type == sh::SHT_STRTAB),
                h.sh_name as u32,
            )
        })
        .collect();
    for (s, name) in out.iter_mut().zip(names) {
        s.name = name;
    }
    check_overlaps(headers, &out)?;
    Ok(out)
}

/// No two sections may share file bytes: real objects never do, and a hostile one could otherwise
/// make code and, say, its relocations or map definitions alias each other.
fn check_overlaps(headers: &[SectionHeader], sections: &[Section<'_>]) -> Result<(), LoadError> {
    let mut ranges: Vec<(u64, u64, usize)> = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| !sections[*i].data.is_empty() && h.sh_type != sh::SHT_NOBITS)
        .map(|(i, h)| (h.sh_offset, h.sh_offset + h.sh_size, i))
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
        if start < end {
            return Err(LoadError::Malformed(format!(
                "sections {a} `{}` and {b} `{}` overlap in the file",
                sections[a].name, sections[b].name
            )));
        }
    }
    Ok(())
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The symbol table (the last `SHT_SYMTAB`, as goblin and libbpf take it).
fn symbols(sections: &[Section<'_>]) -> Result<Vec<Symbol>, LoadError> {
    let Some(table) = sections.iter().rfind(|s| s.sh_type == sh::SHT_SYMTAB) else {
        return Ok(Vec::new());
    };
    if table.data.len() % SYM_SIZE != 0 {
        return Err(LoadError::Malformed(format!(
            "symbol table `{}` is {} bytes, not a multiple of {SYM_SIZE}",
            table.name,
            table.data.len()
        )));
    }
    let count = table.data.len() / SYM_SIZE;
    if count > MAX_TABLE_ENTRIES {
        return Err(LoadError::Malformed("symbol table is too large".into()));
    }
    let strings = sections
        .get(table.link as usize)
        .filter(|s| s.sh_type == sh::SHT_STRTAB);
    let mut out = Vec::with_capacity(count);
    for (i, raw) in table.data.chunks_exact(SYM_SIZE).enumerate() {
        let name = string_at(strings, u32_at(raw, 0));
        let info = raw[4];
        let shndx = usize::from(u16::from_le_bytes([raw[6], raw[7]]));
        let section = match shndx {
            0 => None,
            n if n >= sh::SHN_LORESERVE as usize => None,
            n if n < sections.len() => Some(n),
            n => {
                return Err(LoadError::Malformed(format!(
                    "symbol {i} `{name}` is defined in section {n}, but there are only {} sections",
                    sections.len()
                )));
            }
        };
        out.push(Symbol {
            name,
            section,
            value: u64_at(raw, 8),
            size: u64_at(raw, 16),
            kind: info & 0xf,
            bind: info >> 4,
        });
    }
    Ok(out)
}

/// Relocations of code sections. Relocations of debug info, BTF and other non-code sections do
/// not affect what a program does and are not read.
fn relocations(
    sections: &[Section<'_>],
    symbol_count: usize,
) -> Result<Vec<Vec<Reloc>>, LoadError> {
    let mut out = vec![Vec::new(); sections.len()];
    let mut total = 0usize;
    for rel in sections
        .iter()
        .filter(|s| s.sh_type == sh::SHT_REL || s.sh_type == sh::SHT_RELA)
    {
        let target = rel.info as usize;
        let Some(target_section) = sections.get(target) else {
            return Err(LoadError::Malformed(format!(
                "relocation section `{}` applies to section {target}, which does not exist",
                rel.name
            )));
        };
        if !target_section.is_executable() {
            continue;
        }
        let entry = if rel.sh_type == sh::SHT_RELA {
            RELA_SIZE
        } else {
            REL_SIZE
        };
        if rel.data.len() % entry != 0 {
            return Err(LoadError::Malformed(format!(
                "relocation section `{}` is {} bytes, not a multiple of {entry}",
                rel.name,
                rel.data.len()
            )));
        }
        for raw in rel.data.chunks_exact(entry) {
            total += 1;
            if total > MAX_TABLE_ENTRIES {
                return Err(LoadError::Malformed("too many relocations".into()));
            }
            let offset = u64_at(raw, 0);
            let info = u64_at(raw, 8);
            let addend = (entry == RELA_SIZE).then(|| u64_at(raw, 16) as i64);
            let (symbol, r_type) = ((info >> 32) as usize, info as u32);
            if symbol >= symbol_count {
                return Err(LoadError::Malformed(format!(
                    "relocation at {}+{offset:#x} names symbol {symbol}, but there are only {symbol_count} symbols",
                    target_section.name
                )));
            }
            if !offset.is_multiple_of(8) || offset >= target_section.size {
                return Err(LoadError::Malformed(format!(
                    "relocation at {}+{offset:#x} is not at an instruction boundary inside the section ({:#x} bytes)",
                    target_section.name, target_section.size
                )));
            }
            out[target].push(Reloc {
                offset,
                symbol,
                r_type,
                addend,
            });
        }
    }
    for list in &mut out {
        list.sort_by_key(|r| r.offset);
    }
    Ok(out)
}
