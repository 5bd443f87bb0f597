//! The user-space runtime: maps, Linux helpers and program contexts, so loaded programs can run.
//!
//! The core is address-agnostic, because the same runtime serves the interpreter (virtual
//! addresses, every access checked) and, later, the x86-64 JIT (host pointers):
//! - storage ([`maps`], ring buffer records, the packet, the context) lives in
//!   [`SharedBytes`], which never move, so an address handed out stays valid for the run;
//! - helpers ([`helpers`]) reach program memory only through the [`AddressSpace`] trait: read,
//!   write, and `expose` (give the program an address for a buffer) / `retire` (take it back);
//! - what the program sees as a context is described by [`context`], including the table of
//!   pointer fields whose 32-bit uapi loads the kernel rewrites (see [`context::PointerField`]).
//!
//! [`vm`] binds it all to the interpreter: [`vm::run`] runs a program (and its tail calls) on
//! one input. A [`Runtime`] holds what outlives a run (maps, sinks, clock, random state); a
//! [`Run`] what belongs to one execution (context, packet, addresses handed out).
//!
//! Hostile input: every argument a program passes to a helper is checked; a bad pointer or size
//! is a [`HelperError::Fault`], an argument of the wrong kind a [`HelperError::Failed`], an
//! unmodelled helper a [`HelperError::Unsupported`] naming it. Nothing here panics on a program.

pub mod callbacks;
pub mod context;
pub mod helpers;
pub mod maps;
pub mod native;
mod packet;
mod printf;
pub mod vm;

pub use context::{Packet, PointerField, Run, RunInput};
pub use maps::{Map, MapError};

use crate::analysis::MapInfo;
use crate::interp::{Fault, HelperError, RegionKind, SharedBytes};
use thiserror::Error;

/// Why a runtime could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Map(#[from] MapError),
    #[error("map index {0} does not exist")]
    NoSuchMap(usize),
    #[error("{0}")]
    Setup(String),
}

/// How the program's memory is reached: implemented by the interpreter adapter (virtual
/// addresses, checked) and later by the JIT (host pointers).
pub trait AddressSpace {
    /// Checks that `len` bytes at `addr` may be read (or written), without touching them. Helpers
    /// call it before allocating anything of a size the program chose.
    fn check(&self, addr: u64, len: usize, write: bool) -> Result<(), Fault>;
    /// Copies `len` bytes at `addr`.
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, Fault>;
    /// Copies `data` to `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault>;
    /// The NUL-terminated string at `addr` (without the NUL), at most `max` bytes scanned.
    fn c_str(&self, addr: u64, max: usize) -> Result<Vec<u8>, Fault>;
    /// The address at which the program sees `buf`; the same buffer gets the same address for
    /// the whole run.
    fn expose(
        &mut self,
        buf: &SharedBytes,
        kind: RegionKind,
        writable: bool,
    ) -> Result<u64, HelperError>;
    /// The program may no longer reach `buf` (a submitted record, packet data that moved).
    fn retire(&mut self, buf: &SharedBytes);
}

/// What `probe_read*` reads at an address outside the kernel memory buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownReads {
    /// Random bytes, success: every address looks readable.
    Random,
    /// Linux's answer for an unmapped address: zeroed destination, -EFAULT.
    Fault,
}

/// Memory the program may reach only through `probe_read*`: kernel objects (tasks, sockets) and
/// user memory, at fixed fake addresses that never map in the interpreter.
#[derive(Clone, Debug)]
pub struct KernelMemory {
    /// Address of `bytes[0]`; a canonical kernel address by default.
    pub base: u64,
    pub bytes: Vec<u8>,
    pub unknown: UnknownReads,
}

impl Default for KernelMemory {
    fn default() -> KernelMemory {
        KernelMemory {
            base: 0xffff_8880_0000_0000,
            bytes: vec![0; 16 * 1024],
            unknown: UnknownReads::Random,
        }
    }
}

/// Constants the identity helpers return and other knobs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Seed of the deterministic PRNG (`get_prandom_u32`, random reads, fallback results).
    pub seed: u64,
    pub cpu: u32,
    pub pid_tgid: u64,
    pub uid_gid: u64,
    pub comm: [u8; 16],
    pub cgroup_id: u64,
    /// Start of `ktime_get_ns`; each call advances it.
    pub boot_ns: u64,
    pub kernel: KernelMemory,
    /// Run helpers the runtime does not model from their prototype: check every memory argument
    /// as the prototype describes it, fill output buffers with random bytes, return a random
    /// number (or NULL). Off by default (such a helper is [`HelperError::Unsupported`]); the
    /// soundness oracle turns it on, because it checks exactly what the verifier promised.
    pub fallback_by_prototype: bool,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        let mut comm = [0u8; 16];
        comm[..5].copy_from_slice(b"vouch");
        RuntimeConfig {
            seed: 0x5eed,
            cpu: 0,
            pid_tgid: (1000 << 32) | 1001,
            uid_gid: (1000 << 32) | 1000,
            comm,
            cgroup_id: 1,
            boot_ns: 1_000_000_000,
            kernel: KernelMemory::default(),
            fallback_by_prototype: false,
        }
    }
}

/// A record written to a ring buffer or perf event array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Index of the map in [`Runtime::maps`].
    pub map: usize,
    pub data: Vec<u8>,
}

/// What programs wrote for user space to read.
#[derive(Clone, Debug, Default)]
pub struct Sinks {
    /// `trace_printk` lines.
    pub trace: Vec<String>,
    /// Submitted ring buffer records, in order.
    pub ringbuf: Vec<Record>,
    /// `perf_event_output` records, in order.
    pub perf: Vec<Record>,
}

/// splitmix64: small, deterministic, good enough for test inputs (not cryptographic).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Maps, sinks and state that outlive one run.
#[derive(Debug)]
pub struct Runtime {
    /// The object's map table (see [`crate::analysis::map_table`]), then maps created later
    /// (inner maps of maps of maps).
    pub maps: Vec<Map>,
    pub config: RuntimeConfig,
    pub sinks: Sinks,
    pub rng: Rng,
    clock_ns: u64,
}

impl Runtime {
    /// A runtime with one empty map per entry of a map table.
    pub fn new(table: &[MapInfo], config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let maps = table.iter().map(Map::new).collect::<Result<Vec<_>, _>>()?;
        Ok(Runtime {
            maps,
            rng: Rng::new(config.seed),
            clock_ns: config.boot_ns,
            config,
            sinks: Sinks::default(),
        })
    }

    /// A runtime for a loaded object: its map table, with global data (`.data`, `.rodata`,
    /// `.bss`) holding the object's initial contents.
    pub fn for_object(
        object: &crate::elf::Object,
        config: RuntimeConfig,
    ) -> Result<Runtime, RuntimeError> {
        let table = crate::analysis::map_table(&object.maps);
        let mut rt = Runtime::new(&table, config)?;
        for (i, def) in object.maps.iter().enumerate() {
            if let Some(initial) = &def.initial {
                rt.set_array_bytes(i, 0, initial)?;
            }
        }
        Ok(rt)
    }

    /// Writes `bytes` into entry `index` of array map `map` (global data, user-space setup).
    pub fn set_array_bytes(
        &mut self,
        map: usize,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), RuntimeError> {
        let m = self.maps.get(map).ok_or(RuntimeError::NoSuchMap(map))?;
        let value = m.array_value(index).ok_or_else(|| {
            RuntimeError::Setup(format!("map {} has no entry {index}", m.info.name))
        })?;
        let n = bytes.len().min(value.len());
        value.set(0, bytes.get(..n).unwrap_or_default());
        Ok(())
    }

    /// Adds a map (an inner map of a map of maps) and returns its index.
    pub fn add_map(&mut self, info: &MapInfo) -> Result<usize, RuntimeError> {
        self.maps.push(Map::new(info)?);
        Ok(self.maps.len() - 1)
    }

    /// The map at `index`.
    pub fn map_mut(&mut self, index: usize) -> Result<&mut Map, RuntimeError> {
        self.maps
            .get_mut(index)
            .ok_or(RuntimeError::NoSuchMap(index))
    }

    /// The next `ktime_get_ns`: monotonic, advancing by a varying step.
    pub fn now_ns(&mut self) -> u64 {
        self.clock_ns = self.clock_ns.wrapping_add(1 + self.rng.below(10_000));
        self.clock_ns
    }

    /// Ends a run: values deleted during it are let go.
    pub fn end_run(&mut self) {
        self.maps.iter_mut().for_each(Map::end_run);
    }
}
