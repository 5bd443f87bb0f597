//! The oracle: a dense difference-bound matrix over a handful of variables, closed by
//! Floyd–Warshall after every change, written as plainly as possible. Assignments go through a
//! spare temporary so they share no code path with the zone's shifting and copying.

use super::super::{Var, Zone};

/// Number of program variables in the property tests.
pub const N: usize = 6;

/// The variables the reference's indices stand for: sparse, unordered ids, so the zone's
/// maps are exercised the way the analysis uses them.
pub const VARS: [Var; N] = [Var(3), Var(17), Var(1000), Var(2), Var(999_999), Var(42)];

/// Matrix index of the zero vertex, of variable `k`, and of the temporary.
const ZERO: usize = 0;
const TEMP: usize = N + 1;
const SIZE: usize = N + 2;

fn ix(k: usize) -> usize {
    k + 1
}

/// `m[i][j] = Some(c)`: `v_j - v_i <= c`; `None`: unbounded.
#[derive(Clone, Debug)]
pub struct Dbm {
    m: [[Option<i128>; SIZE]; SIZE],
    pub bottom: bool,
}

fn min(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn le(a: Option<i128>, b: Option<i128>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, _) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

impl Dbm {
    pub fn top() -> Self {
        let mut m = [[None; SIZE]; SIZE];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = Some(0);
        }
        Dbm { m, bottom: false }
    }

    fn close(&mut self) {
        for k in 0..SIZE {
            for i in 0..SIZE {
                for j in 0..SIZE {
                    if let (Some(a), Some(b)) = (self.m[i][k], self.m[k][j]) {
                        self.m[i][j] = min(self.m[i][j], Some(a + b));
                    }
                }
            }
        }
        if (0..SIZE).any(|i| self.m[i][i].is_some_and(|d| d < 0)) {
            *self = Dbm {
                bottom: true,
                ..Dbm::top()
            };
        }
    }

    /// `v_j - v_i <= c`.
    fn add(&mut self, i: usize, j: usize, c: i128) {
        if self.bottom {
            return;
        }
        self.m[i][j] = min(self.m[i][j], Some(c));
        self.close();
    }

    fn forget_index(&mut self, i: usize) {
        for k in 0..SIZE {
            self.m[i][k] = None;
            self.m[k][i] = None;
        }
        self.m[i][i] = Some(0);
    }

    pub fn add_difference(&mut self, x: usize, y: usize, c: i64) {
        self.add(ix(y), ix(x), c.into());
    }

    pub fn add_upper(&mut self, x: usize, c: i64) {
        self.add(ZERO, ix(x), c.into());
    }

    pub fn add_lower(&mut self, x: usize, c: i64) {
        self.add(ix(x), ZERO, -i128::from(c));
    }

    pub fn forget(&mut self, x: usize) {
        if !self.bottom {
            self.forget_index(ix(x));
        }
    }

    pub fn assign_interval(&mut self, x: usize, lo: Option<i64>, hi: Option<i64>) {
        self.forget(x);
        if let Some(lo) = lo {
            self.add_lower(x, lo);
        }
        if let Some(hi) = hi {
            self.add_upper(x, hi);
        }
    }

    /// `x := y + [lo, hi]`, through `t := y; forget x; x - t in [lo, hi]; forget t`.
    pub fn assign_var_plus_interval(&mut self, x: usize, y: usize, lo: i64, hi: i64) {
        if lo > hi {
            *self = Dbm {
                bottom: true,
                ..Dbm::top()
            };
        }
        if self.bottom {
            return;
        }
        self.forget_index(TEMP);
        self.add(ix(y), TEMP, 0);
        self.add(TEMP, ix(y), 0);
        self.forget_index(ix(x));
        self.add(TEMP, ix(x), hi.into());
        self.add(ix(x), TEMP, -i128::from(lo));
        self.forget_index(TEMP);
    }

    pub fn diff_bound(&self, x: usize, y: usize) -> Option<i128> {
        self.m[ix(y)][ix(x)]
    }

    pub fn interval(&self, x: usize) -> (Option<i128>, Option<i128>) {
        (self.m[ix(x)][ZERO].map(|l| -l), self.m[ZERO][ix(x)])
    }

    fn zip(&self, other: &Dbm, f: impl Fn(Option<i128>, Option<i128>) -> Option<i128>) -> Dbm {
        let mut out = Dbm::top();
        for i in 0..SIZE {
            for j in 0..SIZE {
                out.m[i][j] = f(self.m[i][j], other.m[i][j]);
            }
        }
        out
    }

    /// Pointwise maximum of the closed matrices.
    pub fn join(&self, other: &Dbm) -> Dbm {
        match (self.bottom, other.bottom) {
            (true, _) => other.clone(),
            (_, true) => self.clone(),
            _ => self.zip(other, |a, b| Some(a?.max(b?))),
        }
    }

    /// Pointwise minimum, closed.
    pub fn meet(&self, other: &Dbm) -> Dbm {
        if self.bottom || other.bottom {
            return Dbm {
                bottom: true,
                ..Dbm::top()
            };
        }
        let mut out = self.zip(other, min);
        out.close();
        out
    }

    /// Pointwise `<=` of the closed matrices.
    pub fn leq(&self, other: &Dbm) -> bool {
        self.bottom
            || (!other.bottom
                && (0..SIZE).all(|i| (0..SIZE).all(|j| le(self.m[i][j], other.m[i][j]))))
    }

    /// Finite entries of `self`, `newer`'s elsewhere, closed.
    pub fn narrow(&self, newer: &Dbm) -> Dbm {
        if self.bottom || newer.bottom {
            return Dbm {
                bottom: true,
                ..Dbm::top()
            };
        }
        let mut out = self.zip(newer, |a, b| a.or(b));
        out.close();
        out
    }
}

/// Asserts the zone's answers are the reference's closed matrix, entry by entry.
pub fn assert_same(zone: &Zone, dbm: &Dbm, context: &dyn std::fmt::Display) {
    assert_eq!(
        zone.is_bottom(),
        dbm.bottom,
        "bottom differs after {context}: zone {zone:?}, reference {dbm:?}"
    );
    if dbm.bottom {
        return;
    }
    let wide = |v: Option<i128>| v.map(|c| i64::try_from(c).expect("small test constants"));
    for (x, &vx) in VARS.iter().enumerate() {
        let (lo, hi) = dbm.interval(x);
        assert_eq!(
            zone.interval(vx),
            (wide(lo), wide(hi)),
            "interval of #{x} after {context}: {zone:?}"
        );
        for (y, &vy) in VARS.iter().enumerate() {
            assert_eq!(
                zone.diff_bound(vx, vy),
                wide(dbm.diff_bound(x, y)),
                "bound on #{x} - #{y} after {context}: {zone:?}"
            );
        }
    }
}
