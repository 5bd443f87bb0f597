//! The runtime bound to the interpreter: virtual addresses for runtime buffers, the `Helpers`
//! adapter, and [`run`], which runs a program and its tail calls on one input.
//!
//! Address mapping: a buffer the runtime hands out (map value, record, packet window, context,
//! map handle) becomes an interpreter region sharing its bytes ([`Memory::add_shared`]), created
//! on first use and cached by buffer identity, so one value has one address for the whole run.
//! Retired buffers become released regions: every later access faults. Each run gets a fresh
//! `Vm`, so addresses from an earlier run never resolve.

use super::context::RunInput;
use super::{AddressSpace, Run, Runtime};
use crate::interp::{
    Config, Fault, HelperError, HelperReturn, Helpers, LegacyLoad, Memory, RegionId, RegionKind,
    SharedBytes, Trap, Vm,
};
use crate::isa::{Imm64Kind, Insn};
use std::collections::HashMap;

type BufKey = (usize, usize, usize);

/// Start of the kernel's half of the address space on x86-64: no program buffer lives there.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// The interpreter's memory as an [`AddressSpace`].
pub struct VmSpace<'a> {
    pub mem: &'a mut Memory,
    exposed: &'a mut HashMap<BufKey, RegionId>,
}

/// Helpers never touch memory for an empty buffer (Linux lets `csum_diff(NULL, 0, ...)` and
/// other `ARG_CONST_SIZE_OR_ZERO` pairs pass any pointer with size 0), so neither do we.
impl AddressSpace for VmSpace<'_> {
    fn check(&self, addr: u64, len: usize, write: bool) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        self.mem.check(addr, len, write)
    }

    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, Fault> {
        if len == 0 {
            return Ok(Vec::new());
        }
        self.mem.check(addr, len, false)?;
        Ok(self.mem.read(addr, len)?.into_owned())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        if data.is_empty() {
            return Ok(());
        }
        self.mem.write(addr, data)
    }

    fn c_str(&self, addr: u64, max: usize) -> Result<Vec<u8>, Fault> {
        Ok(self.mem.c_str(addr, max)?.into_owned())
    }

    fn expose(
        &mut self,
        buf: &SharedBytes,
        kind: RegionKind,
        writable: bool,
    ) -> Result<u64, HelperError> {
        if let Some(&id) = self.exposed.get(&buf.key()) {
            return Ok(self.mem.base(id));
        }
        let id = self
            .mem
            .add_shared(kind, buf.clone(), writable)
            .map_err(HelperError::Failed)?;
        self.exposed.insert(buf.key(), id);
        Ok(self.mem.base(id))
    }

    fn retire(&mut self, buf: &SharedBytes) {
        if let Some(id) = self.exposed.remove(&buf.key()) {
            self.mem.release(id);
        }
    }
}

/// `interp::Helpers` backed by a [`Runtime`] for one run.
pub struct VmHelpers<'r> {
    pub rt: &'r mut Runtime,
    /// Set once the context is in place (before the program starts).
    pub run: Option<Run>,
    exposed: HashMap<BufKey, RegionId>,
}

impl<'r> VmHelpers<'r> {
    pub fn new(rt: &'r mut Runtime) -> VmHelpers<'r> {
        VmHelpers {
            rt,
            run: None,
            exposed: HashMap::new(),
        }
    }
}

fn no_run() -> HelperError {
    HelperError::Failed("the runtime has no run set up".into())
}

impl Helpers for VmHelpers<'_> {
    fn call(
        &mut self,
        id: i32,
        args: [u64; 5],
        mem: &mut Memory,
    ) -> Result<HelperReturn, HelperError> {
        let run = self.run.as_mut().ok_or_else(no_run)?;
        let mut space = VmSpace {
            mem,
            exposed: &mut self.exposed,
        };
        self.rt.call(run, id, args, &mut space)
    }

    fn load_imm64(
        &mut self,
        kind: Imm64Kind,
        imm: i32,
        next_imm: i32,
        mem: &mut Memory,
    ) -> Result<u64, HelperError> {
        let run = self.run.as_mut().ok_or_else(no_run)?;
        let mut space = VmSpace {
            mem,
            exposed: &mut self.exposed,
        };
        let map = usize::try_from(imm).unwrap_or(usize::MAX);
        match kind {
            Imm64Kind::MapFd | Imm64Kind::MapIdx => run.map_handle(self.rt, map, &mut space),
            Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
                let m = self
                    .rt
                    .maps
                    .get(map)
                    .ok_or_else(|| HelperError::Failed(format!("no map with index {map}")))?;
                let v = m.array_value(0).ok_or_else(|| {
                    HelperError::Failed(format!("lddw of a value of map {}", m.info.name))
                })?;
                let kind = RegionKind::MapValue {
                    map: m.info.name.clone(),
                };
                let base = space.expose(&v, kind, !m.info.read_only)?;
                Ok(base.wrapping_add(u64::from(next_imm as u32)))
            }
            _ => Err(HelperError::Unsupported(format!("lddw of kind {kind:?}"))),
        }
    }

    fn resume(&mut self, r0: u64, mem: &mut Memory) -> Result<HelperReturn, HelperError> {
        let run = self.run.as_mut().ok_or_else(no_run)?;
        let mut space = VmSpace {
            mem,
            exposed: &mut self.exposed,
        };
        self.rt.resume(run, r0, &mut space)
    }

    /// Legacy packet loads read the run's packet from `data` (see `Packet::legacy_load`).
    fn legacy_load(&mut self, offset: i64, size: usize) -> LegacyLoad {
        let packet = self.run.as_ref().and_then(|r| r.packet.as_ref());
        match packet.map(|p| p.legacy_load(offset, size)) {
            Some(Some(v)) => LegacyLoad::Value(v),
            Some(None) => LegacyLoad::OutOfBounds,
            // No packet (a program type without one): the interpreter has no region either.
            None => LegacyLoad::FromRegion,
        }
    }

    /// Context pointer fields (see `Run::ctx_load`), and, for programs with BTF-typed
    /// arguments (fentry, LSM, iterators), loads from kernel memory: Linux compiles those
    /// into `PROBE_MEM` loads, which read the kernel object or yield 0 where the address
    /// faults. The runtime's kernel memory stands for the objects; anything else reads 0.
    fn load_override(&mut self, addr: u64, size: usize) -> Option<u64> {
        let run = self.run.as_ref()?;
        if let Some(v) = run.ctx_load(addr, size) {
            return Some(v);
        }
        if !run.program_type.has_btf_args() || addr < KERNEL_HALF {
            return None;
        }
        let kernel = &self.rt.config.kernel;
        let bytes = addr
            .checked_sub(kernel.base)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| kernel.bytes.get(o..o.checked_add(size)?));
        let mut buf = [0u8; 8];
        if let Some(b) = bytes {
            buf[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        }
        Some(u64::from_le_bytes(buf))
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub r0: u64,
    /// Instructions executed, over all programs of the tail-call chain.
    pub steps: u64,
    pub tail_calls: u32,
    /// The context after the run.
    pub ctx: Vec<u8>,
    /// Packet data after the run (helpers may have resized it).
    pub packet: Option<Vec<u8>>,
    /// What the run left behind that Linux requires it to release: spin locks still held,
    /// ring buffer records neither submitted nor discarded.
    pub locks_held: u32,
    pub records_held: usize,
}

/// Runs `programs[entry]` on `input` with r1 = the context, following tail calls (a prog_array
/// value is an index into `programs`). Values deleted during the run are let go at its end.
pub fn run(
    rt: &mut Runtime,
    programs: &[&[Insn]],
    entry: usize,
    input: &RunInput,
    config: Config,
) -> Result<Outcome, Trap> {
    run_scripted(rt, programs, entry, input, config, &[])
}

/// [`run`], with the helper calls at some pcs of the entry program answered by `script`
/// (pc, r0) instead of the runtime ([`Vm::script_helper`]): a replayed counterexample's
/// choice of what the environment returns.
pub fn run_scripted(
    rt: &mut Runtime,
    programs: &[&[Insn]],
    entry: usize,
    input: &RunInput,
    config: Config,
    script: &[(usize, u64)],
) -> Result<Outcome, Trap> {
    let setup = |what: String| Trap::Unsupported { pc: 0, what };
    let mut vm = Vm::new(VmHelpers::new(rt), config);
    for &(pc, r0) in script {
        vm.script_helper(pc, Some(r0));
    }
    let run = {
        let mut space = VmSpace {
            mem: &mut vm.mem,
            exposed: &mut vm.helpers.exposed,
        };
        Run::new(input, &mut space).map_err(|e| setup(e.to_string()))?
    };
    let ctx = run.ctx_addr();
    vm.helpers.run = Some(run);
    let mut prog = programs
        .get(entry)
        .ok_or_else(|| setup(format!("no program {entry}")))?;
    let mut steps = 0;
    let result = loop {
        let run = vm.run(prog, [ctx, 0, 0, 0, 0]);
        // A watch or a script names pcs of the entry program; a tail call's target has others.
        vm.set_watch(None);
        vm.clear_script();
        match run {
            Ok(exit) => {
                steps += exit.steps;
                match exit.tail_call {
                    None => break Ok(exit.r0),
                    Some(t) => match usize::try_from(t).ok().and_then(|t| programs.get(t)) {
                        Some(p) => prog = p,
                        None => break Err(setup(format!("tail call to unknown program {t}"))),
                    },
                }
            }
            Err(trap) => break Err(trap),
        }
    };
    let run = vm.helpers.run.take();
    vm.helpers.rt.end_run();
    let r0 = result?;
    Ok(Outcome {
        r0,
        steps,
        tail_calls: run.as_ref().map_or(0, |r| r.tail_calls),
        locks_held: run.as_ref().map_or(0, |r| r.locks_held),
        records_held: run.as_ref().map_or(0, |r| r.records.len()),
        ctx: run.as_ref().map(Run::ctx_bytes).unwrap_or_default(),
        packet: run.and_then(|r| r.packet.map(|p| p.bytes())),
    })
}
