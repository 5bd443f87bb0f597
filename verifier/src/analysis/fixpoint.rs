//! The fixpoint engine: iterate the transfer functions over the weak topological order, widen at
//! loop heads after a short delay, then run decreasing iterations to win back precision.
//!
//! Checking happens in the same walk: a component's last run (a block outside loops: its only
//! run; a loop: its last decreasing iteration, inside its parent's last run) sees the stable
//! invariant, so that run also checks every instruction, once. States are freed as soon as no
//! edge will read them again, so memory follows the frontier of the walk, not the program size.
//!
//! Termination of the program is proved with two ghost counters per loop head, `n` (iterations)
//! and `m = -n`: both are reset on edges entering the loop and stepped on its back edges, so the
//! zone relates them to whatever the loop moves (`i - n` stays constant for `i++`, `i - m` for
//! `i--`). A loop whose counter stays bounded at its head terminates; one whose counter is
//! unbounded is reported: "could not prove termination".

use super::branch;
use super::calls;
use super::report::{Report, Stats};
use super::state::{Detail, State, counter_var};
use super::transfer::{self, Env};
use super::{Input, Options};
use crate::cfg::{self, Cfg, Component, Edge, Wto};
use crate::domain::zone::Var;
use crate::isa::Insn;
use crate::platform::context;
use crate::platform::kernel_btf::KernelTypes;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::HashMap;

mod unroll;

/// Iterations at a loop head before widening everything (for loops of at most
/// `EXACT_BUDGET / WIDEN_DELAY` instructions; see [`widen_delay`]).
const WIDEN_DELAY: usize = 40;
/// Instructions of loop body the exact iterations of one loop may analyse: a loop body of
/// 9,000 instructions (a partly unrolled 180-iteration loop) iterated exactly 40 times would
/// cost more than the rest of the program.
const EXACT_BUDGET: usize = 40_000;

/// Rounds of exact iteration of a loop's guards: [`WIDEN_DELAY`] for small bodies, fewer for
/// big ones, never fewer than [`GUARD_DELAY`] + 1.
fn widen_delay(body_instructions: usize) -> usize {
    (EXACT_BUDGET / body_instructions.max(1)).clamp(GUARD_DELAY + 1, WIDEN_DELAY)
}
/// Iterations before widening all but the loop's guard registers (those its conditional jumps
/// compare): accumulators (`sum += x`) would otherwise climb for `WIDEN_DELAY` iterations,
/// while the guards keep their exact values, which is what bounds the loop (`i += 8` until
/// `i == 128` needs `i <= 120` at the head, which no threshold guesses).
const GUARD_DELAY: usize = 3;
/// Decreasing iterations after the fixpoint.
const NARROWING_PASSES: usize = 2;
/// Iterations at one head before giving up (widening guarantees far fewer).
const MAX_HEAD_ITERATIONS: usize = 200;

/// Widening thresholds: bounds jump to these instead of infinity.
const THRESHOLDS: &[i64] = &[
    i64::MIN,
    -(1 << 31),
    -4096,
    -512,
    -256,
    -1,
    0,
    1,
    8,
    16,
    32,
    64,
    128,
    255,
    256,
    512,
    1024,
    1500,
    4096,
    9000,
    65535,
    65536,
    (1 << 31) - 1,
    (1 << 32) - 1,
    i64::MAX,
];

struct Loop {
    counter: Var,
    neg_counter: Var,
    /// Registers compared by the conditional jumps of the loop.
    guards: Vec<usize>,
    /// Widening thresholds (see [`Engine::loop_thresholds`]).
    thresholds: Vec<i64>,
    /// Rounds before everything is widened (see [`widen_delay`]).
    delay: usize,
    /// Its index (ghost counters, iteration tags).
    index: u32,
    /// Most iterations analysed one by one before falling back to widening (see
    /// [`unroll::unroll_limit`]).
    unroll: usize,
}

struct Engine<'a> {
    cfg: Cfg,
    env: Env<'a>,
    /// Invariants at block entry and exit, as sets of disjuncts (empty = unreachable). Loop
    /// heads always hold one state (widening needs a single state).
    pre: Vec<Vec<State>>,
    post: Vec<Vec<State>>,
    /// Loop of each head block.
    loops: HashMap<NodeIndex, Loop>,
    /// Counter variables of the loops each block belongs to (to forget them on loop exits, so
    /// the zone does not grow with every loop the program has passed).
    counters_of: Vec<Vec<Var>>,
    /// Registers live on entry to each block (see [`cfg::liveness`]).
    live: Vec<u16>,
    /// Indices of the loops each block belongs to (to drop iteration tags on loop exits).
    loops_of: Vec<Vec<u32>>,
    visits: usize,
    gave_up: Vec<usize>,
    /// Per block, how many of its out-edges have yet to be read in the final pass; its exit
    /// states are freed when this reaches zero.
    pending: Vec<usize>,
    /// When the analysis started, for the time limit.
    started: std::time::Instant,
    /// The budget ran out: the walk unwinds without further work and the program is rejected.
    exhausted: bool,
    /// Most iterations a loop is analysed one by one ([`unroll::MAX_UNROLL`] or, on the second
    /// analysis, [`unroll::LONG_UNROLL`]).
    max_unroll: usize,
    /// A loop ran more iterations than that and was widened instead.
    unroll_cut_short: bool,
}

/// Runs the analysis from `entry` (the program's entry state, or a test's pre-state).
///
/// A program rejected after a loop fell back from iteration-by-iteration analysis to widening
/// is analysed once more with loops unrolled up to [`unroll::LONG_UNROLL`] iterations, within
/// what is left of the time limit; the second verdict is taken if it accepts. Both analyses
/// are sound, so either acceptance is; only rejected programs with long loops pay for it.
pub fn run(input: Input<'_>, options: &Options, entry: State) -> Report {
    let started = std::time::Instant::now();
    let (first, cut_short) = run_with(input, options, entry.clone(), unroll::MAX_UNROLL);
    if first.verdict == super::Verdict::Accepted || !cut_short {
        return first;
    }
    let mut retry = *options;
    if let Some(limit) = options.time_limit {
        match limit.checked_sub(started.elapsed()) {
            Some(left) if !left.is_zero() => retry.time_limit = Some(left),
            _ => return first,
        }
    }
    let (second, _) = run_with(input, &retry, entry, unroll::LONG_UNROLL);
    if second.verdict == super::Verdict::Accepted {
        second
    } else {
        first
    }
}

/// One analysis, unrolling loops up to `max_unroll` iterations; also whether a loop needed
/// more.
fn run_with(
    input: Input<'_>,
    options: &Options,
    entry: State,
    max_unroll: usize,
) -> (Report, bool) {
    let cfg = match cfg::build(input.insns) {
        Ok(c) => c,
        Err(e) => {
            let pc = match &e {
                cfg::CfgError::Recursion { pc, .. }
                | cfg::CfgError::TooDeep { pc, .. }
                | cfg::CfgError::FallsOffEnd { pc }
                | cfg::CfgError::BadTarget { pc } => *pc,
                cfg::CfgError::TooLarge { .. } => 0,
            };
            return (Report::rejected(pc, "cfg", e.to_string()), false);
        }
    };
    let wto = Wto::new(&cfg.graph, cfg.entry());
    let n = cfg.graph.node_count();
    let kernel = input.kernel_btf.map(KernelTypes::new);
    let attach = kernel
        .as_ref()
        .and_then(|k| k.attach_proto(input.program_type, input.section));
    let env = Env {
        insns: input.insns,
        maps: input.maps,
        program_type: input.program_type,
        section: input.section,
        layout: context::layout_for(input.program_type, input.section),
        kernel,
        attach,
        options,
        checking: false,
        diagnostics: vec![],
        callback_sites: cfg.callback_sites.clone(),
        map_class: transfer::map_classes(input.maps),
        extension_pair: transfer::extension_pairs(
            input.insns,
            cfg.graph
                .node_weights()
                .filter(|b| !b.callback_loop)
                .map(|b| (b.start, b.end)),
        ),
    };
    let mut engine = Engine {
        cfg,
        env,
        pre: vec![vec![]; n],
        post: vec![vec![]; n],
        loops: HashMap::new(),
        counters_of: vec![vec![]; n],
        loops_of: vec![vec![]; n],
        live: vec![],
        visits: 0,
        gave_up: vec![],
        pending: vec![],
        started: std::time::Instant::now(),
        exhausted: false,
        max_unroll,
        unroll_cut_short: false,
    };
    engine.pending = engine
        .cfg
        .graph
        .node_indices()
        .map(|b| {
            engine
                .cfg
                .graph
                .edges_directed(b, Direction::Outgoing)
                .count()
        })
        .collect();
    engine.live = cfg::liveness::live_in(&engine.cfg, input.insns);
    engine.find_loops(&wto.components);
    let start = engine.cfg.entry();
    engine.pre[start.index()] = vec![entry];
    for c in &wto.components {
        engine.component(c, true);
    }
    engine.report_gave_up();
    if engine.exhausted {
        let limit = match options.time_limit {
            Some(t) if engine.started.elapsed() >= t => format!("its time limit of {t:?}"),
            _ => format!("{} block visits", options.max_block_visits),
        };
        engine.env.checking = true;
        engine.env.fail(
            0,
            "budget",
            format!(
                "the analysis stopped after {limit}: the program is too complex to prove safe within the budget"
            ),
            vec![],
        );
    }
    let unreachable = engine.cfg.unreachable.clone();
    let stats = Stats {
        blocks: n,
        inlined_instructions: engine
            .cfg
            .graph
            .node_weights()
            .map(|b| b.end - b.start + 1)
            .sum(),
        visits: engine.visits,
        loops: engine.loops.len(),
    };
    let diagnostics = std::mem::take(&mut engine.env.diagnostics);
    let mut report = Report::new(diagnostics, unreachable, stats);
    if options.collect_invariants {
        let mut invariants: Vec<(usize, usize, String)> = engine
            .cfg
            .graph
            .node_indices()
            .filter(|b| !engine.pre[b.index()].is_empty())
            .map(|b| {
                let block = engine.cfg.graph[b];
                let depth = engine.cfg.frames[block.frame].depth;
                (
                    block.start,
                    depth,
                    joined(&engine.pre[b.index()]).describe(),
                )
            })
            .collect();
        invariants.sort();
        report.invariants = invariants;
        let heads = engine.loops.keys().copied();
        report.loop_heads = super::loop_facts::collect(&engine.cfg, heads, &engine.pre);
    }
    (report, engine.unroll_cut_short)
}

/// Most disjuncts kept at a block: paths are kept apart while their shapes differ (which
/// registers hold numbers, which pointers, which may be NULL, which stack bytes are set), up to
/// this many; beyond it the most alike are merged first.
const MAX_DISJUNCTS: usize = 8;

/// Groups states by shape and joins each group. More groups than [`MAX_DISJUNCTS`] are
/// regrouped by coarser shapes (ignoring which stack bytes are set, then spilled numbers, then
/// the stack), then the
/// two whose registers differ least are merged until few enough are left, so the paths that
/// differ in a live register's kind (a pointer on one, NULL or an error code on the other)
/// stay apart longest. Facts that hold per path survive the merge of paths whose shapes differ.
fn normalize(mut states: Vec<State>, live: u16) -> Vec<State> {
    states.retain(|s| !s.bottom);
    let mut groups = states;
    group(&mut groups, Detail::Full, live);
    for detail in [Detail::Slots, Detail::PointerSlots, Detail::Registers] {
        if groups.len() <= MAX_DISJUNCTS {
            break;
        }
        group(&mut groups, detail, live);
    }
    merge_closest(&mut groups, live);
    groups.retain(|s| !s.bottom);
    groups
}

/// Joins the two states whose registers differ in kind least (states of different iterations
/// of an unrolled loop count as differing everywhere) until at most [`MAX_DISJUNCTS`] are left.
fn merge_closest(groups: &mut Vec<State>, live: u16) {
    if groups.len() <= MAX_DISJUNCTS {
        return;
    }
    let mut kinds: Vec<[u64; 11]> = groups.iter().map(|s| s.register_kinds(live)).collect();
    while groups.len() > MAX_DISJUNCTS {
        let (i, j) = closest_pair(groups, &kinds);
        groups[i] = groups[i].join(&groups[j]);
        kinds[i] = groups[i].register_kinds(live);
        groups.swap_remove(j);
        kinds.swap_remove(j);
    }
}

/// The indices `i < j` of the two states whose register kinds differ least.
fn closest_pair(groups: &[State], kinds: &[[u64; 11]]) -> (usize, usize) {
    let mut best = (usize::MAX, 0, 1);
    for i in 0..groups.len() {
        for j in i + 1..groups.len() {
            let distance = if groups[i].iterations == groups[j].iterations {
                kinds[i]
                    .iter()
                    .zip(&kinds[j])
                    .filter(|(a, b)| a != b)
                    .count()
            } else {
                12
            };
            if distance < best.0 {
                best = (distance, i, j);
            }
        }
    }
    (best.1, best.2)
}

/// Joins the states of equal shape at `detail`, in order of first appearance, in place (a
/// state is over a kilobyte: moving them between vectors showed in profiles).
fn group(states: &mut Vec<State>, detail: Detail, live: u16) {
    // (key, index) of each group's first state; joined states are dropped at the end.
    let mut firsts: Vec<(u64, usize)> = Vec::with_capacity(states.len());
    let mut joined = vec![false; states.len()];
    for i in 0..states.len() {
        let key = states[i].shape(detail, live);
        match firsts.iter().find(|(k, _)| *k == key) {
            Some(&(_, g)) => {
                let (head, tail) = states.split_at_mut(i);
                head[g] = head[g].join(&tail[0]);
                joined[i] = true;
            }
            None => firsts.push((key, i)),
        }
    }
    let mut i = 0;
    states.retain(|_| {
        i += 1;
        !joined[i - 1]
    });
}

/// The join of a set of disjuncts (bottom for none).
fn joined(states: &[State]) -> State {
    match states {
        [] => State::bottom(),
        [one] => one.clone(),
        [first, rest @ ..] => rest.iter().fold(first.clone(), |acc, s| acc.join(s)),
    }
}

impl Engine<'_> {
    fn find_loops(&mut self, components: &[Component]) {
        fn members(c: &[Component], out: &mut Vec<usize>) {
            for x in c {
                match x {
                    Component::Vertex(v) => out.push(v.index()),
                    Component::Cycle(h, body) => {
                        out.push(h.index());
                        members(body, out);
                    }
                }
            }
        }
        for c in components {
            if let Component::Cycle(h, body) = c {
                let mut m = vec![h.index()];
                members(body, &mut m);
                let index = self.loops.len();
                let guards = self.guards(&m);
                let thresholds = self.loop_thresholds(&m);
                let body_insns: usize = m
                    .iter()
                    .map(|&b| {
                        let block = self.cfg.graph[NodeIndex::new(b)];
                        block.end + 1 - block.start
                    })
                    .sum();
                let (counter, neg_counter) = (counter_var(2 * index), counter_var(2 * index + 1));
                for &b in &m {
                    self.counters_of[b].extend([counter, neg_counter]);
                    self.loops_of[b].push(index as u32);
                }
                let delay = widen_delay(body_insns);
                let unroll = unroll::unroll_limit(body_insns, self.max_unroll);
                self.loops.insert(
                    *h,
                    Loop {
                        counter,
                        neg_counter,
                        guards,
                        thresholds,
                        delay,
                        index: index as u32,
                        unroll,
                    },
                );
                self.find_loops(body);
            }
        }
    }

    /// The registers the conditional jumps ending the blocks in `members` compare, and the
    /// registers those are copies of in the same block (`w4 = w2` or `r4 = r2; r4 <<= 32;
    /// r4 >>= 32` before `if r4 != 20`: the counter is r2).
    fn guards(&self, members: &[usize]) -> Vec<usize> {
        let mut regs = vec![];
        for &b in members {
            let block = self.cfg.graph[NodeIndex::new(b)];
            if let Some(Insn::Jump { dst, src, .. }) = self.env.insns.get(block.end) {
                let mut operands = vec![dst.index()];
                if let crate::isa::Operand::Reg(r) = src {
                    operands.push(r.index());
                }
                for g in operands {
                    regs.push(g);
                    regs.extend(copied_from(self.env.insns, block.start, block.end, g));
                }
            }
        }
        regs.sort_unstable();
        regs.dedup();
        regs
    }

    /// Widening thresholds for a loop: the usual ones plus every constant its conditional
    /// jumps compare with, and its neighbours, so `i != 600` bounds `i` at 600, not at the
    /// next power of two.
    fn loop_thresholds(&self, members: &[usize]) -> Vec<i64> {
        let mut t = THRESHOLDS.to_vec();
        for &b in members {
            let end = self.cfg.graph[NodeIndex::new(b)].end;
            if let Some(Insn::Jump {
                src: crate::isa::Operand::Imm(c),
                ..
            }) = self.env.insns.get(end)
            {
                let c = i64::from(*c);
                t.extend([c - 1, c, c + 1]);
            }
        }
        t.sort_unstable();
        t.dedup();
        t
    }

    /// The states flowing along edge `from → to`.
    fn along(&self, from: NodeIndex, edge: Edge, to: NodeIndex) -> Vec<State> {
        let block = self.cfg.graph[from];
        let mut out = Vec::with_capacity(self.post[from.index()].len());
        for post in &self.post[from.index()] {
            let mut s = post.clone();
            match edge {
                Edge::Goto => {}
                Edge::Taken | Edge::NotTaken => {
                    let insn = self.env.insns[block.end];
                    branch::assume(&mut s, &insn, edge == Edge::Taken);
                }
                Edge::Call => calls::enter(&mut s),
                Edge::Return => calls::leave(&mut s),
                Edge::CallbackCall => {
                    let helper = match self.env.insns[block.start] {
                        Insn::Call(crate::isa::CallTarget::Helper(id)) => id,
                        _ => 0,
                    };
                    calls::enter_callback(&mut s, helper, self.env.maps)
                }
                Edge::CallbackReturn => calls::leave_callback(&mut s),
                Edge::CallbackDone => calls::finish_callback(&mut s),
            }
            if s.bottom {
                continue;
            }
            // Leaving a loop: its counters are done, and its iterations merge.
            for v in &self.counters_of[from.index()] {
                if !self.counters_of[to.index()].contains(v) {
                    s.zone.forget(*v);
                }
            }
            if !s.iterations.is_empty() {
                let inside = &self.loops_of[to.index()];
                s.iterations.retain(|(l, _)| inside.contains(l));
            }
            if let Some(l) = self.loops.get(&to) {
                if self.in_loop(from, l.index) {
                    s.zone.assign_var(l.counter, l.counter, 1);
                    s.zone.assign_var(l.neg_counter, l.neg_counter, -1);
                } else {
                    s.zone.set_interval(l.counter, Some(0), Some(0));
                    s.zone.set_interval(l.neg_counter, Some(0), Some(0));
                }
            }
            out.push(s);
        }
        out
    }

    /// The states on all edges into `b` (the entry keeps its initial state), as disjuncts.
    fn incoming(&self, b: NodeIndex) -> Vec<State> {
        self.incoming_where(b, |_| true)
    }

    /// The states on the edges into `b` whose source satisfies `keep`, as disjuncts.
    fn incoming_where(&self, b: NodeIndex, keep: impl Fn(NodeIndex) -> bool) -> Vec<State> {
        let mut states = if b == self.cfg.entry() {
            self.pre[b.index()].clone()
        } else {
            vec![]
        };
        for e in self.cfg.graph.edges_directed(b, Direction::Incoming) {
            if keep(e.source()) {
                states.extend(self.along(e.source(), *e.weight(), b));
            }
        }
        normalize(states, self.live[b.index()])
    }

    /// The join of the states entering loop `h` from outside: they do not change while the
    /// loop iterates, so they are joined once per stabilisation, not once per iteration.
    fn loop_entry(&self, h: NodeIndex) -> State {
        joined(&self.loop_entries(h))
    }

    /// The join of the states along the back edges of loop `h`.
    fn loop_back(&self, h: NodeIndex) -> State {
        joined(&self.loop_backs(h))
    }

    /// The states entering loop `h` from outside, as disjuncts.
    fn loop_entries(&self, h: NodeIndex) -> Vec<State> {
        let index = self.loops[&h].index;
        self.incoming_where(h, |p| !self.in_loop(p, index))
    }

    /// The states along the back edges of loop `h`, as disjuncts.
    fn loop_backs(&self, h: NodeIndex) -> Vec<State> {
        let index = self.loops[&h].index;
        self.incoming_where(h, |p| self.in_loop(p, index))
    }

    /// Whether block `b` is in the loop with index `index` (nested loops included).
    fn in_loop(&self, b: NodeIndex, index: u32) -> bool {
        self.loops_of[b.index()].contains(&index)
    }

    /// Runs block `b` on its entry states. In the final pass (`check`), every instruction is
    /// also checked, once, on the stable invariant: the states are the same either way, only
    /// failed checks are reported.
    fn run_block(&mut self, b: NodeIndex, check: bool) {
        self.visits += 1;
        if self.over_budget() {
            return;
        }
        let block = self.cfg.graph[b];
        if block.callback_loop {
            self.post[b.index()] = self.pre[b.index()].clone();
            return;
        }
        self.env.checking = check;
        let mut out = Vec::with_capacity(self.pre[b.index()].len());
        // A block's entry states are recomputed from its in-edges before every run, so only
        // those that outlive the run (loop heads, requested invariants) are kept.
        let pres = if !self.keep_pre(b) {
            std::mem::take(&mut self.pre[b.index()])
        } else {
            self.pre[b.index()].clone()
        };
        for pre in pres {
            let mut s = pre;
            for pc in block.start..=block.end {
                if s.bottom {
                    break;
                }
                match self.env.insns[pc] {
                    Insn::WideTail => continue,
                    Insn::Jump { .. } if check => branch::check(&mut self.env, &s, pc),
                    _ => {}
                }
                transfer::step(&mut self.env, &mut s, pc);
            }
            if !s.bottom {
                out.push(s);
            }
        }
        self.env.checking = false;
        self.post[b.index()] = out;
        if check && self.pending[b.index()] == 0 {
            // Nothing will read it again (a latch whose head has had its last look).
            self.post[b.index()] = vec![];
        }
    }

    /// Whether the analysis has used up its budget (checked on every block visit; the clock
    /// on the first and then every 256th).
    fn over_budget(&mut self) -> bool {
        if !self.exhausted {
            let options = self.env.options;
            let late = self.visits % 256 == 1
                && options
                    .time_limit
                    .is_some_and(|t| self.started.elapsed() >= t);
            self.exhausted = self.visits as u64 > options.max_block_visits || late;
        }
        self.exhausted
    }

    /// Whether `b`'s entry states outlive its runs: loop heads (widening and termination are judged on
    /// them) and every block when the caller wants the invariants.
    fn keep_pre(&self, b: NodeIndex) -> bool {
        self.env.options.collect_invariants || self.loops.contains_key(&b)
    }

    /// In the final pass, `b` has read its incoming edges (those from sources satisfying
    /// `from`) for the last time: sources nobody else will read are freed. This keeps the
    /// memory of the analysis proportional to the frontier of the WTO, not to the program.
    fn consumed(&mut self, b: NodeIndex, from: impl Fn(&Self, NodeIndex) -> bool) {
        let sources: Vec<NodeIndex> = self
            .cfg
            .graph
            .edges_directed(b, Direction::Incoming)
            .map(|e| e.source())
            .filter(|&p| from(self, p))
            .collect();
        for p in sources {
            let left = &mut self.pending[p.index()];
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.post[p.index()] = vec![];
            }
        }
    }

    /// Stabilises component `c`. With `last`, this is the component's final run (its
    /// invariants will not change again): instructions are checked and states are freed as
    /// soon as nothing needs them.
    fn component(&mut self, c: &Component, last: bool) {
        if self.exhausted {
            return;
        }
        match c {
            Component::Vertex(v) => {
                if *v != self.cfg.entry() {
                    self.pre[v.index()] = self.incoming(*v);
                }
                if last {
                    self.consumed(*v, |_, _| true);
                }
                self.run_block(*v, last);
            }
            Component::Cycle(h, body) => {
                if self.unrolled(*h, body, last) {
                    return;
                }
                let mut iteration = 0;
                let mut widened = false;
                let entry = self.loop_entry(*h);
                if last {
                    let index = self.loops[h].index;
                    self.consumed(*h, |engine, p| !engine.in_loop(p, index));
                }
                loop {
                    let back = self.loop_back(*h);
                    let old = joined(&self.pre[h.index()]);
                    // `old` already holds the entry states after the first iteration.
                    let next = if iteration == 0 {
                        old.join(&entry.join(&back))
                    } else if iteration < GUARD_DELAY {
                        old.join(&back)
                    } else if iteration < self.loops[h].delay {
                        widened = true;
                        let l = &self.loops[h];
                        let mut w = old.widen(&back, &l.thresholds);
                        w.keep_registers_from(&old.join(&back), &l.guards);
                        w
                    } else {
                        widened = true;
                        old.widen(&back, &self.loops[h].thresholds)
                    };
                    if iteration > 0 && next.leq(&old) {
                        break;
                    }
                    self.pre[h.index()] = if next.bottom { vec![] } else { vec![next] };
                    self.run_block(*h, false);
                    for c in body {
                        self.component(c, false);
                    }
                    iteration += 1;
                    if self.exhausted {
                        return;
                    }
                    if iteration > MAX_HEAD_ITERATIONS {
                        self.gave_up.push(self.cfg.graph[*h].start);
                        break;
                    }
                }
                // Without widening the head holds the limit of plain iteration, which
                // decreasing iterations cannot improve: one pass remains, to check (and to
                // recompute what an outer iteration needs).
                let passes = if widened { NARROWING_PASSES } else { 1 };
                for pass in 0..passes {
                    let final_pass = last && pass + 1 == passes;
                    let new = entry.join(&self.loop_back(*h));
                    if final_pass {
                        let index = self.loops[h].index;
                        self.consumed(*h, |engine, p| engine.in_loop(p, index));
                    }
                    self.pre[h.index()] = if new.bottom { vec![] } else { vec![new] };
                    self.run_block(*h, final_pass);
                    for c in body {
                        self.component(c, final_pass);
                    }
                }
                if last {
                    self.check_termination(*h);
                }
            }
        }
    }

    /// Loops whose analysis never stabilised are reported at their heads.
    fn report_gave_up(&mut self) {
        self.env.checking = true;
        for pc in std::mem::take(&mut self.gave_up) {
            self.env.fail(
                pc,
                "termination",
                "the analysis of this loop did not stabilise".into(),
                vec![],
            );
        }
        self.env.checking = false;
    }

    /// Termination of loop `h`, judged on its final invariant: the iteration counter must be
    /// bounded at the head. Callback loops are bounded by their helper.
    fn check_termination(&mut self, h: NodeIndex) {
        if self.cfg.graph[h].callback_loop {
            return;
        }
        let Some(l) = self.loops.get(&h) else {
            return;
        };
        let (counter, neg) = (l.counter, l.neg_counter);
        let s = joined(&self.pre[h.index()]);
        if s.bottom {
            return;
        }
        let upper = s.zone.interval(counter).1;
        let neg_lower = s.zone.interval(neg).0.map(|l| l.saturating_neg());
        let bound = match (upper, neg_lower) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let limit = self.env.options.max_loop_iterations as i64;
        if bound.is_none_or(|b| b > limit) {
            let pc = self.cfg.graph[h].start;
            self.env.checking = true;
            self.env.fail(
                pc,
                "termination",
                format!("could not prove termination of the loop at pc {pc}: no bound on its iterations (limit {limit})"),
                vec![],
            );
            self.env.checking = false;
        }
        if !self.env.options.collect_invariants {
            self.pre[h.index()] = vec![];
        }
    }
}

/// The registers `g` is a copy of at the end of block `start..=end`: walking back from the
/// block's last instruction through moves (64- or 32-bit) and 32-bit truncations of `g`.
fn copied_from(insns: &[Insn], start: usize, end: usize, mut g: usize) -> Vec<usize> {
    use crate::isa::{AluOp, Operand};
    let mut out = vec![];
    for pc in (start..end).rev() {
        let Some(Insn::Alu { op, dst, src, .. }) = insns.get(pc) else {
            if insns.get(pc).is_some_and(|i| writes(i, g)) {
                break;
            }
            continue;
        };
        if dst.index() != g {
            continue;
        }
        match (op, src) {
            (AluOp::Mov, Operand::Reg(r)) => {
                g = r.index();
                out.push(g);
            }
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Operand::Imm(32)) => {}
            (AluOp::And, Operand::Imm(-1)) => {}
            _ => break,
        }
    }
    out
}

/// Whether a non-ALU instruction may write register `r` (loads, calls, `lddw`, ...).
fn writes(insn: &Insn, r: usize) -> bool {
    match insn {
        Insn::Load { dst, .. } | Insn::LoadImm64 { dst, .. } => dst.index() == r,
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => dst.index() == r,
        Insn::Call(_) | Insn::CallX { .. } => r <= 5,
        Insn::LoadPacket { .. } => r <= 5,
        Insn::Atomic { .. } => true,
        _ => false,
    }
}
