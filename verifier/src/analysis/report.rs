//! The outcome of verifying one program: a verdict, the properties that could not be proved
//! (each at its pc, with the abstract values involved), and statistics.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
        })
    }
}

/// A property the analysis could not prove, at one instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub pc: usize,
    /// Short category, stable for tooling (`memory`, `null`, `uninit`, `leak`, `helper`, ...).
    pub kind: &'static str,
    pub message: String,
    /// The abstract values involved (`r1 = pointer to packet (offset 14)`).
    pub values: Vec<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pc {}: {}", self.pc, self.message)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub blocks: usize,
    pub inlined_instructions: usize,
    /// Block visits during the fixpoint.
    pub visits: usize,
    pub loops: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    /// Sorted by pc; the first is the root cause to show first.
    pub diagnostics: Vec<Diagnostic>,
    /// Instructions no path reaches (not analysed).
    pub unreachable: Vec<usize>,
    pub stats: Stats,
    /// With `Options::collect_invariants`: (block's first pc, call depth, invariant) per block.
    pub invariants: Vec<(usize, usize, String)>,
    /// With `Options::collect_invariants`: plain facts at loop heads, for the SMT encoding.
    pub loop_heads: Vec<super::loop_facts::LoopHead>,
}

impl Report {
    /// A report from its diagnostics (sorted here): accepted exactly when there are none.
    pub fn new(mut diagnostics: Vec<Diagnostic>, unreachable: Vec<usize>, stats: Stats) -> Report {
        diagnostics.sort_by_key(|d| d.pc);
        let verdict = if diagnostics.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        };
        Report {
            verdict,
            diagnostics,
            unreachable,
            stats,
            invariants: vec![],
            loop_heads: vec![],
        }
    }

    pub fn rejected(pc: usize, kind: &'static str, message: String) -> Report {
        Report {
            verdict: Verdict::Rejected,
            diagnostics: vec![Diagnostic {
                pc,
                kind,
                message,
                values: vec![],
            }],
            unreachable: vec![],
            stats: Stats::default(),
            invariants: vec![],
            loop_heads: vec![],
        }
    }
}
