//! The eBPF patterns the zone exists for, and edge cases, one test each.

use super::super::{Var, Zone};

const PACKET_SIZE: Var = Var(0);
const R2: Var = Var(102);
const R3: Var = Var(103);
const R4: Var = Var(104);
const I: Var = Var(200);
const N: Var = Var(201);

fn name(v: Var) -> String {
    match v {
        PACKET_SIZE => "packet_size".into(),
        I => "i".into(),
        N => "n".into(),
        Var(r) => format!("r{}.off", r - 100),
    }
}

/// `r2 = data; r3 = data_end` at program start.
fn packet_entry() -> Zone {
    let mut z = Zone::top();
    z.set_interval(PACKET_SIZE, Some(0), Some(0xffff));
    z.assign_const(R2, 0);
    z.copy_var(R3, PACKET_SIZE);
    z
}

/// Whether an access of `size` bytes at `ptr + off` is within the packet.
fn in_packet(z: &Zone, ptr: Var, off: i64, size: i64) -> bool {
    let (lo, _) = z.interval(ptr);
    lo.is_some_and(|lo| lo + off >= 0)
        && z.diff_bound(ptr, PACKET_SIZE)
            .is_some_and(|c| c + off + size <= 0)
}

#[test]
fn packet_bound_check_then_access() {
    let mut z = packet_entry();
    assert!(
        !in_packet(&z, R2, 10, 4),
        "unchecked access must not be provable"
    );
    // r4 = r2 + 14; if (r4 > r3) goto out;
    z.assign_var(R4, R2, 14);
    let mut out = z.clone();
    out.add_difference(R3, R4, -1);
    z.add_difference(R4, R3, 0);
    assert_eq!(z.diff_bound(R2, PACKET_SIZE), Some(-14));
    assert!(in_packet(&z, R2, 10, 4));
    assert!(in_packet(&z, R2, 0, 14));
    assert!(!in_packet(&z, R2, 12, 4));
    assert_eq!(z.interval(PACKET_SIZE), (Some(14), Some(0xffff)));
    assert_eq!(out.interval(PACKET_SIZE), (Some(0), Some(13)));
    // With r2.off constant the relation follows from the bounds, so only they are shown.
    assert_eq!(
        z.fmt_with(name).to_string(),
        "14 <= packet_size <= 65535, r2.off = 0, 14 <= r3.off <= 65535, r4.off = 14, \
         r3.off = packet_size"
    );
}

#[test]
fn variable_offset_checked_against_packet_end() {
    // r2 += len (len in [0, 100]); r4 = r2 + 8; if (r4 > r3) goto out; load 8 bytes at r2.
    let mut z = packet_entry();
    z.assign_var_plus_interval(R2, R2, 0, 100);
    z.assign_var(R4, R2, 8);
    z.add_difference(R4, R3, 0);
    assert!(in_packet(&z, R2, 0, 8));
    assert!(!in_packet(&z, R2, 1, 8));
    let shown = z.fmt_with(name).to_string();
    assert!(shown.contains("r2.off - packet_size <= -8"), "{shown}");
    // Moving the pointer on keeps the relation, shifted: r2 += 4 leaves 4 checked bytes.
    z.assign_var(R2, R2, 4);
    assert!(in_packet(&z, R2, 0, 4));
    assert!(!in_packet(&z, R2, 0, 5));
}

#[test]
fn loop_index_below_n_below_packet_size() {
    // n <= packet_size; for (i = 0; i < n; i++) load 1 byte at data + i.
    let mut entry = packet_entry();
    entry.set_interval(N, Some(0), None);
    entry.add_difference(N, PACKET_SIZE, 0);
    entry.assign_const(I, 0);
    let body = |head: &Zone| {
        let mut z = head.clone();
        z.add_difference(I, N, -1);
        assert!(in_packet(&z, I, 0, 1), "i < n <= packet_size: {z:?}");
        z.assign_var(I, I, 1);
        z
    };
    let mut head = entry.clone();
    let mut iterations = 0;
    loop {
        let next = entry.join(&body(&head));
        if next.leq(&head) {
            break;
        }
        head = head.widen(&next);
        iterations += 1;
        assert!(iterations < 5, "no fixpoint: {head:?}");
    }
    assert_eq!(head.interval(I), (Some(0), Some(0xffff)));
    assert_eq!(head.diff_bound(I, N), Some(0), "{head:?}");
    // After the loop: i >= n, so i == n.
    let mut exit = head.clone();
    exit.add_difference(N, I, 0);
    assert_eq!(
        (exit.diff_bound(I, N), exit.diff_bound(N, I)),
        (Some(0), Some(0))
    );
}

#[test]
fn widening_keeps_relations_the_bounds_implied() {
    // i = j = 10; loop { i--; j--; }: only the bounds imply i == j at first, and widening
    // drops the lower bounds; the equality must survive as an explicit relation.
    let (i, j) = (I, N);
    let mut entry = Zone::top();
    entry.assign_const(i, 10);
    entry.assign_const(j, 10);
    let mut head = entry.clone();
    for _ in 0..5 {
        let mut next = head.clone();
        next.assign_var(i, i, -1);
        next.assign_var(j, j, -1);
        let next = entry.join(&next);
        if next.leq(&head) {
            break;
        }
        head = head.widen(&next);
    }
    assert_eq!(
        (head.interval(i), head.interval(j)),
        ((None, Some(10)), (None, Some(10)))
    );
    assert_eq!(
        (head.diff_bound(i, j), head.diff_bound(j, i)),
        (Some(0), Some(0)),
        "{head:?}"
    );
}

#[test]
fn widening_with_thresholds_keeps_the_loop_bound() {
    // for (i = 0; i < 64; i++): plain widening loses i <= 64, a threshold at 64 keeps it.
    let mut entry = Zone::top();
    entry.assign_const(I, 0);
    let body = |head: &Zone| {
        let mut z = head.clone();
        z.add_upper(I, 63);
        z.assign_var(I, I, 1);
        entry.join(&z)
    };
    let fixpoint = |thresholds: &[i64]| {
        let mut head = entry.clone();
        for _ in 0..10 {
            let next = body(&head);
            if next.leq(&head) {
                return head;
            }
            head = head.widen_with_thresholds(&next, thresholds);
        }
        panic!("no fixpoint: {head:?}");
    };
    assert_eq!(fixpoint(&[]).interval(I), (Some(0), None));
    assert_eq!(fixpoint(&[0, 64, 1024]).interval(I), (Some(0), Some(64)));
    // Narrowing recovers it without thresholds.
    let wide = fixpoint(&[]);
    assert_eq!(wide.narrow(&body(&wide)).interval(I), (Some(0), Some(64)));
}

#[test]
fn increment_shifts_relations() {
    let (x, y) = (Var(1), Var(2));
    let mut z = Zone::top();
    z.set_interval(y, Some(0), Some(10));
    z.assign_var(x, y, 3);
    z.assign_var(x, x, 4);
    assert_eq!(
        (z.diff_bound(x, y), z.diff_bound(y, x)),
        (Some(7), Some(-7))
    );
    assert_eq!(z.interval(x), (Some(7), Some(17)));
    z.assign_var_plus_interval(x, x, 1, 2);
    assert_eq!(
        (z.diff_bound(x, y), z.diff_bound(y, x)),
        (Some(9), Some(-8))
    );
    assert_eq!(z.interval(x), (Some(8), Some(19)));
    // y := y - 8 keeps x's relation: now x - y in [16, 17].
    z.assign_var(y, y, -8);
    assert_eq!(
        (z.diff_bound(x, y), z.diff_bound(y, x)),
        (Some(17), Some(-16))
    );
}

#[test]
fn join_keeps_equalities_neither_side_stores() {
    let (x, y) = (Var(1), Var(2));
    let mut a = Zone::top();
    a.assign_const(x, 1);
    a.assign_const(y, 1);
    let mut b = Zone::top();
    b.assign_const(x, 2);
    b.assign_const(y, 2);
    let j = a.join(&b);
    assert_eq!((j.diff_bound(x, y), j.diff_bound(y, x)), (Some(0), Some(0)));
    assert_eq!(j.interval(x), (Some(1), Some(2)));
    assert!(a.leq(&j) && b.leq(&j) && !j.leq(&a));
}

#[test]
fn contradictions_give_bottom_which_absorbs() {
    let (x, y) = (Var(1), Var(2));
    let mut z = Zone::top();
    z.add_difference(x, y, -1);
    z.add_difference(y, x, 0);
    assert!(z.is_bottom());
    z.assign_const(x, 3);
    z.forget(y);
    assert!(z.is_bottom());
    assert_eq!(z.to_string(), "bottom");
    assert!(z.leq(&Zone::top()) && !Zone::top().leq(&z));
    assert_eq!(z.join(&Zone::top()), Zone::top());

    let mut z = Zone::top();
    z.add_lower(x, 5);
    z.add_upper(x, 4);
    assert!(z.is_bottom());
    let mut z = Zone::top();
    z.assign_interval(x, Some(1), Some(0));
    assert!(z.is_bottom());
    let mut z = Zone::top();
    z.assign_var_plus_interval(x, y, 1, 0);
    assert!(z.is_bottom());
    let mut z = Zone::top();
    z.add_equal(x, x, 1);
    assert!(z.is_bottom());
}

#[test]
fn extreme_constants_never_panic() {
    let (x, y) = (Var(1), Var(u32::MAX));
    let mut z = Zone::top();
    z.add_upper(x, i64::MAX);
    z.add_lower(x, i64::MIN);
    z.add_difference(x, y, i64::MIN);
    z.add_difference(y, x, i64::MAX);
    for _ in 0..200 {
        z.assign_var(x, x, i64::MAX);
        z.assign_var_plus_interval(y, y, i64::MIN, i64::MAX);
        z.assign_var(y, x, i64::MIN);
    }
    let _ = (
        z.interval(x),
        z.interval(y),
        z.diff_bound(x, y),
        z.diff_bound(y, x),
    );
    let _ = z.join(&z).widen(&z).narrow(&z).meet(&z).to_string();
    // Bounds beyond i64 read as "no bound", never as a wrapped value.
    let mut z = Zone::top();
    z.assign_const(x, i64::MAX);
    z.assign_const(y, i64::MIN);
    assert_eq!(z.diff_bound(x, y), None);
    assert_eq!(z.diff_bound(y, x), Some(i64::MIN));
    z.assign_var(x, x, 1);
    assert_eq!(z.interval(x), (Some(i64::MAX), None));
}

#[test]
fn unconstrained_variables_cost_nothing() {
    let mut z = Zone::top();
    for v in 0..5000 {
        z.forget(Var(v));
        z.assign_var(Var(v), Var(v), 1);
        assert_eq!(z.interval(Var(v)), (None, None));
    }
    assert!(z.is_top());
    z.set_interval(Var(4999), Some(1), None);
    z.add_difference(Var(7), Var(4999), 0);
    assert_eq!(
        z.constrained_vars().collect::<Vec<_>>(),
        [Var(7), Var(4999)]
    );
    z.retain(|v| v != Var(4999));
    assert!(z.is_top());
}

#[test]
fn display_names_constraints() {
    let (x, y, w) = (Var(1), Var(2), Var(3));
    let mut z = Zone::top();
    assert_eq!(z.to_string(), "top");
    z.set_interval(x, Some(0), Some(10));
    z.assign_var(y, x, 4);
    z.add_upper(w, 3);
    z.add_difference(w, x, -2);
    assert_eq!(
        z.to_string(),
        "0 <= v1 <= 10, 4 <= v2 <= 14, v3 <= 3, v2 = v1 + 4, v3 - v1 <= -2, v3 - v2 <= -6"
    );
}
