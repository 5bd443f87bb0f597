//! The reference interpreter: RFC 9669 semantics, executed one instruction at a time, with every
//! memory access checked.
//!
//! This is the project's semantic oracle. The JIT is tested against it, and the verifier's
//! soundness is tested by running accepted programs here: a program the verifier accepts must never
//! trap. So it favours being obviously right over being fast, and it never has undefined behaviour:
//! a bad access, a runaway loop or a call too deep ends the run with a typed [`Trap`] naming the pc.
//!
//! Semantics fixed here (RFC 9669 unless noted): division by zero gives 0 and modulo by zero keeps
//! the dividend (upper half zeroed for 32-bit); `INT_MIN / -1` wraps; shift amounts are masked to
//! the operand width; 32-bit operations zero-extend their result; r6-r9 and r10 are preserved across
//! local calls, each frame has its own 512-byte stack, at most [`Config::max_frames`] frames;
//! `callx` calls the helper whose id is in the register (the bpf_conformance convention); legacy
//! packet loads read big-endian from the packet ([`Helpers::legacy_load`], by default the region
//! set with [`Vm::set_packet`]) and, like Linux, end the program with r0 = 0 when out of bounds;
//! `lddw src=4` yields a code address (in an empty [`RegionKind::Code`] region, so it cannot be
//! read or written), which a helper may call back ([`HelperReturn::Callback`]) like a local call.

pub mod alu;
mod calls;
mod memory;
mod watch;

pub use memory::{Fault, FaultReason, MAX_REGION_BYTES, Memory, RegionId, RegionKind, SharedBytes};
pub use watch::{Watch, WatchCond};

use crate::isa::{CallTarget, Imm64Kind, Insn, Operand, PacketMode, Width};
use thiserror::Error;

/// Size of one call frame's stack, in bytes.
pub const STACK_SIZE: usize = 512;

/// Limits of a run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Instructions executed before the run is stopped with [`Trap::BudgetExhausted`].
    pub max_steps: u64,
    /// Call frames, the entry function included (Linux allows 8).
    pub max_frames: usize,
    /// Stop with [`Trap::Watch`] when the program reaches a pc in a given state (see
    /// [`watch`]); `None` in normal runs.
    pub watch: Option<Watch>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_steps: 10_000_000,
            max_frames: 8,
            watch: None,
        }
    }
}

/// What a helper call produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperReturn {
    /// The helper returned this value in r0.
    Value(u64),
    /// The helper ended the program with this r0 (e.g. the conformance suite's `unwind`).
    Exit(u64),
    /// A successful `bpf_tail_call`: the program ends here and the program with this index (the
    /// runtime's numbering) runs next on the same context. [`Vm::run`] reports it in
    /// [`Exit::tail_call`]; running the target is the caller's business, because the interpreter
    /// knows one program only.
    TailCall(u64),
    /// The helper calls back into the program (`bpf_loop`, `bpf_for_each_map_elem`): the engine
    /// runs the function at code address `func` (what `lddw src=4` yielded) with r1-r5 = `args`
    /// in a new frame, counted like a local call, then hands the function's r0 to
    /// [`Helpers::resume`], which answers like a helper call again (another callback, or the
    /// helper's result). Why a request rather than a callback capability: the engine runs the
    /// function the way it runs its own calls (frames, budget, traps), and the helper keeps no
    /// borrow of the engine while the program runs (the program calls helpers too).
    Callback { func: u64, args: [u64; 5] },
}

/// Why a helper could not complete.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HelperError {
    #[error("no helper with this id")]
    Unknown,
    /// The helper exists but this runtime cannot run it (named, so a user knows which).
    #[error("{0} is not supported by this runtime")]
    Unsupported(String),
    #[error("{0}")]
    Fault(Fault),
    #[error("{0}")]
    Failed(String),
}

impl From<Fault> for HelperError {
    fn from(f: Fault) -> HelperError {
        HelperError::Fault(f)
    }
}

/// The outside world as the program sees it: helper functions and relocated 64-bit immediates.
pub trait Helpers {
    /// Calls helper `id` with r1-r5.
    fn call(
        &mut self,
        id: i32,
        args: [u64; 5],
        mem: &mut Memory,
    ) -> Result<HelperReturn, HelperError>;

    /// Resolves an `lddw` whose immediate is not a plain value (a map, a map value, a kernel
    /// variable, a callback). The default knows none.
    fn load_imm64(
        &mut self,
        kind: Imm64Kind,
        imm: i32,
        next_imm: i32,
        _mem: &mut Memory,
    ) -> Result<u64, HelperError> {
        Err(HelperError::Failed(format!(
            "lddw of kind {kind:?} ({imm}, {next_imm}) needs a runtime with maps"
        )))
    }

    /// Answers a load of `size` bytes at `addr` instead of memory, or `None` to read memory.
    ///
    /// Why: Linux programs read pointer fields of their context (`xdp_md.data`,
    /// `__sk_buff.data_end`, ...) with 32-bit loads of uapi fields that the kernel rewrites into
    /// 64-bit loads of its own structures. The runtime answers those loads here with the full
    /// 64-bit address, from the context's table of pointer fields (the same table a JIT uses to
    /// rewrite such loads at compile time). The value is used as is (never sign-extended). The
    /// default answers nothing, so plain programs read plain memory.
    fn load_override(&mut self, _addr: u64, _size: usize) -> Option<u64> {
        None
    }

    /// The callback a helper asked for ([`HelperReturn::Callback`]) returned `r0`: what next.
    /// Callbacks nest (a callback may call `bpf_loop` again); `resume` always continues the
    /// innermost helper. The default has no callback helpers.
    fn resume(&mut self, _r0: u64, _mem: &mut Memory) -> Result<HelperReturn, HelperError> {
        Err(HelperError::Failed(
            "a callback returned, but no helper is waiting for it".into(),
        ))
    }

    /// A legacy packet load (`ld_abs`/`ld_ind`) of `size` bytes at `offset` from the packet's
    /// `data`. The default has no packet of its own: the interpreter reads the region set with
    /// [`Vm::set_packet`] (the conformance suite's memory).
    fn legacy_load(&mut self, _offset: i64, _size: usize) -> LegacyLoad {
        LegacyLoad::FromRegion
    }
}

/// What [`Helpers::legacy_load`] answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyLoad {
    /// The bytes, big-endian.
    Value(u64),
    /// Outside the packet: the program ends with r0 = 0, as in Linux.
    OutOfBounds,
    /// Read the region set with [`Vm::set_packet`], from its first byte.
    FromRegion,
}

/// No helpers at all.
impl Helpers for () {
    fn call(&mut self, _: i32, _: [u64; 5], _: &mut Memory) -> Result<HelperReturn, HelperError> {
        Err(HelperError::Unknown)
    }
}

/// Why a run stopped before `exit`. Every variant names the pc of the faulting instruction.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Trap {
    #[error("pc {pc}: {fault}")]
    Memory { pc: usize, fault: Fault },
    #[error("pc {pc}: execution ran past the last instruction")]
    FellOffEnd { pc: usize },
    #[error("pc {pc}: jump target {target} is outside the program or inside an lddw")]
    BadJump { pc: usize, target: i64 },
    #[error("pc {pc}: call depth would exceed {max} frames")]
    CallDepth { pc: usize, max: usize },
    #[error("pc {pc}: instruction budget of {limit} exhausted (runaway loop?)")]
    BudgetExhausted { pc: usize, limit: u64 },
    #[error("pc {pc}: helper {id}: {error}")]
    Helper {
        pc: usize,
        id: i64,
        error: HelperError,
    },
    /// The run reached a watched pc in the watched state ([`Config::watch`]).
    #[error("pc {pc}: watched state reached: {what}")]
    Watch { pc: usize, what: String },
    #[error("pc {pc}: {what} is not supported by the interpreter")]
    Unsupported { pc: usize, what: String },
}

impl Trap {
    /// The pc of the instruction the run stopped at.
    pub fn pc(&self) -> usize {
        match self {
            Trap::Memory { pc, .. }
            | Trap::FellOffEnd { pc }
            | Trap::BadJump { pc, .. }
            | Trap::CallDepth { pc, .. }
            | Trap::BudgetExhausted { pc, .. }
            | Trap::Helper { pc, .. }
            | Trap::Watch { pc, .. }
            | Trap::Unsupported { pc, .. } => *pc,
        }
    }
}

/// A completed run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub r0: u64,
    /// Instructions executed.
    pub steps: u64,
    /// The program ended with a successful tail call to this program (see
    /// [`HelperReturn::TailCall`]); `r0` is then meaningless.
    pub tail_call: Option<u64>,
}

/// The caller's state saved by a call.
enum Frame {
    /// A local call: r6-r9 and r10 come back on `exit`.
    Local {
        return_pc: usize,
        saved: [u64; 4],
        saved_fp: u64,
        /// The caller's initialisation shadow (see [`watch`]).
        saved_init: u16,
    },
    /// A callback run by the helper `id` called at `call_pc`: on `exit` the helper resumes, and
    /// when it returns, every register comes back (r0 then holds its result).
    Callback {
        call_pc: usize,
        id: i64,
        saved: [u64; 11],
        saved_init: u16,
    },
}

/// A virtual machine: memory, helpers and limits. Runs one program at a time.
pub struct Vm<H> {
    pub mem: Memory,
    pub helpers: H,
    config: Config,
    stacks: Vec<RegionId>,
    packet: Option<RegionId>,
    /// The empty region code addresses point into (made on the first `lddw src=4`).
    code: Option<RegionId>,
    /// Which registers hold a written value, bit `i` for `ri` (see [`watch`]).
    init: u16,
    /// How often the watched pc was reached ([`WatchCond::Visits`]).
    visits: u64,
    /// Helper results fixed in advance by call pc (see [`Vm::script_helper`]).
    scripted: Vec<(usize, u64)>,
}

impl<H: Helpers> Vm<H> {
    pub fn new(helpers: H, config: Config) -> Vm<H> {
        Vm {
            mem: Memory::new(),
            helpers,
            config,
            stacks: Vec::new(),
            packet: None,
            code: None,
            init: 0,
            visits: 0,
            scripted: Vec::new(),
        }
    }

    /// Makes every helper call at `pc` return `r0` without running the helper: a replayed
    /// counterexample chooses what the environment answers (the pid, the clock, a random
    /// number), as the program cannot tell. Only the entry program's pcs are meant; clear the
    /// script (`None`) before running another.
    pub fn script_helper(&mut self, pc: usize, r0: Option<u64>) {
        self.scripted.retain(|(p, _)| *p != pc);
        if let Some(v) = r0 {
            self.scripted.push((pc, v));
        }
    }

    /// Forgets every scripted helper result.
    pub fn clear_script(&mut self) {
        self.scripted.clear();
    }

    /// Changes the watch of later runs (a tail call's target has other pcs: it runs without).
    pub fn set_watch(&mut self, watch: Option<Watch>) {
        self.config.watch = watch;
        self.visits = 0;
    }

    /// Names the region legacy packet loads (`ldabs`/`ldind`) read from.
    pub fn set_packet(&mut self, id: RegionId) {
        self.packet = Some(id);
    }

    /// The stack region of frame `depth`, created on first use and zeroed on every entry.
    fn enter_frame(&mut self, depth: usize) -> Result<u64, String> {
        while self.stacks.len() <= depth {
            let kind = RegionKind::Stack {
                frame: self.stacks.len(),
            };
            let id = self.mem.add(kind, vec![0; STACK_SIZE], true)?;
            self.mem.track_init(id);
            self.mem.set_live(id, false);
            self.stacks.push(id);
        }
        let id = self.stacks[depth];
        self.mem.set_live(id, true);
        Ok(self.mem.base(id) + STACK_SIZE as u64)
    }

    /// Runs `prog` (a program from [`crate::isa::decode_program`]) from pc 0 with r1-r5 = `args`.
    pub fn run(&mut self, prog: &[Insn], args: [u64; 5]) -> Result<Exit, Trap> {
        let mut regs = [0u64; 11];
        regs[1..6].copy_from_slice(&args);
        regs[10] = self.enter_frame(0).map_err(|what| Trap::Unsupported {
            pc: 0,
            what: what.clone(),
        })?;
        // Linux starts a program with only the context (r1) and the frame pointer set.
        self.init = (1 << 1) | watch::FP;
        let mut frames: Vec<Frame> = Vec::new();
        let mut pc = 0usize;
        let mut steps = 0u64;
        let result = loop {
            let Some(&insn) = prog.get(pc) else {
                break Err(Trap::FellOffEnd {
                    pc: pc.saturating_sub(1),
                });
            };
            if steps >= self.config.max_steps {
                break Err(Trap::BudgetExhausted {
                    pc,
                    limit: self.config.max_steps,
                });
            }
            steps += 1;
            if self.config.watch.is_some()
                && let Some(what) = self.watch_fires(pc, &regs)
            {
                break Err(Trap::Watch { pc, what });
            }
            match self.step(prog, insn, pc, &mut regs, &mut frames) {
                Ok(Flow::Next) => pc += 1,
                Ok(Flow::Goto(next)) => pc = next,
                Ok(Flow::Exit(r0)) => {
                    break Ok(Exit {
                        r0,
                        steps,
                        tail_call: None,
                    });
                }
                Ok(Flow::TailCall(target)) => {
                    break Ok(Exit {
                        r0: 0,
                        steps,
                        tail_call: Some(target),
                    });
                }
                Err(trap) => break Err(trap),
            }
        };
        for &id in &self.stacks {
            self.mem.set_live(id, false);
        }
        result
    }

    fn step(
        &mut self,
        prog: &[Insn],
        insn: Insn,
        pc: usize,
        regs: &mut [u64; 11],
        frames: &mut Vec<Frame>,
    ) -> Result<Flow, Trap> {
        let mem_trap = |fault| Trap::Memory { pc, fault };
        self.note_writes(insn);
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let s = operand(regs, src, width);
                regs[dst.index()] = alu::binary(width, op, regs[dst.index()], s);
            }
            Insn::Neg { width, dst } => regs[dst.index()] = alu::neg(width, regs[dst.index()]),
            Insn::Endian { kind, bits, dst } => {
                regs[dst.index()] = alu::endian(kind, bits, regs[dst.index()]);
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let addr = regs[src.index()].wrapping_add(off as i64 as u64);
                if let Some(v) = self.helpers.load_override(addr, size.bytes()) {
                    regs[dst.index()] = v;
                    return Ok(Flow::Next);
                }
                let v = self.mem.load(addr, size.bytes()).map_err(mem_trap)?;
                regs[dst.index()] = if signed {
                    alu::sign_extend(v, size.bytes() * 8)
                } else {
                    v
                };
            }
            Insn::Store {
                size,
                dst,
                off,
                value,
            } => {
                let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
                let v = operand(regs, value, Width::W64);
                self.mem.store(addr, size.bytes(), v).map_err(mem_trap)?;
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let addr = regs[dst.index()].wrapping_add(off as i64 as u64);
                let n = size.bytes();
                let old = self.mem.load(addr, n).map_err(mem_trap)?;
                let (new, fetched) = alu::atomic(op, n, old, regs[src.index()], regs[0]);
                self.mem.store(addr, n, new).map_err(mem_trap)?;
                if fetch {
                    match fetched {
                        alu::Fetched::IntoSrc(v) => regs[src.index()] = v,
                        alu::Fetched::IntoR0(v) => regs[0] = v,
                    }
                }
            }
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm,
            } => {
                regs[dst.index()] = match kind {
                    Imm64Kind::Value => (u64::from(next_imm as u32) << 32) | u64::from(imm as u32),
                    Imm64Kind::Func => self.code_address(prog, pc)?,
                    _ => self
                        .helpers
                        .load_imm64(kind, imm, next_imm, &mut self.mem)
                        .map_err(|error| Trap::Helper { pc, id: -1, error })?,
                };
                return Ok(Flow::Goto(pc + 2));
            }
            Insn::WideTail => {
                return Err(Trap::BadJump {
                    pc,
                    target: pc as i64,
                });
            }
            Insn::LoadPacket { size, mode, imm } => {
                return self.load_packet(pc, regs, size, mode, imm);
            }
            Insn::Ja { off, .. } => return jump(prog, pc, i64::from(off)),
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let b = operand(regs, src, width);
                if alu::condition(width, cond, regs[dst.index()], b) {
                    return jump(prog, pc, i64::from(off));
                }
            }
            Insn::Call(CallTarget::Helper(id)) => {
                return self.call_helper(prog, pc, i64::from(id), regs, frames);
            }
            Insn::CallX { reg } => {
                let id = regs[reg.index()] as i64;
                return self.call_helper(prog, pc, id, regs, frames);
            }
            Insn::Call(CallTarget::Local(rel)) => {
                let Flow::Goto(target) = jump(prog, pc, i64::from(rel))? else {
                    unreachable!("jump() only returns Goto")
                };
                return self.call_local(pc, target, regs, frames);
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                return Err(Trap::Unsupported {
                    pc,
                    what: format!(
                        "a kfunc call (BTF id {btf_id}: a kernel function; the verifier rejects such calls)"
                    ),
                });
            }
            Insn::Exit => return self.exit(prog, regs, frames),
        }
        Ok(Flow::Next)
    }

    fn load_packet(
        &mut self,
        pc: usize,
        regs: &mut [u64; 11],
        size: crate::isa::Size,
        mode: PacketMode,
        imm: i32,
    ) -> Result<Flow, Trap> {
        let base = match mode {
            PacketMode::Abs => 0i64,
            PacketMode::Ind(r) => regs[r.index()] as u32 as i32 as i64,
        };
        let offset = base + i64::from(imm);
        let n = size.bytes();
        match self.helpers.legacy_load(offset, n) {
            LegacyLoad::Value(v) => {
                regs[0] = v;
                return Ok(Flow::Next);
            }
            // Linux semantics: an out-of-bounds legacy load ends the program with r0 = 0.
            LegacyLoad::OutOfBounds => return Ok(Flow::Exit(0)),
            LegacyLoad::FromRegion => {}
        }
        let Some(packet) = self.packet else {
            return Err(Trap::Unsupported {
                pc,
                what: "legacy packet load without a packet".into(),
            });
        };
        let bytes = self.mem.bytes(packet);
        let Some(slice) = usize::try_from(offset)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(n)?))
        else {
            // Linux semantics: an out-of-bounds legacy load ends the program with r0 = 0.
            return Ok(Flow::Exit(0));
        };
        regs[0] = slice.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        Ok(Flow::Next)
    }
}

enum Flow {
    Next,
    Goto(usize),
    Exit(u64),
    TailCall(u64),
}

/// The value of a second operand: a register, or the immediate sign-extended (64-bit) or taken
/// as its 32-bit pattern (32-bit operations only look at the low half anyway).
fn operand(regs: &[u64; 11], src: Operand, width: Width) -> u64 {
    match (src, width) {
        (Operand::Reg(r), _) => regs[r.index()],
        (Operand::Imm(i), Width::W64) => i as i64 as u64,
        (Operand::Imm(i), Width::W32) => u64::from(i as u32),
    }
}

/// `pc + 1 + off`, checked against the program (a decoded program has valid targets already;
/// this keeps the interpreter safe on programs built by hand).
fn jump(prog: &[Insn], pc: usize, off: i64) -> Result<Flow, Trap> {
    let target = pc as i64 + 1 + off;
    match usize::try_from(target)
        .ok()
        .and_then(|t| prog.get(t).map(|i| (t, i)))
    {
        Some((t, insn)) if *insn != Insn::WideTail => Ok(Flow::Goto(t)),
        _ => Err(Trap::BadJump { pc, target }),
    }
}

/// Convenience: run a program on one input region with no helpers; r1 = input, r2 = its length.
pub fn run_on_input(prog: &[Insn], input: Vec<u8>, config: Config) -> Result<Exit, Trap> {
    let mut vm = Vm::new((), config);
    let len = input.len() as u64;
    let id = vm
        .mem
        .add(RegionKind::Input, input, true)
        .map_err(|what| Trap::Unsupported { pc: 0, what })?;
    vm.set_packet(id);
    let base = vm.mem.base(id);
    vm.run(prog, [base, len, 0, 0, 0])
}
