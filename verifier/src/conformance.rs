//! The bpf_conformance suite: its test-file format and the helpers its programs call.
//!
//! Shared by the `vouch plugin` command (which must behave as the suite's runners expect), the
//! `vouch conformance` summary and the test suites, so all three read the files the same way.

use crate::interp::{HelperError, HelperReturn, Helpers, Memory};
use crate::isa::{self, Insn, RawInsn};
use thiserror::Error;

/// One test file, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The program's assembly text (`-- asm`), if present.
    pub asm: Option<String>,
    /// The program as raw 64-bit words (`-- raw`), if present; takes precedence over `asm`.
    pub raw: Option<Vec<u64>>,
    /// Input memory (`-- mem`), empty when absent.
    pub mem: Vec<u8>,
    /// Whether the file had a `-- mem` section (the plugin is then given a memory argument).
    pub has_mem: bool,
    /// Expected r0 (`-- result`), or `None` when the program must be refused (`-- error`).
    pub result: Option<u64>,
    /// The expected error text (`-- error`), when present.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("no `-- asm` or `-- raw` section")]
    NoProgram,
    #[error("no `-- result` or `-- error` section")]
    NoExpectation,
    #[error("assembly: {0}")]
    Asm(#[from] isa::asm::AsmError),
}

impl TestCase {
    /// Parses a `.data` file.
    pub fn parse(text: &str) -> Result<TestCase, ParseError> {
        let mut sections: Vec<(String, usize, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(name) = line.strip_prefix("-- ") {
                sections.push((name.trim().to_string(), i + 1, String::new()));
            } else if let Some((_, _, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        let mut case = TestCase {
            asm: None,
            raw: None,
            mem: Vec::new(),
            has_mem: false,
            result: None,
            error: None,
        };
        for (name, line, body) in sections {
            let syntax = |message: String| ParseError::Syntax { line, message };
            match name.as_str() {
                "asm" => case.asm = Some(body),
                "raw" => {
                    let words = content_lines(&body)
                        .map(|w| parse_u64(w).ok_or_else(|| syntax(format!("bad raw word `{w}`"))))
                        .collect::<Result<Vec<_>, _>>()?;
                    case.raw = Some(words);
                }
                "mem" => {
                    case.has_mem = true;
                    case.mem = parse_hex_bytes(&body).map_err(syntax)?;
                }
                "result" => {
                    let v = content_lines(&body).next().unwrap_or("");
                    let v = parse_u64(v).ok_or_else(|| syntax(format!("bad result `{v}`")))?;
                    case.result = Some(v);
                }
                "error" => case.error = Some(body.trim().to_string()),
                // Sections the suite defines for other runners: C source, runner options.
                _ => {}
            }
        }
        if case.asm.is_none() && case.raw.is_none() {
            return Err(ParseError::NoProgram);
        }
        if case.result.is_none() && case.error.is_none() {
            return Err(ParseError::NoExpectation);
        }
        Ok(case)
    }

    /// The program's bytes: the raw words if given, else the assembled text.
    pub fn program_bytes(&self) -> Result<Vec<u8>, ParseError> {
        let slots: Vec<RawInsn> = match (&self.raw, &self.asm) {
            (Some(words), _) => words.iter().map(|&w| RawInsn::from_u64(w)).collect(),
            (None, Some(asm)) => isa::asm::assemble_raw(asm)?,
            (None, None) => return Err(ParseError::NoProgram),
        };
        Ok(slots.iter().flat_map(|r| r.to_bytes()).collect())
    }
}

fn content_lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses hex bytes separated by whitespace (`00 11 22`) or run together (`001122`), optionally
/// prefixed with `0x`.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let token = token.strip_prefix("0x").unwrap_or(token);
        if token.len() % 2 != 0 {
            return Err(format!("`{token}` has an odd number of hex digits"));
        }
        for pair in token.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).map_err(|_| format!("`{token}` is not hex"))?;
            let byte = u8::from_str_radix(s, 16).map_err(|_| format!("`{s}` is not a hex byte"))?;
            out.push(byte);
        }
    }
    Ok(out)
}

/// The `.data` files of a suite folder, sorted by name.
pub fn data_files(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs one test file's program in the interpreter and compares with its expectation: `Ok` if
/// it passes, else why not. Shared by `vouch conformance` and the tests.
pub fn check_file(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = TestCase::parse(&text).map_err(|e| e.to_string())?;
    let bytes = case.program_bytes().map_err(|e| e.to_string())?;
    let prog = isa::decode_program(&bytes).map_err(|e| format!("decode: {e}"))?;
    let mem = case.has_mem.then(|| case.mem.clone());
    match (
        case.result,
        run_interpreter(&prog, mem, crate::interp::Config::default()),
    ) {
        (Some(want), Ok(exit)) if exit.r0 == want => Ok(()),
        (Some(want), Ok(exit)) => Err(format!("r0 = {:#x}, expected {want:#x}", exit.r0)),
        (Some(_), Err(trap)) => Err(format!("trapped: {trap}")),
        (None, Err(_)) => Ok(()),
        (None, Ok(exit)) => Err(format!("expected an error, got r0 = {:#x}", exit.r0)),
    }
}

/// The helpers the suite's programs call (ids as in uBPF's test plugin).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConformanceHelpers;

/// Longest string `strcmp_ext` will scan, so a hostile program cannot make it read forever.
const MAX_STRING: usize = 1 << 20;

impl Helpers for ConformanceHelpers {
    fn call(
        &mut self,
        id: i32,
        a: [u64; 5],
        mem: &mut Memory,
    ) -> Result<HelperReturn, HelperError> {
        let value = match id {
            0 => {
                ((a[0] & 0xff) << 32)
                    | ((a[1] & 0xff) << 24)
                    | ((a[2] & 0xff) << 16)
                    | ((a[3] & 0xff) << 8)
                    | (a[4] & 0xff)
            }
            1 => {
                let len = usize::try_from(a[1]).map_err(|_| {
                    HelperError::Failed(format!("memfrob length {} is too large", a[1]))
                })?;
                if len > 0 {
                    let frobbed: Vec<u8> = mem.read(a[0], len)?.iter().map(|b| b ^ 42).collect();
                    mem.write(a[0], &frobbed)?;
                }
                0
            }
            2 => 0,
            3 => (a[0] as f64).sqrt() as u64,
            4 => {
                let x = mem.c_str(a[0], MAX_STRING)?;
                let y = mem.c_str(a[1], MAX_STRING)?;
                strcmp(&x, &y) as i64 as u64
            }
            5 => {
                return Ok(if a[0] == 0 {
                    HelperReturn::Exit(0)
                } else {
                    HelperReturn::Value(a[0])
                });
            }
            _ => return Err(HelperError::Unknown),
        };
        Ok(HelperReturn::Value(value))
    }
}

/// C `strcmp` on byte strings without their NUL: the difference of the first differing bytes.
fn strcmp(x: &[u8], y: &[u8]) -> i32 {
    for i in 0..=x.len().max(y.len()) {
        let (a, b) = (
            x.get(i).copied().unwrap_or(0),
            y.get(i).copied().unwrap_or(0),
        );
        if a != b || a == 0 {
            return i32::from(a) - i32::from(b);
        }
    }
    0
}

/// Runs a decoded program the way a conformance runner expects: r1 = memory (or 0 when the test
/// has none), r2 = its length, the memory also serving as the packet for legacy loads.
pub fn run_interpreter(
    prog: &[Insn],
    mem: Option<Vec<u8>>,
    config: crate::interp::Config,
) -> Result<crate::interp::Exit, crate::interp::Trap> {
    use crate::interp::{RegionKind, Trap, Vm};
    let mut vm = Vm::new(ConformanceHelpers, config);
    let (r1, r2) = match mem {
        Some(bytes) => {
            let len = bytes.len() as u64;
            let id = vm
                .mem
                .add(RegionKind::Input, bytes, true)
                .map_err(|what| Trap::Unsupported { pc: 0, what })?;
            vm.set_packet(id);
            (vm.mem.base(id), len)
        }
        None => (0, 0),
    };
    vm.run(prog, [r1, r2, 0, 0, 0])
}

/// The suite's helpers over host memory, for the JIT (the same behaviour as
/// [`ConformanceHelpers`]).
struct ConformanceHost {
    space: crate::runtime::native::HostSpace,
    packet: Option<crate::interp::SharedBytes>,
}

impl crate::jit::Host for ConformanceHost {
    fn call(&mut self, id: i64, a: [u64; 5]) -> Result<HelperReturn, HelperError> {
        use crate::runtime::AddressSpace;
        let space = &mut self.space;
        let value = match id {
            0 => {
                ((a[0] & 0xff) << 32)
                    | ((a[1] & 0xff) << 24)
                    | ((a[2] & 0xff) << 16)
                    | ((a[3] & 0xff) << 8)
                    | (a[4] & 0xff)
            }
            1 => {
                let len = usize::try_from(a[1]).map_err(|_| {
                    HelperError::Failed(format!("memfrob length {} is too large", a[1]))
                })?;
                if len > 0 {
                    space.check(a[0], len, true)?;
                    let frobbed: Vec<u8> = space.read(a[0], len)?.iter().map(|b| b ^ 42).collect();
                    space.write(a[0], &frobbed)?;
                }
                0
            }
            2 => 0,
            3 => (a[0] as f64).sqrt() as u64,
            4 => {
                let x = space.c_str(a[0], MAX_STRING)?;
                let y = space.c_str(a[1], MAX_STRING)?;
                strcmp(&x, &y) as i64 as u64
            }
            5 => {
                return Ok(if a[0] == 0 {
                    HelperReturn::Exit(0)
                } else {
                    HelperReturn::Value(a[0])
                });
            }
            _ => return Err(HelperError::Unknown),
        };
        Ok(HelperReturn::Value(value))
    }

    /// The suite's memory is its packet, from its first byte (as [`run_interpreter`] reads it).
    fn legacy_load(&mut self, offset: i64, size: usize) -> Option<u64> {
        let bytes = self
            .packet
            .as_ref()?
            .get(usize::try_from(offset).ok()?, size)?;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Runs a decoded program through the JIT the way [`run_interpreter`] runs it: r1 = memory (or
/// 0), r2 = its length, the memory also serving as the packet for legacy loads. Returns the exit
/// and the memory after the run. A program the JIT cannot compile is `Trap::Unsupported`.
///
/// # Safety
/// The program runs natively and unchecked: it must only access its memory and stack, call the
/// suite's helpers with valid arguments and terminate — as every file of the suite does. Hostile
/// programs must be verified first.
pub unsafe fn run_jit(
    prog: &[Insn],
    mem: Option<Vec<u8>>,
) -> Result<(crate::interp::Exit, Option<Vec<u8>>), crate::interp::Trap> {
    use crate::interp::{Exit, RegionKind, SharedBytes, Trap};
    use crate::jit::exec::{Bindings, Ending, execute};
    use crate::runtime::AddressSpace;
    use crate::runtime::native::{HostSpace, Stack};
    let setup = |what: String| Trap::Unsupported { pc: 0, what };
    let image = crate::jit::compile(prog, &[], None).map_err(|e| setup(e.to_string()))?;
    let loaded = crate::jit::load::Loaded::new(&image).map_err(|e| setup(e.to_string()))?;
    let mut space = HostSpace::new();
    let stack =
        Stack::new(image.stack_size as usize, &mut space).map_err(|e| setup(e.to_string()))?;
    let buf = mem.map(|m| SharedBytes::from_slice(&m));
    let (r1, r2) = match &buf {
        // An empty memory has no bytes to point at: like the interpreter, give it an address
        // that maps nothing readable.
        Some(b) => (
            space
                .expose(b, RegionKind::Input, true)
                .map_err(|e| setup(e.to_string()))?,
            b.len() as u64,
        ),
        None => (0, 0),
    };
    let mut host = ConformanceHost {
        space,
        packet: buf.clone(),
    };
    // SAFETY: the caller vouches for the program; the stack is `stack_size` bytes we own, and
    // the image binds no maps and no context fields.
    let ending = unsafe {
        execute(
            &loaded,
            r1,
            [r2, 0, 0, 0],
            stack.top(),
            &Bindings::default(),
            &[],
            &mut host,
        )
    }?;
    let r0 = match ending {
        Ending::Exit(r0) => r0,
        Ending::TailCall(t) => return Err(setup(format!("tail call to {t} without a runtime"))),
    };
    Ok((
        Exit {
            r0,
            steps: 0,
            tail_call: None,
        },
        buf.map(|b| b.to_vec()),
    ))
}

/// Like [`check_file`], through the JIT.
///
/// # Safety
/// As [`run_jit`]: the file's program runs natively (the suite's files are well-behaved).
pub unsafe fn check_file_jit(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = TestCase::parse(&text).map_err(|e| e.to_string())?;
    let bytes = case.program_bytes().map_err(|e| e.to_string())?;
    let prog = isa::decode_program(&bytes).map_err(|e| format!("decode: {e}"))?;
    let mem = case.has_mem.then(|| case.mem.clone());
    // SAFETY: forwarded to the caller.
    match (case.result, unsafe { run_jit(&prog, mem) }) {
        (Some(want), Ok((exit, _))) if exit.r0 == want => Ok(()),
        (Some(want), Ok((exit, _))) => Err(format!("r0 = {:#x}, expected {want:#x}", exit.r0)),
        (Some(_), Err(trap)) => Err(format!("trapped: {trap}")),
        (None, Err(_)) => Ok(()),
        (None, Ok((exit, _))) => Err(format!("expected an error, got r0 = {:#x}", exit.r0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_comments() {
        let case = TestCase::parse(
            "# header\n-- asm\nmov %r0, 1 # one\nexit\n-- mem\n00 01 ff\n-- result\n0x1\n",
        )
        .expect("valid file");
        assert_eq!(case.mem, vec![0, 1, 0xff]);
        assert!(case.has_mem);
        assert_eq!(case.result, Some(1));
        assert_eq!(case.program_bytes().expect("assembles").len(), 16);
    }

    #[test]
    fn strcmp_matches_c() {
        assert_eq!(strcmp(b"abc", b"abc"), 0);
        assert!(strcmp(b"abc", b"abd") < 0);
        assert!(strcmp(b"abcd", b"abc") > 0);
        assert!(strcmp(b"", b"a") < 0);
    }

    #[test]
    fn missing_sections_are_errors() {
        assert_eq!(
            TestCase::parse("-- result\n0x1\n"),
            Err(ParseError::NoProgram)
        );
        assert_eq!(
            TestCase::parse("-- asm\nexit\n"),
            Err(ParseError::NoExpectation)
        );
        assert!(parse_hex_bytes("0g").is_err());
        assert!(parse_hex_bytes("abc").is_err());
    }
}
