//! What one run of a program sees: its context, its packet, and the addresses handed out.
//!
//! **Context pointer fields.** Linux programs read `xdp_md.data`, `__sk_buff.data_end`,
//! `__sk_buff.sk`, ... as 32-bit (or 64-bit) loads of uapi structures; the kernel rewrites those
//! loads into loads of its own structures, which hold real 64-bit pointers. Vouch does the same
//! without rewriting code: the context layout ([`crate::platform::context`]) says which fields
//! hold pointers; [`pointer_fields`] turns that into a table, and a load whose address is the
//! start of such a field in the context is answered with the pointer ([`Run::ctx_load`]), never
//! from memory. The interpreter consults it through `Helpers::load_override`; a JIT will use the
//! same table at compile time (the verifier knows which loads read the context) to emit a load of
//! the runtime's 64-bit value instead.
//!
//! **Packet.** Packet data lives in one buffer with headroom and tailroom (XDP's 256-byte
//! headroom), and the program's region is exactly `data_meta..data_end`: a byte before the
//! metadata or past the end faults. Helpers that may move the packet (Linux's
//! `bpf_helper_changes_pkt_data`) give the region a new address and retire the old one, so a
//! program that keeps using a stale packet pointer faults, as the verifier promises it never does.

use super::{AddressSpace, Rng, Runtime};
use crate::interp::{HelperError, RegionKind, SharedBytes};
use crate::platform::{ContextLayout, FieldKind, ProgramType};
use std::collections::HashMap;

/// Bytes before the packet data that `xdp_adjust_head`/`xdp_adjust_meta` may claim.
pub const HEADROOM: usize = 256;
/// Bytes after the packet data that `xdp_adjust_tail`/`skb_change_tail` may claim.
pub const TAILROOM: usize = 512;
/// Smallest packet the adjust helpers leave (an Ethernet header).
pub const ETH_HLEN: usize = 14;
/// Most metadata `xdp_adjust_meta` allows.
pub const MAX_META: usize = 32;
/// Size of `struct bpf_flow_keys`.
pub const FLOW_KEYS_SIZE: usize = 56;
/// Context size for program types without a known layout.
const DEFAULT_CTX_SIZE: usize = 256;

/// A context field whose loads yield a pointer (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointerField {
    pub offset: u32,
    pub size: u32,
    pub kind: FieldKind,
}

/// The readable pointer fields of a context layout.
pub fn pointer_fields(layout: &ContextLayout) -> Vec<PointerField> {
    layout
        .fields
        .iter()
        .filter(|f| f.read && f.kind != FieldKind::Scalar)
        .flat_map(|f| {
            (0..f.count).map(move |i| PointerField {
                offset: f.offset + i * f.size,
                size: f.size,
                kind: f.kind,
            })
        })
        .collect()
}

/// Packet data in a buffer with head- and tailroom; offsets are into the buffer.
#[derive(Debug)]
pub struct Packet {
    buf: SharedBytes,
    meta: usize,
    data: usize,
    end: usize,
    writable: bool,
    /// The window the program currently sees (`meta..end`) and its address.
    view: Option<(SharedBytes, u64)>,
}

impl Packet {
    /// A packet holding `data`; `writable` when the program type may store to it.
    pub fn new(data: &[u8], writable: bool) -> Packet {
        let buf = SharedBytes::zeroed_with(HEADROOM + data.len() + TAILROOM, HEADROOM, data);
        Packet {
            buf,
            meta: HEADROOM,
            data: HEADROOM,
            end: HEADROOM + data.len(),
            writable,
            view: None,
        }
    }

    /// Bytes `data..data_end`.
    pub fn bytes(&self) -> Vec<u8> {
        self.buf.get(self.data, self.len()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.end - self.data
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn base(&self) -> u64 {
        self.view.as_ref().map_or(0, |(_, a)| *a)
    }

    pub fn meta_addr(&self) -> u64 {
        self.base()
    }

    pub fn data_addr(&self) -> u64 {
        self.base() + (self.data - self.meta) as u64
    }

    pub fn end_addr(&self) -> u64 {
        self.base() + (self.end - self.meta) as u64
    }

    /// Gives the program a (new) address for `meta..end`, retiring the previous one.
    pub fn expose(&mut self, space: &mut dyn AddressSpace) -> Result<(), HelperError> {
        if let Some((old, _)) = self.view.take() {
            space.retire(&old);
        }
        let view = self
            .buf
            .window(self.meta, self.end - self.meta)
            .ok_or_else(|| HelperError::Failed("packet window out of its buffer".into()))?;
        let addr = space.expose(&view, RegionKind::Packet, self.writable)?;
        self.view = Some((view, addr));
        Ok(())
    }

    /// `len` bytes at `offset` from `data`, if inside the packet.
    pub fn read(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let end = offset.checked_add(len)?;
        if end > self.len() as u64 {
            return None;
        }
        self.buf.get(self.data + offset as usize, len as usize)
    }

    /// A legacy packet load (`ld_abs`/`ld_ind`): `size` bytes at `offset` from `data`,
    /// big-endian, or `None` out of bounds. Linux reads from `skb->data`, not from the metadata
    /// in front of it, and the current packet (a helper may have moved it).
    pub fn legacy_load(&self, offset: i64, size: usize) -> Option<u64> {
        let bytes = self.read(u64::try_from(offset).ok()?, size as u64)?;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Writes `bytes` at `offset` from `data`; `false` if they do not fit in the packet.
    pub fn write(&self, offset: u64, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len() as u64) else {
            return false;
        };
        end <= self.len() as u64 && self.buf.set(self.data + offset as usize, bytes)
    }

    /// `bpf_xdp_adjust_head`: moves `data` by `delta` (metadata moves with it).
    pub fn adjust_head(&mut self, delta: i64) -> bool {
        let metalen = self.data - self.meta;
        let Some(data) = offset_by(self.data, delta) else {
            return false;
        };
        if data < metalen || data + ETH_HLEN > self.end {
            return false;
        }
        if metalen > 0 {
            let meta = self.buf.get(self.meta, metalen).unwrap_or_default();
            self.buf.set(data - metalen, &meta);
        }
        self.data = data;
        self.meta = data - metalen;
        true
    }

    /// `bpf_xdp_adjust_meta`: moves `data_meta` by `delta`.
    pub fn adjust_meta(&mut self, delta: i64) -> bool {
        match offset_by(self.meta, delta) {
            Some(meta) if meta <= self.data && self.data - meta <= MAX_META => {
                if !(self.data - meta).is_multiple_of(4) {
                    return false;
                }
                self.meta = meta;
                true
            }
            _ => false,
        }
    }

    /// Sets the packet length (`xdp_adjust_tail`, `skb_change_tail`); new bytes are zero.
    pub fn set_len(&mut self, len: u64) -> bool {
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| self.data.checked_add(l))
        else {
            return false;
        };
        if end > self.buf.len() || end < self.data + ETH_HLEN.min(self.len()) {
            return false;
        }
        if end > self.end
            && let Some(w) = self.buf.window(self.end, end - self.end)
        {
            w.fill(0);
        }
        self.end = end;
        true
    }
}

fn offset_by(base: usize, delta: i64) -> Option<usize> {
    usize::try_from(i64::try_from(base).ok()?.checked_add(delta)?).ok()
}

/// One execution: context, packet, and the addresses handed to the program.
#[derive(Debug)]
pub struct Run {
    pub program_type: ProgramType,
    ctx: SharedBytes,
    ctx_addr: u64,
    fields: Vec<PointerField>,
    pub packet: Option<Packet>,
    flow_keys: u64,
    /// The socket `ctx->sk` points to (a kernel address), or 0.
    pub socket: u64,
    /// What never-NULL kernel pointer fields hold.
    kernel_object: u64,
    /// See [`RunInput::args_from_ctx`].
    args_from_ctx: bool,
    /// Map handles given out: address → map index, and back.
    handles: HashMap<u64, usize>,
    handle_of: HashMap<usize, (SharedBytes, u64)>,
    /// Ring buffer records reserved and not yet submitted: address → (map, record).
    pub(super) records: HashMap<u64, (usize, SharedBytes)>,
    /// Tail calls taken so far (Linux allows 33).
    pub tail_calls: u32,
    /// `bpf_spin_lock` calls not matched by an unlock yet.
    pub locks_held: u32,
    /// Helpers running their callback, innermost last (see [`super::callbacks`]).
    pub(super) callbacks: Vec<super::callbacks::CallbackLoop>,
    /// `timer_set_callback`: timer address → callback (recorded; timers never fire here).
    pub timer_callbacks: HashMap<u64, u64>,
}

/// What a run starts from.
#[derive(Clone, Debug)]
pub struct RunInput {
    pub program_type: ProgramType,
    /// The context's bytes; pointer fields are answered from the table whatever they hold.
    pub ctx: Vec<u8>,
    /// Packet data, for program types with a packet.
    pub packet: Option<Vec<u8>>,
    /// Metadata bytes in front of the packet (XDP, tc).
    pub meta_len: usize,
    /// What a `SocketOrNull` field (`__sk_buff.sk`) holds (0 for NULL).
    pub socket: u64,
    /// What a never-NULL `Socket` field (`bpf_sock_addr.sk`, ...) holds: a kernel address.
    pub kernel_object: u64,
    /// A tracing program's arguments (`BtfArg` fields) are the context's bytes, not the kernel
    /// object's address: a replayed counterexample chose them, as numbers.
    pub args_from_ctx: bool,
}

impl RunInput {
    /// A random input: `ctx` bytes of the type's layout (with `__sk_buff.len` set to the packet
    /// length), a packet of 0 to `max_packet` random bytes for types that have one, and a socket.
    pub fn random(program_type: ProgramType, rng: &mut Rng, max_packet: usize) -> RunInput {
        let layout = crate::platform::layout(program_type);
        let size = layout.map_or(DEFAULT_CTX_SIZE, |l| l.size as usize);
        let ctx = rng.bytes(size);
        let has_packet = layout.is_some_and(|l| {
            pointer_fields(l)
                .iter()
                .any(|f| f.kind == FieldKind::PacketStart)
        }) || program_type == ProgramType::SocketFilter;
        let packet = has_packet.then(|| {
            let len = rng.below(max_packet as u64 + 1) as usize;
            rng.bytes(len)
        });
        let meta_len = if rng.below(4) == 0 {
            4 * rng.below(9) as usize
        } else {
            0
        };
        let input = RunInput {
            program_type,
            ctx,
            packet: None,
            meta_len,
            socket: 0,
            kernel_object: super::KernelMemory::default().base,
            args_from_ctx: false,
        };
        match packet {
            Some(p) => input.with_packet(p),
            None => input,
        }
    }

    /// This input with `packet` as its packet data (`__sk_buff.len` updated to match).
    pub fn with_packet(mut self, packet: Vec<u8>) -> RunInput {
        let skb = crate::platform::layout(self.program_type)
            .is_some_and(|l| l.name == "struct __sk_buff");
        if skb && let Some(len) = self.ctx.get_mut(..4) {
            len.copy_from_slice(&(packet.len() as u32).to_le_bytes());
        }
        self.packet = Some(packet);
        self
    }
}

impl Run {
    /// Sets up a run: exposes the context, the packet and (flow dissector) the flow keys.
    pub fn new(input: &RunInput, space: &mut dyn AddressSpace) -> Result<Run, HelperError> {
        let layout = crate::platform::layout(input.program_type);
        let fields = layout.map(pointer_fields).unwrap_or_default();
        let ctx = SharedBytes::from_slice(&input.ctx);
        let ctx_addr = space.expose(&ctx, RegionKind::Context, true)?;
        let packet = match &input.packet {
            Some(bytes) => {
                let writable = crate::platform::direct_packet_write(input.program_type);
                let mut p = Packet::new(bytes, writable);
                p.adjust_meta(-(input.meta_len.min(MAX_META) as i64 & !3));
                p.expose(space)?;
                Some(p)
            }
            None => None,
        };
        let flow_keys = if fields.iter().any(|f| f.kind == FieldKind::FlowKeys) {
            let keys = SharedBytes::zeroed(FLOW_KEYS_SIZE);
            space.expose(
                &keys,
                RegionKind::HelperBuffer {
                    helper: "flow keys".into(),
                },
                true,
            )?
        } else {
            0
        };
        Ok(Run {
            program_type: input.program_type,
            ctx,
            ctx_addr,
            fields,
            packet,
            flow_keys,
            socket: input.socket,
            kernel_object: input.kernel_object,
            args_from_ctx: input.args_from_ctx,
            handles: HashMap::new(),
            handle_of: HashMap::new(),
            records: HashMap::new(),
            tail_calls: 0,
            locks_held: 0,
            callbacks: Vec::new(),
            timer_callbacks: HashMap::new(),
        })
    }

    /// Address of the context (r1 at entry).
    pub fn ctx_addr(&self) -> u64 {
        self.ctx_addr
    }

    /// The context's current bytes (fields the program wrote included).
    pub fn ctx_bytes(&self) -> Vec<u8> {
        self.ctx.to_vec()
    }

    /// The value of a load of `size` bytes at `addr` if it reads a pointer field of the context
    /// (see the module comment), else `None`.
    pub fn ctx_load(&self, addr: u64, size: usize) -> Option<u64> {
        let offset = addr.checked_sub(self.ctx_addr)?;
        if offset >= self.ctx.len() as u64 {
            return None;
        }
        let field = self
            .fields
            .iter()
            .find(|f| u64::from(f.offset) == offset && size <= f.size as usize)?;
        if field.kind == FieldKind::BtfArg && self.args_from_ctx {
            return None;
        }
        let packet = self.packet.as_ref();
        Some(match field.kind {
            FieldKind::PacketStart => packet.map_or(0, Packet::data_addr),
            FieldKind::PacketEnd => packet.map_or(0, Packet::end_addr),
            FieldKind::PacketMeta => packet.map_or(0, Packet::meta_addr),
            FieldKind::FlowKeys => self.flow_keys,
            FieldKind::Socket | FieldKind::BtfArg | FieldKind::BtfId(_) => self.kernel_object,
            FieldKind::SocketOrNull | FieldKind::BtfIdOrNull(_) | FieldKind::Scalar => self.socket,
        })
    }

    /// The address standing for map `map` (what `lddw src=1` yields): an empty region, so the
    /// program cannot read it, that helpers recognise.
    pub fn map_handle(
        &mut self,
        rt: &Runtime,
        map: usize,
        space: &mut dyn AddressSpace,
    ) -> Result<u64, HelperError> {
        if let Some((_, addr)) = self.handle_of.get(&map) {
            return Ok(*addr);
        }
        let m = rt
            .maps
            .get(map)
            .ok_or_else(|| HelperError::Failed(format!("no map with index {map}")))?;
        let handle = SharedBytes::zeroed(0);
        let kind = RegionKind::MapValue {
            map: format!("{} (the map itself)", m.info.name),
        };
        let addr = space.expose(&handle, kind, false)?;
        self.handles.insert(addr, map);
        self.handle_of.insert(map, (handle, addr));
        Ok(addr)
    }

    /// The map a handle stands for.
    pub fn map_of(&self, addr: u64) -> Option<usize> {
        self.handles.get(&addr).copied()
    }

    /// Gives the packet a new address after a helper that may move it.
    pub fn move_packet(&mut self, space: &mut dyn AddressSpace) -> Result<(), HelperError> {
        match &mut self.packet {
            Some(p) => p.expose(space),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
