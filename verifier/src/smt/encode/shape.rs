//! The part of the CFG an alarm's query covers, as a DAG: the blocks that can reach the alarm,
//! with the back edges of loops (edges into a WTO head from inside its component) set apart.
//!
//! Every cycle of a CFG passes through the head of a WTO component containing it (Bourdoncle),
//! so removing those edges leaves a DAG; `order` is its topological order. What each loop may
//! modify is collected here too, for the head's havoc.

use super::Unsupported;
use crate::cfg::{Cfg, Edge};
use crate::cfg::{Component, Wto};
use crate::isa::{CallTarget, Insn};
use petgraph::Direction;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the instructions of one loop (its component, nested loops and inlined callees
/// included) may change: a head's state is havocked on exactly these.
#[derive(Default, Debug)]
pub struct LoopEffects {
    /// Registers some instruction of the loop writes.
    pub regs: BTreeSet<usize>,
    /// Some instruction or helper call of the loop may write memory.
    pub memory: bool,
    /// Some helper call of the loop may move the packet.
    pub packet: bool,
}

pub struct Shape {
    /// Region blocks in a topological order of the DAG without back edges.
    pub order: Vec<NodeIndex>,
    pub back: HashSet<EdgeIndex>,
    /// Loop heads in the region and what their loops modify.
    pub loops: HashMap<NodeIndex, LoopEffects>,
}

impl Shape {
    pub fn new(cfg: &Cfg, insns: &[Insn], targets: &[NodeIndex]) -> Result<Shape, Unsupported> {
        let g = &cfg.graph;
        let mut region = vec![false; g.node_count()];
        let mut work = targets.to_vec();
        while let Some(b) = work.pop() {
            if std::mem::replace(&mut region[b.index()], true) {
                continue;
            }
            work.extend(g.edges_directed(b, Direction::Incoming).map(|e| e.source()));
        }
        let wto = Wto::new(g, cfg.entry());
        let mut components = vec![];
        collect(&wto.components, &mut components);
        let mut back = HashSet::new();
        let mut loops = HashMap::new();
        for (head, body) in components {
            if !region[head.index()] {
                continue;
            }
            let inside: HashSet<NodeIndex> = body.iter().copied().collect();
            for e in g.edges_directed(head, Direction::Incoming) {
                if inside.contains(&e.source()) {
                    back.insert(e.id());
                }
            }
            loops.insert(head, effects(cfg, insns, &body));
        }
        let order = toposort(cfg, &region, &back)?;
        Ok(Shape { order, back, loops })
    }
}

/// Each cycle's head with every block of its component (the head included).
fn collect(cs: &[Component], out: &mut Vec<(NodeIndex, Vec<NodeIndex>)>) {
    fn blocks(cs: &[Component], out: &mut Vec<NodeIndex>) {
        for c in cs {
            match c {
                Component::Vertex(v) => out.push(*v),
                Component::Cycle(h, body) => {
                    out.push(*h);
                    blocks(body, out);
                }
            }
        }
    }
    for c in cs {
        if let Component::Cycle(h, body) = c {
            let mut all = vec![*h];
            blocks(body, &mut all);
            out.push((*h, all));
            collect(body, out);
        }
    }
}

fn effects(cfg: &Cfg, insns: &[Insn], body: &[NodeIndex]) -> LoopEffects {
    let mut fx = LoopEffects::default();
    for &b in body {
        let block = cfg.graph[b];
        if block.callback_loop {
            fx.memory = true;
            fx.regs.extend(0..10);
            continue;
        }
        for insn in &insns[block.start..=block.end] {
            match *insn {
                Insn::Alu { dst, .. }
                | Insn::Neg { dst, .. }
                | Insn::Endian { dst, .. }
                | Insn::Load { dst, .. }
                | Insn::LoadImm64 { dst, .. } => {
                    fx.regs.insert(dst.index());
                }
                Insn::Store { .. } => fx.memory = true,
                Insn::Atomic { src, .. } => {
                    fx.memory = true;
                    fx.regs.extend([0, src.index()]);
                }
                Insn::Call(CallTarget::Helper(id)) => {
                    fx.regs.extend(0..=5);
                    fx.memory |= !super::helper::PURE.contains(&id);
                    fx.packet |=
                        crate::platform::helpers::proto(id).is_none_or(|p| p.changes_packet_data);
                }
                Insn::Call(_) | Insn::CallX { .. } | Insn::LoadPacket { .. } => {
                    fx.regs.extend(0..10);
                    fx.memory = true;
                    fx.packet = true;
                }
                _ => {}
            }
        }
    }
    fx
}

/// Kahn's algorithm on the region without back edges; a cycle left means the WTO did not
/// cut it (never expected), and the alarm is not encoded.
fn toposort(
    cfg: &Cfg,
    region: &[bool],
    back: &HashSet<EdgeIndex>,
) -> Result<Vec<NodeIndex>, Unsupported> {
    let g = &cfg.graph;
    let forward = |e: &petgraph::graph::EdgeReference<'_, Edge>| {
        region[e.source().index()] && region[e.target().index()] && !back.contains(&e.id())
    };
    let mut indegree = vec![0usize; g.node_count()];
    for e in g.edge_references().filter(|e| forward(e)) {
        indegree[e.target().index()] += 1;
    }
    let mut ready: Vec<NodeIndex> = g
        .node_indices()
        .filter(|b| region[b.index()] && indegree[b.index()] == 0)
        .collect();
    let mut order = vec![];
    while let Some(b) = ready.pop() {
        order.push(b);
        for e in g
            .edges_directed(b, Direction::Outgoing)
            .filter(|e| forward(e))
        {
            let d = &mut indegree[e.target().index()];
            *d -= 1;
            if *d == 0 {
                ready.push(e.target());
            }
        }
    }
    if order.len() != region.iter().filter(|r| **r).count() {
        return Err(Unsupported(
            "a cycle not cut at a loop head on a path to the alarm".into(),
        ));
    }
    Ok(order)
}
