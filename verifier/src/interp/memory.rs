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

use std::fmt;

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
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Input => write!(f, "input"),
            RegionKind::Stack { frame } => write!(f, "stack of frame {frame}"),
            RegionKind::MapValue { map } => write!(f, "value of map {map}"),
            RegionKind::HelperBuffer { helper } => write!(f, "buffer from helper {helper}"),
        }
    }
}

/// Identifies a region of a [`Memory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionId(usize);

#[derive(Debug)]
struct Region {
    kind: RegionKind,
    writable: bool,
    live: bool,
    bytes: Vec<u8>,
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
            bytes,
        });
        Ok(RegionId(self.regions.len() - 1))
    }

    /// Address of the first byte of a region.
    pub fn base(&self, id: RegionId) -> u64 {
        (id.0 as u64 + 1) << 32
    }

    pub fn bytes(&self, id: RegionId) -> &[u8] {
        &self.regions[id.0].bytes
    }

    pub fn bytes_mut(&mut self, id: RegionId) -> &mut [u8] {
        &mut self.regions[id.0].bytes
    }

    pub fn kind(&self, id: RegionId) -> &RegionKind {
        &self.regions[id.0].kind
    }

    /// Marks a region live (zeroing it) or dead; used for call-frame stacks.
    pub fn set_live(&mut self, id: RegionId, live: bool) {
        let r = &mut self.regions[id.0];
        if live && !r.live {
            r.bytes.fill(0);
        }
        r.live = live;
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

    /// Reads `size` bytes at `addr`.
    pub fn read(&self, addr: u64, size: usize) -> Result<&[u8], Fault> {
        let (i, off) = self.locate(addr, size, false)?;
        Ok(&self.regions[i].bytes[off..off + size])
    }

    /// Mutable access to `size` bytes at `addr`.
    pub fn write(&mut self, addr: u64, size: usize) -> Result<&mut [u8], Fault> {
        let (i, off) = self.locate(addr, size, true)?;
        Ok(&mut self.regions[i].bytes[off..off + size])
    }

    /// Reads a little-endian value of 1, 2, 4 or 8 bytes, zero-extended.
    pub fn load(&self, addr: u64, size: usize) -> Result<u64, Fault> {
        let bytes = self.read(addr, size)?;
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `size` bytes of `value`, little-endian.
    pub fn store(&mut self, addr: u64, size: usize, value: u64) -> Result<(), Fault> {
        let dst = self.write(addr, size)?;
        dst.copy_from_slice(&value.to_le_bytes()[..size]);
        Ok(())
    }

    /// Reads a NUL-terminated string starting at `addr`, up to `max` bytes; the string must end
    /// inside its region.
    pub fn c_str(&self, addr: u64, max: usize) -> Result<&[u8], Fault> {
        let (i, off) = self.locate(addr, 1, false)?;
        let bytes = &self.regions[i].bytes[off..];
        match bytes.iter().take(max).position(|&b| b == 0) {
            Some(n) => Ok(&bytes[..n]),
            None => Err(Fault {
                addr,
                size: bytes.len().min(max),
                write: false,
                reason: FaultReason::Unterminated { max },
            }),
        }
    }
}
