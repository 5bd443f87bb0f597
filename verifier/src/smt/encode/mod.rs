//! The bit-vector encoding of the paths from the entry to an alarm.
//!
//! Registers hold 64-bit values exactly as the interpreter does: numbers, or *addresses* (a
//! region's symbolic base plus an offset), so pointer arithmetic, pointer comparisons and
//! `data + 14 > data_end` are plain bit-vector operations with RFC 9669 semantics. Next to each
//! value goes a provenance tag (which region a pointer was derived from): the safety property
//! of an access is "the address lies in the live region of its tag", which implies the
//! interpreter's address-based check and is what the analysis checks.
//!
//! Memory is one byte array indexed by address (packet, context, stacks and map values alike),
//! with a parallel array of provenance tags for spilled pointers. Region bases are symbolic, so
//! the formula holds for every placement the kernel or the interpreter may choose; only facts
//! true of every placement are assumed (regions do not wrap, do not start in the NULL page,
//! and the context, the stacks and the packet do not overlap).
//!
//! Only the blocks that can reach the alarm are encoded (`shape`), in one of two modes:
//! - [`Mode::Sound`] over-approximates every run: a loop head's state is havocked on what the
//!   loop modifies (`shape::LoopEffects`) and the back edges are dropped, so the one pass over
//!   the DAG covers every iteration. Only this mode may discharge an alarm.
//! - [`Mode::Unroll`] follows loops exactly for up to `k` back edges per path and drops longer
//!   paths: an under-approximation whose models are real paths, used to find counterexamples.
//!
//! bpf-to-bpf calls are edges: a call saves r6-r10 in the state and gives the callee its own
//! stack (its own tag), a return restores them (`interp`'s frames). Callbacks (`bpf_loop`,
//! `bpf_for_each_map_elem`) and instructions outside the encoded set return [`Unsupported`].

mod helper;
mod insn;
mod shape;
mod state;

use super::Unsupported;
use super::alarm::Property;
use crate::analysis::loop_facts::{LoopHead, RegFact};
use crate::analysis::{Input, MapInfo};
use crate::cfg::{self, Edge};
use crate::isa::{Insn, Width};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use shape::Shape;
use state::{State, T_MAPVAL, T_STACK, T_UNKNOWN, TAG_BITS, Val, bv, load_le, merge, tag};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use z3::Sort;
use z3::ast::{Array, BV, Bool};

/// How loops are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Havoc at loop heads: covers every run (discharges are valid).
    Sound,
    /// At most this many back edges per path: real paths only (for counterexamples).
    Unroll(usize),
}

/// Most frames (inlined call sites) a query gives a stack of its own.
const MAX_FRAMES: usize = 64;

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
    /// Helper calls encoded: (pc, helper id, r0).
    pub helpers: Vec<(usize, i32, BV)>,
}

/// The query: `assumptions ∧ reach ∧ bad` is satisfiable iff (up to the mode's
/// approximation) some run reaches the alarm with the property false.
pub struct Query {
    pub assumptions: Vec<Bool>,
    pub reach: Bool,
    /// The property fails on a path that reaches the alarm.
    pub bad: Bool,
    pub symbols: Symbols,
    /// Extra facts that make a model replayable (earlier accesses in bounds, skb->len =
    /// packet length, small packets), in groups tried in order, each added to the ones before
    /// while the query stays satisfiable; never used to discharge.
    pub witness: Vec<Vec<Bool>>,
    /// The region contains a loop (so [`Mode::Sound`] havocked something).
    pub has_loops: bool,
}

pub(super) struct Encoder<'a> {
    input: Input<'a>,
    maps: &'a [MapInfo],
    instances: Vec<MapInstance>,
    /// Global data (`lddw` map value): one instance per map.
    globals: HashMap<usize, u64>,
    assumptions: Vec<Bool>,
    helpers: Vec<(usize, i32, BV)>,
    ctx_base: BV,
    ctx_size: u64,
    /// The top of each frame's stack (frame 0: the entry function).
    stacks: BTreeMap<usize, BV>,
    /// Callbacks are encoded (unrolled queries only: see `encode`).
    callbacks: bool,
}

/// Builds the query for `property` at `pc`. `heads` are the analysis's facts at loop heads,
/// assumed after the havoc in [`Mode::Sound`] (see [`assume_head`] for when that is sound).
pub fn encode(
    input: Input<'_>,
    pc: usize,
    property: Property,
    mode: Mode,
    heads: &[LoopHead],
) -> Result<Query, Unsupported> {
    let cfg = cfg::build(input.insns).map_err(|e| Unsupported(format!("cfg: {e}")))?;
    let g = &cfg.graph;
    let targets: Vec<NodeIndex> = g
        .node_indices()
        .filter(|&b| !g[b].callback_loop && g[b].start <= pc && pc <= g[b].end)
        .collect();
    if targets.is_empty() {
        return Err(Unsupported(
            "the alarm's pc is unreachable in the CFG".into(),
        ));
    }
    let shape = Shape::new(&cfg, input.insns, &targets)?;
    let mut frames = BTreeSet::new();
    for &b in &shape.order {
        // A sound query would need the helper's invocations of the callback over-approximated
        // (any number, any element); unrolled queries only look for real paths, on which the
        // callback's arguments are fresh values and its effects havocked (see `edge`).
        if g[b].callback_loop && mode == Mode::Sound {
            return Err(Unsupported("a callback on a path to the alarm".into()));
        }
        frames.insert(g[b].frame);
    }
    if frames.len() > MAX_FRAMES {
        return Err(Unsupported(format!(
            "more than {MAX_FRAMES} call frames on the paths to the alarm"
        )));
    }

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
        ctx_size,
        callbacks: mode != Mode::Sound,
        stacks: frames
            .iter()
            .map(|&f| (f, BV::new_const(format!("stack_top_{f}"), 64)))
            .collect(),
    };
    let mem0 = Array::new_const("mem0", &Sort::bitvector(64), &Sort::bitvector(8));
    let meta0 = BV::new_const("packet_meta", 64);
    let data0 = BV::new_const("packet_data", 64);
    let end0 = BV::new_const("packet_end", 64);
    enc.placement(&meta0, &data0, &end0);

    let mut regs: Vec<Val> = (0..11)
        .map(|i| Val::unknown(BV::new_const(format!("r{i}_init"), 64)))
        .collect();
    regs[1] = Val::ptr(state::T_CTX, enc.ctx_base.clone());
    regs[10] = Val::ptr(T_STACK, enc.stack_top(0));
    let entry = State {
        guard: Bool::from_bool(true),
        regs,
        mem: mem0.clone(),
        tags: Array::const_array(&Sort::bitvector(64), &tag(state::T_NUM)),
        stored: BTreeSet::new(),
        meta: meta0.clone(),
        data: data0.clone(),
        end: end0.clone(),
        saved: BTreeMap::new(),
    };

    let rounds = match mode {
        Mode::Sound => 0,
        Mode::Unroll(k) => k,
    };
    // States after each (block, back edges taken so far).
    let mut post: BTreeMap<(NodeIndex, usize), State> = BTreeMap::new();
    let mut bad = vec![];
    // Runs that reach the alarm in the interpreter got past every earlier access.
    let mut survived = vec![];
    for round in 0..=rounds {
        for &b in &shape.order {
            let mut incoming = vec![];
            if b == cfg.entry() && round == 0 {
                incoming.push(entry.clone());
            }
            for e in g.edges_directed(b, Direction::Incoming) {
                let is_back = shape.back.contains(&e.id());
                let from = match (is_back, mode) {
                    (false, _) => round,
                    (true, Mode::Unroll(_)) if round > 0 => round - 1,
                    (true, _) => continue,
                };
                let Some(p) = post.get(&(e.source(), from)) else {
                    continue;
                };
                incoming.push(enc.edge(p, e.source(), *e.weight(), &cfg)?);
            }
            let Some(mut s) = merge(incoming) else {
                continue;
            };
            if mode == Mode::Sound
                && let Some(fx) = shape.loops.get(&b)
            {
                havoc(&mut s, fx);
                let head = heads
                    .iter()
                    .find(|h| h.frame == g[b].frame && h.pc == g[b].start);
                if let Some(head) = head {
                    assume_head(&mut s, fx, head);
                }
            }
            let block = g[b];
            if block.callback_loop {
                // The helper's call was encoded in the block before; this node only joins
                // the invocations.
                post.insert((b, round), s);
                continue;
            }
            let live = live_frames(&cfg, block.frame);
            for at in block.start..=block.end {
                if at == pc {
                    // Not the end of the block: later rounds of a loop, or the same pc in
                    // another frame, continue from the state after it.
                    bad.push(&s.guard & enc.bad(&s, property, &live));
                }
                survived.push(s.guard.implies(enc.survives(&s, at, &live)));
                enc.step(&mut s, at)?;
            }
            post.insert((b, round), s);
        }
    }
    if bad.is_empty() {
        return Err(Unsupported("no path reaches the alarm".into()));
    }
    let reach = Bool::or(
        &post
            .iter()
            .filter(|((b, _), _)| targets.contains(b))
            .map(|(_, s)| s.guard.clone())
            .collect::<Vec<_>>(),
    );
    // Replayable models: earlier accesses stay in bounds (else the replay traps there),
    // skb->len is the packet length, no metadata, packets of at most 1500 bytes.
    let mut witness = vec![vec![Bool::and(&survived)], vec![data0.eq(&meta0)]];
    if layout.is_some_and(|l| l.name == "struct __sk_buff") {
        let len = load_le(&mem0, &enc.ctx_base, 4);
        witness[1].push(len.eq((&end0 - &data0).extract(31, 0).zero_ext(32)));
    }
    witness.push(vec![(&end0 - &data0).bvule(bv(1500))]);
    Ok(Query {
        assumptions: enc.assumptions,
        reach,
        bad: Bool::or(&bad),
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
        has_loops: !shape.loops.is_empty(),
    })
}

/// `frame` and its callers: the frames whose stacks are live in it.
fn live_frames(cfg: &cfg::Cfg, frame: usize) -> Vec<usize> {
    let mut out = vec![frame];
    let mut f = frame;
    while let Some(p) = cfg.frames[f].parent {
        out.push(p);
        f = p;
    }
    out
}

/// The analysis's facts at a loop head, for the registers the havoc made fresh: a number
/// within its bounds, or a packet pointer `data + off` with `off` within its bounds.
///
/// Sound because the analysis's head invariant holds at every visit of every run in which no
/// alarm's property has failed yet (the analysis assumes an alarm's property after reporting
/// it, and nothing else). `smt::refine` only passes facts when every alarm of the analysis
/// that computed them is a property this module encodes exactly (bounds, NULL); then for a
/// run's *first* failing alarm, every earlier head visit satisfies the facts, so that alarm's
/// query is satisfiable and it is not discharged. Hence a program all of whose alarms are
/// discharged has no run in which any fails.
fn assume_head(s: &mut State, fx: &shape::LoopEffects, head: &LoopHead) {
    for &(r, fact) in &head.regs {
        if !fx.regs.contains(&r) {
            continue;
        }
        match fact {
            RegFact::Num {
                smin,
                smax,
                umin,
                umax,
            } => {
                let v = BV::fresh_const("head_num", 64);
                s.guard &= v.bvsge(BV::from_i64(smin, 64))
                    & v.bvsle(BV::from_i64(smax, 64))
                    & v.bvuge(bv(umin))
                    & v.bvule(bv(umax));
                s.regs[r] = Val::num(v);
            }
            RegFact::Packet { lo, hi } => {
                let off = BV::fresh_const("head_packet_off", 64);
                s.guard &= off.bvsge(BV::from_i64(lo, 64)) & off.bvsle(BV::from_i64(hi, 64));
                s.regs[r] = Val::ptr(state::T_PACKET, &s.data + off);
            }
        }
    }
}

/// A loop head's state stands for every iteration: what the loop modifies is replaced by
/// fresh values of unknown provenance (never judged safe), so the state covers the entry
/// state and every state a back edge brings.
fn havoc(s: &mut State, fx: &shape::LoopEffects) {
    for &r in &fx.regs {
        s.regs[r] = Val {
            v: BV::fresh_const("loop_r", 64),
            t: BV::fresh_const("loop_t", TAG_BITS),
            tags: [state::T_NUM, T_UNKNOWN].into(),
        };
    }
    if fx.memory {
        s.mem = Array::fresh_const("loop_mem", &Sort::bitvector(64), &Sort::bitvector(8));
        s.tags = Array::fresh_const(
            "loop_tags",
            &Sort::bitvector(64),
            &Sort::bitvector(TAG_BITS),
        );
        s.stored.insert(T_UNKNOWN);
    }
    if fx.packet {
        s.meta = BV::fresh_const("loop_meta", 64);
        s.data = BV::fresh_const("loop_data", 64);
        s.end = BV::fresh_const("loop_end", 64);
        s.guard &= s.meta.bvule(&s.data) & s.data.bvule(&s.end);
    }
}

impl Encoder<'_> {
    fn stack_top(&self, frame: usize) -> BV {
        self.stacks
            .get(&frame)
            .cloned()
            .unwrap_or_else(|| BV::fresh_const("stack_top", 64))
    }

    /// Facts of every placement: no region wraps, starts in the low 4 GiB or ends in the top
    /// 4 GiB; the context, every stack and the packet are distinct objects.
    fn placement(&mut self, meta: &BV, data: &BV, end: &BV) {
        let ctx_end = &self.ctx_base + bv(self.ctx_size);
        let mut regions = vec![
            (self.ctx_base.clone(), ctx_end),
            (meta.clone(), end.clone()),
        ];
        for top in self.stacks.values() {
            regions.push((top - bv(512), top.clone()));
        }
        for (lo, hi) in &regions {
            self.region_sane(lo, hi);
        }
        self.assumptions.push(meta.bvule(data));
        self.assumptions.push(data.bvule(end));
        for (i, a) in regions.iter().enumerate() {
            for b in &regions[i + 1..] {
                self.assumptions.push(a.1.bvule(&b.0) | b.1.bvule(&a.0));
            }
        }
    }

    /// Facts of every region placement, in the interpreter (4 GiB windows from 2^32) and in
    /// Linux (kernel addresses, far below the top 4 GiB): regions start at or above 2^32 and
    /// end at or below 2^64 - 2^32, so a program's `data + 14` never wraps around.
    fn region_sane(&mut self, lo: &BV, hi: &BV) {
        self.assumptions.push(lo.bvule(hi));
        self.assumptions.push(lo.bvuge(bv(1 << 32)));
        self.assumptions.push(hi.bvule(bv(u64::MAX << 32)));
    }

    /// The state `p` after `from`'s block, carried along an edge of kind `kind`.
    fn edge(
        &self,
        p: &State,
        from: NodeIndex,
        kind: Edge,
        cfg: &cfg::Cfg,
    ) -> Result<State, Unsupported> {
        let mut s = p.clone();
        let end_insn = self.input.insns[cfg.graph[from].end];
        match (kind, end_insn) {
            (Edge::Taken, Insn::Jump { .. }) => s.guard &= self.condition(&s, &end_insn)?,
            (Edge::NotTaken, Insn::Jump { .. }) => s.guard &= self.condition(&s, &end_insn)?.not(),
            (Edge::Goto | Edge::Taken | Edge::NotTaken, _) => {}
            (Edge::Call, _) => {
                // The callee's frame: the target block's (`cfg` numbers one per call site).
                let callee = cfg
                    .graph
                    .edges_directed(from, Direction::Outgoing)
                    .find(|e| *e.weight() == Edge::Call)
                    .map(|e| cfg.graph[e.target()].frame)
                    .ok_or_else(|| Unsupported("a call edge without a callee".into()))?;
                s.saved.insert(callee, s.regs[6..=10].to_vec());
                s.regs[10] = Val::ptr(T_STACK + callee as u64, self.stack_top(callee));
            }
            (Edge::Return, _) => {
                let callee = cfg.graph[from].frame;
                let saved = s
                    .saved
                    .remove(&callee)
                    .ok_or_else(|| Unsupported("a return without its call".into()))?;
                for (i, v) in saved.into_iter().enumerate() {
                    s.regs[6 + i] = v;
                }
            }
            (Edge::CallbackCall | Edge::CallbackReturn | Edge::CallbackDone, _)
                if !self.callbacks =>
            {
                return Err(Unsupported("a callback on a path to the alarm".into()));
            }
            (Edge::CallbackCall, _) => {
                // Another invocation: the callback's frame, with arguments the helper chose.
                let callee = cfg
                    .graph
                    .edges_directed(from, Direction::Outgoing)
                    .find(|e| *e.weight() == Edge::CallbackCall)
                    .map(|e| cfg.graph[e.target()].frame)
                    .ok_or_else(|| Unsupported("a callback edge without a callee".into()))?;
                s.saved.insert(callee, s.regs[6..=10].to_vec());
                for r in 1..=5 {
                    s.regs[r] = Val::unknown(BV::fresh_const("callback_arg", 64));
                }
                s.regs[10] = Val::ptr(T_STACK + callee as u64, self.stack_top(callee));
            }
            (Edge::CallbackReturn, _) => {
                let callee = cfg.graph[from].frame;
                let saved = s
                    .saved
                    .remove(&callee)
                    .ok_or_else(|| Unsupported("a callback return without its call".into()))?;
                for (i, v) in saved.into_iter().enumerate() {
                    s.regs[6 + i] = v;
                }
            }
            (Edge::CallbackDone, _) => {}
        }
        Ok(s)
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

    /// The access at `at` (if any) does not trap: its address lies in the region of its
    /// provenance (the context included). Only a preference for models, never assumed.
    fn survives(&self, s: &State, at: usize, live: &[usize]) -> Bool {
        let (reg, off, size) = match self.input.insns[at] {
            Insn::Load { size, src, off, .. } => (src, off, size.bytes()),
            Insn::Store { size, dst, off, .. } | Insn::Atomic { size, dst, off, .. } => {
                (dst, off, size.bytes())
            }
            _ => return Bool::from_bool(true),
        };
        let in_region = self
            .bad(s, Property::InBounds { reg, off, size }, live)
            .not();
        let in_ctx = self
            .bad(s, Property::InContext { reg, off, size }, live)
            .not();
        let is_ctx = s.regs[reg.index()].t.eq(tag(state::T_CTX));
        in_region | (is_ctx & in_ctx)
    }

    /// "The property fails" at state `s`, in a block whose live stacks are those of `live`.
    fn bad(&self, s: &State, property: Property, live: &[usize]) -> Bool {
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
                        state::T_PACKET => inside(&s.meta, &s.end),
                        t if t >= T_STACK => {
                            let f = (t - T_STACK) as usize;
                            match self.stacks.get(&f) {
                                Some(top) if live.contains(&f) => inside(&(top - bv(512)), top),
                                _ => continue,
                            }
                        }
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
            Property::InContext { reg, off, size } => {
                let addr = &s.regs[reg.index()].v + BV::from_i64(i64::from(off), 64);
                let rel = &addr - &self.ctx_base;
                (rel.bvule(bv(self.ctx_size.saturating_sub(size as u64)))
                    & bv(self.ctx_size).bvuge(bv(size as u64)))
                .not()
            }
            Property::NonNull { reg } => s.regs[reg.index()].v.eq(bv(0)),
            Property::NonZeroDivisor { reg, width } => {
                let v = &s.regs[reg.index()].v;
                match width {
                    Width::W64 => v.eq(bv(0)),
                    Width::W32 => v.extract(31, 0).eq(BV::from_u64(0, 32)),
                }
            }
            Property::ExitIn { lo, hi } => {
                let r0 = &s.regs[0].v;
                r0.bvslt(BV::from_i64(lo, 64)) | r0.bvsgt(BV::from_i64(hi, 64))
            }
            // A NULL pointer's arithmetic: ask for the NULL the watch looks for.
            Property::Watched(_, crate::interp::WatchCond::RegIs(reg, v)) => {
                s.regs[reg.index()].v.eq(bv(v))
            }
            Property::Reached(_)
            | Property::Watched(..)
            | Property::Unbounded { .. }
            | Property::HeldAtExit(_) => Bool::from_bool(true),
        }
    }
}
