//! The interpreter's memory: a set of disjoint regions in a virtual address space.
//!
//! A program never sees a host address. Each region lives in its own 4 GiB window: region `i`
//! starts at `(i + 1) << 32`, so the window of an address is `addr >> 32` and translation is one
//! shift and one bounds check. Address 0 and everything below the first window belong to no region,
//! so NULL and small integers used as pointers always fault. Pointers keep working across calls
//! and helpers because they are plain numbers.
//!
//! Invariants: regions are never moved or resized once added (their addresses are handed out);
//! a region is at most 4 GiB - 1 bytes, so an in-window offset never reaches the next window;
//! a region that is not `live` (a returned call frame's stack) faults on every access.
//!
//! A region's bytes are either owned by the memory (stacks, inputs) or [`SharedBytes`] owned
//! together with someone else: the user-space runtime keeps map values, ring buffer records and
//! packets in pointer-stable shared buffers and registers them here when it hands one to the
//! program, so a write by the program and a later read by a helper see the same bytes without
//! copying back and forth.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// What a region holds; named in faults so a user knows which object was overrun.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// The program's input (ctx or the conformance suite's memory).
    Input,
    /// The 512-byte stack of call frame `frame` (0 = the entry function).
    Stack { frame: usize },
    /// The value of a map entry.
    MapValue { map: String },
    /// Memory a helper handed out.
    HelperBuffer { helper: String },
    /// The program's context (`struct xdp_md`, `struct __sk_buff`, ...).
    Context,
    /// Packet data (from `data_meta` to `data_end`).
    Packet,
    /// The program's code: function addresses (`lddw src=4`) point here, and every load or
    /// store faults (the region is empty), so a code address is only good for callbacks.
    Code,
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Input => write!(f, "input"),
            RegionKind::Stack { frame } => write!(f, "stack of frame {frame}"),
            RegionKind::MapValue { map } => write!(f, "value of map {map}"),
            RegionKind::HelperBuffer { helper } => write!(f, "buffer from helper {helper}"),
            RegionKind::Context => write!(f, "context"),
            RegionKind::Packet => write!(f, "packet"),
            RegionKind::Code => write!(f, "program code"),
        }
    }
}

/// Identifies a region of a [`Memory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionId(usize);

/// A byte buffer shared between the interpreter's memory and its owner (the runtime), or a
/// window into one.
///
/// Bytes are atomics so that the buffer is `Send + Sync` (a server may run programs on worker
/// threads) and may be written through a raw pointer while shared references exist (a JIT-compiled
/// program writes map values through host pointers): `AtomicU8` is an `UnsafeCell`, and relaxed
/// loads and stores compile to plain moves. The allocation never moves or changes size, so
/// [`SharedBytes::as_ptr`] stays valid as long as one clone lives.
#[derive(Clone, Debug)]
pub struct SharedBytes {
    bytes: Arc<[AtomicU8]>,
    start: usize,
    len: usize,
}

impl SharedBytes {
    /// A zeroed buffer of `len` bytes.
    pub fn zeroed(len: usize) -> SharedBytes {
        SharedBytes::zeroed_with(len, 0, &[])
    }

    /// A buffer holding a copy of `data`.
    pub fn from_slice(data: &[u8]) -> SharedBytes {
        SharedBytes::zeroed_with(data.len(), 0, data)
    }

    /// A zeroed buffer of `len` bytes with `data` copied in at `at` (nothing if it does not fit).
    ///
    /// One zeroed allocation (`calloc`) and one copy, written through `&mut` before the buffer is
    /// shared, so both are plain memory operations. Collecting the bytes into the `Arc` one
    /// atomic at a time, as this did before, was half of a JIT run's setup for a small program
    /// (README.md, "JIT": its 4 KiB stack and the packet buffer are made here every run).
    pub fn zeroed_with(len: usize, at: usize, data: &[u8]) -> SharedBytes {
        let zeroed = Arc::<[AtomicU8]>::new_zeroed_slice(len);
        // SAFETY: `AtomicU8` has the size, alignment and bit validity of `u8`, so all-zero
        // bytes are a valid, initialised `AtomicU8` each.
        let mut bytes = unsafe { zeroed.assume_init() };
        let dst = Arc::get_mut(&mut bytes)
            .and_then(|cells| cells.get_mut(at..))
            .and_then(|cells| cells.get_mut(..data.len()));
        if let Some(dst) = dst {
            for (cell, &b) in dst.iter_mut().zip(data) {
                *cell.get_mut() = b;
            }
        }
        SharedBytes {
            bytes,
            start: 0,
            len,
        }
    }

    /// The window `start..start + len` of this buffer, if inside it. It shares the bytes.
    pub fn window(&self, start: usize, len: usize) -> Option<SharedBytes> {
        let end = start.checked_add(len)?;
        (end <= self.len).then(|| SharedBytes {
            bytes: Arc::clone(&self.bytes),
            start: self.start + start,
            len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn cells(&self) -> &[AtomicU8] {
        self.bytes
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.cells()
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// A copy of `len` bytes at `offset`, or `None` if they are not all inside.
    pub fn get(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        let cells = self.cells().get(offset..offset.checked_add(len)?)?;
        Some(cells.iter().map(|b| b.load(Ordering::Relaxed)).collect())
    }

    /// Copies `data` to `offset`; `false` (and nothing written) if it does not fit.
    pub fn set(&self, offset: usize, data: &[u8]) -> bool {
        let Some(cells) = offset
            .checked_add(data.len())
            .and_then(|end| self.cells().get(offset..end))
        else {
            return false;
        };
        for (c, &b) in cells.iter().zip(data) {
            c.store(b, Ordering::Relaxed);
        }
        true
    }

    /// Sets every byte to `value`.
    pub fn fill(&self, value: u8) {
        self.cells()
            .iter()
            .for_each(|c| c.store(value, Ordering::Relaxed));
    }

    /// Host address of the first byte, for native code (the JIT). Valid while a clone lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.cells().as_ptr() as *mut u8
    }

    /// Identity of the window: two values are equal when they are the same window of the same
    /// allocation.
    pub fn key(&self) -> (usize, usize, usize) {
        (
            Arc::as_ptr(&self.bytes) as *const u8 as usize,
            self.start,
            self.len,
        )
    }
}

#[derive(Debug)]
enum Backing {
    Owned(Vec<u8>),
    Shared(SharedBytes),
}

impl Backing {
    fn len(&self) -> usize {
        match self {
            Backing::Owned(v) => v.len(),
            Backing::Shared(s) => s.len(),
        }
    }
}

#[derive(Debug)]
struct Region {
    kind: RegionKind,
    writable: bool,
    live: bool,
    /// Set by [`Memory::release`]: the region faults for good and its bytes are gone.
    released: bool,
    bytes: Backing,
    /// Which bytes were written since the region became live, for regions whose reads the
    /// verifier requires to be initialised (stacks; see [`Memory::track_init`]).
    init: Option<Vec<bool>>,
}

/// Why an access was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultReason {
    /// The address is in no region (NULL, a scalar used as a pointer, a wild pointer).
    Unmapped,
    /// The access starts or ends outside the region whose window holds the address.
    OutOfBounds {
        region: RegionKind,
        start: u64,
        len: usize,
    },
    /// A write to a read-only region.
    ReadOnly { region: RegionKind },
    /// An access to the stack of a call frame that has returned.
    DeadFrame { region: RegionKind },
    /// An access to memory the program no longer owns: a submitted ring buffer record, packet
    /// data a helper moved.
    Released { region: RegionKind },
    /// A string argument has no NUL within its region or within `max` bytes.
    Unterminated { max: usize },
}

/// A refused memory access: what was tried, where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
    pub size: usize,
    pub write: bool,
    pub reason: FaultReason,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.write { "write" } else { "read" };
        write!(f, "{what} of {} byte(s) at {:#x} ", self.size, self.addr)?;
        match &self.reason {
            FaultReason::Unmapped => write!(f, "is not in any memory region"),
            FaultReason::OutOfBounds { region, start, len } => {
                write!(
                    f,
                    "is outside the {region} ({start:#x}..{:#x})",
                    start + *len as u64
                )
            }
            FaultReason::ReadOnly { region } => write!(f, "hits the read-only {region}"),
            FaultReason::DeadFrame { region } => {
                write!(f, "hits the {region}, which has returned")
            }
            FaultReason::Released { region } => {
                write!(f, "hits the {region}, which was released or moved")
            }
            FaultReason::Unterminated { max } => {
                write!(
                    f,
                    "starts a string with no NUL within its region or {max} bytes"
                )
            }
        }
    }
}

/// Largest region: one byte less than a window, so offsets never spill into the next window.
pub const MAX_REGION_BYTES: usize = (1 << 32) - 1;

#[derive(Debug, Default)]
pub struct Memory {
    regions: Vec<Region>,
}

impl Memory {
    pub fn new() -> Memory {
        Memory::default()
    }

    /// Adds a region holding `bytes` and returns its id. Fails only if the region is too large or
    /// the address space (2^32 windows) is exhausted.
    pub fn add(
        &mut self,
        kind: RegionKind,
        bytes: Vec<u8>,
        writable: bool,
    ) -> Result<RegionId, String> {
        self.push(kind, Backing::Owned(bytes), writable)
    }

    /// Adds a region whose bytes are shared with the caller (see [`SharedBytes`]).
    pub fn add_shared(
        &mut self,
        kind: RegionKind,
        bytes: SharedBytes,
        writable: bool,
    ) -> Result<RegionId, String> {
        self.push(kind, Backing::Shared(bytes), writable)
    }

    fn push(
        &mut self,
        kind: RegionKind,
        bytes: Backing,
        writable: bool,
    ) -> Result<RegionId, String> {
        if bytes.len() > MAX_REGION_BYTES {
            return Err(format!(
                "{kind} of {} bytes exceeds the 4 GiB region limit",
                bytes.len()
            ));
        }
        if self.regions.len() >= (u32::MAX - 1) as usize {
            return Err("too many memory regions".into());
        }
        self.regions.push(Region {
            kind,
            writable,
            live: true,
            released: false,
            bytes,
            init: None,
        });
        Ok(RegionId(self.regions.len() - 1))
    }

    /// Ends the program's access to a region for good (a submitted ring buffer record, packet
    /// data that moved): every later access faults with [`FaultReason::Released`], and shared
    /// bytes are let go.
    pub fn release(&mut self, id: RegionId) {
        if let Some(r) = self.regions.get_mut(id.0) {
            r.live = false;
            r.released = true;
            r.bytes = Backing::Owned(Vec::new());
        }
    }

    /// The region whose window holds `addr`, and the offset in it (whether or not in bounds).
    pub fn region_of(&self, addr: u64) -> Option<(RegionId, u64)> {
        let index = ((addr >> 32) as usize).checked_sub(1)?;
        (index < self.regions.len()).then_some((RegionId(index), addr & 0xffff_ffff))
    }

    /// Address of the first byte of a region.
    pub fn base(&self, id: RegionId) -> u64 {
        (id.0 as u64 + 1) << 32
    }

    /// The bytes of a region (a copy when they are shared).
    pub fn bytes(&self, id: RegionId) -> Cow<'_, [u8]> {
        match &self.regions[id.0].bytes {
            Backing::Owned(v) => Cow::Borrowed(v),
            Backing::Shared(s) => Cow::Owned(s.to_vec()),
        }
    }

    pub fn kind(&self, id: RegionId) -> &RegionKind {
        &self.regions[id.0].kind
    }

    /// Marks a region live (zeroing it) or dead; used for call-frame stacks.
    pub fn set_live(&mut self, id: RegionId, live: bool) {
        let r = &mut self.regions[id.0];
        if r.released {
            return;
        }
        if live && !r.live {
            match &mut r.bytes {
                Backing::Owned(v) => v.fill(0),
                Backing::Shared(s) => s.fill(0),
            }
            if let Some(init) = &mut r.init {
                init.fill(false);
            }
        }
        r.live = live;
    }

    /// Starts tracking which bytes of a region are written (reset whenever it becomes live).
    /// Reads are not refused: the interpreter runs what the hardware runs, and a watch
    /// ([`super::WatchCond::StackUninit`]) asks [`Memory::first_uninit`].
    pub fn track_init(&mut self, id: RegionId) {
        let r = &mut self.regions[id.0];
        r.init = Some(vec![false; r.bytes.len()]);
    }

    /// The address of the first byte of `addr .. addr + size` in a tracked region that was
    /// never written, if any (`None` too for untracked regions and bad addresses).
    pub fn first_uninit(&self, addr: u64, size: usize) -> Option<u64> {
        let (i, off) = self.locate(addr, size, false).ok()?;
        let init = self.regions[i].init.as_ref()?;
        let at = init.get(off..off + size)?.iter().position(|&b| !b)?;
        Some(addr + at as u64)
    }

    /// The region and in-region offset of an access of `size` bytes at `addr`.
    fn locate(&self, addr: u64, size: usize, write: bool) -> Result<(usize, usize), Fault> {
        let fault = |reason| Fault {
            addr,
            size,
            write,
            reason,
        };
        let window = (addr >> 32) as usize;
        let Some(region) = window.checked_sub(1).and_then(|i| self.regions.get(i)) else {
            return Err(fault(FaultReason::Unmapped));
        };
        if region.released {
            return Err(fault(FaultReason::Released {
                region: region.kind.clone(),
            }));
        }
        let offset = (addr & 0xffff_ffff) as usize;
        if offset
            .checked_add(size)
            .is_none_or(|end| end > region.bytes.len())
        {
            let start = (window as u64) << 32;
            let (kind, len) = (region.kind.clone(), region.bytes.len());
            return Err(fault(FaultReason::OutOfBounds {
                region: kind,
                start,
                len,
            }));
        }
        if !region.live {
            return Err(fault(FaultReason::DeadFrame {
                region: region.kind.clone(),
            }));
        }
        if write && !region.writable {
            return Err(fault(FaultReason::ReadOnly {
                region: region.kind.clone(),
            }));
        }
        Ok((window - 1, offset))
    }

    /// Checks that `size` bytes at `addr` may be read (or written), without touching them: lets a
    /// helper refuse a hostile size before allocating anything.
    pub fn check(&self, addr: u64, size: usize, write: bool) -> Result<(), Fault> {
        self.locate(addr, size, write).map(|_| ())
    }

    /// Reads `size` bytes at `addr` (a copy when the region is shared).
    pub fn read(&self, addr: u64, size: usize) -> Result<Cow<'_, [u8]>, Fault> {
        let (i, off) = self.locate(addr, size, false)?;
        Ok(match &self.regions[i].bytes {
            Backing::Owned(v) => Cow::Borrowed(&v[off..off + size]),
            Backing::Shared(s) => Cow::Owned(s.get(off, size).unwrap_or_default()),
        })
    }

    /// Writes `data` at `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        let (i, off) = self.locate(addr, data.len(), true)?;
        if let Some(init) = &mut self.regions[i].init {
            init[off..off + data.len()].fill(true);
        }
        match &mut self.regions[i].bytes {
            Backing::Owned(v) => v[off..off + data.len()].copy_from_slice(data),
            Backing::Shared(s) => {
                s.set(off, data);
            }
        }
        Ok(())
    }

    /// Reads a little-endian value of 1, 2, 4 or 8 bytes, zero-extended.
    pub fn load(&self, addr: u64, size: usize) -> Result<u64, Fault> {
        let bytes = self.read(addr, size)?;
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(&bytes);
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `size` bytes of `value`, little-endian.
    pub fn store(&mut self, addr: u64, size: usize, value: u64) -> Result<(), Fault> {
        self.write(addr, &value.to_le_bytes()[..size])
    }

    /// Reads a NUL-terminated string starting at `addr`, up to `max` bytes; the string must end
    /// inside its region.
    pub fn c_str(&self, addr: u64, max: usize) -> Result<Cow<'_, [u8]>, Fault> {
        let (i, off) = self.locate(addr, 1, false)?;
        let bytes: Cow<'_, [u8]> = match &self.regions[i].bytes {
            Backing::Owned(v) => Cow::Borrowed(&v[off..]),
            Backing::Shared(s) => Cow::Owned(s.get(off, s.len() - off).unwrap_or_default()),
        };
        match bytes.iter().take(max).position(|&b| b == 0) {
            Some(n) => Ok(match bytes {
                Cow::Borrowed(b) => Cow::Borrowed(&b[..n]),
                Cow::Owned(mut v) => {
                    v.truncate(n);
                    Cow::Owned(v)
                }
            }),
            None => Err(Fault {
                addr,
                size: bytes.len().min(max),
                write: false,
                reason: FaultReason::Unterminated { max },
            }),
        }
    }
}
