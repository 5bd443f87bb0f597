//! The verifier proper: abstract interpretation of a program over its inlined CFG.
//!
//! Start with [`verify`]. The program is decoded and its CFG built (`cfg`), then the fixpoint
//! engine (`fixpoint`) iterates the transfer functions (`transfer`, `memory`, `calls`, `branch`)
//! over the weak topological order, widening at loop heads. The last run of each component,
//! on its stable invariant, is in checking mode: every property that could not be proved
//! becomes a [`Diagnostic`] at its pc. Each check assumes what it checked afterwards,
//! so one root cause does not cascade into hundreds of errors.
//!
//! Soundness argument in one line: every transfer function over-approximates RFC 9669 semantics
//! (as `interp` implements them) on every concrete state its input describes, and every check
//! is proved on the invariant that over-approximates all states reaching the instruction.

mod branch;
pub(crate) mod calls;
mod fixpoint;
mod helper_args;
#[cfg(test)]
mod kernel_btf_tests;
pub mod loop_facts;
mod memory;
pub mod prestate;
pub mod report;
mod stack;
mod state;
mod transfer;
pub mod value;

pub use report::{Diagnostic, Report, Verdict};

use crate::elf::MapDef;
use crate::isa::Insn;
use crate::platform::ProgramType;

/// How to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Keep relations between quantities (zone domain) or only bounds (interval domain).
    pub relational: bool,
    /// Reject division or modulo by a divisor that may be zero (RFC 9669 defines the result,
    /// so it is allowed by default).
    pub strict_div: bool,
    /// Allow pointers to leak into maps, packets, helper output and r0, and uninitialised stack
    /// reads by helpers, like privileged Linux. Off by default (strict, like unprivileged Linux).
    pub allow_ptr_leaks: bool,
    /// Most iterations a loop may make before "could not prove termination".
    pub max_loop_iterations: u64,
    /// Record the invariant at the head of every block in the report.
    pub collect_invariants: bool,
    /// Most basic-block visits the fixpoint may make; beyond it the program is rejected
    /// ("too complex to prove safe within the budget"). A hostile program cannot make the
    /// analysis run for hours.
    pub max_block_visits: u64,
    /// Wall-clock limit of one program's analysis, likewise (`None`: no limit). The server
    /// sets it from the request's deadline.
    pub time_limit: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            relational: true,
            strict_div: false,
            allow_ptr_leaks: false,
            max_loop_iterations: 1 << 20,
            collect_invariants: false,
            max_block_visits: 5_000_000,
            time_limit: None,
        }
    }
}

/// A map as the analysis sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Programs may not write its values (`.rodata`, `BPF_F_RDONLY_PROG`).
    pub read_only: bool,
    /// Contents known at load time that cannot change (frozen `.rodata`): loads from them are
    /// constants.
    pub frozen: Option<Vec<u8>>,
    /// For a map of maps: the inner map template's index.
    pub inner: Option<usize>,
}

/// `BPF_F_RDONLY_PROG`.
const F_RDONLY_PROG: u32 = 0x80;

/// The analysis's map table for an object's maps: the maps, then the inner map templates.
pub fn map_table(maps: &[MapDef]) -> Vec<MapInfo> {
    let mut out: Vec<MapInfo> = maps.iter().map(|m| info(m, None)).collect();
    for (i, m) in maps.iter().enumerate() {
        if let Some(inner) = &m.inner {
            out.push(info(inner, None));
            let index = out.len() - 1;
            out[i].inner = Some(index);
        } else if let Some(idx) = m.inner_map_idx {
            // Legacy map-in-map: the template is another record of the same section.
            out[i].inner = maps.iter().position(|o| {
                matches!((&o.source, &m.source), (crate::elf::MapSource::Legacy { section: a, offset, record_size }, crate::elf::MapSource::Legacy { section: b, .. }) if a == b && *offset == u64::from(idx) * record_size)
            });
        }
    }
    out
}

fn info(m: &MapDef, inner: Option<usize>) -> MapInfo {
    let read_only = m.flags & F_RDONLY_PROG != 0;
    let frozen = match &m.source {
        crate::elf::MapSource::GlobalData {
            read_only: true, ..
        } => m.initial.clone(),
        _ => None,
    };
    MapInfo {
        name: m.name.clone(),
        map_type: m.map_type,
        key_size: m.key_size,
        value_size: m.value_size,
        max_entries: m.max_entries,
        read_only,
        frozen,
        inner,
    }
}

/// What one program is, for the analysis.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub insns: &'a [Insn],
    pub program_type: ProgramType,
    /// The ELF section the program came from (`""` when none): it names the attach point, on
    /// which some contexts depend (an iterator's, `iter/task`).
    pub section: &'a str,
    pub maps: &'a [MapInfo],
    /// The kernel's BTF (`--btf`), which types the arguments of fentry/fexit/tp_btf/LSM
    /// programs and the kernel structs they read; `None` leaves them untyped (see
    /// `platform::kernel_btf`).
    pub kernel_btf: Option<&'a crate::elf::btf::Btf>,
}

/// Verifies one program.
pub fn verify(input: Input<'_>, options: &Options) -> Report {
    fixpoint::run(
        input,
        options,
        state::State::entry(options.relational, true),
    )
}

/// Verifies one program of a loaded object: decoding errors are rejections at their pc.
///
/// A `.text` function that other programs of the object call is a subprogram: it only ever runs
/// in their context, so it is judged there. Its verdict collects what the analyses of its callers
/// found inside it (mapped to its own pcs); it is accepted when none found anything. A `.text`
/// function nobody calls is an entry point and is verified on its own.
pub fn verify_program(
    object: &crate::elf::Object,
    program: &crate::elf::Program,
    options: &Options,
) -> Report {
    let calls = |q: &crate::elf::Program, p: &crate::elf::Program| {
        q.functions
            .iter()
            .skip(1)
            .any(|f| f.section == p.section && f.name == p.function)
    };
    // A subprogram: a `.text` function some other program links in.
    let is_subprogram = |p: &crate::elf::Program| {
        p.section == ".text" && object.programs.iter().any(|q| calls(q, p))
    };
    // Its contexts: the entry programs (not other subprograms) that call it.
    let callers: Vec<&crate::elf::Program> = if is_subprogram(program) {
        object
            .programs
            .iter()
            .filter(|q| calls(q, program) && !is_subprogram(q))
            .collect()
    } else {
        vec![]
    };
    if callers.is_empty() {
        return verify_standalone(object, program, options);
    }
    let mut diagnostics: Vec<Diagnostic> = vec![];
    let mut stats = report::Stats::default();
    for caller in callers {
        let r = verify_standalone(object, caller, options);
        stats.visits += r.stats.visits;
        let spans: Vec<&crate::elf::FunctionSpan> = caller
            .functions
            .iter()
            .skip(1)
            .filter(|f| f.section == program.section && f.name == program.function)
            .collect();
        for d in r.diagnostics {
            if let Some(span) = spans.iter().find(|s| d.pc >= s.pc && d.pc < s.pc + s.len) {
                let mut local = d.clone();
                local.pc = d.pc - span.pc;
                local.message = format!(
                    "{} (called from {}/{})",
                    d.message, caller.section, caller.function
                );
                if !diagnostics
                    .iter()
                    .any(|x| x.pc == local.pc && x.message == local.message)
                {
                    diagnostics.push(local);
                }
            }
        }
    }
    Report::new(diagnostics, vec![], stats)
}

fn verify_standalone(
    object: &crate::elf::Object,
    program: &crate::elf::Program,
    options: &Options,
) -> Report {
    let insns = match &program.insns {
        Ok(i) => i,
        Err(e) => {
            let pc = decode_error_pc(e);
            return Report::rejected(pc, "decode", e.to_string());
        }
    };
    let maps = map_table(&object.maps);
    verify(
        Input {
            insns,
            program_type: program.program_type,
            section: &program.section,
            maps: &maps,
            kernel_btf: object.kernel_btf.as_deref(),
        },
        options,
    )
}

fn decode_error_pc(e: &crate::isa::DecodeError) -> usize {
    use crate::isa::DecodeError::*;
    match *e {
        UnknownOpcode { pc, .. }
        | InvalidRegister { pc, .. }
        | WriteToFramePointer { pc }
        | ReservedField { pc, .. }
        | IncompleteLddw { pc }
        | InvalidLddwSource { pc, .. }
        | JumpOutOfBounds { pc, .. }
        | JumpIntoLddw { pc, .. } => pc,
        Empty | TruncatedSlot { .. } | TooLong { .. } => 0,
    }
}
