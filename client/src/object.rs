//! `vouch list` and `vouch disasm` on ELF objects.
//!
//! Both load the object the way `check` will, so what they show is exactly what gets verified:
//! the linked, relocated instructions of each (section, function).

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use vouch_verifier::elf::{self, LoadOptions, Object, Program, btf::Btf};
use vouch_verifier::isa::{CallTarget, Imm64Kind, Insn, decode_at};
use vouch_verifier::platform::{ProgramType, helper_name};

/// Options shared by every command that loads an object.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LoadArgs {
    /// Program type for every program, overriding what section names imply (also the type of
    /// Cilium-style numeric sections such as `2/7`, which otherwise are tc). Names: xdp, tc,
    /// socket_filter, kprobe, tracepoint, cgroup_skb, sock_ops, ... (`vouch list` prints them).
    #[arg(long = "type", value_name = "TYPE")]
    pub program_type: Option<String>,
    /// Kernel BTF (e.g. /sys/kernel/btf/vmlinux): CO-RE relocations resolve against it (by
    /// default against the object's own BTF), and it types the arguments of fentry, fexit,
    /// fmod_ret, tp_btf and LSM programs and the kernel structs they read.
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
}

/// Largest object or BTF file read.
const MAX_INPUT_BYTES: u64 = 64 << 20;

pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    read_limited(path, MAX_INPUT_BYTES)
}

/// Reads a whole file, refusing one larger than `limit` bytes so a mistaken path cannot
/// exhaust memory.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > limit {
        bail!(
            "{} is {} bytes; the limit is {limit}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl LoadArgs {
    pub fn options(&self) -> Result<LoadOptions> {
        let mut options = LoadOptions::default();
        if let Some(name) = &self.program_type {
            let t = ProgramType::from_name(name)
                .with_context(|| format!("unknown program type `{name}`"))?;
            options.program_type = Some(t);
        }
        if let Some(path) = &self.btf {
            let bytes = read_input(path)?;
            let btf =
                Btf::parse(&bytes).with_context(|| format!("{}: invalid BTF", path.display()))?;
            options.target_btf = Some(std::sync::Arc::new(btf));
        }
        Ok(options)
    }
}

/// A load failure, kept apart from usage errors so `list --format json` can report it in JSON.
pub struct LoadFailure(pub String);

pub fn load(path: &Path, args: &LoadArgs) -> Result<std::result::Result<Object, LoadFailure>> {
    load_with(path, &args.options()?)
}

/// [`load`] with options already built: commands that load many objects (`bench`) parse the
/// kernel BTF once, not once per object.
pub fn load_with(
    path: &Path,
    options: &LoadOptions,
) -> Result<std::result::Result<Object, LoadFailure>> {
    let bytes = read_input(path)?;
    Ok(elf::load(&bytes, options).map_err(|e| LoadFailure(e.to_string())))
}

#[derive(Serialize)]
struct ListedProgram {
    section: String,
    function: String,
    program_type: String,
    instructions: usize,
    maps: Vec<String>,
    helpers: Vec<String>,
    kfuncs: Vec<String>,
}

#[derive(Serialize)]
struct Listing {
    file: String,
    programs: Vec<ListedProgram>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn helper_display(id: i32) -> String {
    match helper_name(id) {
        Some(name) => format!("bpf_{name}"),
        None => format!("helper#{id}"),
    }
}

fn listed(object: &Object, p: &Program) -> ListedProgram {
    ListedProgram {
        section: p.section.clone(),
        function: p.function.clone(),
        program_type: p.program_type.to_string(),
        instructions: p.slots.len(),
        maps: p
            .maps
            .iter()
            .map(|&m| object.maps[m].name.clone())
            .collect(),
        helpers: p.helpers.iter().map(|&h| helper_display(h)).collect(),
        kfuncs: p.kfuncs.clone(),
    }
}

/// `vouch list`. Returns the exit code's meaning: `Ok(true)` listed, `Ok(false)` never; a load
/// error is reported in the chosen format and exits 2.
pub fn list(path: &Path, args: &LoadArgs, json: bool) -> Result<bool> {
    let file = path.display().to_string();
    match load(path, args)? {
        Ok(object) => {
            let programs: Vec<ListedProgram> =
                object.programs.iter().map(|p| listed(&object, p)).collect();
            if json {
                let listing = Listing {
                    file,
                    programs,
                    error: None,
                };
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                print_table(&file, &object, &programs);
            }
            Ok(true)
        }
        Err(LoadFailure(error)) => {
            if json {
                let listing = Listing {
                    file: file.clone(),
                    programs: vec![],
                    error: Some(error.clone()),
                };
                println!("{}", serde_json::to_string_pretty(&listing)?);
            }
            Err(anyhow::anyhow!("{file}: {error}"))
        }
    }
}

fn print_table(file: &str, object: &Object, programs: &[ListedProgram]) {
    println!(
        "{file}: {} program(s), {} map(s)",
        programs.len(),
        object.maps.len()
    );
    let width = programs
        .iter()
        .map(|p| p.section.len() + p.function.len() + 1)
        .max()
        .unwrap_or(0);
    for p in programs {
        let name = format!("{}/{}", p.section, p.function);
        println!(
            "  {name:width$}  {:<16} {:>6} insns",
            p.program_type, p.instructions
        );
        if !p.maps.is_empty() {
            println!("  {:width$}  maps: {}", "", p.maps.join(", "));
        }
        if !p.helpers.is_empty() {
            println!("  {:width$}  helpers: {}", "", p.helpers.join(", "));
        }
        if !p.kfuncs.is_empty() {
            println!("  {:width$}  kfuncs: {}", "", p.kfuncs.join(", "));
        }
    }
    for (i, m) in object.maps.iter().enumerate() {
        println!(
            "  map {i}: {} ({}, key {} B, value {} B, max {} entries)",
            m.name,
            elf::map_type_name(m.map_type),
            m.key_size,
            m.value_size,
            m.max_entries
        );
    }
}

/// `vouch disasm` on an object: every selected program, instructions interleaved with the C
/// source lines they came from.
pub fn disasm(
    path: &Path,
    args: &LoadArgs,
    section: Option<&str>,
    function: Option<&str>,
) -> Result<bool> {
    let object =
        load(path, args)?.map_err(|LoadFailure(e)| anyhow::anyhow!("{}: {e}", path.display()))?;
    let selected: Vec<&Program> = object
        .programs
        .iter()
        .filter(|p| {
            section.is_none_or(|s| s == p.section) && function.is_none_or(|f| f == p.function)
        })
        .collect();
    if selected.is_empty() {
        bail!(
            "{}: no program matches{}{}",
            path.display(),
            section
                .map(|s| format!(" section `{s}`"))
                .unwrap_or_default(),
            function
                .map(|f| format!(" function `{f}`"))
                .unwrap_or_default()
        );
    }
    for (i, p) in selected.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_program(&object, p);
    }
    Ok(true)
}

fn print_program(object: &Object, p: &Program) {
    println!(
        "{}/{}  ({}, {} instructions)",
        p.section,
        p.function,
        p.program_type,
        p.slots.len()
    );
    let mut last_line: Option<(String, u32)> = None;
    let mut pc = 0;
    while pc < p.slots.len() {
        if let Some(f) = p.functions.iter().find(|f| f.pc == pc) {
            println!("<{}>:", f.name);
        }
        if let Some(line) = p.line_at(pc) {
            let key = (line.file.clone(), line.line);
            if last_line.as_ref() != Some(&key) && line.pc == pc {
                println!("; {}", line.text.trim_end());
                last_line = Some(key);
            }
        }
        let (text, width) = match decode_at(&p.slots, pc) {
            Ok(insn) => (annotate(object, &insn), insn.slots()),
            Err(e) => (format!("<invalid: {e}>"), 1),
        };
        println!("{pc:>6}: {}", text);
        pc += width;
    }
}

/// The instruction, with map names, helper names and call targets spelled out in a comment.
fn annotate(object: &Object, insn: &Insn) -> String {
    let map_name = |imm: i32| {
        usize::try_from(imm)
            .ok()
            .and_then(|i| object.maps.get(i))
            .map(|m| m.name.clone())
            .unwrap_or_else(|| format!("map#{imm}"))
    };
    let note = match *insn {
        Insn::LoadImm64 {
            kind: Imm64Kind::MapFd | Imm64Kind::MapIdx,
            imm,
            ..
        } => Some(format!("map {}", map_name(imm))),
        Insn::LoadImm64 {
            kind: Imm64Kind::MapValue | Imm64Kind::MapIdxValue,
            imm,
            next_imm,
            ..
        } => Some(format!("&{} + {next_imm}", map_name(imm))),
        Insn::Call(CallTarget::Helper(id)) => Some(helper_display(id)),
        _ => None,
    };
    match note {
        Some(n) => format!("{:<32} # {n}", insn.to_string()),
        None => insn.to_string(),
    }
}

/// Whether a file is an ELF object (by magic), for commands that also take raw bytecode.
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}
