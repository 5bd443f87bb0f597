//! The bit-vector encoding of the paths from the entry to an alarm.
//!
//! Registers hold 64-bit values exactly as the interpreter does: numbers, or *addresses* (a
//! region's symbolic base plus an offset), so pointer arithmetic, pointer comparisons and
//! `data + 14 > data_end` are plain bit-vector operations with RFC 9669 semantics. Next to each
//! value goes a provenance tag (which region a pointer was derived from): the safety property
//! of an access is "the address lies in the live region of its tag", which implies the
//! interpreter's address-based check and is what the analysis checks.
//!
//! Memory is one byte array indexed by address (packet, context, stack and map values alike),
//! with a parallel array of provenance tags for spilled pointers. Region bases are symbolic, so
//! the formula holds for every placement the kernel or the interpreter may choose; only facts
//! true of every placement are assumed (regions do not wrap, do not start in the NULL page,
//! and the context, stack and packet do not overlap).
//!
//! Only the part of the CFG that reaches the alarm is encoded, and only when it is acyclic and
//! free of calls: every instruction kind on it is encoded exactly or over-approximated (helper
//! results fresh, memory a helper may write havocked), otherwise [`Unsupported`] is returned and
//! the alarm stands.

use super::Unsupported;
use super::alarm::Property;
use crate::analysis::{Input, MapInfo};
use crate::cfg::{self, Edge};
use crate::isa::{AluOp, AtomicOp, CallTarget, Cond, Endian, Imm64Kind, Insn, Operand, Width};
use crate::platform::context::FieldKind;
use crate::platform::helpers::{Ret, proto};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::{BTreeSet, HashMap};
use z3::Sort;
use z3::ast::Ast;
use z3::ast::{Array, BV, Bool};

/// Provenance tags.
pub const T_NUM: u64 = 0;
pub const T_CTX: u64 = 1;
pub const T_PACKET: u64 = 2;
pub const T_STACK: u64 = 3;
pub const T_MAPFD: u64 = 4;
/// A value of unknown provenance (uninitialised registers, kernel pointers from helpers):
/// no access through it is ever proved safe.
pub const T_UNKNOWN: u64 = 5;
/// Map value instances: `T_MAPVAL + i` for the i-th instance.
pub const T_MAPVAL: u64 = 16;

const TAG_BITS: u32 = 8;

fn bv(v: u64) -> BV {
    BV::from_u64(v, 64)
}

fn tag(t: u64) -> BV {
    BV::from_u64(t, TAG_BITS)
}

/// A register: value, provenance tag, and the tags it may have (known statically).
#[derive(Clone)]
struct Val {
    v: BV,
    t: BV,
    tags: BTreeSet<u64>,
}

impl Val {
    fn num(v: BV) -> Val {
        Val {
            v,
            t: tag(T_NUM),
            tags: [T_NUM].into(),
        }
    }
    fn ptr(t: u64, v: BV) -> Val {
        Val {
            v,
            t: tag(t),
            tags: [t].into(),
        }
    }
    fn unknown(v: BV) -> Val {
        Val::ptr(T_UNKNOWN, v)
    }
}

/// The symbolic state on entry to an instruction.
#[derive(Clone)]
struct State {
    /// The path condition.
    guard: Bool,
    regs: Vec<Val>,
    mem: Array,
    tags: Array,
    /// Tags ever stored to memory on this path (what an 8-byte load may yield).
    stored: BTreeSet<u64>,
    /// The packet: meta start, data start, end (helpers that change packet data move it).
    meta: BV,
    data: BV,
    end: BV,
}

/// A map value region created by a lookup (or a global-data `lddw`).
pub struct MapInstance {
    pub base: BV,
    pub size: u64,
}

/// The symbols a counterexample is read from.
pub struct Symbols {
    pub ctx_base: BV,
    pub ctx_size: u64,
    pub mem0: Array,
    pub meta0: BV,
    pub data0: BV,
    pub end0: BV,
    /// Helper calls on the path: (pc, helper id, r0).
    pub helpers: Vec<(usize, i32, BV)>,
}

/// The query: `assumptions ∧ reach ∧ bad` is satisfiable iff (up to over-approximation) some
/// run reaches the alarm with the property false.
pub struct Query {
    pub assumptions: Vec<Bool>,
    pub reach: Bool,
    pub bad: Bool,
    pub symbols: Symbols,
    /// Extra facts that make a model replayable (skb->len = packet length, small packets);
    /// never used to discharge.
    pub witness: Vec<Bool>,
}

struct Encoder<'a> {
    input: Input<'a>,
    maps: &'a [MapInfo],
    instances: Vec<MapInstance>,
    /// Global data (`lddw` map value): one instance per map.
    globals: HashMap<usize, u64>,
    assumptions: Vec<Bool>,
    helpers: Vec<(usize, i32, BV)>,
    ctx_base: BV,
    stack_top: BV,
}

/// Builds the query for `property` at `pc`.
pub fn encode(input: Input<'_>, pc: usize, property: Property) -> Result<Query, Unsupported> {
    let cfg = cfg::build(input.insns).map_err(|e| Unsupported(format!("cfg: {e}")))?;
    let g = &cfg.graph;
    let targets: Vec<NodeIndex> = g
        .node_indices()
        .filter(|&b| g[b].start <= pc && pc <= g[b].end)
        .collect();
    if targets.is_empty() {
        return Err(Unsupported(
            "the alarm's pc is unreachable in the CFG".into(),
        ));
    }
    // Blocks from which the alarm is reachable.
    let mut region = vec![false; g.node_count()];
    let mut work = targets.clone();
    while let Some(b) = work.pop() {
        if std::mem::replace(&mut region[b.index()], true) {
            continue;
        }
        for e in g.edges_directed(b, Direction::Incoming) {
            work.push(e.source());
        }
    }
    for b in g.node_indices().filter(|b| region[b.index()]) {
        if cfg.frames[g[b].frame].depth > 0 || g[b].callback_loop {
            return Err(Unsupported(
                "a bpf-to-bpf call or callback on a path to the alarm".into(),
            ));
        }
        for e in g.edges_directed(b, Direction::Incoming) {
            if region[e.source().index()]
                && !matches!(e.weight(), Edge::Goto | Edge::Taken | Edge::NotTaken)
            {
                return Err(Unsupported("a call edge on a path to the alarm".into()));
            }
        }
    }
    let sub = petgraph::visit::NodeFiltered::from_fn(g, |b: NodeIndex| region[b.index()]);
    let order = petgraph::algo::toposort(&sub, None)
        .map_err(|_| Unsupported("a loop on a path to the alarm".into()))?;

    let layout = crate::platform::layout(input.program_type);
    let ctx_size = layout.map_or(1024, |l| u64::from(l.size));
    let mut enc = Encoder {
        input,
        maps: input.maps,
        instances: vec![],
        globals: HashMap::new(),
        assumptions: vec![],
        helpers: vec![],
        ctx_base: BV::new_const("ctx_base", 64),
        stack_top: BV::new_const("stack_top", 64),
    };
    let mem0 = Array::new_const(
        "mem0",
        &Sort::bitvector(64),
        &Sort::bitvector(TAG_BITS.max(8)),
    );
    let meta0 = BV::new_const("packet_meta", 64);
    let data0 = BV::new_const("packet_data", 64);
    let end0 = BV::new_const("packet_end", 64);
    let stack_base = enc.stack_top.clone();
    let stack_lo = &stack_base - bv(512);
    let ctx_end = &enc.ctx_base + bv(ctx_size);
    // Facts of every placement: no region wraps, starts in the low 4 GiB or ends in the top 4 GiB; the context, the
    // stack and the packet are distinct objects.
    let page = bv(4096);
    enc.region_sane(&enc.ctx_base.clone(), &ctx_end);
    enc.region_sane(&stack_lo, &stack_base);
    enc.region_sane(&meta0, &end0);
    enc.assumptions.push(meta0.bvule(&data0));
    enc.assumptions.push(data0.bvule(&end0));
    enc.assumptions.push(meta0.bvuge(&page));
    let disjoint = |a: (&BV, &BV), b: (&BV, &BV)| a.1.bvule(b.0) | b.1.bvule(a.0);
    enc.assumptions.push(disjoint(
        (&enc.ctx_base, &ctx_end),
        (&stack_lo, &stack_base),
    ));
    enc.assumptions
        .push(disjoint((&enc.ctx_base, &ctx_end), (&meta0, &end0)));
    enc.assumptions
        .push(disjoint((&stack_lo, &stack_base), (&meta0, &end0)));

    let mut regs: Vec<Val> = (0..11)
        .map(|i| Val::unknown(BV::new_const(format!("r{i}_init"), 64)))
        .collect();
    regs[1] = Val::ptr(T_CTX, enc.ctx_base.clone());
    regs[10] = Val::ptr(T_STACK, stack_base.clone());
    let entry = State {
        guard: Bool::from_bool(true),
        regs,
        mem: mem0.clone(),
        tags: Array::const_array(&Sort::bitvector(64), &tag(T_NUM)),
        stored: BTreeSet::new(),
        meta: meta0.clone(),
        data: data0.clone(),
        end: end0.clone(),
    };

    let mut post: HashMap<NodeIndex, State> = HashMap::new();
    let mut at_alarm: Vec<State> = vec![];
    for b in order {
        let block = g[b];
        let mut incoming = vec![];
        if b == cfg.entry() {
            incoming.push(entry.clone());
        }
        for e in g.edges_directed(b, Direction::Incoming) {
            let Some(p) = post.get(&e.source()) else {
                continue;
            };
            let mut s = p.clone();
            let end_insn = input.insns[g[e.source()].end];
            match (e.weight(), end_insn) {
                (Edge::Taken, Insn::Jump { .. }) => s.guard &= enc.condition(&s, &end_insn)?,
                (Edge::NotTaken, Insn::Jump { .. }) => {
                    s.guard &= enc.condition(&s, &end_insn)?.not()
                }
                _ => {}
            }
            incoming.push(s);
        }
        let Some(mut s) = merge(incoming) else {
            continue;
        };
        for at in block.start..=block.end {
            if at == pc {
                at_alarm.push(s.clone());
                break;
            }
            enc.step(&mut s, at)?;
        }
        post.insert(b, s);
    }
    let s = merge(at_alarm).ok_or_else(|| Unsupported("no path reaches the alarm".into()))?;
    let bad = enc.bad(&s, property);
    // Replayable models: skb->len is the packet length, packets are small, no metadata.
    let mut witness = vec![(&end0 - &data0).bvule(bv(1500)), data0.eq(&meta0)];
    if layout.is_some_and(|l| l.name == "struct __sk_buff") {
        let len = load_le(&mem0, &enc.ctx_base, 4);
        witness.push(len.eq((&end0 - &data0).extract(31, 0).zero_ext(32)));
    }
    Ok(Query {
        assumptions: enc.assumptions,
        reach: s.guard.clone(),
        bad,
        symbols: Symbols {
            ctx_base: enc.ctx_base,
            ctx_size,
            mem0,
            meta0,
            data0,
            end0,
            helpers: enc.helpers,
        },
        witness,
    })
}

/// The join of the states of several paths (None for no path).
fn merge(states: Vec<State>) -> Option<State> {
    let mut it = states.into_iter();
    let first = it.next()?;
    Some(it.fold(first, |acc, s| {
        let g = &s.guard;
        State {
            guard: &acc.guard | g,
            regs: acc
                .regs
                .iter()
                .zip(&s.regs)
                .map(|(a, b)| Val {
                    v: g.ite(&b.v, &a.v),
                    t: g.ite(&b.t, &a.t),
                    tags: a.tags.union(&b.tags).copied().collect(),
                })
                .collect(),
            mem: g.ite(&s.mem, &acc.mem),
            tags: g.ite(&s.tags, &acc.tags),
            stored: acc.stored.union(&s.stored).copied().collect(),
            meta: g.ite(&s.meta, &acc.meta),
            data: g.ite(&s.data, &acc.data),
            end: g.ite(&s.end, &acc.end),
        }
    }))
}

/// Little-endian load of `n` bytes at `addr`, zero-extended to 64 bits.
fn load_le(mem: &Array, addr: &BV, n: usize) -> BV {
    let mut out: Option<BV> = None;
    for i in (0..n).rev() {
        let byte = mem
            .select(&(addr + bv(i as u64)))
            .as_bv()
            .unwrap_or_else(|| BV::from_u64(0, 8));
        out = Some(match out {
            None => byte,
            Some(o) => o.concat(&byte),
        });
    }
    let v = out.unwrap_or_else(|| BV::from_u64(0, 8));
    let bits = v.get_size();
    if bits < 64 { v.zero_ext(64 - bits) } else { v }
}

fn store_le(mem: &Array, addr: &BV, n: usize, v: &BV) -> Array {
    let mut m = mem.clone();
    for i in 0..n {
        let byte = v.extract(8 * i as u32 + 7, 8 * i as u32);
        m = m.store(&(addr + bv(i as u64)), &byte);
    }
    m
}

impl Encoder<'_> {
    /// Facts of every region placement, in the interpreter (4 GiB windows from 2^32) and in
    /// Linux (kernel addresses, far below the top 4 GiB): regions start at or above 2^32 and
    /// end at or below 2^64 - 2^32, so a program's `data + 14` never wraps around.
    fn region_sane(&mut self, lo: &BV, hi: &BV) {
        self.assumptions.push(lo.bvule(hi));
        self.assumptions.push(lo.bvuge(bv(1 << 32)));
        self.assumptions.push(hi.bvule(bv(u64::MAX << 32)));
    }

    fn operand(&self, s: &State, op: Operand) -> Val {
        match op {
            Operand::Reg(r) => s.regs[r.index()].clone(),
            Operand::Imm(i) => Val::num(BV::from_i64(i64::from(i), 64)),
        }
    }

    /// Whether the conditional jump `insn` is taken (RFC 9669 comparison, as `interp::alu`).
    fn condition(&self, s: &State, insn: &Insn) -> Result<Bool, Unsupported> {
        let Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } = *insn
        else {
            return Err(Unsupported("not a conditional jump".into()));
        };
        let (mut a, mut b) = (s.regs[dst.index()].v.clone(), self.operand(s, src).v);
        if width == Width::W32 {
            a = a.extract(31, 0);
            b = b.extract(31, 0);
        }
        Ok(match cond {
            Cond::Eq => a.eq(&b),
            Cond::Ne => a.eq(&b).not(),
            Cond::Gt => a.bvugt(&b),
            Cond::Ge => a.bvuge(&b),
            Cond::Lt => a.bvult(&b),
            Cond::Le => a.bvule(&b),
            Cond::Set => (&a & &b).eq(BV::from_u64(0, a.get_size())).not(),
            Cond::Sgt => a.bvsgt(&b),
            Cond::Sge => a.bvsge(&b),
            Cond::Slt => a.bvslt(&b),
            Cond::Sle => a.bvsle(&b),
        })
    }

    fn step(&mut self, s: &mut State, pc: usize) -> Result<(), Unsupported> {
        match self.input.insns[pc] {
            Insn::WideTail | Insn::Ja { .. } | Insn::Jump { .. } | Insn::Exit => {}
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let d = s.regs[dst.index()].clone();
                let o = self.operand(s, src);
                s.regs[dst.index()] = alu(width, op, &d, &o);
            }
            Insn::Neg { width, dst } => {
                let d = &s.regs[dst.index()];
                let v = match width {
                    Width::W64 => d.v.bvneg(),
                    Width::W32 => d.v.extract(31, 0).bvneg().zero_ext(32),
                };
                s.regs[dst.index()] = numeric(d, v);
            }
            Insn::Endian { kind, bits, dst } => {
                let d = &s.regs[dst.index()];
                let low = d.v.extract(u32::from(bits) - 1, 0);
                let v = match kind {
                    Endian::ToLe => low,
                    Endian::ToBe | Endian::Swap => {
                        let n = u32::from(bits) / 8;
                        (0..n)
                            .map(|i| low.extract(8 * i + 7, 8 * i))
                            .reduce(|acc, b| acc.concat(&b))
                            .unwrap_or(low)
                    }
                };
                let v = if bits < 64 {
                    v.zero_ext(64 - u32::from(bits))
                } else {
                    v
                };
                s.regs[dst.index()] = numeric(d, v);
            }
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm,
            } => {
                let value = u64::from(imm as u32) | (u64::from(next_imm as u32) << 32);
                s.regs[dst.index()] = match kind {
                    Imm64Kind::Value => Val::num(bv(value)),
                    Imm64Kind::MapFd | Imm64Kind::MapIdx => {
                        Val::ptr(T_MAPFD, bv(u64::from(imm as u32)))
                    }
                    Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
                        let map = imm as u32 as usize;
                        let t = self.global(map)?;
                        let base = self.instances[(t - T_MAPVAL) as usize].base.clone();
                        Val::ptr(t, base + bv(u64::from(next_imm as u32)))
                    }
                    _ => return Err(Unsupported(format!("lddw of kind {kind:?}"))),
                };
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let n = size.bytes();
                let base = &s.regs[src.index()];
                let addr = &base.v + BV::from_i64(i64::from(off), 64);
                let mut v = load_le(&s.mem, &addr, n);
                if signed && n < 8 {
                    v = v.extract(8 * n as u32 - 1, 0).sign_ext(64 - 8 * n as u32);
                }
                let mut val = if n == 8 {
                    let t = s
                        .tags
                        .select(&addr)
                        .as_bv()
                        .unwrap_or_else(|| tag(T_UNKNOWN));
                    let mut tags = s.stored.clone();
                    tags.insert(T_NUM);
                    Val { v, t, tags }
                } else {
                    Val::num(v)
                };
                // Context pointer fields read as the object's address (`Run::ctx_load`:
                // decided by the address, whatever the bytes hold).
                if let Some(layout) = crate::platform::layout(self.input.program_type) {
                    for f in crate::runtime::context::pointer_fields(layout) {
                        if n > f.size as usize {
                            continue;
                        }
                        let field = match f.kind {
                            FieldKind::PacketStart => Val::ptr(T_PACKET, s.data.clone()),
                            FieldKind::PacketEnd => Val::ptr(T_PACKET, s.end.clone()),
                            FieldKind::PacketMeta => Val::ptr(T_PACKET, s.meta.clone()),
                            _ => Val::unknown(BV::fresh_const("ctx_ptr", 64)),
                        };
                        let hit = addr.eq(&self.ctx_base + bv(u64::from(f.offset)));
                        val = Val {
                            v: hit.ite(&field.v, &val.v),
                            t: hit.ite(&field.t, &val.t),
                            tags: val.tags.union(&field.tags).copied().collect(),
                        };
                    }
                }
                s.regs[dst.index()] = val;
            }
            Insn::Store {
                size,
                dst,
                off,
                value,
            } => {
                let n = size.bytes();
                let addr = &s.regs[dst.index()].v + BV::from_i64(i64::from(off), 64);
                let v = self.operand(s, value);
                s.mem = store_le(&s.mem, &addr, n, &v.v);
                let t = if n == 8 { v.t.clone() } else { tag(T_NUM) };
                for i in 0..n {
                    s.tags = s.tags.store(&(&addr + bv(i as u64)), &t);
                }
                if n == 8 {
                    s.stored.extend(v.tags.iter().copied());
                }
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let n = size.bytes();
                let addr = &s.regs[dst.index()].v + BV::from_i64(i64::from(off), 64);
                let old = load_le(&s.mem, &addr, n);
                let w = 8 * n as u32;
                let o = old.extract(w - 1, 0);
                let sv = s.regs[src.index()].v.extract(w - 1, 0);
                let r0 = s.regs[0].v.extract(w - 1, 0);
                let new = match op {
                    AtomicOp::Add => &o + &sv,
                    AtomicOp::Or => &o | &sv,
                    AtomicOp::And => &o & &sv,
                    AtomicOp::Xor => &o ^ &sv,
                    AtomicOp::Xchg => sv.clone(),
                    AtomicOp::CmpXchg => o.eq(&r0).ite(&sv, &o),
                };
                s.mem = store_le(&s.mem, &addr, n, &new);
                for i in 0..n {
                    s.tags = s.tags.store(&(&addr + bv(i as u64)), &tag(T_NUM));
                }
                let old64 = if w < 64 { o.zero_ext(64 - w) } else { o };
                if op == AtomicOp::CmpXchg {
                    s.regs[0] = Val::num(old64);
                } else if fetch {
                    s.regs[src.index()] = Val::num(old64);
                }
            }
            Insn::Call(CallTarget::Helper(id)) => self.helper(s, pc, id)?,
            ref other => {
                return Err(Unsupported(format!("instruction `{other:?}` at pc {pc}")));
            }
        }
        Ok(())
    }

    /// The map value instance of global-data map `map`.
    fn global(&mut self, map: usize) -> Result<u64, Unsupported> {
        if let Some(t) = self.globals.get(&map) {
            return Ok(*t);
        }
        let info = self
            .maps
            .get(map)
            .ok_or_else(|| Unsupported(format!("unknown map {map}")))?;
        let t = self.new_instance(u64::from(info.value_size));
        self.globals.insert(map, t);
        Ok(t)
    }

    fn new_instance(&mut self, size: u64) -> u64 {
        let base = BV::fresh_const("map_value", 64);
        let end = &base + bv(size);
        self.region_sane(&base, &end);
        self.instances.push(MapInstance { base, size });
        T_MAPVAL + self.instances.len() as u64 - 1
    }

    /// A helper call: r0 fresh within the return contract, r1-r5 clobbered, memory the helper
    /// may write havocked (all of it unless the helper writes none), the packet moved when
    /// the helper may change packet data.
    fn helper(&mut self, s: &mut State, pc: usize, id: i32) -> Result<(), Unsupported> {
        let p = proto(id).ok_or_else(|| Unsupported(format!("unknown helper {id}")))?;
        if matches!(id, cfg::BPF_LOOP | cfg::BPF_FOR_EACH_MAP_ELEM) {
            return Err(Unsupported(format!("helper {} takes a callback", p.name)));
        }
        let r0 = BV::fresh_const(&format!("{}_pc{pc}", p.name), 64);
        self.helpers.push((pc, id, r0.clone()));
        // Helpers known to write no program-visible memory.
        const PURE: &[i32] = &[1, 5, 6, 7, 8, 14, 15, 125, 160];
        if !PURE.contains(&id) {
            s.mem = Array::fresh_const("mem", &Sort::bitvector(64), &Sort::bitvector(8));
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
            Ret::MapValueOrNull | Ret::MapValue => {
                let fd = &s.regs[1];
                let only_fd = fd.tags.len() == 1 && fd.tags.contains(&T_MAPFD);
                let map = match fd.v.simplify().as_u64() {
                    Some(m) if only_fd => m as usize,
                    _ => return Err(Unsupported(format!("{} on an unknown map", p.name))),
                };
                let size = self
                    .maps
                    .get(map)
                    .map(|m| u64::from(m.value_size))
                    .ok_or_else(|| Unsupported(format!("unknown map {map}")))?;
                let t = self.new_instance(size);
                let base = self.instances[(t - T_MAPVAL) as usize].base.clone();
                if p.ret == Ret::MapValue {
                    self.assumptions.push(r0.eq(&base));
                    Val::ptr(t, r0)
                } else {
                    // r0 is NULL or the value's address.
                    self.assumptions.push(r0.eq(bv(0)) | r0.eq(&base));
                    let is_null = r0.eq(bv(0));
                    Val {
                        v: r0,
                        t: is_null.ite(&tag(T_NUM), &tag(t)),
                        tags: [T_NUM, t].into(),
                    }
                }
            }
            _ => Val::unknown(r0),
        };
        s.regs[0] = result;
        for r in 1..=5 {
            s.regs[r] = Val::unknown(BV::fresh_const("clobbered", 64));
        }
        Ok(())
    }

    /// "The property fails" at state `s`.
    fn bad(&self, s: &State, property: Property) -> Bool {
        match property {
            Property::InBounds { reg, off, size } => {
                let r = &s.regs[reg.index()];
                let addr = &r.v + BV::from_i64(i64::from(off), 64);
                let inside = |lo: &BV, hi: &BV| {
                    let span = hi - lo;
                    span.bvuge(bv(size as u64)) & (&addr - lo).bvule(&span - bv(size as u64))
                };
                let mut safe = vec![];
                for &t in &r.tags {
                    let ok = match t {
                        T_PACKET => inside(&s.meta, &s.end),
                        T_STACK => inside(&(&self.stack_top - bv(512)), &self.stack_top),
                        t if t >= T_MAPVAL => match self.instances.get((t - T_MAPVAL) as usize) {
                            Some(i) => inside(&i.base, &(&i.base + bv(i.size))),
                            None => continue,
                        },
                        _ => continue,
                    };
                    safe.push(r.t.eq(tag(t)) & ok);
                }
                Bool::or(&safe).not()
            }
            Property::NonNull { reg } => s.regs[reg.index()].v.eq(bv(0)),
            Property::NonZeroDivisor { reg, width } => {
                let v = &s.regs[reg.index()].v;
                match width {
                    Width::W64 => v.eq(bv(0)),
                    Width::W32 => v.extract(31, 0).eq(BV::from_u64(0, 32)),
                }
            }
        }
    }
}

/// A numeric result computed from `d`: a number if `d` was one, else of unknown provenance.
fn numeric(d: &Val, v: BV) -> Val {
    if d.tags.len() == 1 && d.tags.contains(&T_NUM) {
        Val::num(v)
    } else {
        let is_num = d.t.eq(tag(T_NUM));
        Val {
            v,
            t: is_num.ite(&tag(T_NUM), &tag(T_UNKNOWN)),
            tags: [T_NUM, T_UNKNOWN].into(),
        }
    }
}

/// `dst op src` with `interp::alu::binary`'s semantics, and the provenance of the result.
fn alu(width: Width, op: AluOp, d: &Val, s: &Val) -> Val {
    let (a, b) = match width {
        Width::W64 => (d.v.clone(), s.v.clone()),
        Width::W32 => (d.v.extract(31, 0), s.v.extract(31, 0)),
    };
    let bits = a.get_size();
    let zero = BV::from_u64(0, bits);
    let mask = BV::from_u64(u64::from(bits) - 1, bits);
    let is_zero = b.eq(&zero);
    let v = match op {
        AluOp::Add => &a + &b,
        AluOp::Sub => &a - &b,
        AluOp::Mul => &a * &b,
        AluOp::Div => is_zero.ite(&zero, &a.bvudiv(&b)),
        AluOp::SDiv => is_zero.ite(&zero, &a.bvsdiv(&b)),
        AluOp::Mod => is_zero.ite(&a, &a.bvurem(&b)),
        AluOp::SMod => is_zero.ite(&a, &a.bvsrem(&b)),
        AluOp::Or => &a | &b,
        AluOp::And => &a & &b,
        AluOp::Xor => &a ^ &b,
        AluOp::Lsh => a.bvshl(&(&b & &mask)),
        AluOp::Rsh => a.bvlshr(&(&b & &mask)),
        AluOp::Arsh => a.bvashr(&(&b & &mask)),
        AluOp::Mov => b.clone(),
        AluOp::MovSx(n) => {
            let n = u32::from(n).min(bits);
            if n < bits {
                b.extract(n - 1, 0).sign_ext(bits - n)
            } else {
                b.clone()
            }
        }
    };
    let v = if bits < 64 { v.zero_ext(64 - bits) } else { v };
    let num = |x: &Val| x.tags.len() == 1 && x.tags.contains(&T_NUM);
    let tn = tag(T_NUM);
    let unk = tag(T_UNKNOWN);
    match (width, op) {
        (Width::W64, AluOp::Mov) => Val {
            v,
            t: s.t.clone(),
            tags: s.tags.clone(),
        },
        _ if num(d) && num(s) => Val::num(v),
        (Width::W64, AluOp::Add) => {
            let (dn, sn) = (d.t.eq(&tn), s.t.eq(&tn));
            Val {
                v,
                t: dn.ite(&sn.ite(&tn, &s.t), &sn.ite(&d.t, &unk)),
                tags: d.tags.union(&s.tags).copied().chain([T_UNKNOWN]).collect(),
            }
        }
        (Width::W64, AluOp::Sub) => {
            let sn = s.t.eq(&tn);
            let same = d.t.eq(&s.t);
            Val {
                v,
                t: sn.ite(&d.t, &same.ite(&tn, &unk)),
                tags: d.tags.iter().copied().chain([T_NUM, T_UNKNOWN]).collect(),
            }
        }
        _ => {
            let both = d.t.eq(&tn) & s.t.eq(&tn);
            Val {
                v,
                t: both.ite(&tn, &unk),
                tags: [T_NUM, T_UNKNOWN].into(),
            }
        }
    }
}
