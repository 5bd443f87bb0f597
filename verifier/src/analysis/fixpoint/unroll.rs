//! Loops analysed one iteration at a time, as long as they run few iterations.
//!
//! Why: a loop that clang unrolled partly advances its counter and its pointers by different
//! strides (`i += 90; p += 360`), and the zone cannot relate two quantities whose difference
//! changes. Joining the iterations at the head loses the pointer's bound (`p` in `[0, 360]`
//! while `i` is in `{0, 90}`), and widening then loses it for good. The Linux verifier walks
//! such a loop iteration by iteration; so does this, for at most [`unroll_limit`] iterations:
//! each iteration's head state is kept apart (its states carry the tag `(loop, iteration)`,
//! which [`super::normalize`] keeps separate), so every pointer and counter stays exact and
//! no widening is needed. A loop that runs longer falls back to the join-and-widen iteration
//! of [`Engine::component`], which is sound for any loop.
//!
//! The iterations are computed frontier by frontier (each body run sees only the newest
//! iteration), then one final run over all iterations together produces the exits and, in
//! the final pass of the enclosing component, checks every instruction once.

use super::Engine;
use crate::analysis::state::State;
use crate::cfg::Component;
use petgraph::graph::NodeIndex;

/// Most iterations of one loop analysed one by one in the first analysis of a program.
pub(super) const MAX_UNROLL: usize = 32;
/// Most iterations in the second analysis, which runs only when the first rejected a program
/// after falling back to widening on a loop (see [`super::run`]): Linux walks bounded loops of
/// hundreds of iterations one by one (pyperf600_nounroll: 600 iterations whose counter and
/// pointer advance with different strides, which no widening keeps related). Doing it for every
/// program would make a 1,000-iteration loop cost a second instead of milliseconds.
pub(super) const LONG_UNROLL: usize = 1024;
/// Body instructions the unrolled iterations of one loop may analyse in all: a 9,000-instruction
/// body gets 11 iterations, a 20-instruction one [`MAX_UNROLL`].
const UNROLL_BUDGET: usize = 100_000;

/// Iterations a loop of `body` instructions is unrolled for, at most `max`.
pub(super) fn unroll_limit(body: usize, max: usize) -> usize {
    (UNROLL_BUDGET / body.max(1)).min(max)
}

/// Marks `states` as being in iteration `k` of loop `index`.
fn tag(states: &mut [State], index: u32, k: u32) {
    for s in states {
        match s.iterations.iter_mut().find(|(l, _)| *l == index) {
            Some(entry) => entry.1 = k,
            None => s.iterations.push((index, k)),
        }
    }
}

impl Engine<'_> {
    /// Analyses loop `h` iteration by iteration. `false` (and nothing the caller relies on
    /// changed) when it would run more iterations than its limit: the caller then iterates
    /// with widening.
    pub(super) fn unrolled(&mut self, h: NodeIndex, body: &[Component], last: bool) -> bool {
        let l = &self.loops[&h];
        let (index, limit) = (l.index, l.unroll);
        if limit == 0 || self.cfg.graph[h].callback_loop {
            return false;
        }
        let mut frontier = self.loop_entries(h);
        tag(&mut frontier, index, 0);
        let mut iterations = frontier.clone();
        let mut k = 0;
        while !frontier.is_empty() {
            if k >= limit {
                self.unroll_cut_short = true;
                return false;
            }
            self.pre[h.index()] = frontier;
            self.run_block(h, false);
            for c in body {
                self.component(c, false);
            }
            if self.exhausted {
                return true;
            }
            k += 1;
            frontier = self.loop_backs(h);
            tag(&mut frontier, index, k as u32);
            iterations.extend(frontier.iter().cloned());
        }
        if last {
            self.consumed(h, |_, _| true);
        }
        self.pre[h.index()] = iterations;
        self.run_block(h, last);
        for c in body {
            self.component(c, last);
        }
        if last {
            self.check_termination(h);
        }
        true
    }
}
