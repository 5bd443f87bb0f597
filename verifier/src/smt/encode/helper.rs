//! Helper calls: r0 fresh within the return contract, r1-r5 clobbered, the memory the helper
//! may write havocked, the packet moved when the helper may change packet data.
//!
//! Memory after a call is `λa. keep(a) ? mem[a] : fresh[a]`. `keep` holds only where the
//! helper provably writes nothing: the stacks outside its writable pointer arguments (a helper
//! reaches a program's stack only through its arguments), the context unless the helper takes
//! the context and may write it, the packet unless it takes the context or moves the packet.
//! Map values are never kept (map helpers write the values other lookups returned).

use super::Encoder;
use super::Unsupported;
use super::state::{State, T_MAPFD, T_MAPVAL, T_NUM, Val, bv, tag};
use crate::cfg;
use crate::platform::helpers::{Access, Arg, Ret, proto};
use z3::Sort;
use z3::ast::{Array, Ast, BV, Bool, Dynamic, lambda_const};

/// Helpers known to write no program-visible memory.
pub const PURE: &[i32] = &[1, 5, 6, 7, 8, 14, 15, 125, 160];

/// Helpers that take the context but only read it (and the packet).
const CTX_READERS: &[i32] = &[25, 26, 68, 189];

/// Where a helper may write through its arguments.
enum Writes {
    /// `[start, start + len)` for each writable argument.
    Ranges(Vec<(BV, BV)>),
    /// Somewhere an argument points, extent unknown.
    Anywhere,
}

impl Encoder<'_> {
    pub(super) fn helper(&mut self, s: &mut State, pc: usize, id: i32) -> Result<(), Unsupported> {
        let p = proto(id).ok_or_else(|| Unsupported(format!("unknown helper {id}")))?;
        if matches!(id, cfg::BPF_LOOP | cfg::BPF_FOR_EACH_MAP_ELEM) && !self.callbacks {
            return Err(Unsupported(format!("helper {} takes a callback", p.name)));
        }
        let r0 = BV::fresh_const(&format!("{}_pc{pc}", p.name), 64);
        self.helpers.push((pc, id, r0.clone()));
        if !PURE.contains(&id) {
            s.mem = self.memory_after(s, id, p.args, p.changes_packet_data);
        }
        if p.changes_packet_data {
            let (meta, data, end) = (
                BV::fresh_const("packet_meta", 64),
                BV::fresh_const("packet_data", 64),
                BV::fresh_const("packet_end", 64),
            );
            self.region_sane(&meta, &end);
            self.assumptions.push(meta.bvule(&data) & data.bvule(&end));
            (s.meta, s.data, s.end) = (meta, data, end);
        }
        let result = match p.ret {
            Ret::Integer => Val::num(r0),
            Ret::MapValueOrNull | Ret::MapValue => self.map_value(s, &r0, p.name, p.ret)?,
            _ => Val::unknown(r0),
        };
        s.regs[0] = result;
        for r in 1..=5 {
            s.regs[r] = Val::unknown(BV::fresh_const("clobbered", 64));
        }
        Ok(())
    }

    /// r0 of a map lookup: NULL (for `MapValueOrNull`) or a fresh value of the map's size.
    fn map_value(&mut self, s: &State, r0: &BV, name: &str, ret: Ret) -> Result<Val, Unsupported> {
        let fd = &s.regs[1];
        let only_fd = fd.tags.len() == 1 && fd.tags.contains(&T_MAPFD);
        let map = match fd.v.simplify().as_u64() {
            Some(m) if only_fd => m as usize,
            _ => return Err(Unsupported(format!("{name} on an unknown map"))),
        };
        let size = self
            .maps
            .get(map)
            .map(|m| u64::from(m.value_size))
            .ok_or_else(|| Unsupported(format!("unknown map {map}")))?;
        let t = self.new_instance(size);
        let base = self.instances[(t - T_MAPVAL) as usize].base.clone();
        Ok(if ret == Ret::MapValue {
            self.assumptions.push(r0.eq(&base));
            Val::ptr(t, r0.clone())
        } else {
            self.assumptions.push(r0.eq(bv(0)) | r0.eq(&base));
            let is_null = r0.eq(bv(0));
            Val {
                v: r0.clone(),
                t: is_null.ite(&tag(T_NUM), &tag(t)),
                tags: [T_NUM, t].into(),
            }
        })
    }

    fn writes(s: &State, args: &[Arg]) -> Writes {
        let mut ranges = vec![];
        for (i, arg) in args.iter().enumerate() {
            let ptr = &s.regs[i + 1].v;
            match *arg {
                Arg::Mem {
                    access: Access::Write | Access::ReadWrite,
                    ..
                } => match args.get(i + 1) {
                    Some(Arg::Size { .. }) => ranges.push((ptr.clone(), s.regs[i + 2].v.clone())),
                    _ => return Writes::Anywhere,
                },
                Arg::FixedMem {
                    size,
                    access: Access::Write | Access::ReadWrite,
                } => ranges.push((ptr.clone(), bv(u64::from(size)))),
                Arg::Anything
                | Arg::MapPtr
                | Arg::MapKey
                | Arg::MapValue
                | Arg::MapValueOrNull
                | Arg::Mem { .. }
                | Arg::FixedMem { .. }
                | Arg::Size { .. }
                | Arg::AllocSize
                | Arg::Ctx { .. }
                | Arg::Socket { .. }
                | Arg::Callback
                | Arg::ConstStr
                | Arg::FormatArg => {}
                _ => return Writes::Anywhere,
            }
        }
        Writes::Ranges(ranges)
    }

    fn memory_after(&self, s: &State, id: i32, args: &[Arg], moves_packet: bool) -> Array {
        let fresh = Array::fresh_const("mem", &Sort::bitvector(64), &Sort::bitvector(8));
        let Writes::Ranges(ranges) = Self::writes(s, args) else {
            return fresh;
        };
        let a = BV::fresh_const("a", 64);
        let within = |lo: &BV, len: &BV| (&a - lo).bvult(len);
        let takes_ctx = args.iter().any(|x| matches!(x, Arg::Ctx { .. }));
        let reads_ctx_only = !takes_ctx || CTX_READERS.contains(&id);
        let mut kept: Vec<Bool> = self
            .stacks
            .values()
            .map(|top| within(&(top - bv(512)), &bv(512)))
            .collect();
        if reads_ctx_only {
            kept.push(within(&self.ctx_base, &bv(self.ctx_size)));
            if !moves_packet {
                kept.push(within(&s.meta, &(&s.end - &s.meta)));
            }
        }
        let written: Vec<Bool> = ranges.iter().map(|(lo, len)| within(lo, len)).collect();
        let keep = Bool::or(&kept) & Bool::or(&written).not();
        let byte = keep.ite(
            &s.mem
                .select(&a)
                .as_bv()
                .unwrap_or_else(|| BV::from_u64(0, 8)),
            &fresh
                .select(&a)
                .as_bv()
                .unwrap_or_else(|| BV::from_u64(0, 8)),
        );
        lambda_const(&[&a], &Dynamic::from_ast(&byte))
    }
}
