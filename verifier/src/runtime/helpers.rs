//! The Linux helpers, by id ([`crate::platform::helper_ids`]), over an [`AddressSpace`].
//!
//! Arguments are hostile: a pointer is only used through the address space (which checks it),
//! a size is checked with [`AddressSpace::check`] before anything of that size is allocated, a
//! map argument must be a handle this run gave out. Results follow Linux: negative errno values
//! for failures the program is expected to handle (full map, missing key, packet too short).
//!
//! Helpers that may move packet data (the prototype's `changes_packet_data`) give the packet a
//! new address after they ran, whatever they did, so stale packet pointers fault.

use super::maps::{MapError, types};
use super::{AddressSpace, Record, Run, Runtime, UnknownReads, printf};
use crate::interp::{HelperError, HelperReturn, RegionKind, SharedBytes};
use crate::platform::helpers::{Access, Arg, Ret};
use crate::platform::{ProgramType, helper_name, proto_for};

const EINVAL: i64 = 22;
const ENOENT: i64 = 2;
const EFAULT: i64 = 14;
const E2BIG: i64 = 7;
/// Linux's limit on chained tail calls.
pub const MAX_TAIL_CALLS: u32 = 33;
/// Longest format string / `%s` argument `trace_printk` reads.
const MAX_PRINTK: usize = 1024;

fn value(v: i64) -> Result<HelperReturn, HelperError> {
    Ok(HelperReturn::Value(v as u64))
}

/// A size argument as `usize` (sizes past the address space fail their `check` later).
fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn name(id: i32) -> String {
    helper_name(id).map_or_else(|| format!("helper {id}"), str::to_string)
}

impl Runtime {
    /// Calls helper `id` with r1-r5 = `a` for the program of `run`.
    pub fn call(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let ret = self.dispatch(run, id, a, space)?;
        if proto_for(id, run.program_type).is_some_and(|p| p.changes_packet_data) {
            run.move_packet(space)?;
        }
        Ok(ret)
    }

    /// The map argument `addr`: must be a handle of this run.
    pub(super) fn map_arg(&self, run: &Run, id: i32, addr: u64) -> Result<usize, HelperError> {
        run.map_of(addr)
            .filter(|&m| m < self.maps.len())
            .ok_or_else(|| HelperError::Failed(format!("{}: {addr:#x} is not a map", name(id))))
    }

    fn dispatch(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        match id {
            1 => self.map_lookup(run, id, a, space),
            2 => {
                let m = self.map_arg(run, id, a[0])?;
                let info = &self.maps[m].info;
                let key = space.read(a[1], info.key_size as usize)?;
                let val = space.read(a[2], info.value_size as usize)?;
                value(errno(self.maps[m].update(&key, &val, a[3])))
            }
            3 => {
                let m = self.map_arg(run, id, a[0])?;
                let key = space.read(a[1], self.maps[m].info.key_size as usize)?;
                value(errno(self.maps[m].delete(&key)))
            }
            87 => {
                // map_push_elem(map, value, flags)
                let m = self.map_arg(run, id, a[0])?;
                let val = space.read(a[1], self.maps[m].info.value_size as usize)?;
                value(errno(self.maps[m].push(&val, a[2])))
            }
            88 | 89 => {
                // map_pop_elem / map_peek_elem(map, value)
                let m = self.map_arg(run, id, a[0])?;
                let vs = self.maps[m].info.value_size as usize;
                space.check(a[1], vs, true)?;
                match self.maps[m].pop(id == 88) {
                    Ok(v) => {
                        space.write(a[1], &v)?;
                        value(0)
                    }
                    Err(e) => value(e.errno()),
                }
            }
            4 | 112 | 113 => self.probe_read(a[0], a[1], a[2], space),
            45 | 114 | 115 => self.probe_read_str(a[0], a[1], a[2], space),
            5 | 125 | 160 | 208 => value(self.now_ns() as i64),
            118 => value((self.now_ns() / 4_000_000) as i64),
            6 => self.trace_printk(a, space),
            7 => value((self.rng.next_u64() & 0xffff_ffff) as i64),
            8 => value(i64::from(self.config.cpu)),
            42 => value(0),
            12 => self.tail_call(run, id, a),
            14 => value(self.config.pid_tgid as i64),
            15 => value(self.config.uid_gid as i64),
            16 => {
                let n = size(a[1]);
                space.check(a[0], n, true)?;
                let mut buf = vec![0u8; n];
                let comm = self.config.comm;
                let len = comm.iter().position(|&b| b == 0).unwrap_or(16);
                let copy = len.min(n.saturating_sub(1));
                buf[..copy].copy_from_slice(&comm[..copy]);
                space.write(a[0], &buf)?;
                value(0)
            }
            35 | 158 => value(self.kernel_object()),
            80 | 123 => value(self.config.cgroup_id as i64),
            120 => {
                // get_ns_current_pid_tgid(dev, ino, nsdata, size)
                if a[3] != 8 {
                    return value(-EINVAL);
                }
                let pid = (self.config.pid_tgid & 0xffff_ffff) as u32;
                let tgid = (self.config.pid_tgid >> 32) as u32;
                let mut buf = pid.to_le_bytes().to_vec();
                buf.extend_from_slice(&tgid.to_le_bytes());
                space.write(a[2], &buf)?;
                value(0)
            }
            130 => {
                // ringbuf_output(map, data, size, flags)
                let m = self.map_arg(run, id, a[0])?;
                let data = self.read_sized(a[1], a[2], space)?;
                self.sinks.ringbuf.push(Record { map: m, data });
                value(0)
            }
            131 => self.ringbuf_reserve(run, id, a, space),
            132 | 133 => {
                // ringbuf_submit / ringbuf_discard(data, flags)
                let Some((m, rec)) = run.records.remove(&a[0]) else {
                    return Err(HelperError::Failed(format!(
                        "{}: {:#x} is not an outstanding ring buffer record",
                        name(id),
                        a[0]
                    )));
                };
                space.retire(&rec);
                if id == 132 {
                    self.sinks.ringbuf.push(Record {
                        map: m,
                        data: rec.to_vec(),
                    });
                }
                Ok(HelperReturn::Value(0))
            }
            134 => value(0),
            25 | 111 => {
                // perf_event_output / skb_output(ctx, map, flags, data, size)
                let m = self.map_arg(run, id, a[1])?;
                let data = self.read_sized(a[3], a[4], space)?;
                self.sinks.perf.push(Record { map: m, data });
                value(0)
            }
            27 => {
                // get_stackid(ctx, map, flags): an id below max_entries
                let m = self.map_arg(run, id, a[1])?;
                let max = u64::from(self.maps[m].info.max_entries);
                value(self.rng.below(max.max(1)) as i64)
            }
            67 => {
                // get_stack(ctx, buf, size, flags): whole frames of 8 bytes
                let n = size(a[2]);
                space.check(a[1], n, true)?;
                let frames = (self.rng.below(n as u64 / 8 + 1) * 8) as usize;
                let bytes = self.rng.bytes(frames);
                space.write(a[1], &bytes)?;
                value(frames as i64)
            }
            93 | 94 => {
                // spin_lock / spin_unlock(lock): one user at a time, nothing to wait for; the
                // locks held are counted, so a run that ends holding one can be told.
                space.check(a[0], 4, true)?;
                if id == 93 {
                    run.locks_held += 1;
                } else {
                    run.locks_held = run.locks_held.saturating_sub(1);
                }
                value(0)
            }
            _ if super::callbacks::takes_callback(id) => self.callback_helper(run, id, a, space),
            9 | 10 | 11 | 18 | 19 | 26 | 28 | 38 | 39 | 43 | 44 | 50 | 54 | 65 | 68 => {
                self.packet_helper(run, id, a, space)
            }
            13 => value(0),
            23 => value(self.redirect_verdict(run.program_type)),
            51 => {
                // redirect_map(map, key, flags): the low 2 bits of flags are the fallback
                let m = self.map_arg(run, id, a[0])?;
                let key = (a[1] as u32).to_le_bytes();
                if self.maps[m].lookup(&key).is_some()
                    || self.maps[m].info.map_type == types::CPUMAP
                {
                    value(self.redirect_verdict(run.program_type))
                } else {
                    value((a[2] & 3) as i64)
                }
            }
            34 | 46 => value((self.rng.next_u64() & 0xffff_ffff) as i64),
            41 => value(0),
            _ if self.config.fallback_by_prototype => self.fallback(run, id, a, space),
            _ => Err(HelperError::Unsupported(name(id))),
        }
    }

    fn redirect_verdict(&self, t: ProgramType) -> i64 {
        if t == ProgramType::Xdp { 4 } else { 7 }
    }

    /// Reads `size` bytes at `addr` after checking them.
    fn read_sized(
        &self,
        addr: u64,
        size_arg: u64,
        space: &mut dyn AddressSpace,
    ) -> Result<Vec<u8>, HelperError> {
        let n = size(size_arg);
        space.check(addr, n, false)?;
        Ok(space.read(addr, n)?)
    }

    fn map_lookup(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let m = self.map_arg(run, id, a[0])?;
        let key = space.read(a[1], self.maps[m].info.key_size as usize)?;
        let map = &mut self.maps[m];
        let Some(v) = map.lookup(&key) else {
            return value(0);
        };
        if matches!(
            map.info.map_type,
            types::ARRAY_OF_MAPS | types::HASH_OF_MAPS
        ) {
            let inner = v
                .get(0, 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes);
            return match inner.map(|i| i as usize).filter(|&i| i < self.maps.len()) {
                Some(i) => value(run.map_handle(self, i, space)? as i64),
                None => value(0),
            };
        }
        let kind = RegionKind::MapValue {
            map: map.info.name.clone(),
        };
        let writable = !map.info.read_only;
        value(space.expose(&v, kind, writable)? as i64)
    }

    fn tail_call(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
    ) -> Result<HelperReturn, HelperError> {
        let m = self.map_arg(run, id, a[1])?;
        // Linux takes the map for an array of program pointers; any other map would hand it
        // arbitrary data to jump to, so it refuses the program at load time.
        if self.maps[m].info.map_type != super::maps::types::PROG_ARRAY {
            return Err(HelperError::Failed(format!(
                "tail_call through map `{}`, which is not a prog_array",
                self.maps[m].info.name
            )));
        }
        let key = (a[2] as u32).to_le_bytes();
        let target = self.maps[m]
            .lookup(&key)
            .and_then(|v| v.get(0, 4))
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes);
        match target {
            Some(t) if run.tail_calls < MAX_TAIL_CALLS => {
                run.tail_calls += 1;
                // The program ends here, callbacks in progress included.
                run.callbacks.clear();
                Ok(HelperReturn::TailCall(u64::from(t)))
            }
            // Linux: a failed tail call falls through to the next instruction.
            _ => value(-ENOENT),
        }
    }

    fn ringbuf_reserve(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let m = self.map_arg(run, id, a[0])?;
        let capacity = u64::from(self.maps[m].info.max_entries);
        let used: u64 = run
            .records
            .values()
            .filter(|(rm, _)| *rm == m)
            .map(|(_, r)| r.len() as u64 + 8)
            .sum();
        if a[2] != 0 || a[1].saturating_add(8).saturating_add(used) > capacity {
            return value(0);
        }
        let rec = SharedBytes::zeroed(size(a[1]));
        let kind = RegionKind::HelperBuffer {
            helper: "ringbuf_reserve".into(),
        };
        let addr = space.expose(&rec, kind, true)?;
        run.records.insert(addr, (m, rec));
        value(addr as i64)
    }

    /// `probe_read*(dst, size, src)`: from the kernel memory buffer, else per its policy.
    fn probe_read(
        &mut self,
        dst: u64,
        n: u64,
        src: u64,
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let n = size(n);
        space.check(dst, n, true)?;
        let (bytes, ok) = match self.kernel_read(src, n) {
            Some(b) => (b, true),
            None => match self.config.kernel.unknown {
                UnknownReads::Random => (self.rng.bytes(n), true),
                UnknownReads::Fault => (vec![0; n], false),
            },
        };
        space.write(dst, &bytes)?;
        value(if ok { 0 } else { -EFAULT })
    }

    /// `probe_read*_str(dst, size, src)`: at most `size - 1` bytes and a NUL; returns the length
    /// with the NUL.
    fn probe_read_str(
        &mut self,
        dst: u64,
        n: u64,
        src: u64,
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let n = size(n);
        space.check(dst, n, true)?;
        if n == 0 {
            return value(-EINVAL);
        }
        let mut s = match self.kernel_read(src, n) {
            Some(b) => b,
            None if self.config.kernel.unknown == UnknownReads::Random => {
                let len = self.rng.below(n as u64) as usize;
                (0..len).map(|_| b'a' + self.rng.below(26) as u8).collect()
            }
            None => {
                space.write(dst, &[0])?;
                return value(-EFAULT);
            }
        };
        let len = s.iter().position(|&b| b == 0).unwrap_or(s.len()).min(n - 1);
        s.truncate(len);
        s.push(0);
        space.write(dst, &s)?;
        value(s.len() as i64)
    }

    /// `n` bytes of kernel memory at `addr`, if all inside the buffer.
    fn kernel_read(&self, addr: u64, n: usize) -> Option<Vec<u8>> {
        let k = &self.config.kernel;
        let off = usize::try_from(addr.checked_sub(k.base)?).ok()?;
        k.bytes.get(off..off.checked_add(n)?).map(<[u8]>::to_vec)
    }

    /// Address of a kernel object (task, socket): inside the kernel memory buffer, 8-aligned.
    pub fn kernel_object(&mut self) -> i64 {
        let k = &self.config.kernel;
        let span = (k.bytes.len() as u64 / 2) & !7;
        (k.base + (self.rng.below(span / 8 + 1) * 8)) as i64
    }

    fn trace_printk(
        &mut self,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let n = size(a[1]);
        space.check(a[0], n, false)?;
        let fmt = space.read(a[0], n)?;
        let end = fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len());
        let text = {
            let space: &dyn AddressSpace = space;
            let read = |p: u64| {
                space.c_str(p, MAX_PRINTK).ok().or_else(|| {
                    self.kernel_read(p, 64).map(|b| {
                        let e = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                        b[..e].to_vec()
                    })
                })
            };
            printf::format(
                fmt.get(..end.min(MAX_PRINTK)).unwrap_or_default(),
                [a[2], a[3], a[4]],
                &read,
            )
        };
        let len = text.len() as i64;
        self.sinks.trace.push(text);
        value(len)
    }

    /// Runs a helper from its prototype alone (see [`super::RuntimeConfig::fallback_by_prototype`]).
    fn fallback(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let Some(p) = proto_for(id, run.program_type) else {
            return Err(HelperError::Unsupported(name(id)));
        };
        let mut map: Option<usize> = None;
        for (i, arg) in p.args.iter().enumerate() {
            let v = a.get(i).copied().unwrap_or(0);
            let next = a.get(i + 1).copied().unwrap_or(0);
            let sizes = map.map(|m| {
                let info = &self.maps[m].info;
                (info.key_size as usize, info.value_size as usize)
            });
            match *arg {
                Arg::MapPtr if map.is_none() => map = Some(self.map_arg(run, id, v)?),
                Arg::MapKey => space.check(v, sizes.map_or(0, |s| s.0), false)?,
                Arg::MapValue => space.check(v, sizes.map_or(0, |s| s.1), false)?,
                Arg::MapValueOrNull if v != 0 => space.check(v, sizes.map_or(0, |s| s.1), false)?,
                Arg::MapValueOut => self.random_fill(v, sizes.map_or(0, |s| s.1), space)?,
                Arg::Mem { access, nullable } if !(nullable && v == 0) => {
                    self.touch(v, size(next), access, space)?;
                }
                Arg::FixedMem { size: n, access } => self.touch(v, n as usize, access, space)?,
                Arg::ConstStr => {
                    space.c_str(v, MAX_PRINTK)?;
                }
                Arg::SpinLock => space.check(v, 4, true)?,
                Arg::Timer => space.check(v, 16, true)?,
                _ => {}
            }
        }
        let maybe_null = |rt: &mut Runtime| {
            if rt.rng.below(2) == 0 {
                0
            } else {
                rt.kernel_object()
            }
        };
        match p.ret {
            Ret::Integer => {
                let r = match self.rng.below(4) {
                    0 => 0,
                    1 => self.rng.below(64) as i64,
                    2 => -(self.rng.below(120) as i64) - 1,
                    _ => self.rng.next_u64() as i64,
                };
                value(r)
            }
            Ret::Void | Ret::MapValueOrNull | Ret::RingbufRecordOrNull | Ret::MemOrNull { .. } => {
                value(0)
            }
            Ret::SocketOrNull { .. } | Ret::TcpSockOrNull => value(maybe_null(self)),
            Ret::BtfId { nullable: true, .. } => value(maybe_null(self)),
            Ret::BtfId {
                nullable: false, ..
            } => value(self.kernel_object()),
            Ret::MapValue => {
                // get_local_storage: the storage map's one value.
                let m = map.ok_or_else(|| HelperError::Unsupported(name(id)))?;
                let v = self.maps[m]
                    .array_value(0)
                    .ok_or_else(|| HelperError::Unsupported(name(id)))?;
                let kind = RegionKind::MapValue {
                    map: self.maps[m].info.name.clone(),
                };
                value(space.expose(&v, kind, true)? as i64)
            }
        }
    }

    /// Checks memory of a helper argument; a buffer the helper writes gets random bytes.
    fn touch(
        &mut self,
        addr: u64,
        n: usize,
        access: Access,
        space: &mut dyn AddressSpace,
    ) -> Result<(), HelperError> {
        match access {
            Access::Read => Ok(space.check(addr, n, false)?),
            Access::ReadWrite => Ok(space.check(addr, n, true)?),
            Access::Write => self.random_fill(addr, n, space),
        }
    }

    fn random_fill(
        &mut self,
        addr: u64,
        n: usize,
        space: &mut dyn AddressSpace,
    ) -> Result<(), HelperError> {
        space.check(addr, n, true)?;
        let bytes = self.rng.bytes(n);
        Ok(space.write(addr, &bytes)?)
    }
}

/// A map operation's result as the helper returns it.
fn errno(r: Result<(), MapError>) -> i64 {
    match r {
        Ok(()) => 0,
        Err(e) => e.errno(),
    }
}

/// `E2BIG`, for the packet helpers.
pub(super) const ERR_2BIG: i64 = -E2BIG;

#[cfg(test)]
#[path = "helpers_tests.rs"]
pub(super) mod tests;
