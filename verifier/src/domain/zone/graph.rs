//! The sparse weighted graph behind a zone, in *split* form.
//!
//! Vertices are the variables plus an implicit zero vertex. An edge `i -> j` of weight `w` means
//! `j - i <= w`; edges from and to the zero vertex are unary bounds and are stored in the
//! variable's node (`upper`: `x <= c`, `neg_lower`: `-x <= c`), not as edges. Each node keeps its
//! successors and predecessors so a variable's constraints are found without scanning the graph.
//!
//! Only variables with at least one constraint have a node, so thousands of declared but
//! unconstrained variables cost nothing. Nodes and adjacency are small sorted vectors
//! ([`VarMap`]): zones are cloned on every edge and joined at every merge, and for a few dozen
//! entries one allocation and a binary search beat a hash table per node.
//!
//! # Invariant of a closed graph ("split closure")
//! Let `D` be the shortest-path closure of the full graph (zero vertex included). Then:
//! - the unary bounds are exact: `upper(x) = D[0][x]`, `neg_lower(x) = D[x][0]`;
//! - a stored edge is sound (`edge(i, j) >= D[i][j]`) and every relational bound is either
//!   stored or implied through the zero vertex: `D[i][j] = min(edge(i, j), neg_lower(i) +
//!   upper(j))`, which [`Graph::dist`] computes.
//!
//! Constraints implied through the zero vertex (`x - y <= hi(x) - lo(y)`) are never
//! materialised: with full closure every pair of bounded variables would get an edge, and in
//! eBPF most variables are bounded. A stored edge may become weaker than its zero-vertex bound
//! when a unary bound tightens later ("stale"); `dist` takes the minimum, so this costs nothing in
//! precision and saves revisiting every neighbour of a variable whose bound changes.

use super::Var;
use std::rc::Rc;

pub(super) use super::varmap::VarMap;

/// An edge weight or bound as the algorithms compute it. Stored weights are `i64` (half the
/// memory in the adjacency maps, which the closure's inner loop is bound by); every sum the
/// algorithms form (at most three stored weights, or one plus an `i64` constant) is computed in
/// `i128`, so it is exact.
pub(super) type Weight = i128;

/// The weight to store for a computed bound: `None` (no constraint) above `i64::MAX`, and weights
/// below `i64::MIN` weakened to `i64::MIN`. Both are sound (they only drop information): bounds
/// outside `i64` are simply no bound, and no sequence of operations makes weights grow without
/// limit.
pub(super) fn storable(w: Weight) -> Option<i64> {
    i64::try_from(w).ok().or((w < 0).then_some(i64::MIN))
}

/// A stored bound, widened for arithmetic.
pub(super) fn wide(w: Option<i64>) -> Option<Weight> {
    w.map(Weight::from)
}

/// `a < b` where `None` is +∞.
pub(super) fn lt(a: Weight, b: Option<Weight>) -> bool {
    b.is_none_or(|b| a < b)
}

/// `a <= b` where `None` is +∞ (on both sides).
pub(super) fn le(a: Option<Weight>, b: Option<Weight>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

/// Minimum where `None` is +∞.
pub(super) fn min(a: Option<Weight>, b: Option<Weight>) -> Option<Weight> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Maximum where `None` is +∞.
pub(super) fn max(a: Option<Weight>, b: Option<Weight>) -> Option<Weight> {
    Some(a?.max(b?))
}

/// A variable's constraints: its unary bounds and its edges in both directions.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Node {
    /// `x <= upper`.
    pub upper: Option<i64>,
    /// `-x <= neg_lower`, i.e. `x >= -neg_lower`.
    pub neg_lower: Option<i64>,
    /// `(y, c)`: `y - x <= c`.
    pub succ: VarMap<i64>,
    /// `(y, c)`: `x - y <= c`.
    pub pred: VarMap<i64>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.upper.is_none()
            && self.neg_lower.is_none()
            && self.succ.is_empty()
            && self.pred.is_empty()
    }
}

/// Variables' nodes by variable.
#[derive(Clone, Debug, Default)]
pub(super) struct Graph {
    /// Shared between the clones of a zone until one of them changes the node
    /// (`Rc::make_mut`): states are cloned along every edge and most instructions touch one or
    /// two variables, so a clone costs a reference count per node, not a copy of its edges.
    pub nodes: VarMap<Rc<Node>>,
    /// Variables whose unary bounds changed since the owner last took them (see
    /// [`super::Zone::take_touched`]); may hold duplicates.
    pub touched: Vec<Var>,
}

impl Graph {
    pub fn upper(&self, x: Var) -> Option<Weight> {
        wide(self.nodes.get(&x)?.upper)
    }

    pub fn neg_lower(&self, x: Var) -> Option<Weight> {
        wide(self.nodes.get(&x)?.neg_lower)
    }

    /// The stored edge `i -> j` (`j - i <= w`), if any.
    pub fn edge(&self, i: Var, j: Var) -> Option<Weight> {
        wide(self.nodes.get(&i)?.succ.get(&j).copied())
    }

    /// The bound on `j - i` implied through the zero vertex: `hi(j) - lo(i)`.
    pub fn via_zero(&self, i: Var, j: Var) -> Option<Weight> {
        Some(self.neg_lower(i)? + self.upper(j)?)
    }

    /// The tightest bound on `j - i` in a closed graph (`None`: unbounded).
    pub fn dist(&self, i: Var, j: Var) -> Option<Weight> {
        if i == j {
            return Some(0);
        }
        min(self.edge(i, j), self.via_zero(i, j))
    }

    pub fn succs(&self, x: Var) -> impl Iterator<Item = (Var, Weight)> + '_ {
        self.nodes
            .get(&x)
            .into_iter()
            .flat_map(|n| n.succ.iter().map(|(&v, &w)| (v, w.into())))
    }

    pub fn preds(&self, x: Var) -> impl Iterator<Item = (Var, Weight)> + '_ {
        self.nodes
            .get(&x)
            .into_iter()
            .flat_map(|n| n.pred.iter().map(|(&v, &w)| (v, w.into())))
    }

    pub fn edge_count(&self) -> usize {
        self.nodes.values().map(|n| n.succ.len()).sum()
    }

    /// Every stored edge `(i, j, w)`.
    pub fn edges(&self) -> impl Iterator<Item = (Var, Var, Weight)> + '_ {
        self.nodes
            .iter()
            .flat_map(|(&i, n)| n.succ.iter().map(move |(&j, &w)| (i, j, w.into())))
    }

    /// Sets `x <= w` (`None`: no upper bound), whatever was there.
    pub fn set_upper(&mut self, x: Var, w: Option<Weight>) {
        let w = w.and_then(storable);
        if self.nodes.get(&x).map_or(w.is_none(), |n| n.upper == w) {
            return;
        }
        self.touched.push(x);
        self.with_node(x, |n| n.upper = w);
    }

    /// Sets `-x <= w` (`None`: no lower bound), whatever was there.
    pub fn set_neg_lower(&mut self, x: Var, w: Option<Weight>) {
        let w = w.and_then(storable);
        if self.nodes.get(&x).map_or(w.is_none(), |n| n.neg_lower == w) {
            return;
        }
        self.touched.push(x);
        self.with_node(x, |n| n.neg_lower = w);
    }

    /// Sets the edge `i -> j` to `w` (`None` removes it), whatever was there. `i != j`.
    pub fn set_edge(&mut self, i: Var, j: Var, w: Option<Weight>) {
        debug_assert_ne!(i, j, "self-loops are not stored");
        match w.and_then(storable) {
            Some(w) => {
                Rc::make_mut(self.nodes.entry(i).or_default())
                    .succ
                    .insert(j, w);
                Rc::make_mut(self.nodes.entry(j).or_default())
                    .pred
                    .insert(i, w);
            }
            None => {
                self.with_node(i, |n| {
                    n.succ.remove(&j);
                });
                self.with_node(j, |n| {
                    n.pred.remove(&i);
                });
            }
        }
    }

    /// Removes every constraint on `x`. In a closed graph the constraints between other
    /// variables that went through `x` are already explicit, so the result is closed and is the
    /// exact projection.
    pub fn forget(&mut self, x: Var) {
        let Some(node) = self.nodes.remove(&x) else {
            return;
        };
        let mut emptied = Vec::new();
        for j in node.succ.keys() {
            if let Some(n) = self.nodes.get_mut(j).map(Rc::make_mut) {
                n.pred.remove(&x);
                if n.is_empty() {
                    emptied.push(*j);
                }
            }
        }
        for i in node.pred.keys() {
            if let Some(n) = self.nodes.get_mut(i).map(Rc::make_mut) {
                n.succ.remove(&x);
                if n.is_empty() {
                    emptied.push(*i);
                }
            }
        }
        for v in emptied {
            self.nodes.remove(&v);
        }
    }

    /// Drops `x`'s node if it holds no constraint.
    pub fn prune(&mut self, x: Var) {
        if self.nodes.get(&x).is_some_and(|n| n.is_empty()) {
            self.nodes.remove(&x);
        }
    }

    /// Runs `f` on `x`'s node (created if absent) and drops the node if it ends up empty.
    fn with_node(&mut self, x: Var, f: impl FnOnce(&mut Node)) {
        let node = Rc::make_mut(self.nodes.entry(x).or_default());
        f(node);
        if node.is_empty() {
            self.nodes.remove(&x);
        }
    }
}
