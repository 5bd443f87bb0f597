//! The runtime bound to the JIT: host addresses for runtime buffers, the [`Host`] adapter, and
//! [`run`], which runs an image and its tail calls on one input, like [`super::vm::run`] does in
//! the interpreter.
//!
//! Address mapping: a buffer the runtime hands out is used at its host address
//! ([`SharedBytes::as_ptr`]), so the native code reaches it with plain `mov`s. [`HostSpace`]
//! keeps a registry of what was handed out (and the stack), so helpers still check every pointer a
//! program passes them: a pointer into no registered buffer is a fault, exactly as in the
//! interpreter. Empty buffers (map handles) get distinct non-canonical addresses, which no load
//! can dereference.
//!
//! Context pointer fields: the image lists the fields it rewrites; after setup and after every
//! helper (which may move the packet) their values are recomputed with [`Run::ctx_load`], the
//! same function that answers the interpreter.

use super::context::RunInput;
use super::vm::Outcome;
use super::{AddressSpace, Run, Runtime};
use crate::interp::{Fault, FaultReason, HelperError, HelperReturn, RegionKind, SharedBytes, Trap};
use crate::jit::exec::{Bindings, Ending, Host, execute};
use crate::jit::image::CtxField;
use crate::jit::load::Loaded;
use std::cell::Cell;
use std::collections::BTreeMap;

/// Start of the kernel's half of the address space on x86-64.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;
/// Where the fake addresses of empty buffers start (non-canonical: never dereferenceable).
const FAKE_BASE: u64 = 0x0001_0000_0000_0000;

struct HostRegion {
    buf: SharedBytes,
    kind: RegionKind,
    writable: bool,
}

/// Host memory as an [`AddressSpace`]: the buffers handed to the program, by host address.
#[derive(Default)]
pub struct HostSpace {
    regions: BTreeMap<u64, HostRegion>,
    /// Fake address of each empty buffer handed out, by [`SharedBytes::key`].
    fakes_by_key: BTreeMap<(usize, usize, usize), u64>,
    fakes: u64,
}

impl HostSpace {
    pub fn new() -> HostSpace {
        HostSpace::default()
    }

    /// The region holding `addr..addr + len`, and the offset of `addr` in it.
    fn locate(&self, addr: u64, len: usize, write: bool) -> Result<(&HostRegion, usize), Fault> {
        let fault = |reason| Fault {
            addr,
            size: len,
            write,
            reason,
        };
        let (&start, r) = self
            .regions
            .range(..=addr)
            .next_back()
            .ok_or_else(|| fault(FaultReason::Unmapped))?;
        let off = addr - start;
        let end = off.checked_add(len as u64);
        if off > r.buf.len() as u64 || (off == r.buf.len() as u64 && len > 0) {
            return Err(fault(FaultReason::Unmapped));
        }
        if end.is_none_or(|e| e > r.buf.len() as u64) {
            return Err(fault(FaultReason::OutOfBounds {
                region: r.kind.clone(),
                start,
                len: r.buf.len(),
            }));
        }
        if write && !r.writable {
            return Err(fault(FaultReason::ReadOnly {
                region: r.kind.clone(),
            }));
        }
        Ok((r, off as usize))
    }
}

impl AddressSpace for HostSpace {
    fn check(&self, addr: u64, len: usize, write: bool) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        self.locate(addr, len, write).map(|_| ())
    }

    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, Fault> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let (r, off) = self.locate(addr, len, false)?;
        Ok(r.buf.get(off, len).unwrap_or_default())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        if data.is_empty() {
            return Ok(());
        }
        let (r, off) = self.locate(addr, data.len(), true)?;
        r.buf.set(off, data);
        Ok(())
    }

    fn c_str(&self, addr: u64, max: usize) -> Result<Vec<u8>, Fault> {
        let (r, off) = self.locate(addr, 1, false)?;
        let bytes = r.buf.get(off, r.buf.len() - off).unwrap_or_default();
        match bytes.iter().take(max).position(|&b| b == 0) {
            Some(n) => Ok(bytes[..n].to_vec()),
            None => Err(Fault {
                addr,
                size: bytes.len().min(max),
                write: false,
                reason: FaultReason::Unterminated { max },
            }),
        }
    }

    /// A non-empty buffer is used at its host address, so only empty ones (fake addresses) need
    /// the `fakes_by_key` table; for the others, the region at that address tells whether it is
    /// already handed out. (A run exposes a few buffers; the table lookups and inserts were a
    /// tenth of a small program's run.)
    fn expose(
        &mut self,
        buf: &SharedBytes,
        kind: RegionKind,
        writable: bool,
    ) -> Result<u64, HelperError> {
        if buf.is_empty() {
            if let Some(&addr) = self.fakes_by_key.get(&buf.key()) {
                return Ok(addr);
            }
            self.fakes += 1;
            let addr = FAKE_BASE + 16 * self.fakes;
            self.fakes_by_key.insert(buf.key(), addr);
            return Ok(addr);
        }
        let addr = buf.as_ptr() as u64;
        if self
            .regions
            .get(&addr)
            .is_none_or(|r| r.buf.key() != buf.key())
        {
            self.regions.insert(
                addr,
                HostRegion {
                    buf: buf.clone(),
                    kind,
                    writable,
                },
            );
        }
        Ok(addr)
    }

    fn retire(&mut self, buf: &SharedBytes) {
        if buf.is_empty() {
            self.fakes_by_key.remove(&buf.key());
            return;
        }
        let addr = buf.as_ptr() as u64;
        if self
            .regions
            .get(&addr)
            .is_some_and(|r| r.buf.key() == buf.key())
        {
            self.regions.remove(&addr);
        }
    }
}

/// The BPF stack of a JIT run (all frames), registered in a [`HostSpace`] so helpers can read
/// and write stack buffers.
pub struct Stack {
    buf: SharedBytes,
}

impl Stack {
    pub fn new(size: usize, space: &mut HostSpace) -> Result<Stack, HelperError> {
        let buf = SharedBytes::zeroed(size);
        space.expose(&buf, RegionKind::Stack { frame: 0 }, true)?;
        Ok(Stack { buf })
    }

    /// r10 of the entry frame.
    pub fn top(&self) -> u64 {
        self.buf.as_ptr() as u64 + self.buf.len() as u64
    }
}

/// [`Host`] backed by a [`Runtime`] for one run.
struct NativeHost<'r, 'p> {
    rt: &'r mut Runtime,
    run: Run,
    space: HostSpace,
    /// The ctx pointer fields of the image running.
    fields: &'p [CtxField],
}

impl Host for NativeHost<'_, '_> {
    fn call(&mut self, id: i64, args: [u64; 5]) -> Result<HelperReturn, HelperError> {
        let id = i32::try_from(id).map_err(|_| HelperError::Unknown)?;
        self.rt.call(&mut self.run, id, args, &mut self.space)
    }

    fn resume(&mut self, r0: u64) -> Result<HelperReturn, HelperError> {
        self.rt.resume(&mut self.run, r0, &mut self.space)
    }

    fn refresh_ctx(&mut self, values: &[Cell<u64>]) {
        let ctx = self.run.ctx_addr();
        for (cell, f) in values.iter().zip(self.fields) {
            let v = self
                .run
                .ctx_load(ctx + u64::from(f.offset), f.size as usize)
                .unwrap_or(0);
            cell.set(v);
        }
    }

    /// `PROBE_MEM` loads, as the interpreter adapter answers them.
    fn probe_load(&mut self, addr: u64, size: usize) -> u64 {
        if !self.run.program_type.has_btf_args() || addr < KERNEL_HALF {
            return 0;
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
        u64::from_le_bytes(buf)
    }

    /// From `data` of the current packet, as the interpreter adapter reads it.
    fn legacy_load(&mut self, offset: i64, size: usize) -> Option<u64> {
        self.run.packet.as_ref()?.legacy_load(offset, size)
    }
}

/// Binds an image's map slots to the runtime's maps (checking that each is the map the image
/// was compiled against).
fn bind(
    image: &crate::jit::Image,
    rt: &Runtime,
    run: &mut Run,
    space: &mut HostSpace,
) -> Result<Bindings, HelperError> {
    let mut b = Bindings::default();
    for slot in &image.map_slots {
        let index = slot.index as usize;
        let m = rt
            .maps
            .get(index)
            .ok_or_else(|| HelperError::Failed(format!("no map with index {index}")))?;
        let i = &m.info;
        if (i.map_type, i.key_size, i.value_size, i.max_entries)
            != (
                slot.map_type,
                slot.key_size,
                slot.value_size,
                slot.max_entries,
            )
        {
            return Err(HelperError::Failed(format!(
                "map {index} ({}) is not the map the image was compiled for ({})",
                i.name, slot.name
            )));
        }
        b.maps.push(run.map_handle(rt, index, space)?);
        let value = if slot.value_ref {
            let v = m
                .array_value(0)
                .ok_or_else(|| HelperError::Failed(format!("lddw of a value of map {}", i.name)))?;
            let kind = RegionKind::MapValue {
                map: i.name.clone(),
            };
            space.expose(&v, kind, !i.read_only)?
        } else {
            0
        };
        b.map_values.push(value);
    }
    Ok(b)
}

/// Runs `programs[entry]` on `input` with r1 = the context, following tail calls (a prog_array
/// value is an index into `programs`; `None` marks an index that is no program), like
/// [`super::vm::run`]. `Outcome::steps` is 0: native
/// code does not count.
///
/// # Safety
/// Every image in `programs` must come from [`crate::jit::compile`] of a program the verifier
/// accepted for `input.program_type`, with the map table `rt` was built from (see
/// [`crate::jit::exec::execute`]).
pub unsafe fn run(
    rt: &mut Runtime,
    programs: &[Option<&Loaded>],
    entry: usize,
    input: &RunInput,
) -> Result<Outcome, Trap> {
    let setup = |what: String| Trap::Unsupported { pc: 0, what };
    let mut space = HostSpace::new();
    let run = Run::new(input, &mut space).map_err(|e| setup(e.to_string()))?;
    let mut current = programs
        .get(entry)
        .copied()
        .flatten()
        .ok_or_else(|| setup(format!("no program {entry}")))?;
    let stack_size = programs
        .iter()
        .flatten()
        .map(|p| p.image().stack_size as usize)
        .max()
        .unwrap_or(0);
    let stack = Stack::new(stack_size, &mut space).map_err(|e| setup(e.to_string()))?;
    let ctx = run.ctx_addr();
    let mut host = NativeHost {
        rt,
        run,
        space,
        fields: &[],
    };
    let result = loop {
        let image = current.image();
        let bindings = match bind(image, host.rt, &mut host.run, &mut host.space) {
            Ok(b) => b,
            Err(e) => break Err(setup(e.to_string())),
        };
        host.fields = &image.ctx_fields;
        let values = vec![Cell::new(0u64); image.ctx_fields.len()];
        if image.ctx_fields.is_empty() || image.ctx_size as usize <= input.ctx.len() {
            // SAFETY: the caller vouches for the images; the stack is ours for the run and
            // `MAX_FRAMES * 512` bytes (stack_size) long; the context is `input.ctx.len()`
            // bytes, at least the image's `ctx_size`.
            let ending = unsafe {
                execute(
                    current,
                    ctx,
                    [0; 4],
                    stack.top(),
                    &bindings,
                    &values,
                    &mut host,
                )
            };
            match ending {
                Ok(Ending::Exit(r0)) => break Ok(r0),
                Ok(Ending::TailCall(t)) => {
                    match usize::try_from(t)
                        .ok()
                        .and_then(|t| programs.get(t).copied().flatten())
                    {
                        Some(p) => current = p,
                        None => break Err(setup(format!("tail call to unknown program {t}"))),
                    }
                }
                Err(trap) => break Err(trap),
            }
        } else {
            break Err(setup(format!(
                "the context has {} bytes; the image reads {}",
                input.ctx.len(),
                image.ctx_size
            )));
        }
    };
    let NativeHost { rt, run, .. } = host;
    rt.end_run();
    let r0 = result?;
    Ok(Outcome {
        r0,
        steps: 0,
        tail_calls: run.tail_calls,
        locks_held: run.locks_held,
        records_held: run.records.len(),
        ctx: run.ctx_bytes(),
        packet: run.packet.map(|p| p.bytes()),
    })
}
