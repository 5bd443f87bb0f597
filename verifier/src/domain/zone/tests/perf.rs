//! Performance smoke test: no assertion on time, it prints it. Run with
//! `cargo test --release -p vouch-verifier domain::zone::tests::perf -- --nocapture`.
//!
//! The shape is the worst the analysis could produce, not a typical one: a chain of 300
//! differences, whose closure relates every pair of its variables (45k edges), then random
//! operations over 500 variables that keep the graph that dense.

use super::super::{Var, Zone};
use std::time::{Duration, Instant};

const VARS: u32 = 500;
const CHAIN: u32 = 300;
const OPS: usize = 10_000;

/// A small deterministic generator (xorshift64*), so every run does the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn var(&mut self) -> Var {
        Var(self.below(u64::from(VARS)) as u32)
    }

    fn small(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

fn random_operation(z: &mut Zone, rng: &mut Rng) {
    let (x, y) = (rng.var(), rng.var());
    match rng.below(10) {
        0..=2 => z.add_difference(x, y, rng.small(-5, 600)),
        3 => {
            let lo = rng.small(-100, 100);
            z.set_interval(x, Some(lo), Some(lo + rng.small(0, 200)));
        }
        4 => z.assign_var(x, y, rng.small(-10, 10)),
        5 => z.assign_const(x, rng.small(-100, 100)),
        6 => z.forget(x),
        7 => z.add_upper(x, rng.small(0, 1000)),
        8 => z.add_lower(x, rng.small(-1000, 0)),
        _ => z.assign_var(x, x, rng.small(1, 4)),
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

#[test]
fn random_operations_on_a_long_chain() {
    let (chain, build) = timed(|| {
        let mut chain = Zone::top();
        for k in 0..CHAIN {
            chain.add_difference(Var(k + 1), Var(k), i64::from(k % 3) + 1);
        }
        chain
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut z = chain.clone();
    let mut resets = 0;
    let ((), ops) = timed(|| {
        for _ in 0..OPS {
            random_operation(&mut z, &mut rng);
            if z.is_bottom() {
                z = chain.clone();
                resets += 1;
            }
        }
    });
    let edges = z.graph.edge_count();
    let (joined, join) = timed(|| z.join(&chain));
    let (included, leq) = timed(|| z.leq(&joined) && chain.leq(&joined));
    let (_, meet) = timed(|| z.meet(&chain));
    let (_, widen) = timed(|| chain.widen(&joined));
    assert!(included);
    println!(
        "zone perf: closing a chain of {CHAIN} in {build:?}; {OPS} random operations on {VARS} \
         variables in {ops:?} ({:.1} µs/op, {resets} resets from bottom), ending with {} \
         constrained variables and {edges} edges; then join {join:?}, 2 x leq {leq:?}, \
         meet {meet:?}, widen {widen:?}",
        ops.as_secs_f64() * 1e6 / OPS as f64,
        z.constrained_vars().count(),
    );
}
