//! Raw programs on disk: bytecode files and assembly files, for `asm`, `disasm` and `run`.
//!
//! ELF objects are the loader's business (`vouch list`, `check`); these commands work on bare
//! instruction streams, which is what the conformance suite and hand-written tests use.

use anyhow::{Context, Result, bail};
use std::path::Path;
use vouch_verifier::conformance::{parse_hex_bytes, run_interpreter};
use vouch_verifier::interp::Config;
use vouch_verifier::isa::{self, Insn, decode_program, disasm::disasm_program};

/// Largest program or input file read, so a mistaken path cannot exhaust memory.
const MAX_FILE_BYTES: u64 = 256 << 20;

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    crate::object::read_limited(path, MAX_FILE_BYTES)
}

/// Assembly by extension, else by content: bytecode nearly always holds NUL bytes (a zero
/// register field, offset or immediate), assembly text never does.
fn is_assembly(path: &Path, bytes: &[u8]) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("s" | "asm"))
        || (!bytes.contains(&0) && std::str::from_utf8(bytes).is_ok())
}

/// Loads and validates a program from bytecode or assembly.
pub fn load(path: &Path) -> Result<Vec<Insn>> {
    let bytes = read_limited(path)?;
    if bytes.starts_with(b"\x7fELF") {
        bail!(
            "{} is an ELF object; the ELF loader is not built yet, pass raw bytecode or assembly",
            path.display()
        );
    }
    let bytes = if is_assembly(path, &bytes) {
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
        let raw = isa::asm::assemble_raw(&text).with_context(|| format!("{}", path.display()))?;
        raw.iter().flat_map(|r| r.to_bytes()).collect()
    } else {
        bytes
    };
    decode_program(&bytes).with_context(|| format!("{}: invalid program", path.display()))
}

pub fn asm(path: &Path, out: Option<&Path>) -> Result<bool> {
    let prog = load(path)?;
    let bytes = isa::encode_program(&prog);
    match out {
        Some(out) => std::fs::write(out, &bytes)
            .with_context(|| format!("cannot write {}", out.display()))?,
        None => {
            for chunk in bytes.chunks_exact(8) {
                let word: [u8; 8] = chunk.try_into().expect("chunks_exact gives 8 bytes");
                println!("{:#018x}", u64::from_le_bytes(word));
            }
        }
    }
    Ok(true)
}

pub fn disasm(path: &Path) -> Result<bool> {
    let prog = load(path)?;
    print!("{}", disasm_program(&prog));
    Ok(true)
}

pub fn run(path: &Path, mem: Option<&str>, input: Option<&Path>, max_steps: u64) -> Result<bool> {
    let prog = load(path)?;
    let memory = match (mem, input) {
        (Some(hex), _) => Some(parse_hex_bytes(hex).map_err(|e| anyhow::anyhow!("--mem: {e}"))?),
        (None, Some(file)) => Some(read_limited(file)?),
        (None, None) => None,
    };
    let config = Config {
        max_steps,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let exit = run_interpreter(&prog, memory, config)?;
    let elapsed = started.elapsed();
    println!("r0 = {:#x} ({})", exit.r0, exit.r0 as i64);
    println!("{} instructions in {:.3?}", exit.steps, elapsed);
    Ok(true)
}
