//! Loading eBPF ELF objects: every program of an object, linked and relocated, with its maps,
//! helpers, program type and source lines.
//!
//! Start with [`load`]. A program is identified by (section, function): a section may hold several
//! functions, and every function in `.text` is also a program of its own (it can be verified with
//! unknown arguments, as Linux does for global functions) besides being linked into its callers.
//!
//! Invariants of a loaded [`Object`]: every program's `slots` are self-contained (all calls and
//! function references point inside it); a map `lddw` carries `src=1` and the index of its map in
//! [`Object::maps`], a global-data `lddw` `src=2`, the data map's index and the byte offset; calls
//! to Linux helpers carry `src=0` and the helper id. Nothing here trusts the file: sizes, offsets
//! and indices are checked before use, and the loader never panics on any input.
//!
//! Modules: [`file`] (sections, symbols, relocations), [`maps`] and `btf_maps` (map definitions),
//! `link` (relocation and linking), [`btf`] and [`btf_ext`] (types, func/line info, CO-RE records),
//! `core` (applying CO-RE relocations).

pub mod btf;
pub mod btf_ext;
mod btf_maps;
mod core;
mod error;
pub mod file;
mod link;
pub mod maps;

pub use error::LoadError;
pub use maps::{MapDef, MapSource, map_type_name};

use crate::isa::{DecodeError, Insn, RawInsn, decode_raw};
use crate::platform::{ProgramType, program_type_for};
use btf::Btf;
use btf_ext::BtfExt;
use file::ElfFile;

/// How to load an object.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Use this program type for every program instead of the one the section name implies.
    pub program_type: Option<ProgramType>,
    /// Type of programs whose section names imply none: Cilium-style numeric sections (`2/7`),
    /// iproute2-style names (`ingress`, `filter`), and `.text` entry points that no typed
    /// program calls. A `.text` function called by a typed program takes that program's type.
    pub default_type: ProgramType,
    /// Kernel BTF to apply CO-RE relocations against (e.g. /sys/kernel/btf/vmlinux); without it,
    /// relocations are resolved against the object's own BTF. The loaded [`Object`] keeps it:
    /// the analysis types tracing programs' arguments from it. Shared, because one kernel BTF
    /// (megabytes) serves every object a command loads.
    pub target_btf: Option<std::sync::Arc<Btf>>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            program_type: None,
            default_type: ProgramType::SchedCls,
            target_btf: None,
        }
    }
}

/// A source position from line info, with the text of the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub pc: usize,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub text: String,
}

/// A function as laid out in a linked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSpan {
    pub name: String,
    pub section: String,
    /// First pc of the function in the program.
    pub pc: usize,
    pub len: usize,
}

/// One program of an object, linked and relocated.
#[derive(Clone, Debug)]
pub struct Program {
    pub section: String,
    pub function: String,
    pub program_type: ProgramType,
    /// The linked instructions, as they would be handed to the kernel.
    pub slots: Vec<RawInsn>,
    /// The decoded instructions, or why they do not decode (a verdict of "rejected", not a load
    /// error: the object loads, the program is unsafe).
    pub insns: Result<Vec<Insn>, DecodeError>,
    /// Indices into [`Object::maps`] of the maps the program references.
    pub maps: Vec<usize>,
    /// Ids of the helpers the program calls.
    pub helpers: Vec<i32>,
    /// Kernel functions the program calls, by name.
    pub kfuncs: Vec<String>,
    /// The entry function first, then every function linked in, in order.
    pub functions: Vec<FunctionSpan>,
    /// Line info, sorted by pc (empty without `.BTF.ext`).
    pub lines: Vec<SourceLine>,
}

impl Program {
    /// The source line an instruction came from: the last line-info record at or before `pc`
    /// within the same function.
    pub fn line_at(&self, pc: usize) -> Option<&SourceLine> {
        let function_start = self
            .functions
            .iter()
            .rev()
            .find(|f| f.pc <= pc)
            .map_or(0, |f| f.pc);
        let i = self.lines.partition_point(|l| l.pc <= pc);
        self.lines[..i].last().filter(|l| l.pc >= function_start)
    }

    /// The function containing `pc`.
    pub fn function_at(&self, pc: usize) -> Option<&FunctionSpan> {
        self.functions
            .iter()
            .find(|f| f.pc <= pc && pc < f.pc + f.len)
    }
}

/// A loaded object.
#[derive(Clone, Debug)]
pub struct Object {
    pub programs: Vec<Program>,
    pub maps: Vec<MapDef>,
    /// Contents of the `license` section, if any.
    pub license: Option<String>,
    pub btf: Option<Btf>,
    /// The kernel BTF the object was loaded for ([`LoadOptions::target_btf`]), if any.
    pub kernel_btf: Option<std::sync::Arc<Btf>>,
}

/// Loads every program of an ELF object.
pub fn load(bytes: &[u8], options: &LoadOptions) -> Result<Object, LoadError> {
    let elf = ElfFile::parse(bytes)?;
    let btf = match elf.section_by_name(".BTF") {
        Some(s) => Some(Btf::parse(s.data)?),
        None => None,
    };
    let btf_ext = match (elf.section_by_name(".BTF.ext"), &btf) {
        (Some(s), Some(b)) => Some(BtfExt::parse(s.data, b)?),
        (Some(_), None) => {
            return Err(LoadError::Malformed("`.BTF.ext` without `.BTF`".into()));
        }
        _ => None,
    };
    let map_table = maps::collect(&elf, btf.as_ref())?;
    let functions = link::functions(&elf)?;
    let linker = link::Linker::new(&elf, &functions, &map_table, btf.as_ref());
    let mut programs = Vec::new();
    for (index, f) in functions.iter().enumerate() {
        let linked = linker.link(index)?;
        let section = elf.sections[f.section].name.clone();
        let program_type = program_type_for(&section, options.program_type, ProgramType::Unknown);
        let spans: Vec<FunctionSpan> = linked
            .placed
            .iter()
            .map(|p| {
                let g = &functions[p.function];
                FunctionSpan {
                    name: g.name.clone(),
                    section: elf.sections[g.section].name.clone(),
                    pc: p.pc,
                    len: g.end - g.start,
                }
            })
            .collect();
        let mut slots = linked.slots;
        if let Some(ext) = &btf_ext {
            core::apply(
                &mut slots,
                &linked.placed,
                &functions,
                &elf,
                btf.as_ref(),
                ext,
                options,
            )?;
        }
        let lines = btf_ext
            .as_ref()
            .map(|ext| source_lines(ext, &elf, &functions, &linked.placed))
            .unwrap_or_default();
        programs.push(Program {
            section,
            function: f.name.clone(),
            program_type,
            insns: decode_raw(&slots),
            slots,
            maps: linked.maps,
            helpers: linked.helpers,
            kfuncs: linked.kfuncs,
            functions: spans,
            lines,
        });
    }
    assign_default_types(&mut programs, options.default_type);
    let license = elf.section_by_name("license").map(|s| {
        let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
        String::from_utf8_lossy(&s.data[..end]).into_owned()
    });
    Ok(Object {
        programs,
        maps: map_table.maps,
        license,
        btf,
        kernel_btf: options.target_btf.clone(),
    })
}

/// Programs whose section implies no type take the type of a typed program that links them in
/// (a subprogram runs in its caller's context); a `.text` function nobody calls takes the type
/// every typed program of the object has; anything else takes the default.
fn assign_default_types(programs: &mut [Program], default: ProgramType) {
    let typed: Vec<(ProgramType, Vec<(String, String)>)> = programs
        .iter()
        .filter(|p| p.program_type != ProgramType::Unknown)
        .map(|p| {
            (
                p.program_type,
                p.functions
                    .iter()
                    .map(|f| (f.section.clone(), f.name.clone()))
                    .collect(),
            )
        })
        .collect();
    // A function nobody calls, in an object whose typed programs all share one type, most
    // likely shares it too (a helper library such as libbpf's usdt.bpf.h).
    let shared = typed
        .first()
        .map(|(t, _)| *t)
        .filter(|t| typed.iter().all(|(u, _)| u == t));
    for p in programs
        .iter_mut()
        .filter(|p| p.program_type == ProgramType::Unknown)
    {
        let key = (p.section.clone(), p.function.clone());
        p.program_type = typed
            .iter()
            .find(|(_, fns)| fns.contains(&key))
            .map(|(t, _)| *t)
            .or(shared.filter(|_| p.section == ".text"))
            .unwrap_or(default);
    }
}

/// Line info of every placed function, moved to its pc in the linked program.
fn source_lines(
    ext: &BtfExt,
    elf: &ElfFile<'_>,
    functions: &[link::Function],
    placed: &[link::Placed],
) -> Vec<SourceLine> {
    let mut out = Vec::new();
    for p in placed {
        let f = &functions[p.function];
        for l in ext.line_info(&elf.sections[f.section].name) {
            if l.insn >= f.start && l.insn < f.end {
                out.push(SourceLine {
                    pc: p.pc + (l.insn - f.start),
                    file: l.file.clone(),
                    line: l.line,
                    column: l.column,
                    text: l.line_text.clone(),
                });
            }
        }
    }
    out.sort_by_key(|l| l.pc);
    out
}
