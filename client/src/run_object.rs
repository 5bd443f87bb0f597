//! `vouch run FILE.o`: verify one program of an object, then run it on a packet (or every packet
//! of a pcap) with the user-space runtime, and print what it returned.
//!
//! The program is checked first with the default (strict) options and refused if it is not
//! accepted: `run` only executes what the verifier proved safe, as a host would (`--replay`
//! runs a rejected one in the bounds-checked interpreter, to replay a counterexample). `--jit` runs
//! the same program through the x86-64 JIT and `runtime::native`; the thin driver
//! (`crate::driver`, `vouch run BUNDLE`) shares the running and printing below.

use crate::check::{self, Outcome};
use crate::object::{LoadArgs, LoadFailure, load, read_limited};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vouch_verifier::analysis::{self, Options, Verdict, verify_program};
use vouch_verifier::interp::{Config, Trap};
use vouch_verifier::isa::Insn;
use vouch_verifier::jit::{self, load::Loaded};
use vouch_verifier::platform::ProgramType;
use vouch_verifier::runtime::{Rng, RunInput, Runtime, RuntimeConfig, native, vm};

#[derive(clap::Args, Clone, Debug)]
pub struct ObjectRunArgs {
    /// The program's section (needed when the object has several programs).
    #[arg(long)]
    pub section: Option<String>,
    /// The program's function.
    #[arg(long)]
    pub function: Option<String>,
    /// Every packet of a pcap file (classic libpcap format), one run each.
    #[arg(long, conflicts_with = "input")]
    pub pcap: Option<PathBuf>,
    /// Runs per input (timing is the mean).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Print the maps' non-empty entries after the runs.
    #[arg(long)]
    pub dump_maps: bool,
    /// Output as JSON.
    #[arg(long)]
    pub json: bool,
    /// Compile with the x86-64 JIT and run natively (what a host runs from a bundle).
    #[arg(long, conflicts_with = "interpret")]
    pub jit: bool,
    /// Run in the reference interpreter (the default; counts instructions, has a step budget).
    #[arg(long)]
    pub interpret: bool,
    /// Run the program even if the verifier rejects it, in the bounds-checked interpreter only:
    /// to replay a counterexample (`vouch check --z3 --counterexample-out FILE`, then `--input
    /// FILE`). A run that traps is reported and exits 1.
    #[arg(long, conflicts_with = "jit")]
    pub replay: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Largest pcap file read, and largest packet in it.
const MAX_PCAP_BYTES: u64 = 256 << 20;
const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Most runs in one invocation (packets × repeats), so a typo cannot run for hours.
const MAX_RUNS: u64 = 100_000_000;

/// How a verified program runs: the reference interpreter or native code from the JIT.
pub enum Engine<'a> {
    Interpreter {
        insns: &'a [Insn],
        config: Config,
    },
    /// A loaded image. Only built from an image of a program the verifier accepted, compiled
    /// with the map table the runtime was made from (the contract of `native::run`).
    Native(&'a Loaded),
}

impl Engine<'_> {
    fn name(&self) -> &'static str {
        match self {
            Engine::Interpreter { .. } => "interpreter",
            Engine::Native(_) => "jit",
        }
    }

    fn run(&self, rt: &mut Runtime, input: &RunInput) -> Result<vm::Outcome, Trap> {
        match self {
            Engine::Interpreter { insns, config } => vm::run(rt, &[insns], 0, input, *config),
            // SAFETY: an `Engine::Native` holds an image of an accepted program compiled
            // against the map table of `rt` (see the variant), and `input` is of the program's
            // type (`make_input`).
            Engine::Native(image) => unsafe { native::run(rt, &[Some(image)], 0, input) },
        }
    }
}

/// The program being run, for the output.
pub struct Shown<'a> {
    pub file: &'a str,
    pub section: &'a str,
    pub function: &'a str,
    pub program_type: ProgramType,
    /// First line of the text output (what was checked, how it runs).
    pub header: String,
}

pub fn run(
    path: &Path,
    input: Option<&Path>,
    max_steps: u64,
    args: &ObjectRunArgs,
) -> Result<bool> {
    let file = path.display().to_string();
    let object = match load(path, &args.load)? {
        Ok(o) => o,
        Err(LoadFailure(e)) => bail!("{file}: {e}"),
    };
    let programs = check::selected(&object, args.section.as_deref(), args.function.as_deref());
    let program = match programs.as_slice() {
        [one] => *one,
        [] => bail!("{file}: no program matches the selection"),
        many => bail!(
            "{file}: {} programs match; name one with --section/--function: {}",
            many.len(),
            many.iter()
                .map(|p| format!("{}/{}", p.section, p.function))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let started = Instant::now();
    let report = verify_program(&object, program, &Options::default());
    let seconds = started.elapsed().as_secs_f64();
    let rejected = report.verdict != Verdict::Accepted;
    if rejected {
        check::print_text(
            &file,
            &[Outcome {
                program,
                report,
                seconds,
                smt: None,
            }],
        );
        if !args.replay {
            eprintln!("vouch run: refusing to run a program the verifier did not accept");
            return Ok(false);
        }
    }
    let insns: &[Insn] = program
        .insns
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let packets = read_inputs(args, input)?;
    let mut rt = Runtime::for_object(&object, RuntimeConfig::default())
        .map_err(|e| anyhow::anyhow!("{file}: cannot set up the runtime: {e}"))?;
    let verified = format!(
        "{}/{}: {} by the verifier ({:.1} ms)",
        program.section,
        program.function,
        if rejected {
            "REJECTED (replayed on request)"
        } else {
            "accepted"
        },
        seconds * 1000.0
    );
    let loaded;
    let (engine, header) = if args.jit {
        let started = Instant::now();
        let table = analysis::map_table(&object.maps);
        let image = jit::compile(insns, &table, Some(program.program_type))
            .with_context(|| format!("{file}: the JIT cannot compile this program"))?;
        loaded = Loaded::new(&image).context("cannot load the image")?;
        let header = format!(
            "{verified}; JIT: {} bytes of x86-64 in {:.2} ms; running natively",
            image.code.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        (Engine::Native(&loaded), header)
    } else {
        let config = Config {
            max_steps,
            ..Config::default()
        };
        let header = format!("{verified}; running in the interpreter");
        (Engine::Interpreter { insns, config }, header)
    };
    let shown = Shown {
        file: &file,
        section: &program.section,
        function: &program.function,
        program_type: program.program_type,
        header,
    };
    match execute_and_print(&engine, &mut rt, &shown, &packets, args) {
        // A replay is run to see the trap: report it as the outcome, not as a usage error.
        Err(e) if rejected => {
            println!("{}", shown.header);
            println!("{e:#}");
            Ok(false)
        }
        other => other.map(|()| true),
    }
}

/// The packets (or context bytes) to run on: every packet of `--pcap`, the `--input` file, or
/// one empty input.
pub fn read_inputs(args: &ObjectRunArgs, input: Option<&Path>) -> Result<Vec<Vec<u8>>> {
    let packets = match (&args.pcap, input) {
        (Some(pcap), _) => read_pcap(&read_limited(pcap, MAX_PCAP_BYTES)?)
            .with_context(|| format!("{}: not a readable pcap", pcap.display()))?,
        (None, Some(f)) => vec![read_limited(f, MAX_PACKET_BYTES as u64)?],
        (None, None) => vec![vec![]],
    };
    if packets.len() as u64 * u64::from(args.repeat.max(1)) > MAX_RUNS {
        bail!(
            "{} packets × {} repeats is more than {MAX_RUNS} runs",
            packets.len(),
            args.repeat
        );
    }
    Ok(packets)
}

/// Runs `engine` `--repeat` times on every packet and prints r0, action, instructions (the
/// interpreter counts them; native code does not: 0), mean time per run and, on request, maps.
pub fn execute_and_print(
    engine: &Engine<'_>,
    rt: &mut Runtime,
    shown: &Shown<'_>,
    packets: &[Vec<u8>],
    args: &ObjectRunArgs,
) -> Result<()> {
    let mut results = vec![];
    for (i, packet) in packets.iter().enumerate() {
        let input = make_input(shown.program_type, packet);
        let mut outcome = None;
        let started = Instant::now();
        for _ in 0..args.repeat.max(1) {
            let o = engine
                .run(rt, &input)
                .map_err(|t| anyhow::anyhow!("input {i}: the run stopped: {t}"))?;
            outcome = Some(o);
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(args.repeat.max(1));
        if let Some(o) = outcome {
            results.push((i, o.r0, o.steps, ns));
        }
    }
    let action = |r0: u64| action_name(shown.program_type, r0);
    if args.json {
        let runs: Vec<_> = results
            .iter()
            .map(|(i, r0, steps, ns)| {
                json!({"input": i, "r0": r0, "action": action(*r0), "instructions": steps, "ns_per_run": ns})
            })
            .collect();
        let maps = if args.dump_maps {
            dump_maps(rt)
        } else {
            vec![]
        };
        let maps: Vec<_> = maps
            .into_iter()
            .map(|(name, entries)| {
                json!({"name": name, "entries": entries.into_iter().map(|(k, v)| json!({"key": hex(&k), "value": hex(&v)})).collect::<Vec<_>>()})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": shown.file, "section": shown.section, "function": shown.function,
                "program_type": shown.program_type.name(), "engine": engine.name(),
                "runs": runs, "maps": maps,
            }))?
        );
    } else {
        println!("{}", shown.header);
        for (i, r0, steps, ns) in &results {
            let name = action(*r0).map(|a| format!(" ({a})")).unwrap_or_default();
            let steps = match engine {
                Engine::Interpreter { .. } => format!("{steps} instructions, "),
                Engine::Native(_) => String::new(),
            };
            println!("input {i}: r0 = {r0} ({r0:#x}){name}, {steps}{ns:.0} ns/run");
        }
        if args.dump_maps {
            for (name, entries) in dump_maps(rt) {
                println!("map {name}: {} entries", entries.len());
                for (k, v) in entries {
                    println!("  {} => {}", hex(&k), hex(&v));
                }
            }
        }
    }
    Ok(())
}

/// The run's input: the packet for types that have one; otherwise the bytes are the context.
pub fn make_input(program_type: ProgramType, bytes: &[u8]) -> RunInput {
    let mut rng = Rng::new(0);
    let mut input = RunInput::random(program_type, &mut rng, 0);
    input.ctx.iter_mut().for_each(|b| *b = 0);
    input.meta_len = 0;
    if input.packet.is_some() {
        input.with_packet(bytes.to_vec())
    } else {
        let n = bytes.len().min(input.ctx.len());
        input.ctx[..n].copy_from_slice(&bytes[..n]);
        input
    }
}

/// The name of a return value for types whose return value is an action.
pub fn action_name(program_type: ProgramType, r0: u64) -> Option<&'static str> {
    match program_type {
        ProgramType::Xdp => [
            "XDP_ABORTED",
            "XDP_DROP",
            "XDP_PASS",
            "XDP_TX",
            "XDP_REDIRECT",
        ]
        .get(usize::try_from(r0).ok()?)
        .copied(),
        ProgramType::SchedCls | ProgramType::SchedAct => match r0 as i64 {
            -1 => Some("TC_ACT_UNSPEC"),
            0 => Some("TC_ACT_OK"),
            1 => Some("TC_ACT_RECLASSIFY"),
            2 => Some("TC_ACT_SHOT"),
            3 => Some("TC_ACT_PIPE"),
            4 => Some("TC_ACT_STOLEN"),
            7 => Some("TC_ACT_REDIRECT"),
            _ => None,
        },
        _ => None,
    }
}

/// A map's name and its non-empty (key, value) entries.
type MapDump = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every map's non-empty entries.
fn dump_maps(rt: &mut Runtime) -> Vec<MapDump> {
    let mut out = vec![];
    for m in rt.maps.iter_mut() {
        let mut entries = vec![];
        let mut keys = m.keys();
        keys.sort();
        for k in keys {
            if let Some(v) = m.lookup(&k) {
                let v = v.to_vec();
                if m.is_array() && v.iter().all(|b| *b == 0) {
                    continue;
                }
                entries.push((k, v));
            }
        }
        if !entries.is_empty() {
            out.push((m.info.name.clone(), entries));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The packets of a classic libpcap file (either byte order, micro- or nanosecond stamps).
pub fn read_pcap(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let word = |at: usize, big: bool| -> Result<u32> {
        let b: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .context("truncated")?;
        Ok(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let big = match word(0, false)? {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        0x0a0d_0d0a => bail!("pcapng is not supported; convert with `editcap -F pcap`"),
        m => bail!("unknown magic number {m:#010x}"),
    };
    let mut packets = vec![];
    let mut at = 24;
    while at < bytes.len() {
        let len = word(at + 8, big)? as usize;
        if len > MAX_PACKET_BYTES {
            bail!(
                "packet {} is {len} bytes (limit {MAX_PACKET_BYTES})",
                packets.len()
            );
        }
        let data = bytes
            .get(at + 16..at + 16 + len)
            .with_context(|| format!("packet {} is truncated", packets.len()))?;
        packets.push(data.to_vec());
        at += 16 + len;
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(big: bool, packets: &[&[u8]]) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = vec![];
        for v in [0xa1b2_c3d4, 0x0004_0002, 0, 0, 65535, 1] {
            out.extend_from_slice(&w(v));
        }
        for p in packets {
            for v in [0, 0, p.len() as u32, p.len() as u32] {
                out.extend_from_slice(&w(v));
            }
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn pcap_packets_in_both_byte_orders() {
        for big in [false, true] {
            let got = read_pcap(&pcap(big, &[b"abc", b"", b"0123456789"])).expect("parses");
            assert_eq!(got, vec![b"abc".to_vec(), vec![], b"0123456789".to_vec()]);
        }
    }

    #[test]
    fn bad_pcaps_are_errors() {
        let mut truncated = pcap(false, &[b"abcdef"]);
        truncated.truncate(truncated.len() - 2);
        assert!(read_pcap(&truncated).is_err());
        assert!(read_pcap(b"\x0a\x0d\x0d\x0a0000").is_err());
        assert!(read_pcap(b"xx").is_err());
        let mut huge = pcap(false, &[]);
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        assert!(read_pcap(&huge).is_err());
    }
}
