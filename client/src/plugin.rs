//! `vouch plugin`: the bpf_conformance plugin protocol.
//!
//! The suite's runner starts the plugin as `PLUGIN MEMORY OPTIONS`: the memory is hex bytes (with
//! or without separators, possibly empty) and OPTIONS is one argument that may hold several
//! words. The program arrives on stdin as hex bytes; the plugin prints r0 in hex and exits 0, or
//! prints a message on stderr and exits 1. Because runners pass arguments in different shapes
//! (`vouch plugin 0011 --jit`, `vouch "00 11" "plugin --jit"`), the arguments are taken apart
//! here by hand rather than by clap: every whitespace-separated word starting with `--` is an
//! option, every other word is memory.
//!
//! `--jit` compiles the program with the x86-64 JIT and runs it natively. That is for the
//! conformance suite: the native code checks no memory access and has no step budget, so it
//! must not be fed programs that have not been verified.

use anyhow::{Context, Result, bail};
use std::io::Read;
use vouch_verifier::conformance::{parse_hex_bytes, run_interpreter, run_jit};
use vouch_verifier::interp::Config;
use vouch_verifier::isa::decode_program;

/// Largest program accepted on stdin (hex text), so a hostile runner cannot exhaust memory.
const MAX_STDIN_BYTES: u64 = 64 << 20;

#[derive(Debug, PartialEq, Eq)]
enum Engine {
    Interpret,
    Jit,
}

#[derive(Debug)]
struct Options {
    memory: Option<Vec<u8>>,
    engine: Engine,
    max_steps: u64,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut engine = Engine::Interpret;
    let mut max_steps = Config::default().max_steps;
    let mut memory_words = Vec::new();
    let mut saw_memory_arg = false;
    let is_memory_word = |w: &str| !w.starts_with("--") && w != "plugin";
    for a in args {
        let mut words = a.split_whitespace().peekable();
        if words.peek().is_none() || a.split_whitespace().any(is_memory_word) {
            saw_memory_arg = true;
        }
    }
    for word in args.iter().flat_map(|a| a.split_whitespace()) {
        if let Some(n) = word.strip_prefix("--max-steps=") {
            max_steps = n
                .parse()
                .with_context(|| format!("--max-steps: `{n}` is not a number"))?;
            continue;
        }
        match word {
            "plugin" => {}
            "--interpret" => engine = Engine::Interpret,
            "--jit" => engine = Engine::Jit,
            w if w.starts_with("--") => {
                bail!("unknown plugin option `{w}` (known: --interpret, --jit, --max-steps=N)")
            }
            w => memory_words.push(w),
        }
    }
    let memory = if saw_memory_arg {
        Some(
            parse_hex_bytes(&memory_words.join(" "))
                .map_err(|e| anyhow::anyhow!("memory argument: {e}"))?,
        )
    } else {
        None
    };
    Ok(Options {
        memory,
        engine,
        max_steps,
    })
}

/// Runs the plugin protocol; returns the line to print on success.
pub fn run(args: &[String]) -> Result<String> {
    let options = parse_args(args)?;
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_string(&mut text)
        .context("reading the program from stdin")?;
    if text.len() as u64 > MAX_STDIN_BYTES {
        bail!("program on stdin exceeds {MAX_STDIN_BYTES} bytes of hex");
    }
    let bytes = parse_hex_bytes(&text).map_err(|e| anyhow::anyhow!("program on stdin: {e}"))?;
    let prog = decode_program(&bytes).context("invalid program")?;
    let config = Config {
        max_steps: options.max_steps,
        ..Config::default()
    };
    let exit = match options.engine {
        Engine::Interpret => {
            run_interpreter(&prog, options.memory, config).context("program trapped")?
        }
        // SAFETY: `--jit` exists to run the conformance suite's programs, which only touch their
        // memory and stack and terminate; the JIT checks no access and counts no steps
        // (`--max-steps` does not apply). Programs from anyone else must be verified first
        // (`vouch check`), which this protocol has no room for.
        Engine::Jit => {
            unsafe { run_jit(&prog, options.memory) }
                .context("program trapped")?
                .0
        }
    };
    Ok(format!("{:x}", exit.r0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn memory_and_options_in_any_shape() {
        let o = parse_args(&args(&["00 11  22 ", "--jit"])).expect("valid");
        assert_eq!(o.memory, Some(vec![0, 0x11, 0x22]));
        assert_eq!(o.engine, Engine::Jit);
        let o = parse_args(&args(&["001122", "plugin --interpret"])).expect("valid");
        assert_eq!(o.memory, Some(vec![0, 0x11, 0x22]));
        assert_eq!(o.engine, Engine::Interpret);
        let o = parse_args(&args(&["--interpret"])).expect("valid");
        assert_eq!(o.memory, None);
        let o = parse_args(&args(&["", "--interpret"])).expect("valid");
        assert_eq!(o.memory, Some(vec![]));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse_args(&args(&["0g"])).is_err());
        assert!(parse_args(&args(&["--fast"])).is_err());
        assert!(parse_args(&args(&["--max-steps=x"])).is_err());
        let o = parse_args(&args(&["--max-steps=5"])).expect("valid");
        assert_eq!(o.max_steps, 5);
    }
}
