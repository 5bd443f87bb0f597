//! What a conditional jump teaches each of its two edges: refined bounds of both operands,
//! relations between them (zone), NULL or not-NULL for pointers that may be NULL (and all their
//! copies), or that the edge cannot be taken at all.
//!
//! The checks of a comparison (pointer comparisons the policy forbids) are in [`check`], run on
//! the block's last instruction during the checking pass.

use super::state::{Loc, State, var_of};
use super::transfer::{Env, check_usable};
use super::value::{Ptr, Region, Value};
use crate::domain::scalar;
use crate::isa::{Cond, Insn, Operand, Width};

/// The operands of a conditional jump: values and the zone variables they live in.
fn operands(
    state: &State,
    insn: &Insn,
) -> Option<(Width, Cond, usize, Value, Option<usize>, Value)> {
    let Insn::Jump {
        width,
        cond,
        dst,
        src,
        ..
    } = *insn
    else {
        return None;
    };
    let a = state.regs[dst.index()].clone();
    let (b, b_reg) = match src {
        Operand::Reg(r) => (state.regs[r.index()].clone(), Some(r.index())),
        Operand::Imm(i) => {
            let v = match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => u64::from(i as u32),
            };
            (Value::num(v), None)
        }
    };
    Some((width, cond, dst.index(), a, b_reg, b))
}

/// Checks a comparison (checking pass only): operands usable, pointer comparisons allowed.
pub fn check(env: &mut Env<'_>, state: &State, pc: usize) {
    let insn = env.insns[pc];
    let Some((width, cond, a_reg, a, b_reg, b)) = operands(state, &insn) else {
        return;
    };
    if !check_usable(env, pc, a_reg, &a) {
        return;
    }
    if let Some(r) = b_reg
        && !check_usable(env, pc, r, &b)
    {
        return;
    }
    let is_zero = |v: &Value| matches!(v, Value::Num(n) if n.is_constant() == Some(0));
    match (&a, &b) {
        (Value::Num(_), Value::Num(_)) => {}
        // Equality and unsigned order with 0 only tell NULL from not NULL; a signed order
        // would reveal the address's top bit (Linux refuses every pointer comparison but
        // JEQ/JNE with 0 from unprivileged programs).
        (Value::Ptr(_), z) | (z, Value::Ptr(_))
            if is_zero(z) && width == Width::W64 && !is_signed(cond) => {}
        (Value::Ptr(p), Value::Ptr(q)) if p.region == q.region && width == Width::W64 && !p.nullable && !q.nullable => {}
        _ if env.leaks_allowed() => {}
        _ => env.fail(
            pc,
            "leak",
            format!("compares {} with {}; only pointers into the same region, or a pointer with 0, may be compared", a.describe(), b.describe()),
            vec![],
        ),
    }
}

/// The state on one edge of the conditional jump ending a block at `pc`.
pub fn assume(state: &mut State, insn: &Insn, taken: bool) {
    let Some((width, cond, a_reg, a, b_reg, b)) = operands(state, insn) else {
        return;
    };
    if untyped_kernel_comparison(state, width, cond, a_reg, &a, b_reg, &b, taken) {
        state.reduce();
        return;
    }
    let a_var = var_of(Loc::Reg(a_reg as u8));
    let b_var = b_reg.map(|r| var_of(Loc::Reg(r as u8)));
    match (&a, &b) {
        (Value::Num(x), Value::Num(y)) => {
            let Some((x2, y2)) = scalar::refine(width, cond, x, y, taken) else {
                state.bottom = true;
                return;
            };
            narrow_to(state, Loc::Reg(a_reg as u8), Value::Num(x2));
            if let Some(r) = b_reg {
                narrow_to(state, Loc::Reg(r as u8), Value::Num(y2));
            }
            if width == Width::W64
                && let Some(bv) = b_var
                && state.relational
            {
                let unsigned_is_signed = x.signed_range().0 >= 0 && y.signed_range().0 >= 0;
                relate(state, cond, taken, a_var, bv, unsigned_is_signed);
            }
        }
        (Value::Ptr(p), Value::Num(n)) | (Value::Num(n), Value::Ptr(p))
            if n.is_constant() == Some(0) && width == Width::W64 =>
        {
            let ptr_left = matches!(a, Value::Ptr(_));
            // What holds on this edge, written `p OP 0`: unsigned, `p <= 0` is `p == 0`,
            // `p > 0` is `p != 0`, and `p < 0` never holds.
            let holds = holds_on_edge(if ptr_left { cond } else { mirror(cond) }, taken);
            let is_null = match holds {
                Cond::Eq | Cond::Le => Some(true),
                Cond::Ne | Cond::Gt => Some(false),
                Cond::Lt => {
                    state.bottom = true;
                    return;
                }
                _ => None,
            };
            let ptr_reg = if ptr_left { Some(a_reg) } else { b_reg };
            match is_null {
                Some(true) if !p.nullable => state.bottom = true,
                Some(true) => set_null(state, p, ptr_reg, true),
                Some(false) if p.nullable => set_null(state, p, ptr_reg, false),
                _ => {}
            }
        }
        // Only regions that are one object (a map, a function): two map values (or records,
        // or kernel objects) of one region may be different entries, whose offsets say nothing
        // about their order.
        (Value::Ptr(p), Value::Ptr(q))
            if p.region == q.region
                && matches!(
                    p.region,
                    Region::Ctx
                        | Region::Stack { .. }
                        | Region::Packet
                        | Region::MapFd { .. }
                        | Region::Func { .. }
                )
                && width == Width::W64 =>
        {
            let Some(bv) = b_var else { return };
            // Pointers into one region compare like their offsets (no wrap at these sizes).
            let (po, qo) = (p.off, q.off);
            if let Some((x2, y2)) =
                scalar::refine(Width::W64, signed_version(cond), &po, &qo, taken)
            {
                narrow_to(
                    state,
                    Loc::Reg(a_reg as u8),
                    Value::Ptr(Ptr {
                        off: x2,
                        ..p.clone()
                    }),
                );
                if let Some(r) = b_reg {
                    narrow_to(
                        state,
                        Loc::Reg(r as u8),
                        Value::Ptr(Ptr {
                            off: y2,
                            ..q.clone()
                        }),
                    );
                }
            } else {
                state.bottom = true;
                return;
            }
            if state.relational {
                relate(state, cond, taken, a_var, bv, true);
            }
        }
        _ => {}
    }
    state.reduce();
}

/// A comparison of an untyped kernel value (a traced function's argument, a field read through
/// one: an integer or a pointer, possibly NULL) with a number. Nothing makes an edge
/// unreachable; where the edge bounds the value below every kernel address (`arg == 0`,
/// `cpu <= 127`), it is a number in those bounds. True when it handled the comparison.
#[allow(clippy::too_many_arguments)]
fn untyped_kernel_comparison(
    state: &mut State,
    width: Width,
    cond: Cond,
    a_reg: usize,
    a: &Value,
    b_reg: Option<usize>,
    b: &Value,
    taken: bool,
) -> bool {
    let untyped = |v: &Value| {
        matches!(v, Value::Ptr(Ptr { region: Region::Kernel { btf_name }, .. })
            if super::helper_args::UNTYPED_KERNEL.contains(btf_name))
    };
    let (kernel_reg, n, kernel_left) = match (a, b) {
        (k, Value::Num(n)) if untyped(k) => (Some(a_reg), n, true),
        (Value::Num(n), k) if untyped(k) => (b_reg, n, false),
        _ if untyped(a) || untyped(b) => return true,
        _ => return false,
    };
    let top = scalar::Scalar::top();
    let (x, y) = if kernel_left { (&top, n) } else { (n, &top) };
    let Some((x2, y2)) = scalar::refine(width, cond, x, y, taken) else {
        state.bottom = true;
        return true;
    };
    let k = if kernel_left { x2 } else { y2 };
    // x86-64 kernel addresses are in the upper half; anything bounded below it is a number.
    if let Some(r) = kernel_reg
        && k.unsigned_range().1 < 1 << 47
    {
        state.set(Loc::Reg(r as u8), Value::Num(k));
    }
    true
}

fn is_signed(cond: Cond) -> bool {
    matches!(cond, Cond::Sgt | Cond::Sge | Cond::Slt | Cond::Sle)
}

/// `a OP b` written as `b OP' a`.
fn mirror(cond: Cond) -> Cond {
    match cond {
        Cond::Gt => Cond::Lt,
        Cond::Ge => Cond::Le,
        Cond::Lt => Cond::Gt,
        Cond::Le => Cond::Ge,
        Cond::Sgt => Cond::Slt,
        Cond::Sge => Cond::Sle,
        Cond::Slt => Cond::Sgt,
        Cond::Sle => Cond::Sge,
        c => c,
    }
}

/// The comparison that holds on an edge of `cond` (itself when taken, its negation when
/// not); `Set` has no negation among the conditions and stays itself (callers learn nothing
/// from it).
fn holds_on_edge(cond: Cond, taken: bool) -> Cond {
    use Cond::*;
    if taken {
        return cond;
    }
    match cond {
        Eq => Ne,
        Ne => Eq,
        Gt => Le,
        Ge => Lt,
        Lt => Ge,
        Le => Gt,
        Sgt => Sle,
        Sge => Slt,
        Slt => Sge,
        Sle => Sgt,
        Set => Set,
    }
}

/// The signed comparison with the same meaning (for offsets, which are small signed numbers).
fn signed_version(cond: Cond) -> Cond {
    match cond {
        Cond::Gt => Cond::Sgt,
        Cond::Ge => Cond::Sge,
        Cond::Lt => Cond::Slt,
        Cond::Le => Cond::Sle,
        c => c,
    }
}

/// Replaces a register's value by a refined one, adding its bounds to the zone (without
/// forgetting the relations the register already has).
fn narrow_to(state: &mut State, loc: Loc, value: Value) {
    let var = var_of(loc);
    if let Value::Num(s) | Value::Ptr(Ptr { off: s, .. }) = &value {
        state.zone.add_upper(var, s.signed_range().1);
        state.zone.add_lower(var, s.signed_range().0);
    }
    state.put(loc, value);
}

/// Zone constraints from `a cond b` holding (`taken`) or not. `unsigned_ok`: both operands are
/// known non-negative, so unsigned order is signed order.
fn relate(
    state: &mut State,
    cond: Cond,
    taken: bool,
    a: crate::domain::zone::Var,
    b: crate::domain::zone::Var,
    unsigned_ok: bool,
) {
    use Cond::*;
    // Normalise to "a OP b holds".
    let cond = holds_on_edge(cond, taken);
    let signed = matches!(cond, Sgt | Sge | Slt | Sle);
    if !signed && !matches!(cond, Eq | Ne) && !unsigned_ok {
        return;
    }
    let z = &mut state.zone;
    match cond {
        Eq => {
            z.add_difference(a, b, 0);
            z.add_difference(b, a, 0);
        }
        Gt | Sgt => z.add_difference(b, a, -1),
        Ge | Sge => z.add_difference(b, a, 0),
        Lt | Slt => z.add_difference(a, b, -1),
        Le | Sle => z.add_difference(a, b, 0),
        Ne | Set => {}
    }
}

/// On the edge where a pointer that may be NULL is known NULL (a number 0) or not NULL, every
/// copy with the same id learns the same.
fn set_null(state: &mut State, p: &Ptr, reg: Option<usize>, null: bool) {
    let id = p.null_id;
    let region = p.region;
    let matches = |v: &Value| matches!(v, Value::Ptr(q) if q.nullable && q.region == region && (id != 0 && q.null_id == id));
    let fix = |v: &mut Value| {
        if null {
            *v = Value::num(0);
        } else if let Value::Ptr(q) = v {
            q.nullable = false;
        }
    };
    if let Some(r) = reg {
        let mut v = state.regs[r].clone();
        fix(&mut v);
        state.set(Loc::Reg(r as u8), v);
    }
    if id != 0 {
        let mut regs = vec![];
        for r in 0..11 {
            if matches(&state.regs[r]) {
                regs.push(r);
            }
        }
        for r in regs {
            let mut v = state.regs[r].clone();
            fix(&mut v);
            state.set(Loc::Reg(r as u8), v);
        }
        state.update_slots(matches, fix);
        if null {
            // A NULL ring buffer record needs no submit.
            state.records.retain(|r| *r != id);
        }
    }
}
