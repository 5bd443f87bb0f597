//! The control-flow graph the analysis runs on: basic blocks, with bpf-to-bpf calls inlined per
//! call site.
//!
//! Every call site gets its own copy of the callee's blocks in a new [`Frame`], so the analysis
//! sees each callee in the context of its caller (the precision Linux gets by re-verifying a
//! subprogram per call path). Recursion and more than [`MAX_FRAMES`] nested frames are rejected,
//! and the inlined size is capped so a hostile call tree cannot blow up.
//!
//! Invariants of a built [`Cfg`]: block 0 is the entry (frame 0, pc 0); every block's
//! instructions are in one function of one frame and only its last instruction may transfer
//! control; every edge target is a block; only blocks ending in `exit` in frame 0 have no
//! successors.

pub mod liveness;
mod wto;

pub use wto::{Component, Wto};

use crate::isa::{CallTarget, Insn};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, HashMap};
use thiserror::Error;

/// Most call frames, the entry function included (Linux's limit).
pub const MAX_FRAMES: usize = 8;
/// Most instructions after inlining.
pub const MAX_INLINED_INSNS: usize = 2_000_000;

pub type FrameId = usize;

/// One activation of a function: where it was called from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub parent: Option<FrameId>,
    /// The `call` instruction in the parent frame.
    pub call_site: Option<usize>,
    /// First instruction of the function.
    pub entry: usize,
    /// 0 for the entry function.
    pub depth: usize,
}

/// Instructions `start..=end` of one function in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub frame: FrameId,
    pub start: usize,
    pub end: usize,
    /// A node with no instructions standing for "inside a helper that calls a callback": the
    /// head of the loop of callback invocations (its `start`/`end` are the helper call's pc).
    pub callback_loop: bool,
}

/// How control moves along an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// Straight-line flow or an unconditional jump.
    Goto,
    /// The conditional jump ending the source block is taken.
    Taken,
    /// The conditional jump ending the source block falls through.
    NotTaken,
    /// From a call site into the callee's entry.
    Call,
    /// From the callee's `exit` back to the instruction after the call.
    Return,
    /// From a callback loop node into the callback's entry (another invocation).
    CallbackCall,
    /// From the callback's `exit` back to its loop node.
    CallbackReturn,
    /// From a callback loop node to the instruction after the helper call (no more invocations).
    CallbackDone,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CfgError {
    #[error(
        "pc {pc}: function at {entry} calls itself through {chain:?} (recursion is not allowed)"
    )]
    Recursion {
        pc: usize,
        entry: usize,
        chain: Vec<usize>,
    },
    #[error("pc {pc}: call nesting exceeds {max} frames")]
    TooDeep { pc: usize, max: usize },
    #[error("program has more than {limit} instructions once calls are inlined")]
    TooLarge { limit: usize },
    #[error("pc {pc}: execution can run past the end of the program")]
    FallsOffEnd { pc: usize },
    #[error("pc {pc}: jump into the second half of an lddw or outside the program")]
    BadTarget { pc: usize },
}

#[derive(Debug)]
pub struct Cfg {
    pub graph: DiGraph<Block, Edge>,
    pub frames: Vec<Frame>,
    /// Helper calls whose callback is part of the graph (it runs between the loop node and
    /// the instruction after the call).
    pub callback_sites: Vec<usize>,
    /// Instructions no frame reaches; reported, not analysed.
    pub unreachable: Vec<usize>,
}

impl Cfg {
    pub fn entry(&self) -> NodeIndex {
        NodeIndex::new(0)
    }
}

/// The shape of one function, computed once and instantiated per frame.
struct FunctionShape {
    /// (start, end) of each block, in pc order.
    blocks: Vec<(usize, usize)>,
}

fn successors_in_function(insns: &[Insn], pc: usize) -> Result<Vec<(usize, Edge)>, CfgError> {
    let next = |p: usize| -> Result<usize, CfgError> {
        match insns.get(p) {
            Some(Insn::WideTail) | None => Err(CfgError::FallsOffEnd { pc }),
            Some(_) => Ok(p),
        }
    };
    let target = |insn: &Insn| -> Result<usize, CfgError> {
        let t = insn.branch_target(pc).ok_or(CfgError::BadTarget { pc })?;
        let t = usize::try_from(t).map_err(|_| CfgError::BadTarget { pc })?;
        match insns.get(t) {
            Some(Insn::WideTail) | None => Err(CfgError::BadTarget { pc }),
            Some(_) => Ok(t),
        }
    };
    let insn = &insns[pc];
    Ok(match insn {
        Insn::Exit => vec![],
        Insn::Ja { .. } => vec![(target(insn)?, Edge::Goto)],
        Insn::Jump { .. } => vec![
            (target(insn)?, Edge::Taken),
            (next(pc + 1)?, Edge::NotTaken),
        ],
        _ => vec![(next(pc + insn.slots())?, Edge::Goto)],
    })
}

fn is_local_call(insn: &Insn) -> bool {
    matches!(insn, Insn::Call(CallTarget::Local(_)))
}

/// `bpf_loop(nr, callback, ctx, flags)`: calls `callback(i, ctx)` up to `nr` times, in place.
pub const BPF_LOOP: i32 = 181;

/// `bpf_for_each_map_elem(map, callback, ctx, flags)`: calls `callback(map, key, value, ctx)`
/// for each element, in place.
pub const BPF_FOR_EACH_MAP_ELEM: i32 = 164;

/// Helpers that run a callback synchronously, any number of times, before they return. Both
/// take the callback in r2.
fn is_callback_helper(insn: &Insn) -> bool {
    matches!(
        insn,
        Insn::Call(CallTarget::Helper(BPF_LOOP | BPF_FOR_EACH_MAP_ELEM))
    )
}

/// The callback a `bpf_loop` (or `bpf_for_each_map_elem`) call at `call` runs: the function loaded into r2 by the last
/// instruction of its block that writes r2, which must be `lddw r2, func(..)`. Anything else
/// leaves the call to the analysis, which then refuses it.
fn callback_target(insns: &[Insn], start: usize, call: usize) -> Option<usize> {
    for pc in (start..call).rev() {
        let insn = &insns[pc];
        let writes_r2 = match insn {
            Insn::Alu { dst, .. }
            | Insn::Neg { dst, .. }
            | Insn::Endian { dst, .. }
            | Insn::Load { dst, .. } => dst.index() == 2,
            Insn::LoadImm64 { dst, .. } => dst.index() == 2,
            Insn::Atomic { .. } | Insn::Call(_) | Insn::CallX { .. } | Insn::LoadPacket { .. } => {
                true
            }
            _ => false,
        };
        if !writes_r2 {
            continue;
        }
        return match *insn {
            Insn::LoadImm64 {
                kind: crate::isa::Imm64Kind::Func,
                ..
            } => insn.branch_target(pc).and_then(|t| usize::try_from(t).ok()),
            _ => None,
        };
    }
    None
}

/// Blocks of the function starting at `entry`: the instructions reachable from it without
/// following calls.
fn shape(insns: &[Insn], entry: usize) -> Result<FunctionShape, CfgError> {
    let mut reached = BTreeSet::new();
    let mut leaders = BTreeSet::from([entry]);
    let mut work = vec![entry];
    while let Some(pc) = work.pop() {
        if !reached.insert(pc) {
            continue;
        }
        let insn = &insns[pc];
        let succs = successors_in_function(insns, pc)?;
        let ends_block = matches!(insn, Insn::Exit | Insn::Ja { .. } | Insn::Jump { .. })
            || is_local_call(insn)
            || is_callback_helper(insn);
        for &(s, _) in &succs {
            if ends_block {
                leaders.insert(s);
            }
            work.push(s);
        }
        if let Insn::Ja { .. } | Insn::Jump { .. } = insn {
            for &(s, _) in &succs {
                leaders.insert(s);
            }
        }
    }
    let mut blocks = Vec::new();
    let mut current: Option<usize> = None;
    let pcs: Vec<usize> = reached.iter().copied().collect();
    for (i, &pc) in pcs.iter().enumerate() {
        if current.is_none() || leaders.contains(&pc) {
            current = Some(pc);
        }
        let insn = &insns[pc];
        let next_pc = pc + insn.slots();
        let ends = matches!(insn, Insn::Exit | Insn::Ja { .. } | Insn::Jump { .. })
            || is_local_call(insn)
            || is_callback_helper(insn)
            || pcs.get(i + 1) != Some(&next_pc)
            || leaders.contains(&next_pc);
        if ends && let Some(start) = current.take() {
            blocks.push((start, pc));
        }
    }
    Ok(FunctionShape { blocks })
}

/// Builds the inlined CFG of a decoded program.
pub fn build(insns: &[Insn]) -> Result<Cfg, CfgError> {
    if insns.is_empty() {
        return Err(CfgError::FallsOffEnd { pc: 0 });
    }
    let mut shapes: HashMap<usize, FunctionShape> = HashMap::new();
    let mut graph: DiGraph<Block, Edge> = DiGraph::new();
    let mut frames: Vec<Frame> = vec![Frame {
        parent: None,
        call_site: None,
        entry: 0,
        depth: 0,
    }];
    let mut covered = vec![false; insns.len()];
    let mut inlined = 0usize;
    // Frames whose blocks are still to be created.
    let mut pending: Vec<FrameId> = vec![0];
    // (frame, pc) → block node, for edges.
    let mut node_of: HashMap<(FrameId, usize), NodeIndex> = HashMap::new();
    // Blocks ending in `exit`, per frame, to wire returns.
    let mut exits_of: HashMap<FrameId, Vec<NodeIndex>> = HashMap::new();
    // (call block, callee frame, return pc).
    let mut calls: Vec<(NodeIndex, FrameId, usize)> = Vec::new();
    // (helper call block, loop node, callback frame, return pc).
    let mut callbacks: Vec<(NodeIndex, NodeIndex, FrameId, usize)> = Vec::new();
    let mut callback_sites: Vec<usize> = Vec::new();
    while let Some(frame_id) = pending.pop() {
        let entry = frames[frame_id].entry;
        let blocks = match shapes.entry(entry) {
            std::collections::hash_map::Entry::Occupied(e) => e.get().blocks.clone(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(shape(insns, entry)?).blocks.clone()
            }
        };
        for &(start, end) in &blocks {
            let node = graph.add_node(Block {
                frame: frame_id,
                start,
                end,
                callback_loop: false,
            });
            node_of.insert((frame_id, start), node);
            if insns[end] == Insn::Exit {
                exits_of.entry(frame_id).or_default().push(node);
            }
            covered[start..=end].fill(true);
            inlined += end - start + 1;
            if inlined > MAX_INLINED_INSNS {
                return Err(CfgError::TooLarge {
                    limit: MAX_INLINED_INSNS,
                });
            }
        }
        for &(start, end) in &blocks {
            let node = node_of[&(frame_id, start)];
            let last = &insns[end];
            let callback = if is_callback_helper(last) {
                callback_target(insns, start, end)
            } else {
                None
            };
            if let Some(target) = callback {
                let callee = push_frame(&mut frames, frame_id, end, target)?;
                let loop_node = graph.add_node(Block {
                    frame: frame_id,
                    start: end,
                    end,
                    callback_loop: true,
                });
                callbacks.push((node, loop_node, callee, end + 1));
                callback_sites.push(end);
                pending.push(callee);
                continue;
            }
            if let Insn::Call(CallTarget::Local(_)) = last {
                let target = last
                    .branch_target(end)
                    .and_then(|t| usize::try_from(t).ok())
                    .ok_or(CfgError::BadTarget { pc: end })?;
                let callee = push_frame(&mut frames, frame_id, end, target)?;
                calls.push((node, callee, end + 1));
                pending.push(callee);
            }
        }
    }
    // Intra-frame edges.
    let nodes: Vec<NodeIndex> = graph.node_indices().collect();
    for &node in &nodes {
        let b = graph[node];
        if is_local_call(&insns[b.end])
            || b.callback_loop
            || (callback_sites.contains(&b.end) && is_callback_helper(&insns[b.end]))
        {
            continue;
        }
        for (succ, edge) in successors_in_function(insns, b.end)? {
            let to = node_of
                .get(&(b.frame, succ))
                .copied()
                .ok_or(CfgError::BadTarget { pc: b.end })?;
            graph.add_edge(node, to, edge);
        }
    }
    // Call and return edges.
    for (call_node, callee, return_pc) in calls {
        let caller = graph[call_node].frame;
        let entry = node_of[&(callee, frames[callee].entry)];
        graph.add_edge(call_node, entry, Edge::Call);
        let ret = node_of
            .get(&(caller, return_pc))
            .copied()
            .ok_or(CfgError::FallsOffEnd { pc: return_pc - 1 })?;
        for e in exits_of.remove(&callee).unwrap_or_default() {
            graph.add_edge(e, ret, Edge::Return);
        }
    }
    // Callback loops: the helper call enters its loop node, which either runs the callback
    // once more or is done.
    for (call_node, loop_node, callee, return_pc) in callbacks {
        let caller = graph[call_node].frame;
        graph.add_edge(call_node, loop_node, Edge::Goto);
        let entry = node_of[&(callee, frames[callee].entry)];
        graph.add_edge(loop_node, entry, Edge::CallbackCall);
        for e in exits_of.remove(&callee).unwrap_or_default() {
            graph.add_edge(e, loop_node, Edge::CallbackReturn);
        }
        let ret = node_of
            .get(&(caller, return_pc))
            .copied()
            .ok_or(CfgError::FallsOffEnd { pc: return_pc - 1 })?;
        graph.add_edge(loop_node, ret, Edge::CallbackDone);
    }
    let unreachable = (0..insns.len())
        .filter(|&pc| !covered[pc] && insns[pc] != Insn::WideTail)
        .collect();
    Ok(Cfg {
        graph,
        frames,
        callback_sites,
        unreachable,
    })
}

/// A new frame for a call from `parent` at `call_site` to `target`, refusing recursion and
/// nesting past [`MAX_FRAMES`].
fn push_frame(
    frames: &mut Vec<Frame>,
    parent: FrameId,
    call_site: usize,
    target: usize,
) -> Result<FrameId, CfgError> {
    let mut chain = vec![];
    let mut f = Some(parent);
    while let Some(id) = f {
        chain.push(frames[id].entry);
        if frames[id].entry == target {
            chain.reverse();
            return Err(CfgError::Recursion {
                pc: call_site,
                entry: target,
                chain,
            });
        }
        f = frames[id].parent;
    }
    let depth = frames[parent].depth + 1;
    if depth >= MAX_FRAMES {
        return Err(CfgError::TooDeep {
            pc: call_site,
            max: MAX_FRAMES,
        });
    }
    frames.push(Frame {
        parent: Some(parent),
        call_site: Some(call_site),
        entry: target,
        depth,
    });
    Ok(frames.len() - 1)
}

#[cfg(test)]
mod tests;
