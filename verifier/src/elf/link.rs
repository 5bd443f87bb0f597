//! Turning one function of an object into a self-contained program: relocation and linking.
//!
//! Like libbpf, a program is its entry function followed by every function it calls, directly or
//! through other functions, or takes the address of (callbacks): each is appended once, in the
//! order first reached, and every call and function reference is re-pointed at its new position.
//! Map references become `lddw src=1` with the map's index, global data becomes `lddw src=2` with
//! the data map's index and the byte offset, and calls to undefined symbols named like Linux
//! helpers (`bpf_map_lookup_elem`) become helper calls; any other undefined call is an error.
//!
//! Targets are computed as libbpf computes them: a call with a relocation goes to instruction
//! `symbol.value / 8 + imm + 1` of the symbol's section; one without goes `imm + 1` past the call
//! within the same section; a function reference (`lddw` relocated against code) goes to
//! `(symbol.value + imm) / 8`.

use super::LoadError;
use super::btf::{Btf, BtfKind};
use super::file::ElfFile;
use super::maps::MapTable;
use crate::isa::RawInsn;
use crate::platform::helper_id;
use std::collections::HashMap;

const R_BPF_NONE: u32 = 0;
const R_BPF_64_64: u32 = 1;
const R_BPF_64_32: u32 = 10;

const OP_LDDW: u8 = 0x18;
const OP_CALL: u8 = 0x85;

/// Most instructions a linked program may have (Linux's limit).
const MAX_LINKED_SLOTS: usize = 1_000_000;

/// A function of an executable section: `[start, end)` in instruction slots of the section.
#[derive(Clone, Debug)]
pub struct Function {
    pub section: usize,
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// Where a function landed in a linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub function: usize,
    pub pc: usize,
}

/// A linked program before decoding.
#[derive(Clone, Debug)]
pub struct Linked {
    pub slots: Vec<RawInsn>,
    pub placed: Vec<Placed>,
    pub maps: Vec<usize>,
    pub helpers: Vec<i32>,
    pub kfuncs: Vec<String>,
}

/// Finds the functions of every executable section. A section with no function symbols is one
/// function named after the section (older objects name programs that way).
pub fn functions(elf: &ElfFile<'_>) -> Result<Vec<Function>, LoadError> {
    let mut out = Vec::new();
    for section in elf.sections.iter().filter(|s| s.is_executable()) {
        let slots = section.data.len() / 8;
        if section.data.len() % 8 != 0 {
            return Err(LoadError::Malformed(format!(
                "code section `{}` is {} bytes, not a whole number of instructions",
                section.name,
                section.data.len()
            )));
        }
        if slots == 0 {
            continue;
        }
        let mut syms: Vec<(&str, u64, u64)> = elf
            .symbols
            .iter()
            .filter(|s| s.section == Some(section.index) && s.is_function())
            .map(|s| (s.name.as_str(), s.value, s.size))
            .collect();
        syms.sort_by_key(|&(_, value, _)| value);
        if syms.is_empty() {
            out.push(Function {
                section: section.index,
                name: section.name.clone(),
                start: 0,
                end: slots,
            });
            continue;
        }
        for (i, &(name, value, size)) in syms.iter().enumerate() {
            let next = syms
                .get(i + 1)
                .map(|&(_, v, _)| v)
                .unwrap_or(section.data.len() as u64);
            let end = if size == 0 {
                next
            } else {
                value.saturating_add(size)
            };
            if value % 8 != 0 || end % 8 != 0 || end > section.data.len() as u64 || end <= value {
                return Err(LoadError::Malformed(format!(
                    "function `{name}` (offset {value:#x}, size {size:#x}) does not fit the {}-byte section `{}`",
                    section.data.len(),
                    section.name
                )));
            }
            out.push(Function {
                section: section.index,
                name: name.to_string(),
                start: (value / 8) as usize,
                end: (end / 8) as usize,
            });
        }
    }
    Ok(out)
}

/// Reads slot `i` of a section.
fn slot(data: &[u8], i: usize) -> RawInsn {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[i * 8..i * 8 + 8]);
    RawInsn::from_bytes(b)
}

/// What one relocated instruction refers to, once classified.
enum Target {
    /// A code location: (section, slot).
    Code(usize, usize),
    Map(usize),
    Data {
        map: usize,
        offset: i64,
    },
    Helper(i32),
    Kfunc {
        name: String,
        btf_id: i32,
    },
    Unchanged,
}

pub struct Linker<'e, 'a> {
    elf: &'e ElfFile<'a>,
    functions: &'e [Function],
    maps: &'e MapTable,
    btf: Option<&'e Btf>,
    /// Relocation per (section, slot).
    relocs: HashMap<(usize, usize), super::file::Reloc>,
}

impl<'e, 'a> Linker<'e, 'a> {
    pub fn new(
        elf: &'e ElfFile<'a>,
        functions: &'e [Function],
        maps: &'e MapTable,
        btf: Option<&'e Btf>,
    ) -> Linker<'e, 'a> {
        let mut relocs = HashMap::new();
        for (section, list) in elf.relocs.iter().enumerate() {
            for r in list {
                relocs.insert((section, (r.offset / 8) as usize), *r);
            }
        }
        Linker {
            elf,
            functions,
            maps,
            btf,
            relocs,
        }
    }

    fn function_at(&self, section: usize, slot: usize) -> Option<usize> {
        self.functions
            .iter()
            .position(|f| f.section == section && f.start <= slot && slot < f.end)
    }

    fn describe(&self, section: usize, slot: usize) -> String {
        let name = &self.elf.sections[section].name;
        format!("{name}+{:#x} (instruction {slot})", slot * 8)
    }

    /// Classifies the instruction at (section, slot), following its relocation if it has one.
    fn target(&self, section: usize, slot: usize, insn: RawInsn) -> Result<Target, LoadError> {
        let here = || self.describe(section, slot);
        let Some(reloc) = self.relocs.get(&(section, slot)) else {
            if insn.opcode == OP_CALL && insn.src == 1 {
                let target = slot as i64 + 1 + i64::from(insn.imm);
                return usize::try_from(target)
                    .map(|t| Target::Code(section, t))
                    .map_err(|_| {
                        LoadError::BadRelocation(format!(
                            "call at {} jumps before its section",
                            here()
                        ))
                    });
            }
            return Ok(Target::Unchanged);
        };
        // Old toolchains (objects with machine EM_NONE) wrote relocations of type 0; the
        // instruction they apply to says what they mean, so they are read like the BPF ones.
        let r_type = match (reloc.r_type, insn.opcode) {
            (R_BPF_NONE, OP_LDDW) => R_BPF_64_64,
            (R_BPF_NONE, OP_CALL) => R_BPF_64_32,
            (R_BPF_NONE, _) => return Ok(Target::Unchanged),
            (t, _) => t,
        };
        // A RELA addend replaces the one kept in the instruction.
        let insn = match reloc.addend {
            Some(a) if insn.opcode == OP_LDDW => RawInsn {
                imm: a as i32,
                ..insn
            },
            _ => insn,
        };
        let sym = &self.elf.symbols[reloc.symbol];
        let sym_name = if sym.name.is_empty() {
            sym.section
                .map(|s| self.elf.sections[s].name.clone())
                .unwrap_or_default()
        } else {
            sym.name.clone()
        };
        match (insn.opcode, r_type) {
            (OP_CALL, R_BPF_64_32) => match sym.section {
                Some(s) if self.elf.sections[s].is_executable() => {
                    if insn.src != 1 {
                        return Err(LoadError::BadRelocation(format!(
                            "call at {} is relocated against function `{sym_name}` but is not a local call",
                            here()
                        )));
                    }
                    // Hostile symbol values must not overflow: out of range is an error.
                    let t = i64::try_from(sym.value / 8)
                        .ok()
                        .and_then(|v| v.checked_add(i64::from(insn.imm) + 1))
                        .unwrap_or(-1);
                    usize::try_from(t).map(|t| Target::Code(s, t)).map_err(|_| {
                        LoadError::BadRelocation(format!(
                            "call at {} targets a negative offset",
                            here()
                        ))
                    })
                }
                Some(s) => Err(LoadError::BadRelocation(format!(
                    "call at {} targets `{sym_name}` in non-code section `{}`",
                    here(),
                    self.elf.sections[s].name
                ))),
                None => self.external_call(&sym_name, &here()),
            },
            (OP_LDDW, R_BPF_64_64) => self.lddw_target(sym, &sym_name, insn, &here()),
            (op, t) => Err(LoadError::BadRelocation(format!(
                "relocation type {t} against `{sym_name}` at {} applies to opcode {op:#04x}, which takes none",
                here()
            ))),
        }
    }

    fn external_call(&self, name: &str, here: &str) -> Result<Target, LoadError> {
        if let Some(id) = helper_id(name) {
            return Ok(Target::Helper(id));
        }
        // A kernel function (kfunc) is an extern declared `__ksym`: listed in the `.ksyms` DATASEC.
        if let Some(btf) = self.btf
            && let Some((_, ksyms)) = btf.find_datasec(".ksyms")
            && let Ok(vars) = btf.datasec_vars(ksyms)
            && let Some(var) = vars.iter().find(|v| v.name == name)
            && btf
                .get(var.id)
                .is_some_and(|t| t.btf_kind() == BtfKind::Func)
        {
            return Ok(Target::Kfunc {
                name: name.to_string(),
                btf_id: var.id as i32,
            });
        }
        Err(LoadError::UnknownExternal {
            name: name.to_string(),
            location: here.to_string(),
        })
    }

    fn lddw_target(
        &self,
        sym: &super::file::Symbol,
        name: &str,
        insn: RawInsn,
        here: &str,
    ) -> Result<Target, LoadError> {
        let Some(s) = sym.section else {
            if let (Some(map), Some(off)) =
                (self.maps.kconfig_map, self.maps.kconfig_offsets.get(name))
            {
                return Ok(Target::Data {
                    map,
                    offset: *off as i64 + i64::from(insn.imm),
                });
            }
            return Err(LoadError::UnknownExternal {
                name: name.to_string(),
                location: here.to_string(),
            });
        };
        let section = &self.elf.sections[s];
        if section.is_executable() {
            let t = i64::try_from(sym.value)
                .ok()
                .and_then(|v| v.checked_add(i64::from(insn.imm)))
                .map_or(-1, |v| v / 8);
            return usize::try_from(t).map(|t| Target::Code(s, t)).map_err(|_| {
                LoadError::BadRelocation(format!(
                    "function reference at {here} targets a negative offset"
                ))
            });
        }
        if let Some(map) = self.maps.data_map(s) {
            let offset = i64::try_from(sym.value)
                .ok()
                .and_then(|v| v.checked_add(i64::from(insn.imm)))
                .ok_or_else(|| {
                    LoadError::BadRelocation(format!(
                        "data reference at {here}: symbol `{name}` at {:#x} is out of range",
                        sym.value
                    ))
                })?;
            return Ok(Target::Data { map, offset });
        }
        let offset = if sym.is_section() {
            u64::from(insn.imm as u32)
        } else {
            sym.value
        };
        if let Some(map) = self.maps.map_at(s, offset) {
            return Ok(Target::Map(map));
        }
        Err(LoadError::BadRelocation(format!(
            "lddw at {here} refers to `{name}` in section `{}` at offset {offset}, which is no map or global variable",
            section.name
        )))
    }

    /// Links the program whose entry is `functions[entry]`.
    pub fn link(&self, entry: usize) -> Result<Linked, LoadError> {
        // Phase 1: which functions, in which order.
        let mut order = vec![entry];
        let mut index_of: HashMap<usize, usize> = HashMap::from([(entry, 0)]);
        let mut i = 0;
        while i < order.len() {
            let f = &self.functions[order[i]];
            let data = self.elf.sections[f.section].data;
            for s in f.start..f.end {
                if let Target::Code(sec, t) = self.target(f.section, s, slot(data, s))? {
                    let g = self.function_at(sec, t).ok_or_else(|| {
                        LoadError::BadRelocation(format!(
                            "{} refers to {}, which is in no function",
                            self.describe(f.section, s),
                            self.describe(sec, t)
                        ))
                    })?;
                    if let std::collections::hash_map::Entry::Vacant(e) = index_of.entry(g) {
                        e.insert(order.len());
                        order.push(g);
                    }
                }
            }
            i += 1;
        }
        let mut placed = Vec::with_capacity(order.len());
        let mut pc = 0usize;
        for &f in &order {
            placed.push(Placed { function: f, pc });
            pc += self.functions[f].end - self.functions[f].start;
            if pc > MAX_LINKED_SLOTS {
                return Err(LoadError::Malformed(format!(
                    "program `{}` links to more than {MAX_LINKED_SLOTS} instructions",
                    self.functions[entry].name
                )));
            }
        }
        // Phase 2: copy and patch.
        let mut linked = Linked {
            slots: Vec::with_capacity(pc),
            placed,
            maps: vec![],
            helpers: vec![],
            kfuncs: vec![],
        };
        for p in 0..linked.placed.len() {
            let Placed { function, pc: base } = linked.placed[p];
            let f = &self.functions[function];
            let data = self.elf.sections[f.section].data;
            let mut pending_next_imm = None;
            for s in f.start..f.end {
                let mut insn = slot(data, s);
                let new_pc = base + (s - f.start);
                if let Some(next) = pending_next_imm.take() {
                    // Second slot of a global-data lddw: the byte offset.
                    insn.imm = next;
                    linked.slots.push(insn);
                    continue;
                }
                match self.target(f.section, s, insn)? {
                    Target::Code(sec, t) => {
                        let g = self
                            .function_at(sec, t)
                            .expect("phase 1 found this function");
                        let g_base = linked.placed[index_of[&g]].pc;
                        let new_target = (g_base + (t - self.functions[g].start)) as i64;
                        insn.imm = i32::try_from(new_target - new_pc as i64 - 1).map_err(|_| {
                            LoadError::Malformed("call distance does not fit 32 bits".into())
                        })?;
                        if insn.opcode == OP_LDDW {
                            insn.src = 4;
                        }
                    }
                    Target::Map(m) => {
                        insn.src = 1;
                        insn.imm = m as i32;
                        linked.maps.push(m);
                    }
                    Target::Data { map, offset } => {
                        insn.src = 2;
                        insn.imm = map as i32;
                        let next = i32::try_from(offset).map_err(|_| {
                            LoadError::BadRelocation(format!(
                                "global variable offset {offset} is out of range"
                            ))
                        })?;
                        if s + 1 >= f.end {
                            return Err(LoadError::BadRelocation(format!(
                                "lddw at {} is cut off by the end of function `{}`",
                                self.describe(f.section, s),
                                f.name
                            )));
                        }
                        linked.maps.push(map);
                        pending_next_imm = Some(next);
                    }
                    Target::Helper(id) => {
                        insn.src = 0;
                        insn.imm = id;
                    }
                    Target::Kfunc { name, btf_id } => {
                        insn.src = 2;
                        insn.imm = btf_id;
                        linked.kfuncs.push(name);
                    }
                    Target::Unchanged => {}
                }
                if insn.opcode == OP_CALL && insn.src == 0 {
                    linked.helpers.push(insn.imm);
                }
                linked.slots.push(insn);
            }
        }
        linked.maps.sort_unstable();
        linked.maps.dedup();
        linked.helpers.sort_unstable();
        linked.helpers.dedup();
        linked.kfuncs.sort();
        linked.kfuncs.dedup();
        Ok(linked)
    }
}
