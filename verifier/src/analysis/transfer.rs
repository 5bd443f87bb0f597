//! Transfer functions: what each instruction does to the abstract state, and the checks it
//! needs. Memory instructions are in `memory`, calls and exits in `calls`, branch conditions in
//! `branch`; this file holds the dispatcher and arithmetic.

use super::state::{Loc, State, var_of};
use super::value::srange;
use super::value::{Ptr, Region, Unusable, Value};
use super::{Diagnostic, MapInfo, Options};
use crate::domain::scalar::{self, Scalar};
use crate::isa::{AluOp, Imm64Kind, Insn, Operand, Width};
use crate::platform::ProgramType;
use crate::platform::context::ContextLayout;
use crate::platform::kernel_btf::{AttachProto, KernelTypes};

/// Everything a transfer function may consult, and where checks report.
pub struct Env<'a> {
    pub insns: &'a [Insn],
    pub maps: &'a [MapInfo],
    pub program_type: ProgramType,
    /// The ELF section the program came from: the attach point, which some rules depend on.
    pub section: &'a str,
    pub layout: Option<&'static ContextLayout>,
    /// The kernel's BTF, when given: kernel structs are walked member by member.
    pub kernel: Option<KernelTypes<'a>>,
    /// The typed arguments of a tracing program's attach target, from the kernel's BTF; `None`
    /// keeps [`Env::layout`]'s untyped argument slots.
    pub attach: Option<AttachProto>,
    pub options: &'a Options,
    /// Report failed checks (the final pass) or stay silent (fixpoint iterations).
    pub checking: bool,
    /// Helper calls whose callbacks the CFG runs (see `cfg::Cfg::callback_sites`).
    pub callback_sites: Vec<usize>,
    /// `pc` starts a `lsh rX, 32; rsh/arsh rX, 32` pair inside one basic block (so `pc + 1` is
    /// reached only from `pc`): the pair is one zero- or sign-extension, analysed as such at
    /// `pc` (see [`extension_pairs`]).
    pub extension_pair: Vec<bool>,
    /// Per map, the first map with the same definition (see [`map_classes`]).
    pub map_class: Vec<usize>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Per map, the lowest-numbered map with an identical definition (type, sizes, entries,
/// access, contents, inner map): a program that picks one of two such maps per packet
/// (Cilium's TCP and "any" connection-tracking tables) passes either to the same helpers, and
/// everything the analysis checks about a map depends on its definition only. `lddw` of a map
/// yields its class's first map, so the two paths' pointers join instead of becoming unusable.
pub fn map_classes(maps: &[MapInfo]) -> Vec<usize> {
    let same = |a: &MapInfo, b: &MapInfo| {
        (
            a.map_type,
            a.key_size,
            a.value_size,
            a.max_entries,
            a.read_only,
        ) == (
            b.map_type,
            b.key_size,
            b.value_size,
            b.max_entries,
            b.read_only,
        ) && a.frozen == b.frozen
            && a.inner == b.inner
    };
    (0..maps.len())
        .map(|i| (0..i).find(|&j| same(&maps[j], &maps[i])).unwrap_or(i))
        .collect()
}

impl Env<'_> {
    /// Pointer leaks and helper reads of uninitialised stack are allowed: by `--allow-ptr-leaks`,
    /// or because the program type is a tracing type (see [`ProgramType::is_tracing`]).
    pub fn leaks_allowed(&self) -> bool {
        self.options.allow_ptr_leaks || self.program_type.is_tracing()
    }

    pub fn fail(&mut self, pc: usize, kind: &'static str, message: String, values: Vec<String>) {
        if self.checking
            && !self
                .diagnostics
                .iter()
                .any(|d| d.pc == pc && d.message == message)
        {
            self.diagnostics.push(Diagnostic {
                pc,
                kind,
                message,
                values,
            });
        }
    }
}

/// A value must be usable as an operand: initialised and not invalidated.
pub fn check_usable(env: &mut Env<'_>, pc: usize, r: usize, v: &Value) -> bool {
    match v {
        Value::Bad(u) => {
            let what = match u {
                Unusable::Uninit => format!("r{r} is used before it is initialised"),
                Unusable::Mixed => {
                    format!("r{r} holds a number on some paths and a pointer on others")
                }
                Unusable::StalePacket { helper_pc } => format!(
                    "r{r} is a packet pointer invalidated by the helper call at pc {helper_pc} (reload it from the context)"
                ),
                Unusable::CorruptedPointer => {
                    format!("r{r} was read from a partly overwritten pointer")
                }
                Unusable::Released => {
                    format!("r{r} points to a ring buffer record already submitted or discarded")
                }
            };
            let kind = if *u == Unusable::Uninit {
                "uninit"
            } else {
                "type"
            };
            env.fail(pc, kind, what, vec![]);
            false
        }
        _ => true,
    }
}

/// Applies instruction `pc` to `state` (not conditional jumps: their effect is on the edges).
pub fn step(env: &mut Env<'_>, state: &mut State, pc: usize) {
    if state.bottom {
        return;
    }
    if pc > 0 && env.extension_pair.get(pc - 1).copied().unwrap_or(false) {
        // The second half of an extension pair: done at `pc - 1`.
        return;
    }
    if env.extension_pair.get(pc).copied().unwrap_or(false) {
        extension_pair(env, state, pc);
        return;
    }
    let insn = env.insns[pc];
    match insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => alu(env, state, pc, width, op, dst.index(), src),
        Insn::Neg { width, dst } => {
            let r = dst.index();
            let v = state.regs[r].clone();
            if !check_usable(env, pc, r, &v) {
                state.set(Loc::Reg(r as u8), Value::unknown());
                return;
            }
            match v {
                Value::Num(s) => state.set(Loc::Reg(r as u8), Value::Num(scalar::neg(width, &s))),
                _ => pointer_arith_error(env, state, pc, r, "negate"),
            }
        }
        Insn::Endian { kind, bits, dst } => {
            let r = dst.index();
            let v = state.regs[r].clone();
            if !check_usable(env, pc, r, &v) {
                state.set(Loc::Reg(r as u8), Value::unknown());
                return;
            }
            match v {
                Value::Num(s) => state.set(
                    Loc::Reg(r as u8),
                    Value::Num(scalar::endian(kind, bits, &s)),
                ),
                _ => pointer_arith_error(env, state, pc, r, "byte-swap"),
            }
        }
        Insn::Load { .. } | Insn::Store { .. } | Insn::Atomic { .. } | Insn::LoadPacket { .. } => {
            super::memory::step(env, state, pc, insn)
        }
        Insn::LoadImm64 {
            dst,
            kind,
            imm,
            next_imm,
        } => load_imm64(env, state, pc, dst.index(), kind, imm, next_imm),
        Insn::WideTail | Insn::Ja { .. } | Insn::Jump { .. } => {}
        Insn::Call(_) | Insn::CallX { .. } | Insn::Exit => super::calls::step(env, state, pc, insn),
    }
}

fn load_imm64(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    dst: usize,
    kind: Imm64Kind,
    imm: i32,
    next: i32,
) {
    let map = usize::try_from(imm).ok().filter(|&m| m < env.maps.len());
    let value = match kind {
        Imm64Kind::Value => Value::num((u64::from(next as u32) << 32) | u64::from(imm as u32)),
        Imm64Kind::MapFd | Imm64Kind::MapIdx => match map {
            Some(map) => Value::ptr(
                Region::MapFd {
                    map: env.map_class.get(map).copied().unwrap_or(map),
                },
                0,
            ),
            None => {
                env.fail(
                    pc,
                    "map",
                    format!("lddw refers to map {imm}, which the object does not define"),
                    vec![],
                );
                Value::Bad(Unusable::Mixed)
            }
        },
        Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
            match map {
                Some(map) => {
                    let info = &env.maps[map];
                    let region = Region::MapValue {
                        map,
                        size: info.value_size,
                        read_only: info.read_only,
                    };
                    Value::ptr(region, i64::from(next))
                }
                None => {
                    env.fail(pc, "map", format!("lddw refers to the value of map {imm}, which the object does not define"), vec![]);
                    Value::Bad(Unusable::Mixed)
                }
            }
        }
        Imm64Kind::Func => {
            let target = pc as i64 + 1 + i64::from(imm);
            Value::ptr(
                Region::Func {
                    pc: target.max(0) as usize,
                },
                0,
            )
        }
        Imm64Kind::BtfVar => Value::ptr(
            Region::Kernel {
                btf_name: "kernel variable",
            },
            0,
        ),
    };
    state.set(Loc::Reg(dst as u8), value);
}

fn pointer_arith_error(env: &mut Env<'_>, state: &mut State, pc: usize, r: usize, what: &str) {
    let desc = state.regs[r].describe();
    env.fail(
        pc,
        "pointer",
        format!("cannot {what} a pointer: r{r} is {desc}"),
        vec![format!("r{r} = {desc}")],
    );
    state.set(Loc::Reg(r as u8), Value::unknown());
}

fn alu(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    width: Width,
    op: AluOp,
    dst: usize,
    src: Operand,
) {
    let (src_value, src_var) = match src {
        Operand::Imm(i) => {
            let v = match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => u64::from(i as u32),
            };
            (Value::num(v), None)
        }
        Operand::Reg(r) => {
            let v = state.regs[r.index()].clone();
            if !check_usable(env, pc, r.index(), &v) {
                state.set(Loc::Reg(dst as u8), Value::unknown());
                return;
            }
            (v, Some(var_of(Loc::Reg(r.number()))))
        }
    };
    let dloc = Loc::Reg(dst as u8);
    let dvar = var_of(dloc);
    if op == AluOp::Mov && width == Width::W64 {
        match src_var {
            Some(var) => state.copy(dloc, var, src_value),
            None => state.set(dloc, src_value),
        }
        return;
    }
    // A 32-bit move of a value that fits in 32 bits is a copy: keep the relations.
    if op == AluOp::Mov
        && width == Width::W32
        && let (Value::Num(s), Some(var)) = (&src_value, src_var)
        && s.unsigned_range().1 <= u64::from(u32::MAX)
    {
        state.copy(dloc, var, src_value.clone());
        return;
    }
    // A 32-bit move or a sign-extending move writes dst without reading it.
    if (op == AluOp::Mov && width == Width::W32) || matches!(op, AluOp::MovSx(_)) {
        if let Value::Num(s) = &src_value {
            state.set(
                dloc,
                Value::Num(scalar::binary(width, op, &Scalar::top(), s)),
            );
        } else {
            let what = if op == AluOp::Mov {
                "a pointer is truncated to 32 bits"
            } else {
                "a pointer is sign-extended from its low bits"
            };
            leak_or_unknown(env, state, pc, dst, what);
        }
        return;
    }
    // `r ^= r` and `r -= r` are 0 whatever r holds (compilers zero registers this way).
    if let Operand::Reg(r) = src
        && r.index() == dst
        && matches!(op, AluOp::Xor | AluOp::Sub)
    {
        state.set(dloc, Value::num(0));
        return;
    }
    let dst_value = state.regs[dst].clone();
    if !check_usable(env, pc, dst, &dst_value) {
        state.set(dloc, Value::unknown());
        return;
    }
    match (&dst_value, &src_value) {
        (Value::Num(a), Value::Num(b)) => {
            // A 32-bit operation divides by the low half of the divisor.
            let divisor = match width {
                Width::W64 => *b,
                Width::W32 => b.truncate(4),
            };
            if env.options.strict_div
                && matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod)
                && divisor.contains(0)
            {
                env.fail(
                    pc,
                    "division",
                    "the divisor may be zero (--strict-div)".into(),
                    vec![format!("divisor = {b}")],
                );
            }
            let result = scalar::binary(width, op, a, b);
            // Keep the relation dst' = dst + c (or src + c) when no view can wrap.
            let shift = match (op, width, b.is_constant()) {
                (AluOp::Add, Width::W64, Some(c)) => Some(c as i64),
                (AluOp::Sub, Width::W64, Some(c)) => (c as i64).checked_neg(),
                (AluOp::Add, Width::W32, Some(c)) => Some(i64::from(c as u32 as i32)),
                (AluOp::Sub, Width::W32, Some(c)) => Some(-i64::from(c as u32 as i32)),
                _ => None,
            };
            // A 32-bit add of a value and result that both fit in 32 bits is the 64-bit add
            // (`w2 += 1` on an `int` counter): the relation holds as well.
            let fits = |c: i64| match width {
                Width::W64 => {
                    a.signed_range().0.checked_add(c).is_some()
                        && a.signed_range().1.checked_add(c).is_some()
                }
                Width::W32 => {
                    let (lo, hi) = a.unsigned_range();
                    hi <= u64::from(u32::MAX)
                        && (lo as i64) + c >= 0
                        && (hi as i64) + c <= i64::from(u32::MAX)
                }
            };
            match shift {
                Some(c) if state.relational && fits(c) => {
                    state.zone.assign_var(dvar, dvar, c);
                    state.put(dloc, Value::Num(result));
                    state.reduce();
                }
                None if state.relational && op == AluOp::Add && width == Width::W64 => {
                    // d' = d + s: d' - d is s's range and d' - s is d's, when nothing wraps.
                    let (alo, ahi) = a.signed_range();
                    let (blo, bhi) = b.signed_range();
                    let fits = i128::from(alo) + i128::from(blo) >= i128::from(i64::MIN)
                        && i128::from(ahi) + i128::from(bhi) <= i128::from(i64::MAX);
                    if fits {
                        state.zone.assign_var_plus_interval(dvar, dvar, blo, bhi);
                        if let Some(svar) = src_var.filter(|v| *v != dvar) {
                            state.zone.add_difference(dvar, svar, ahi);
                            state.zone.add_difference(svar, dvar, alo.saturating_neg());
                        }
                        state.put(dloc, Value::Num(result));
                        state.reduce();
                    } else {
                        state.set(dloc, Value::Num(result));
                    }
                }
                _ => state.set(dloc, Value::Num(result)),
            }
        }
        (Value::Ptr(p), Value::Num(n))
            if width == Width::W64 && matches!(op, AluOp::Add | AluOp::Sub) =>
        {
            ptr_plus(env, state, pc, dst, p.clone(), n, op == AluOp::Sub, src_var);
        }
        (Value::Num(n), Value::Ptr(p)) if width == Width::W64 && op == AluOp::Add => {
            // dst = number + pointer: the pointer's relations are those of src.
            let p = p.clone();
            let n = *n;
            if let Some(var) = src_var {
                state.copy(dloc, var, Value::Ptr(p.clone()));
            }
            ptr_plus(env, state, pc, dst, p, &n, false, None);
        }
        (Value::Ptr(p), Value::Ptr(q))
            if width == Width::W64
                && op == AluOp::Sub
                && p.region == q.region
                && single_object(p.region) =>
        {
            // The distance between two pointers into one object is a number (data_end - data).
            let (lo, hi) = match src_var {
                Some(s) => {
                    let hi = state.zone.diff_bound(dvar, s);
                    let lo = state.zone.diff_bound(s, dvar).and_then(|b| b.checked_neg());
                    (lo, hi)
                }
                None => (None, None),
            };
            let lo = lo.unwrap_or(
                p.off
                    .signed_range()
                    .0
                    .saturating_sub(q.off.signed_range().1),
            );
            let hi = hi.unwrap_or(
                p.off
                    .signed_range()
                    .1
                    .saturating_sub(q.off.signed_range().0),
            );
            match q.off.is_constant().and_then(|c| (c as i64).checked_neg()) {
                // `data_end - data`: the result is `dst`'s offset shifted by a constant, so it
                // keeps its relations (to `packet_size`), and a later `if (len < 14)` bounds
                // the packet.
                Some(shift) if state.relational && lo <= hi => {
                    state.zone.assign_var(dvar, dvar, shift);
                    state.regs[dst] = Value::Num(srange(lo, hi));
                    state.zone.add_interval(dvar, Some(lo), Some(hi));
                }
                _ => state.set(dloc, Value::Num(srange(lo, hi))),
            }
        }
        _ => {
            let what = match (&dst_value, &src_value) {
                (Value::Ptr(_), Value::Ptr(_)) => {
                    "pointer arithmetic between two pointers (or pointers into different regions)"
                }
                _ => {
                    "arithmetic other than adding or subtracting a number changes a pointer into a number"
                }
            };
            leak_or_unknown(env, state, pc, dst, what);
        }
    }
}

/// Regions that are one object in every state: the distance between two pointers into them
/// reveals no address. Two pointers into "a value of map m" (or two helper buffers of one
/// size) may point into different objects, whose distance would expose kernel addresses.
fn single_object(region: Region) -> bool {
    matches!(region, Region::Ctx | Region::Stack { .. } | Region::Packet)
}

/// An operation turned a pointer into a number: under the strict policy that exposes an
/// address; allowed with `--allow-ptr-leaks` (the result is an unknown number).
pub fn leak_or_unknown(env: &mut Env<'_>, state: &mut State, pc: usize, dst: usize, what: &str) {
    if !env.leaks_allowed() {
        let desc = state.regs[dst].describe();
        env.fail(
            pc,
            "leak",
            format!("{what} (r{dst} is {desc}); this would expose an address"),
            vec![],
        );
    }
    state.set(Loc::Reg(dst as u8), Value::unknown());
}

/// `dst = p ± n`.
#[allow(clippy::too_many_arguments)]
fn ptr_plus(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    dst: usize,
    p: Ptr,
    n: &Scalar,
    sub: bool,
    src_var: Option<crate::domain::zone::Var>,
) {
    let dloc = Loc::Reg(dst as u8);
    if p.nullable && !p.probe_mem {
        env.fail(
            pc,
            "null",
            format!("r{dst} may be NULL; check it against 0 before adding to it"),
            vec![format!("r{dst} = {}", state.regs[dst].describe())],
        );
    }
    match p.region {
        // Kernel objects are only read through probe helpers, which tolerate any address, so
        // walking their fields (`BPF_CORE_READ`) is fine.
        // A constant offset is kept, so that a typed object's fields can be walked
        // (`&task->mm`). The result may still be NULL-based: it stays NULL-able, but a check
        // of it no longer speaks for the object's other copies.
        Region::Kernel { .. } => {
            let off = match (p.off.is_constant(), n.is_constant()) {
                (Some(a), Some(b)) if !sub => Scalar::constant(a.wrapping_add(b)),
                (Some(a), Some(b)) => Scalar::constant(a.wrapping_sub(b)),
                _ => Scalar::top(),
            };
            state.set(
                dloc,
                Value::Ptr(Ptr {
                    off,
                    null_id: 0,
                    ..p
                }),
            );
            return;
        }
        Region::MapFd { .. } | Region::Func { .. } => {
            env.fail(
                pc,
                "pointer",
                format!("arithmetic on {} is not allowed", p.region),
                vec![],
            );
            state.set(dloc, Value::Bad(Unusable::Mixed));
            return;
        }
        _ => {}
    }
    let op = if sub { AluOp::Sub } else { AluOp::Add };
    // Offsets are small: compute them as signed values that must not wrap.
    let (lo, hi) = if sub {
        (
            p.off.signed_range().0.checked_sub(n.signed_range().1),
            p.off.signed_range().1.checked_sub(n.signed_range().0),
        )
    } else {
        (
            p.off.signed_range().0.checked_add(n.signed_range().0),
            p.off.signed_range().1.checked_add(n.signed_range().1),
        )
    };
    let off = match (lo, hi) {
        (Some(lo), Some(hi)) => srange(lo, hi),
        _ => scalar::binary(Width::W64, op, &p.off, n),
    };
    let dvar = var_of(dloc);
    let result = Value::Ptr(Ptr { off, ..p });
    match (
        n.is_constant(),
        lo.is_some() && hi.is_some() && state.relational,
    ) {
        (Some(c), true) => {
            let c = if sub {
                (c as i64).wrapping_neg()
            } else {
                c as i64
            };
            state.zone.assign_var(dvar, dvar, c);
            state.put(dloc, result);
        }
        (None, true) => {
            let (nlo, nhi) = if sub {
                (
                    n.signed_range().1.checked_neg(),
                    n.signed_range().0.checked_neg(),
                )
            } else {
                (Some(n.signed_range().0), Some(n.signed_range().1))
            };
            match (nlo, nhi) {
                (Some(a), Some(b)) => {
                    state.zone.assign_var_plus_interval(dvar, dvar, a, b);
                    // o' = o + s also relates o' to s: o' - s lies in o's old range.
                    if !sub && let Some(svar) = src_var.filter(|v| *v != dvar) {
                        let (plo, phi) = p.off.signed_range();
                        state.zone.add_difference(dvar, svar, phi);
                        state.zone.add_difference(svar, dvar, plo.saturating_neg());
                    }
                    state.put(dloc, result);
                }
                _ => state.set(dloc, result),
            }
        }
        _ => state.set(dloc, result),
    }
    state.reduce();
}

/// Whether `insn` is `OP rX, 32` (64-bit, immediate) for `op`, and its register.
fn shift32(insn: &Insn, ops: &[AluOp]) -> Option<usize> {
    match *insn {
        Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src: Operand::Imm(32),
        } if ops.contains(&op) => Some(dst.index()),
        _ => None,
    }
}

/// The pcs that start a `lsh rX, 32; rsh rX, 32` (zero-extension) or `lsh rX, 32; arsh rX, 32`
/// (sign-extension) pair whose second instruction is in the same block, given each block's
/// pc range. Compilers emit these pairs to truncate `int` loop counters and indices.
pub fn extension_pairs(insns: &[Insn], blocks: impl Iterator<Item = (usize, usize)>) -> Vec<bool> {
    let mut out = vec![false; insns.len()];
    for (start, end) in blocks {
        for pc in start..end {
            let (Some(a), Some(b)) = (insns.get(pc), insns.get(pc + 1)) else {
                continue;
            };
            if let (Some(r), Some(q)) = (
                shift32(a, &[AluOp::Lsh]),
                shift32(b, &[AluOp::Rsh, AluOp::Arsh]),
            ) && r == q
                && out.get(pc.wrapping_sub(1)) != Some(&true)
            {
                out[pc] = true;
            }
        }
    }
    out
}

/// Applies an extension pair at `pc` (the `lsh`) as one step. When the value already fits
/// (`0 <= x < 2^32` for `rsh`, `-2^31 <= x < 2^31` for `arsh`) the pair changes nothing, so the
/// register keeps its relations: the loop counter `i` of `for (int i = 0; i < n; i++)`, tested
/// through its truncated copy, stays tied to the iteration count. Otherwise both halves run
/// as ordinary instructions.
fn extension_pair(env: &mut Env<'_>, state: &mut State, pc: usize) {
    let r = shift32(&env.insns[pc], &[AluOp::Lsh]).unwrap_or(0);
    let signed = shift32(&env.insns[pc + 1], &[AluOp::Arsh]).is_some();
    if let Value::Num(s) = &state.regs[r] {
        let fits = if signed {
            let (lo, hi) = s.signed_range();
            lo >= i64::from(i32::MIN) && hi <= i64::from(i32::MAX)
        } else {
            s.unsigned_range().1 <= u64::from(u32::MAX)
        };
        if fits {
            return;
        }
    }
    for at in [pc, pc + 1] {
        if let Insn::Alu {
            width,
            op,
            dst,
            src,
        } = env.insns[at]
        {
            alu(env, state, at, width, op, dst.index(), src);
        }
    }
}
