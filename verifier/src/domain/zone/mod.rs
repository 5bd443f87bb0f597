//! The zone domain: relations `x - y <= c` and bounds `x <= c`, `x >= c` between signed 64-bit
//! quantities, as a sparse difference-bound matrix (Miné, "A new numerical abstract domain based
//! on difference-bound matrices", 2001; the split representation follows Crab's SplitDBM).
//!
//! It exists to prove what intervals cannot: after `if (r2 + 14 > r3) goto out` with `r3` at
//! `packet_size`, the fall-through knows `r2.off - packet_size <= -14`, so a later 4-byte load at
//! `r2 + 10` is in bounds whatever the packet size is.
//!
//! Guarantees:
//! - Every operation is sound, and `interval`, `diff_bound`, `join`, `meet`, `leq` and `narrow`
//!   are exact (the tightest bounds the constraints imply; the lattice operations of closed
//!   DBMs). The tests check this against a dense Floyd–Warshall reference.
//! - The graph is always closed (incremental closure, see `closure.rs`), so queries are lookups.
//!   The one exception is internal: a widening result remembers its unclosed form for the next
//!   widening, which is what guarantees termination (see [`Zone::widen`]).
//! - No operation panics, on any input or sequence; bottom is absorbing.
//! - Variables are caller-allocated ids; an unconstrained variable costs nothing.

mod closure;
mod display;
mod graph;
mod lattice;
#[cfg(test)]
mod tests;
mod varmap;

pub use display::ZoneDisplay;
use graph::{Graph, Weight, wide};

/// A variable of the zone: a number the caller gives a meaning (a register value, a pointer
/// offset, the packet size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Var(pub u32);

/// The constraints have no solution.
#[derive(Debug)]
struct Infeasible;

/// Most variables one [`Zone::bounds_in`] reports: a frame's 64 stack slots.
pub const BOUNDS_SPAN: usize = 64;

/// A variable with its bounds (as [`Zone::interval`]), from [`Zone::bounds_in`].
pub type Bound = (Var, Option<i64>, Option<i64>);

/// A conjunction of constraints `x - y <= c`, `x <= c`, `x >= c` over [`Var`]s, or bottom (no
/// solution, i.e. unreachable).
///
/// Equality (`==`) is semantic: two zones are equal when they have the same solutions.
#[derive(Clone, Default)]
pub struct Zone {
    /// Closed (see `graph.rs`); empty when bottom.
    graph: Graph,
    bottom: bool,
    /// When this zone is the result of a widening: the widened constraints before closure, the
    /// left argument of the next widening. It must keep describing a superset of the zone and
    /// change only by losing constraints (see [`Zone::widen`]): so it survives adding
    /// constraints, loses what `forget` removes, and is dropped by assignments.
    widen_base: Option<Box<Graph>>,
    /// Every variable's bounds may have changed (the zone came from a lattice operation), not
    /// only those in `graph.touched`.
    all_touched: bool,
}

impl Zone {
    /// The variables whose bounds may have changed since the last call, sorted and without
    /// duplicates, into `out`; `false` when that is every variable (the zone came from a join,
    /// meet, widening or narrowing), and `out` is then empty. Lets a reduced product with this
    /// zone revisit only what changed (see `State::reduce`). Adding constraints reports every
    /// variable whose bound the closure tightened; forgetting reports nothing (no bound gets
    /// tighter).
    pub fn take_touched(&mut self, out: &mut Vec<Var>) -> bool {
        out.clear();
        if std::mem::take(&mut self.all_touched) {
            self.graph.touched.clear();
            return false;
        }
        out.append(&mut self.graph.touched);
        out.sort_unstable();
        out.dedup();
        true
    }

    /// Reports `x` from the next [`Zone::take_touched`] (its owner changed what `x` stands
    /// for without changing its bounds).
    pub fn touch(&mut self, x: Var) {
        self.graph.touched.push(x);
    }

    /// No constraints.
    pub fn top() -> Self {
        Self::default()
    }

    /// No solution.
    pub fn bottom() -> Self {
        Self {
            bottom: true,
            ..Self::default()
        }
    }

    pub fn is_bottom(&self) -> bool {
        self.bottom
    }

    /// No constraints at all (and not bottom).
    pub fn is_top(&self) -> bool {
        !self.bottom && self.graph.nodes.is_empty()
    }

    /// Variables with at least one constraint, in increasing order.
    pub fn constrained_vars(&self) -> impl Iterator<Item = Var> + use<> {
        let mut vars: Vec<Var> = self.graph.nodes.keys().copied().collect();
        vars.sort_unstable();
        vars.into_iter()
    }

    /// The constrained variables in `lo..hi`, in increasing order.
    pub fn vars_in(&self, lo: Var, hi: Var) -> Vec<Var> {
        self.graph.nodes.range(lo, hi).map(|(&x, _)| x).collect()
    }

    /// The bounded variables in `lo..hi` (at most [`BOUNDS_SPAN`] of them) with their bounds
    /// (as [`Zone::interval`]), in order, into `out` (cleared first): for visiting every
    /// location's bounds with one search. This runs after every join and widening (see
    /// `State::reduce`), so the caller reuses one buffer (a fixed array returned by value cost a
    /// 2.5 KiB copy per call).
    pub fn bounds_in(&self, lo: Var, hi: Var, out: &mut Vec<Bound>) {
        out.clear();
        debug_assert!(hi.0.saturating_sub(lo.0) as usize <= BOUNDS_SPAN);
        if self.bottom {
            return;
        }
        let bounded = self
            .graph
            .nodes
            .range(lo, hi)
            .filter(|(_, n)| n.upper.is_some() || n.neg_lower.is_some());
        out.extend(bounded.take(BOUNDS_SPAN).map(|(&x, n)| {
            (
                x,
                graph::wide(n.neg_lower).and_then(|l| lower_to_i64(-l)),
                graph::wide(n.upper).and_then(upper_to_i64),
            )
        }));
    }

    /// The tightest bounds `(lo, hi)` on `x` the constraints imply; `None` where unbounded (or
    /// where the bound is outside `i64`). Bottom gives `(Some(i64::MAX), Some(i64::MIN))`: every
    /// bound holds on no state.
    pub fn interval(&self, x: Var) -> (Option<i64>, Option<i64>) {
        if self.bottom {
            return (Some(i64::MAX), Some(i64::MIN));
        }
        let lo = self.graph.neg_lower(x).and_then(|l| lower_to_i64(-l));
        (lo, self.graph.upper(x).and_then(upper_to_i64))
    }

    /// The tightest `c` with `x - y <= c` (`None`: unbounded, or beyond `i64`). `Some(0)` when
    /// `x == y`; `Some(i64::MIN)` on bottom.
    pub fn diff_bound(&self, x: Var, y: Var) -> Option<i64> {
        if self.bottom {
            return Some(i64::MIN);
        }
        self.graph.dist(y, x).and_then(upper_to_i64)
    }

    /// Adds `x <= c`.
    pub fn add_upper(&mut self, x: Var, c: i64) {
        self.update(|g| g.add_upper(x, c.into()));
    }

    /// Adds `x >= c`.
    pub fn add_lower(&mut self, x: Var, c: i64) {
        self.update(|g| g.add_neg_lower(x, -Weight::from(c)));
    }

    /// Adds `lo <= x <= hi` (keeping `x`'s other constraints); `None` adds nothing on that side.
    pub fn add_interval(&mut self, x: Var, lo: Option<i64>, hi: Option<i64>) {
        if let Some(lo) = lo {
            self.add_lower(x, lo);
        }
        if let Some(hi) = hi {
            self.add_upper(x, hi);
        }
    }

    /// Adds `x - y <= c`. Becomes bottom if that contradicts the constraints.
    pub fn add_difference(&mut self, x: Var, y: Var, c: i64) {
        self.update(|g| g.add_edge(y, x, c.into()));
    }

    /// Adds `x = y + c`.
    pub fn add_equal(&mut self, x: Var, y: Var, c: i64) {
        self.update(|g| {
            g.add_edge(y, x, c.into())?;
            g.add_edge(x, y, -Weight::from(c))
        });
    }

    /// Removes every constraint on `x`, keeping what they implied between other variables.
    pub fn forget(&mut self, x: Var) {
        if let Some(base) = &mut self.widen_base {
            base.forget(x);
        }
        self.update(|g| {
            g.forget(x);
            Ok(())
        });
    }

    /// Forgets every constrained variable for which `keep` says false (dead registers, say).
    pub fn retain(&mut self, mut keep: impl FnMut(Var) -> bool) {
        let dead: Vec<Var> = self.constrained_vars().filter(|&v| !keep(v)).collect();
        dead.into_iter().for_each(|v| self.forget(v));
    }

    /// `x := any value in [lo, hi]` (`None`: unbounded on that side): forgets `x`, then bounds
    /// it. An empty interval (`lo > hi`) makes the zone bottom.
    pub fn assign_interval(&mut self, x: Var, lo: Option<i64>, hi: Option<i64>) {
        self.widen_base = None;
        self.update(|g| {
            g.forget(x);
            if let Some(lo) = lo {
                g.add_neg_lower(x, -Weight::from(lo))?;
            }
            if let Some(hi) = hi {
                g.add_upper(x, hi.into())?;
            }
            Ok(())
        });
    }

    /// Same as [`Zone::assign_interval`]; reads better when initialising a variable.
    pub fn set_interval(&mut self, x: Var, lo: Option<i64>, hi: Option<i64>) {
        self.assign_interval(x, lo, hi);
    }

    /// `x := c`.
    pub fn assign_const(&mut self, x: Var, c: i64) {
        self.assign_interval(x, Some(c), Some(c));
    }

    /// `x := y + c`. With `x == y` this shifts every constraint on `x` by `c`.
    pub fn assign_var(&mut self, x: Var, y: Var, c: i64) {
        self.assign_var_plus_interval(x, y, c, c);
    }

    /// `dst := src`.
    pub fn copy_var(&mut self, dst: Var, src: Var) {
        self.assign_var(dst, src, 0);
    }

    /// Moves `from`'s constraints to `to` (which loses its own) and forgets `from`.
    pub fn rename(&mut self, from: Var, to: Var) {
        if from != to {
            self.copy_var(to, from);
            self.forget(from);
        }
    }

    /// `x := y + d` for some `d` in `[lo, hi]`: afterwards `y + lo <= x <= y + hi` (with `y`'s
    /// old value when `x == y`). An empty interval makes the zone bottom.
    pub fn assign_var_plus_interval(&mut self, x: Var, y: Var, lo: i64, hi: i64) {
        if lo > hi {
            self.set_bottom();
            return;
        }
        let (lo, hi) = (Weight::from(lo), Weight::from(hi));
        self.widen_base = None;
        self.update(|g| {
            if x == y {
                shift(g, x, lo, hi);
            } else {
                copy_shifted(g, x, y, lo, hi);
            }
            Ok(())
        });
    }

    /// Least upper bound: the constraints both sides imply (exact for DBMs).
    pub fn join(&self, other: &Zone) -> Zone {
        match (self.bottom, other.bottom) {
            (true, _) => other.without_widen_base(),
            (_, true) => self.without_widen_base(),
            _ => Zone::from_graph(lattice::join(&self.graph, &other.graph)),
        }
    }

    /// Greatest lower bound: the constraints of both.
    pub fn meet(&self, other: &Zone) -> Zone {
        if self.bottom || other.bottom {
            return Zone::bottom();
        }
        lattice::meet(&self.graph, &other.graph).map_or_else(|_| Zone::bottom(), Zone::from_graph)
    }

    /// `self ⊑ other`: every solution of `self` is a solution of `other`.
    pub fn leq(&self, other: &Zone) -> bool {
        self.bottom || (!other.bottom && lattice::leq(&self.graph, &other.graph))
    }

    /// Widening, for loop heads: `self` is the previous iterate, `newer` the new one. A bound of
    /// `self` that `newer` does not respect is dropped.
    ///
    /// Termination: the left argument is this zone's *unclosed* widened form when it came from
    /// a widening (kept internally), never its closure, because closing between widenings can
    /// undo them forever (Miné). So iterate `x = x.widen(&y)` on the value the previous `widen`
    /// returned; its closed form is what every query and transfer function sees. Between two
    /// widenings that value may lose variables (`forget`, `retain`) and gain constraints
    /// (`add_*`): the unclosed form follows by losing the same variables, which only removes
    /// constraints, so termination holds. An assignment (`assign_*`) drops it, and the next
    /// widening starts again from the closed form.
    pub fn widen(&self, newer: &Zone) -> Zone {
        self.widen_with_thresholds(newer, &[])
    }

    /// [`Zone::widen`] where an unstable bound jumps to the next threshold beyond `newer`'s bound
    /// (the smallest `t >= hi` for upper bounds and differences, the largest `t <= lo` for lower
    /// bounds) instead of disappearing. Thresholds are typically the program's constants, so a
    /// loop `i < 64` keeps `i <= 64`.
    pub fn widen_with_thresholds(&self, newer: &Zone, thresholds: &[i64]) -> Zone {
        if self.bottom {
            return newer.without_widen_base();
        }
        if newer.bottom {
            return self.clone();
        }
        let left = self.widen_base.as_deref().unwrap_or(&self.graph);
        let mut raw = lattice::widen(left, &newer.graph, thresholds);
        raw.touched.clear();
        match lattice::close(&raw) {
            Ok(graph) => Zone {
                graph,
                bottom: false,
                widen_base: Some(Box::new(raw)),
                all_touched: true,
            },
            // Cannot happen (`raw` is implied by the satisfiable `left`); top is still sound.
            Err(Infeasible) => Zone::top(),
        }
    }

    /// Narrowing, after widening: refines only the bounds `self` lacks, with `newer`'s.
    pub fn narrow(&self, newer: &Zone) -> Zone {
        if self.bottom || newer.bottom {
            return Zone::bottom();
        }
        lattice::narrow(&self.graph, &newer.graph).map_or_else(|_| Zone::bottom(), Zone::from_graph)
    }

    fn from_graph(graph: Graph) -> Zone {
        Zone {
            graph,
            all_touched: true,
            ..Zone::default()
        }
    }

    fn without_widen_base(&self) -> Zone {
        Zone {
            graph: self.graph.clone(),
            bottom: self.bottom,
            widen_base: None,
            all_touched: true,
        }
    }

    fn set_bottom(&mut self) {
        *self = Zone::bottom();
    }

    /// Applies a change to the graph: nothing on bottom, bottom on contradiction.
    fn update(&mut self, change: impl FnOnce(&mut Graph) -> Result<(), Infeasible>) {
        if self.bottom {
            return;
        }
        if change(&mut self.graph).is_err() {
            self.set_bottom();
        }
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.leq(other) && other.leq(self)
    }
}

impl Eq for Zone {}

/// `x := x + [lo, hi]`: every bound on `x` moves by the interval. The result is closed: a path
/// through the old `x` gains `hi - lo >= 0`, so it never beats the old one.
fn shift(g: &mut Graph, x: Var, lo: Weight, hi: Weight) {
    let Some(node) = g.nodes.get(&x).cloned() else {
        return;
    };
    g.set_upper(x, wide(node.upper).map(|u| u + hi));
    g.set_neg_lower(x, wide(node.neg_lower).map(|l| l - lo));
    for (&j, &w) in &node.succ {
        g.set_edge(x, j, Some(Weight::from(w) - lo));
    }
    for (&i, &w) in &node.pred {
        g.set_edge(i, x, Some(Weight::from(w) + hi));
    }
}

/// `x := y + [lo, hi]` for `x != y`: `x` becomes a shifted copy of `y` plus `y + lo <= x <= y +
/// hi`. Copying `y`'s closed constraints keeps the graph closed.
fn copy_shifted(g: &mut Graph, x: Var, y: Var, lo: Weight, hi: Weight) {
    g.forget(x);
    let node = g.nodes.get(&y).cloned().unwrap_or_default();
    g.set_upper(x, wide(node.upper).map(|u| u + hi));
    g.set_neg_lower(x, wide(node.neg_lower).map(|l| l - lo));
    let mut edges = vec![(y, x, hi), (x, y, -lo)];
    edges.extend(
        node.succ
            .iter()
            .map(|(&j, &w)| (x, j, Weight::from(w) - lo)),
    );
    edges.extend(
        node.pred
            .iter()
            .map(|(&i, &w)| (i, x, Weight::from(w) + hi)),
    );
    for (i, j, w) in edges {
        // Bounds no tighter than through the zero vertex stay implicit.
        if graph::lt(w, g.via_zero(i, j)) {
            g.set_edge(i, j, Some(w));
        }
    }
}

/// An upper bound as `i64`: beyond `i64::MAX` it says nothing; below `i64::MIN` it is weakened
/// to `i64::MIN`.
fn upper_to_i64(w: Weight) -> Option<i64> {
    (w <= Weight::from(i64::MAX)).then(|| w.max(Weight::from(i64::MIN)) as i64)
}

/// A lower bound as `i64`, symmetrically.
fn lower_to_i64(w: Weight) -> Option<i64> {
    (w >= Weight::from(i64::MIN)).then(|| w.min(Weight::from(i64::MAX)) as i64)
}
