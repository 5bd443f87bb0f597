//! Printing a zone as the constraints it holds, for error messages and invariant dumps:
//! `0 <= packet_size <= 65535, r2.off - packet_size <= -14`.
//!
//! The closed form is printed, tightest bounds only: bounds first (by variable), then every
//! difference the bounds alone do not imply (implied chains included, so a reader needs no
//! arithmetic to find the one that matters), with `x = y + c` when both directions meet.

use super::graph::{Graph, Weight, wide};
use super::{Var, Zone};
use std::fmt;

/// A zone with a way to name its variables; see [`Zone::fmt_with`].
pub struct ZoneDisplay<'a, F> {
    zone: &'a Zone,
    name: F,
}

impl Zone {
    /// Displays the zone naming each variable with `name` (`r2.off`, `packet_size`, ...).
    pub fn fmt_with<F: Fn(Var) -> String>(&self, name: F) -> ZoneDisplay<'_, F> {
        ZoneDisplay { zone: self, name }
    }
}

impl<F: Fn(Var) -> String> fmt::Display for ZoneDisplay<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.zone.bottom {
            return f.write_str("bottom");
        }
        let items = constraints(&self.zone.graph, &self.name);
        if items.is_empty() {
            return f.write_str("top");
        }
        f.write_str(&items.join(", "))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fmt_with(|v| format!("v{}", v.0)), f)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone {{ {self} }}")
    }
}

fn constraints(g: &Graph, name: &impl Fn(Var) -> String) -> Vec<String> {
    let mut items = Vec::new();
    let mut nodes: Vec<_> = g.nodes.iter().collect();
    nodes.sort_unstable_by_key(|&(&v, _)| v);
    for (&v, n) in nodes {
        let x = name(v);
        let lo = wide(n.neg_lower).map(|l| -l);
        match (lo, wide(n.upper)) {
            (Some(lo), Some(hi)) if lo == hi => items.push(format!("{x} = {lo}")),
            (Some(lo), Some(hi)) => items.push(format!("{lo} <= {x} <= {hi}")),
            (Some(lo), None) => items.push(format!("{x} >= {lo}")),
            (None, Some(hi)) => items.push(format!("{x} <= {hi}")),
            (None, None) => {}
        }
    }
    // Edge i -> j of weight w: j - i <= w.
    let tight = |i: Var, j: Var| -> Option<Weight> {
        let w = g.edge(i, j)?;
        super::graph::lt(w, g.via_zero(i, j)).then_some(w)
    };
    let mut edges: Vec<(Var, Var, Weight)> = g.edges().collect();
    edges.sort_unstable();
    for (i, j, _) in edges {
        let Some(w) = tight(i, j) else { continue };
        let (x, y) = (name(j), name(i));
        match tight(j, i) {
            Some(back) if back == -w => {
                // Printed once, from the direction with the smaller source.
                if i < j {
                    items.push(match w {
                        0 => format!("{x} = {y}"),
                        w if w > 0 => format!("{x} = {y} + {w}"),
                        w => format!("{x} = {y} - {}", -w),
                    });
                }
            }
            _ => items.push(format!("{x} - {y} <= {w}")),
        }
    }
    items
}
