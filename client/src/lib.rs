//! `vouch`: the command line for people and CI, and the thin host driver.
//!
//! A library so that the end-to-end tests can build the same entry point as a binary of their
//! own (`vouch-under-test`), as they do for `vouchd`; `main.rs` only calls [`main`].
//!
//! Subcommands live in their own modules; this file only parses arguments, sets up logging and
//! maps outcomes to exit codes: 0 success, 1 a program failed (trapped, a test failed, or later: a
//! program was rejected), 2 the input could not be loaded or the command line is wrong.

mod audit;
mod bench;
mod bench_jit;
mod bench_jit_compile;
mod check;
mod conformance;
mod driver;
mod load;
mod load_h2;
mod object;
mod plugin;
mod program_file;
mod remote;
mod run_object;
mod smt;
mod stress;
/// Public for the end-to-end tests, which build objects from assembly with it.
pub mod stress_elf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "vouch",
    version,
    about = "Vouch: an eBPF verifier you can run anywhere and trust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Speak the bpf_conformance plugin protocol: `vouch plugin [HEXMEMORY] [--interpret|--jit]`,
    /// program as hex on stdin, r0 in hex on stdout.
    #[command(disable_help_flag = true)]
    Plugin {
        /// Memory (hex) and options, as the conformance runner passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every bpf_conformance `.data` file in a folder through the interpreter and print a
    /// summary.
    Conformance {
        /// Folder of `.data` files (e.g. ../shared/conformance).
        dir: PathBuf,
        /// List every test, not only failures.
        #[arg(long)]
        verbose: bool,
    },
    /// Assemble a program in the conformance assembly syntax into raw bytecode.
    Asm {
        /// Assembly source.
        file: PathBuf,
        /// Where to write the bytecode; without it, hex words are printed.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Verify every program of an ELF object (or the selected ones). Exit 0 all accepted,
    /// 1 any rejected, 2 load error or bad usage.
    Check {
        /// An eBPF ELF object.
        file: PathBuf,
        #[command(flatten)]
        args: check::CheckArgs,
    },
    /// Verify every program under a folder in one process and print timing and verdict tables.
    Bench(bench::BenchArgs),
    /// Compare the JIT with the interpreter (checksum loop, hash map, packet parser) and measure
    /// JIT compile speed. Meaningful in a release build.
    BenchJit(bench_jit::BenchJitArgs),
    /// List the programs of an ELF object: section, function, type, size, maps, helpers.
    List {
        /// An eBPF ELF object (clang -target bpf).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        load: object::LoadArgs,
    },
    /// Disassemble an ELF object's programs with their C source lines, or raw bytecode.
    Disasm {
        /// An ELF object, raw bytecode (8 bytes per instruction) or a `.s`/`.asm` file.
        file: PathBuf,
        /// Only programs in this section.
        #[arg(long)]
        section: Option<String>,
        /// Only programs whose function has this name.
        #[arg(long)]
        function: Option<String>,
        #[command(flatten)]
        load: object::LoadArgs,
    },
    /// Run a program of an ELF object (verified first; refused unless accepted) on a packet or
    /// a pcap with the user-space runtime, in the interpreter or (`--jit`) natively; or a
    /// bundle's signed image (the thin driver: `--trust` required, refused with exit 1 unless
    /// every check passes); or raw bytecode / assembly with the conformance helpers.
    Run {
        /// An ELF object, a bundle folder (`vouch submit`), raw bytecode, or a `.s`/`.asm` file.
        file: PathBuf,
        /// Bundles only: trusted public keys (key files or folders of them).
        #[arg(long, num_args = 1..)]
        trust: Vec<PathBuf>,
        /// Raw bytecode only: input memory as hex bytes (r1 = its address, r2 = its length).
        #[arg(long, conflicts_with = "input")]
        mem: Option<String>,
        /// The input: for an object, the packet (or, for types without a packet, the context
        /// bytes); for raw bytecode, the memory r1 points to.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Instruction budget per run.
        #[arg(long, default_value_t = vouch_verifier::interp::Config::default().max_steps)]
        max_steps: u64,
        #[command(flatten)]
        object: run_object::ObjectRunArgs,
    },
    /// Make a signing key pair: FILE (private, mode 0600) and FILE.pub.
    Keygen {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a server's public keys (current and previous) as PEM, what `--trust` reads.
    Keys {
        #[command(flatten)]
        server: remote::ServerArgs,
    },
    /// Verify an object on a server; write one bundle per program (`DIR/<stem>.<function>.vouch/`
    /// with envelope.json and image.bin) and print verdicts like `check`. Exit 0 all accepted,
    /// 1 any rejected, 2 error.
    Submit(remote::SubmitArgs),
    /// Check a bundle offline: signature under a trusted key, digests, expiry; with
    /// `--reverify`, verify the object locally and confirm the verdict. Exit 0 authentic,
    /// 1 refused.
    Audit(audit::AuditArgs),
    /// Verify the hash chain of a server's audit log (its data dir, or the audit.jsonl file).
    AuditLog {
        /// `vouchd --data-dir` folder or its audit.jsonl.
        path: PathBuf,
    },
    /// Load-test a server: cached-verdict throughput and p50/p99 latency, cold latency against
    /// local verification.
    Load(load::LoadArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// An outcome with its exit code: `Ok(false)` means "ran, but the answer is no" (exit 1).
fn dispatch(command: Command) -> Result<bool> {
    match command {
        Command::Plugin { args } => {
            println!("{}", plugin::run(&args)?);
            Ok(true)
        }
        Command::Conformance { dir, verbose } => conformance::run(&dir, verbose),
        Command::Asm { file, out } => program_file::asm(&file, out.as_deref()),
        Command::Check { file, args } => check::run(&file, &args),
        Command::Bench(args) => bench::run(&args),
        Command::BenchJit(args) => bench_jit::run(&args).map(|()| true),
        Command::List { file, format, load } => object::list(&file, &load, format == Format::Json),
        Command::Disasm {
            file,
            section,
            function,
            load,
        } => {
            if object::is_elf(&file) {
                object::disasm(&file, &load, section.as_deref(), function.as_deref())
            } else {
                program_file::disasm(&file)
            }
        }
        Command::Run {
            file,
            trust,
            mem,
            input,
            max_steps,
            object: object_args,
        } => {
            if file.is_dir() {
                if mem.is_some() {
                    anyhow::bail!("--mem is for raw bytecode; give a bundle a packet with --input");
                }
                return driver::run(&file, &trust, input.as_deref(), &object_args);
            }
            if !trust.is_empty() {
                anyhow::bail!(
                    "{}: not a bundle folder (--trust is for bundles written by `vouch submit`)",
                    file.display()
                );
            }
            if object::is_elf(&file) {
                if mem.is_some() {
                    anyhow::bail!(
                        "--mem is for raw bytecode; give an object a packet with --input"
                    );
                }
                run_object::run(&file, input.as_deref(), max_steps, &object_args)
            } else if object_args.jit {
                anyhow::bail!(
                    "--jit is for objects and bundles (raw bytecode: `vouch plugin --jit`)"
                )
            } else {
                program_file::run(&file, mem.as_deref(), input.as_deref(), max_steps)
            }
        }
        Command::Keygen { out } => audit::keygen(&out),
        Command::Keys { server } => remote::keys(&server),
        Command::Submit(args) => remote::submit(&args),
        Command::Audit(args) => audit::audit(&args),
        Command::AuditLog { path } => audit::audit_log(&path),
        Command::Load(args) => load::run(&args),
    }
}

const SUBCOMMANDS: &[&str] = &[
    "plugin",
    "conformance",
    "asm",
    "disasm",
    "list",
    "run",
    "keygen",
    "keys",
    "submit",
    "audit",
    "audit-log",
    "load",
    "help",
];

/// The whole command line: `vouch` and the e2e tests' `vouch-under-test` call this.
pub fn main() -> ExitCode {
    // Printing into a closed pipe (`vouch disasm x.o | head`) should end the process quietly,
    // as it does for every Unix tool, not panic.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VOUCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let argv: Vec<String> = std::env::args().collect();
    // Conformance runners put the memory argument before the options, so `plugin` may not come
    // first: `vouch "00 11" "plugin --jit"`. Route such calls to the plugin directly.
    let first_is_subcommand = argv
        .get(1)
        .is_some_and(|a| SUBCOMMANDS.contains(&a.as_str()) || a.starts_with('-'));
    let plugin_elsewhere = argv
        .iter()
        .skip(1)
        .any(|a| a.split_whitespace().any(|w| w == "plugin"));
    let first_is_memory = argv.get(1).is_some_and(|a| looks_like_memory(a));
    let command = if !first_is_subcommand && (plugin_elsewhere || first_is_memory) {
        Command::Plugin {
            args: argv[1..].to_vec(),
        }
    } else {
        match Cli::try_parse_from(&argv) {
            Ok(cli) => cli.command,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
        }
    };
    match dispatch(command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error_code(&e))
        }
    }
}

/// Whether an argument is a conformance runner's memory argument (hex bytes, possibly empty), so
/// that `vouch` itself can be given to a runner as the plugin path.
fn looks_like_memory(arg: &str) -> bool {
    arg.split_whitespace()
        .all(|w| w.len() % 2 == 0 && w.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Load and usage problems exit 2; a program that ran and failed exits 1.
fn error_code(e: &anyhow::Error) -> u8 {
    if e.chain()
        .any(|c| c.downcast_ref::<vouch_verifier::interp::Trap>().is_some())
    {
        1
    } else {
        2
    }
}
