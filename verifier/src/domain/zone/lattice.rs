//! Lattice operations on closed graphs: inclusion, join, meet, widening, narrowing.
//!
//! All take closed graphs (see `graph.rs`) and read bounds through [`Graph::dist`], so stale or
//! implicit (zero-vertex) bounds are handled the same way as stored ones. Each is exact with
//! respect to the dense closed matrices of Miné's DBMs: the tests compare them entry by entry
//! with a Floyd–Warshall reference.

use super::Infeasible;
use super::Var;
use super::graph::{Graph, Node, VarMap, Weight, le, lt, max, storable, wide};
use std::rc::Rc;

/// `g1 ⊑ g2`: every constraint of `g2` is implied by `g1`. Checking `g2`'s unary bounds and
/// stored edges is enough: its implicit bounds follow from its unary bounds.
pub(super) fn leq(g1: &Graph, g2: &Graph) -> bool {
    g2.nodes.iter().all(|(&v, n2)| {
        le(g1.upper(v), wide(n2.upper))
            && le(g1.neg_lower(v), wide(n2.neg_lower))
            && n2
                .succ
                .iter()
                .all(|(&j, &w)| le(g1.dist(v, j), Some(w.into())))
    })
}

/// Least upper bound: the pointwise maximum of the closed matrices, which is closed.
///
/// A pair `(i, j)` can have a finite bound in the result only if both sides bound it. Either
/// side stores an edge for it, or both imply it through the zero vertex; in the latter case the
/// maximum `max(lo1(i) + hi1(j), lo2(i) + hi2(j))` is tighter than the joined zero-vertex bound
/// `max(lo1, lo2)(i) + max(hi1, hi2)(j)` only when the two maxima come from different sides
/// (e.g. `x = y = 1` joined with `x = y = 2` gives `x = y`, which neither side stores). Those
/// pairs are the only ones enumerated beyond the stored edges.
pub(super) fn join(g1: &Graph, g2: &Graph) -> Graph {
    // Two clones of one zone that neither changed (the paths differ in registers or the stack
    // only): every node is shared, and the join is either.
    if g1.nodes.len() == g2.nodes.len()
        && g1
            .nodes
            .iter()
            .zip(g2.nodes.iter())
            .all(|((v1, n1), (v2, n2))| v1 == v2 && Rc::ptr_eq(n1, n2))
    {
        return g1.clone();
    }
    let clean = clean_components(g1, g2);
    let mut out = Graph {
        nodes: VarMap::with_capacity(g1.nodes.len().min(g2.nodes.len())),
        touched: Vec::new(),
    };
    for (k, (&v, n1)) in g1.nodes.iter().enumerate() {
        if clean[k] {
            out.nodes.push_last(v, Rc::clone(n1));
            continue;
        }
        if let Some(n2) = g2.nodes.get(&v) {
            let upper = max(wide(n1.upper), wide(n2.upper)).and_then(storable);
            let neg_lower = max(wide(n1.neg_lower), wide(n2.neg_lower)).and_then(storable);
            if upper.is_some() || neg_lower.is_some() {
                let node = Node {
                    upper,
                    neg_lower,
                    ..Node::default()
                };
                out.nodes.push_last(v, Rc::new(node));
            }
        }
    }
    // Edges inside a clean component came with its nodes; crossed pairs never touch one (its
    // bounds are equal on both sides).
    let is_clean = |v: Var| g1.nodes.index_of(&v).is_some_and(|k| clean[k]);
    let mut pairs: Vec<(Var, Var)> = g1
        .nodes
        .iter()
        .enumerate()
        .filter(|(k, _)| !clean[*k])
        .flat_map(|(_, (&i, n))| n.succ.keys().map(move |&j| (i, j)))
        .collect();
    pairs.extend(
        g2.edges()
            .map(|(i, j, _)| (i, j))
            .filter(|&(i, _)| !is_clean(i)),
    );
    crossed_pairs(g1, g2, &mut pairs);
    // A pair may be listed more than once (an edge on both sides, or also crossed).
    pairs.sort_unstable();
    pairs.dedup();
    let edges: Vec<(Var, Var, i64)> = pairs
        .into_iter()
        .filter_map(|(i, j)| {
            let joined = g1.dist(i, j)?.max(g2.dist(i, j)?);
            lt(joined, out.via_zero(i, j))
                .then(|| storable(joined))
                .flatten()
                .map(|w| (i, j, w))
        })
        .collect();
    add_fresh_edges(&mut out, edges);
    out
}

/// Adds `edges` (sorted by source, then target; one per pair) to `out`, where none of their
/// ends has an edge yet and no end is shared with another graph (the join's new nodes), building
/// each node's adjacency in one pass instead of one sorted insertion per edge.
fn add_fresh_edges(out: &mut Graph, edges: Vec<(Var, Var, i64)>) {
    if edges.is_empty() {
        return;
    }
    // Ends without a node get one (no unary bound).
    let mut missing: Vec<Var> = edges
        .iter()
        .flat_map(|&(i, j, _)| [i, j])
        .filter(|v| out.nodes.get(v).is_none())
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        let old = std::mem::take(&mut out.nodes).into_entries();
        let mut nodes = VarMap::with_capacity(old.len() + missing.len());
        let mut extra = missing.into_iter().peekable();
        for (v, n) in old {
            while let Some(m) = extra.next_if(|m| *m < v) {
                nodes.push_last(m, Rc::new(Node::default()));
            }
            nodes.push_last(v, n);
        }
        for m in extra {
            nodes.push_last(m, Rc::new(Node::default()));
        }
        out.nodes = nodes;
    }
    for group in edges.chunk_by(|a, b| a.0 == b.0) {
        if let Some(node) = out.nodes.get_mut(&group[0].0) {
            let node = Rc::make_mut(node);
            debug_assert!(node.succ.is_empty(), "a join's new node has no edge yet");
            node.succ = group.iter().map(|&(_, j, w)| (j, w)).collect();
        }
    }
    let mut by_target = edges;
    by_target.sort_unstable_by_key(|&(i, j, _)| (j, i));
    for group in by_target.chunk_by(|a, b| a.1 == b.1) {
        if let Some(node) = out.nodes.get_mut(&group[0].1) {
            let node = Rc::make_mut(node);
            debug_assert!(node.pred.is_empty(), "a join's new node has no edge yet");
            node.pred = group.iter().map(|&(i, _, w)| (i, w)).collect();
        }
    }
}

/// Per node of `g1` (in its order): whether its connected component, over the edges of both
/// graphs, consists of nodes both graphs share (`Rc::ptr_eq`, or equal). Such a component joins to
/// itself: every pair inside it has the same bounds and distances on both sides, and no edge
/// leaves it (a shared node has the same edges on both sides, all to nodes of its component).
/// Reusing its nodes saves the join most of its work when two paths changed a few variables
/// of a large zone. (Kept edges that the closure would find redundant stay: the zone's meaning,
/// its closed matrix, is the same.)
fn clean_components(g1: &Graph, g2: &Graph) -> Vec<bool> {
    let n = g1.nodes.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut dirty = vec![false; n];
    for (k, (v, n1)) in g1.nodes.iter().enumerate() {
        // Two paths that computed the same constraints separately hold equal nodes that are
        // not shared: they count as shared (the argument below needs only equal edges).
        let shared = g2
            .nodes
            .get(v)
            .is_some_and(|n2| Rc::ptr_eq(n1, n2) || **n1 == **n2);
        if !shared {
            dirty[k] = true;
        }
        for j in n1.succ.keys() {
            match g1.nodes.index_of(j) {
                Some(m) => {
                    let (a, b) = (find(&mut parent, k), find(&mut parent, m));
                    parent[a] = b;
                }
                None => dirty[k] = true,
            }
        }
    }
    // An unshared node of `g2` may have edges `g1` lacks; its ends are unshared there (a shared
    // node has the same edges on both sides), so they are dirty already or absent from `g1`.
    for k in 0..n {
        if dirty[k] {
            let r = find(&mut parent, k);
            dirty[r] = true;
        }
    }
    (0..n).map(|k| !dirty[find(&mut parent, k)]).collect()
}

/// Pairs `(i, j)` where one side has the weaker lower bound on `i` and the other the weaker
/// upper bound on `j`, all four finite: `(g1, g2)`'s pairs then `(g2, g1)`'s. One merge walk
/// over both sorted node lists; nodes both share have equal bounds and are skipped.
fn crossed_pairs(g1: &Graph, g2: &Graph, pairs: &mut Vec<(Var, Var)>) {
    let weaker = |a: Option<i64>, b: Option<i64>| matches!((a, b), (Some(a), Some(b)) if a > b);
    // (sources, targets) where g1 is weaker on the lower bound and g2 on the upper, and the
    // mirror image.
    let (mut s12, mut t12, mut s21, mut t21) = (vec![], vec![], vec![], vec![]);
    let mut right = g2.nodes.iter().peekable();
    for (&v, n1) in g1.nodes.iter() {
        while right.next_if(|(w, _)| **w < v).is_some() {}
        let Some((_, n2)) = right.next_if(|(w, _)| **w == v) else {
            continue;
        };
        if Rc::ptr_eq(n1, n2) {
            continue;
        }
        if weaker(n1.neg_lower, n2.neg_lower) {
            s12.push(v);
        } else if weaker(n2.neg_lower, n1.neg_lower) {
            s21.push(v);
        }
        if weaker(n2.upper, n1.upper) {
            t12.push(v);
        } else if weaker(n1.upper, n2.upper) {
            t21.push(v);
        }
    }
    for (sources, targets) in [(s12, t12), (s21, t21)] {
        for &i in &sources {
            pairs.extend(targets.iter().filter(|&&j| j != i).map(|&j| (i, j)));
        }
    }
}

/// Greatest lower bound: the constraints of both, closed. The side with fewer edges is added
/// to a copy of the other (each added edge costs a closure step; one already implied costs a
/// lookup), and when one side already implies the other it is the answer, with no closure.
pub(super) fn meet(g1: &Graph, g2: &Graph) -> Result<Graph, Infeasible> {
    if leq(g1, g2) {
        return Ok(g1.clone());
    }
    if leq(g2, g1) {
        return Ok(g2.clone());
    }
    let (big, small) = if g1.edge_count() >= g2.edge_count() {
        (g1, g2)
    } else {
        (g2, g1)
    };
    let mut out = big.clone();
    add_all(&mut out, small)?;
    Ok(out)
}

/// Adds every constraint of `from` to `to`, closing as it goes.
fn add_all(to: &mut Graph, from: &Graph) -> Result<(), Infeasible> {
    for (&v, n) in &from.nodes {
        if let Some(u) = n.upper {
            to.add_upper(v, u.into())?;
        }
        if let Some(l) = n.neg_lower {
            to.add_neg_lower(v, l.into())?;
        }
    }
    for (i, j, w) in from.edges() {
        to.add_edge(i, j, w)?;
    }
    Ok(())
}

/// Miné's widening `left ∇ newer`, with thresholds: a bound of `left` that `newer` respects is
/// kept; one it exceeds jumps to the smallest threshold above `newer`'s bound, or to +∞.
///
/// `left` is the previous iterate *as the last widening produced it, before closure* (the
/// caller passes the raw graph it kept), and the result is returned unclosed too. This is what
/// makes the sequence `X(k+1) = X(k) ∇ Y(k)` terminate: read as a matrix `E[i][j] = min(edge,
/// lo(i) + hi(j))`, every entry of the result is the entry of `left` or a larger one taken from
/// a finite set (the first iterate's entries, their pairwise sums, the thresholds, +∞), so
/// each entry changes finitely often. Closing `left` first would let closure lower a widened
/// entry again from the others, and the sequence can climb forever (Miné's octagon paper, HOSC
/// 2006, warns of this; `widening_from_the_unclosed_form_terminates` in the tests is a case).
///
/// The split form cannot represent "no bound on `j - i`" while `i` and `j` both keep their
/// bounds; such an entry becomes `lo(i) + hi(j)` instead of +∞, which is still above `newer`
/// (its bounds are within the kept ones) and still from the finite set above. A unary bound
/// that widens away takes the zero-vertex bounds through it with it, so those pairs are
/// examined explicitly and kept as edges when `newer` respects them: that is how `i <= n`
/// survives widening `i = 0, n >= 0` with `0 <= i <= 1, i <= n`.
pub(super) fn widen(left: &Graph, newer: &Graph, thresholds: &[i64]) -> Graph {
    let ups: Vec<Weight> = sorted(thresholds.iter().map(|&t| Weight::from(t)));
    let downs: Vec<Weight> = sorted(thresholds.iter().map(|&t| -Weight::from(t)));
    let jump = |bound: Option<Weight>, steps: &[Weight]| {
        let b = bound?;
        steps.iter().copied().find(|&t| t >= b)
    };
    let mut out = Graph::default();
    let mut lost_lower = Vec::new();
    let mut lost_upper = Vec::new();
    for (&v, n) in &left.nodes {
        if let Some(u) = wide(n.upper) {
            let now = newer.upper(v);
            if le(now, Some(u)) {
                out.set_upper(v, Some(u));
            } else {
                out.set_upper(v, jump(now, &ups));
                lost_upper.push(v);
            }
        }
        if let Some(l) = wide(n.neg_lower) {
            let now = newer.neg_lower(v);
            if le(now, Some(l)) {
                out.set_neg_lower(v, Some(l));
            } else {
                out.set_neg_lower(v, jump(now, &downs));
                lost_lower.push(v);
            }
        }
    }
    let mut pairs: Vec<(Var, Var)> = left.edges().map(|(i, j, _)| (i, j)).collect();
    for &i in &lost_lower {
        let bounded_above = left.nodes.iter().filter(|(_, n)| n.upper.is_some());
        pairs.extend(bounded_above.map(|(&j, _)| (i, j)).filter(|(i, j)| i != j));
    }
    for &j in &lost_upper {
        let bounded_below = left.nodes.iter().filter(|(_, n)| n.neg_lower.is_some());
        pairs.extend(bounded_below.map(|(&i, _)| (i, j)).filter(|(i, j)| i != j));
    }
    for (i, j) in pairs {
        let Some(old) = left.dist(i, j) else {
            continue;
        };
        let now = newer.dist(i, j);
        let widened = if le(now, Some(old)) {
            Some(old)
        } else {
            jump(now, &ups)
        };
        if widened.is_some_and(|w| lt(w, out.via_zero(i, j)) && lt(w, out.edge(i, j))) {
            out.set_edge(i, j, widened);
        }
    }
    out
}

fn sorted(values: impl Iterator<Item = Weight>) -> Vec<Weight> {
    let mut v: Vec<Weight> = values.collect();
    v.sort_unstable();
    v
}

/// Miné's narrowing `left Δ newer`: `left`'s bounds where finite, `newer`'s where `left` has
/// none, then closed. Closing is safe here: entries only go from +∞ to finite, at most once
/// each, so a narrowing sequence still stops.
pub(super) fn narrow(left: &Graph, newer: &Graph) -> Result<Graph, Infeasible> {
    let mut uppers = Vec::new();
    let mut neg_lowers = Vec::new();
    for (&v, n) in &newer.nodes {
        if let (Some(u), None) = (wide(n.upper), left.upper(v)) {
            uppers.push((v, u));
        }
        if let (Some(l), None) = (wide(n.neg_lower), left.neg_lower(v)) {
            neg_lowers.push((v, l));
        }
    }
    // Pairs bounded in `newer` (stored or through the zero vertex) that `left` leaves open.
    let mut pairs: Vec<(Var, Var)> = newer.edges().map(|(i, j, _)| (i, j)).collect();
    let below: Vec<Var> = newer
        .nodes
        .iter()
        .filter(|(_, n)| n.neg_lower.is_some())
        .map(|(&v, _)| v)
        .collect();
    let above: Vec<Var> = newer
        .nodes
        .iter()
        .filter(|(_, n)| n.upper.is_some())
        .map(|(&v, _)| v)
        .collect();
    for &i in &below {
        for &j in &above {
            if i != j && (left.neg_lower(i).is_none() || left.upper(j).is_none()) {
                pairs.push((i, j));
            }
        }
    }
    let edges: Vec<(Var, Var, Weight)> = pairs
        .into_iter()
        .filter(|&(i, j)| left.dist(i, j).is_none())
        .filter_map(|(i, j)| Some((i, j, newer.dist(i, j)?)))
        .collect();
    let mut out = left.clone();
    for (v, u) in uppers {
        out.add_upper(v, u)?;
    }
    for (v, l) in neg_lowers {
        out.add_neg_lower(v, l)?;
    }
    for (i, j, w) in edges {
        out.add_edge(i, j, w)?;
    }
    Ok(out)
}

/// Closes a graph that may not be closed (a widening result) by adding its constraints one by
/// one to an empty graph.
pub(super) fn close(raw: &Graph) -> Result<Graph, Infeasible> {
    let mut out = Graph::default();
    add_all(&mut out, raw)?;
    Ok(out)
}
