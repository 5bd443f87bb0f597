//! Incremental closure: adding one constraint to a closed graph and restoring the split-closure
//! invariant (see `graph.rs`) at once.
//!
//! Why incremental rather than "closed on demand": the analysis queries the zone after almost
//! every constraint it adds (a branch adds `x - y <= c`, then the state reads bounds back to
//! tighten register values and checks the next access), and `join`/`leq` run at every block
//! head. Keeping the graph closed after each change makes all of those plain lookups, and one
//! new edge `a -> b` only changes the bounds of pairs `(i, j)` where `i` reaches `a` and `b`
//! reaches `j`. In a closed graph those are `a`'s predecessors and `b`'s successors, so the
//! work is `O(|pred(a)| * |succ(b)|)` map operations: `O(n²)` in the number of *constrained*
//! variables in the worst case, and usually a handful, since most variables are related to few
//! others. A dirty flag with Floyd–Warshall on demand would pay `O(n³)` at the first query after
//! any change.

use super::Infeasible;
use super::Var;
use super::graph::{Graph, Weight, lt, storable, wide};
use super::varmap::Entry;
use std::rc::Rc;

impl Graph {
    /// Adds `x <= c` and closes.
    pub fn add_upper(&mut self, x: Var, c: Weight) -> Result<(), Infeasible> {
        let Some(c) = wide(storable(c)) else {
            return Ok(());
        };
        if self.neg_lower(x).is_some_and(|nl| nl + c < 0) {
            return Err(Infeasible);
        }
        if !lt(c, self.upper(x)) {
            return Ok(());
        }
        self.set_upper(x, Some(c));
        // A path 0 -> x -> j improves j's bound; paths through the zero vertex cannot (that
        // would be a negative cycle, excluded above), and j ranges over x's successors because
        // the graph is closed.
        let improved: Vec<(Var, Weight)> = self
            .succs(x)
            .map(|(j, w)| (j, c + w))
            .filter(|&(j, u)| lt(u, self.upper(j)))
            .collect();
        for (j, u) in improved {
            self.set_upper(j, Some(u));
        }
        Ok(())
    }

    /// Adds `-x <= c` (that is `x >= -c`) and closes.
    pub fn add_neg_lower(&mut self, x: Var, c: Weight) -> Result<(), Infeasible> {
        let Some(c) = wide(storable(c)) else {
            return Ok(());
        };
        if self.upper(x).is_some_and(|u| u + c < 0) {
            return Err(Infeasible);
        }
        if !lt(c, self.neg_lower(x)) {
            return Ok(());
        }
        self.set_neg_lower(x, Some(c));
        let improved: Vec<(Var, Weight)> = self
            .preds(x)
            .map(|(i, w)| (i, w + c))
            .filter(|&(i, l)| lt(l, self.neg_lower(i)))
            .collect();
        for (i, l) in improved {
            self.set_neg_lower(i, Some(l));
        }
        Ok(())
    }

    /// Adds `b - a <= w` (the edge `a -> b`) and closes.
    ///
    /// With `D` the closure before and `D'` after: `D'[i][j] = min(D[i][j], D[i][a] + w +
    /// D[b][j])`. Only *sources* `i` whose distance to `b` improves and *targets* `j` whose
    /// distance from `a` improves can gain anything (otherwise the old path `i -> b -> j` or
    /// `i -> a -> j` is already as short), which prunes most of `pred(a) × succ(b)`. Pairs whose
    /// new bound is no tighter than the one through the zero vertex are left implicit.
    pub fn add_edge(&mut self, a: Var, b: Var, w: Weight) -> Result<(), Infeasible> {
        let Some(w) = wide(storable(w)) else {
            return Ok(());
        };
        if a == b {
            return if w < 0 { Err(Infeasible) } else { Ok(()) };
        }
        if self.dist(b, a).is_some_and(|back| back + w < 0) {
            return Err(Infeasible);
        }
        if !lt(w, self.dist(a, b)) {
            return Ok(());
        }
        let sources = self.sources(a, b, w);
        let targets = self.targets(a, b, w);
        self.relax(w, &sources, &targets);
        // Every other node touched already held an edge; these two might be new.
        self.prune(a);
        self.prune(b);
        Ok(())
    }

    /// The sources of a new edge `a -> b`: `a` and those predecessors `i` of `a` whose distance
    /// to `b` improves, with `D[i][a]` and their lower bound after the change (`D[i][a] + w +
    /// neg_lower(b)` may tighten it).
    ///
    /// A stored edge may be stale (weaker than the bound through the zero vertex). Using its
    /// weight for `D[i][a]` loses nothing: a path through the zero vertex instead is covered by
    /// the new unary bounds.
    fn sources(&self, a: Var, b: Var, w: Weight) -> Vec<End> {
        let node_b = self.nodes.get(&b);
        let (upper_b, neg_lower_b) = (wide(node_b.and_then(|n| n.upper)), self.neg_lower(b));
        let mut out = Vec::new();
        for (i, d) in std::iter::once((a, 0)).chain(self.preds(a)) {
            // The stored edge first (from `b`'s map, already in cache): in a dense graph it
            // rules out most candidates without looking up their node.
            let stored = wide(node_b.and_then(|n| n.pred.get(&i).copied()));
            if !lt(d + w, stored) {
                continue;
            }
            let bound = self.neg_lower(i);
            if lt(d + w, bound.zip(upper_b).map(|(l, u)| l + u)) {
                out.push(End::new(i, d, bound, neg_lower_b.map(|l| d + w + l)));
            }
        }
        out
    }

    /// The targets of a new edge `a -> b`, symmetrically: `b` and the successors `j` of `b`
    /// whose distance from `a` improves, with `D[b][j]` and their upper bound after the change.
    fn targets(&self, a: Var, b: Var, w: Weight) -> Vec<End> {
        let node_a = self.nodes.get(&a);
        let (upper_a, neg_lower_a) = (self.upper(a), wide(node_a.and_then(|n| n.neg_lower)));
        let mut out = Vec::new();
        for (j, e) in std::iter::once((b, 0)).chain(self.succs(b)) {
            let stored = wide(node_a.and_then(|n| n.succ.get(&j).copied()));
            if !lt(w + e, stored) {
                continue;
            }
            let bound = self.upper(j);
            if lt(w + e, neg_lower_a.zip(bound).map(|(l, u)| l + u)) {
                out.push(End::new(j, e, bound, upper_a.map(|u| u + w + e)));
            }
        }
        out
    }

    /// Applies the new bounds: sources' lower bounds and rows, then targets' upper bounds and
    /// columns, so each node is looked up once. For each pair, `D[i][a] + w + D[b][j]` is stored
    /// if tighter than the stored edge and than the new bound through the zero vertex; a stored
    /// edge the new unary bounds make redundant is dropped, to keep the graph small.
    fn relax(&mut self, w: Weight, sources: &[End], targets: &[End]) {
        let mut columns: Vec<Vec<(Var, Option<i64>)>> = vec![Vec::new(); targets.len()];
        for src in sources {
            self.touched.push(src.var);
            let node = Rc::make_mut(self.nodes.entry(src.var).or_default());
            node.neg_lower = src.bound.and_then(storable);
            for (tgt, column) in targets.iter().zip(&mut columns) {
                if src.var == tgt.var {
                    continue;
                }
                let via_zero = src.bound.zip(tgt.bound).map(|(l, u)| l + u);
                let candidate = src.dist + w + tgt.dist;
                let improves = lt(candidate, via_zero);
                match node.succ.entry(tgt.var) {
                    Entry::Occupied(mut old) => {
                        let stored = Weight::from(*old.get());
                        match storable(candidate) {
                            Some(c) if improves && candidate < stored => {
                                old.insert(c);
                                column.push((src.var, Some(c)));
                            }
                            // Implied through the zero vertex now: drop it.
                            _ if !improves && !lt(stored, via_zero) => {
                                old.remove();
                                column.push((src.var, None));
                            }
                            _ => {}
                        }
                    }
                    Entry::Vacant(slot) => {
                        if let Some(c) = storable(candidate).filter(|_| improves) {
                            slot.insert(c);
                            column.push((src.var, Some(c)));
                        }
                    }
                }
            }
        }
        for (tgt, column) in targets.iter().zip(columns) {
            self.touched.push(tgt.var);
            let node = Rc::make_mut(self.nodes.entry(tgt.var).or_default());
            node.upper = tgt.bound.and_then(storable);
            for (i, w) in column {
                match w {
                    Some(w) => node.pred.insert(i, w),
                    None => node.pred.remove(&i),
                };
            }
        }
    }
}

/// One end of the pairs a new edge relaxes: a source (or target), its distance to `a` (from
/// `b`), and its lower (upper) bound after the change.
struct End {
    var: Var,
    dist: Weight,
    bound: Option<Weight>,
}

impl End {
    /// `bound` is the current bound, `through` the one the new edge implies.
    fn new(var: Var, dist: Weight, bound: Option<Weight>, through: Option<Weight>) -> End {
        let bound = match through {
            Some(t) if lt(t, bound) => wide(storable(t)),
            _ => bound,
        };
        End { var, dist, bound }
    }
}
