//! A generated stress program for `vouch bench --stress N`: N segments, each a packet bounds
//! check, a variable-offset packet read, a bounded loop and a map lookup with its NULL check,
//! like the repeated parsing stages of large datapath programs. About 21 instructions per
//! segment, so `--stress 2000` is a 42,000-instruction program.

use anyhow::{Context, Result};
use std::time::Instant;
use vouch_verifier::analysis::{Input, MapInfo, Options, Verdict, verify};
use vouch_verifier::isa::asm::assemble;
use vouch_verifier::platform::ProgramType;

/// The program's assembly text.
pub fn program(segments: usize) -> String {
    let mut s = String::from("mov %r6, %r1\nmov %r9, 0\n");
    for k in 0..segments {
        let off = (k % 48) + 2;
        s.push_str(&format!(
            "ldxw %r2, [%r6]\nldxw %r3, [%r6+4]\nmov %r4, %r2\nadd %r4, {}\njgt %r4, %r3, out{k}\n\
             ldxb %r5, [%r2+{off}]\nadd %r9, %r5\nmov %r7, 0\nloop{k}:\nadd %r7, 1\nadd %r9, %r7\njlt %r7, 8, loop{k}\n\
             stw [%r10-4], {k}\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd(0)\ncall 1\njeq %r0, 0, out{k}\n\
             ldxdw %r1, [%r0]\nadd %r1, %r9\nstxdw [%r0], %r1\nout{k}:\n",
            off + 1
        ));
    }
    s.push_str("mov %r0, 2\nexit\n");
    s
}

/// The stress program's one map: a hash of 8-byte counters.
pub(crate) fn counters() -> MapInfo {
    MapInfo {
        name: "counters".into(),
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 1024,
        read_only: false,
        frozen: None,
        inner: None,
    }
}

/// Writes the stress program of `segments` segments as an ELF object (section `xdp`,
/// function `stress`), for timing other verifiers on the same program.
pub fn emit(segments: usize, path: &std::path::Path) -> Result<()> {
    let insns = assemble(&program(segments)).context("assembling the stress program")?;
    let bytes = crate::stress_elf::object(&insns, "stress", &counters());
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} ({} instructions, section xdp, function stress)",
        path.display(),
        insns.len()
    );
    Ok(())
}

pub fn run(segments: usize, options: &Options) -> Result<bool> {
    let insns = assemble(&program(segments)).context("assembling the stress program")?;
    let maps = [counters()];
    let started = Instant::now();
    let report = verify(
        Input {
            insns: &insns,
            program_type: ProgramType::Xdp,
            section: "",
            maps: &maps,
            kernel_btf: None,
        },
        options,
    );
    let seconds = started.elapsed().as_secs_f64();
    println!("| stress segments | instructions | blocks | block visits | verdict | seconds |");
    println!("|---:|---:|---:|---:|---|---:|");
    println!(
        "| {segments} | {} | {} | {} | {} | {seconds:.3} |",
        insns.len(),
        report.stats.blocks,
        report.stats.visits,
        report.verdict
    );
    if let Some(d) = report.diagnostics.first() {
        println!("first error: {d}");
    }
    Ok(report.verdict == Verdict::Accepted)
}
