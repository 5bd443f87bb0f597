//! What the analysis proved at loop heads, exported for the SMT encoding (`smt::encode`), which
//! havocks a loop head's state and may then assume these facts (issue 7: "at loop heads assume
//! the invariant that the analysis proved").
//!
//! Only plain facts are exported, ones the encoding can state without the analysis's internal
//! names: a register that is a number on every path, with its signed and unsigned bounds; a
//! register that is a non-NULL packet pointer on every path, with its offset from `data`.

use super::state::State;
use super::value::{Region, Value};
use crate::cfg::Cfg;
use petgraph::graph::NodeIndex;

/// What holds at the head of a loop each time control reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopHead {
    /// The head block's frame (`cfg::Cfg::frames`; the encoding builds the same graph).
    pub frame: usize,
    /// The head block's first instruction.
    pub pc: usize,
    /// Facts by register number.
    pub regs: Vec<(usize, RegFact)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegFact {
    /// A number within both ranges.
    Num {
        smin: i64,
        smax: i64,
        umin: u64,
        umax: u64,
    },
    /// `data + off` with `off` in `[lo, hi]` (signed), never NULL.
    Packet { lo: i64, hi: i64 },
}

/// The facts at `heads`, from their entry states (`pre`, indexed by block).
pub fn collect(
    cfg: &Cfg,
    heads: impl Iterator<Item = NodeIndex>,
    pre: &[Vec<State>],
) -> Vec<LoopHead> {
    let mut out: Vec<LoopHead> = heads
        .filter_map(|h| {
            let states = pre.get(h.index()).filter(|s| !s.is_empty())?;
            let block = cfg.graph[h];
            let regs = (0..11)
                .filter_map(|r| Some((r, fact(states.iter().map(|s| &s.regs[r]))?)))
                .collect();
            Some(LoopHead {
                frame: block.frame,
                pc: block.start,
                regs,
            })
        })
        .collect();
    out.sort_by_key(|h| (h.frame, h.pc));
    out
}

/// The fact every value satisfies, if there is one.
fn fact<'a>(values: impl Iterator<Item = &'a Value>) -> Option<RegFact> {
    let mut acc: Option<RegFact> = None;
    for v in values {
        let f = match v {
            Value::Num(s) => {
                let ((smin, smax), (umin, umax)) = (s.signed_range(), s.unsigned_range());
                RegFact::Num {
                    smin,
                    smax,
                    umin,
                    umax,
                }
            }
            Value::Ptr(p) if p.region == Region::Packet && !p.nullable => {
                let (lo, hi) = p.off.signed_range();
                RegFact::Packet { lo, hi }
            }
            _ => return None,
        };
        acc = Some(match (acc, f) {
            (None, f) => f,
            (
                Some(RegFact::Num {
                    smin,
                    smax,
                    umin,
                    umax,
                }),
                RegFact::Num {
                    smin: a,
                    smax: b,
                    umin: c,
                    umax: d,
                },
            ) => RegFact::Num {
                smin: smin.min(a),
                smax: smax.max(b),
                umin: umin.min(c),
                umax: umax.max(d),
            },
            (Some(RegFact::Packet { lo, hi }), RegFact::Packet { lo: a, hi: b }) => {
                RegFact::Packet {
                    lo: lo.min(a),
                    hi: hi.max(b),
                }
            }
            _ => return None,
        });
    }
    acc
}
