//! One instruction's effect on the symbolic state, with `interp`'s semantics (RFC 9669).

use super::Encoder;
use super::Unsupported;
use super::state::{
    State, T_CTX, T_MAPFD, T_MAPVAL, T_NUM, T_PACKET, T_UNKNOWN, Val, bv, load_le, store_le, tag,
};
use crate::isa::{AluOp, AtomicOp, CallTarget, Cond, Endian, Imm64Kind, Insn, Operand, Width};
use crate::platform::context::FieldKind;
use z3::ast::{BV, Bool};

impl Encoder<'_> {
    pub(super) fn operand(&self, s: &State, op: Operand) -> Val {
        match op {
            Operand::Reg(r) => s.regs[r.index()].clone(),
            Operand::Imm(i) => Val::num(BV::from_i64(i64::from(i), 64)),
        }
    }

    /// Whether the conditional jump `insn` is taken (RFC 9669 comparison, as `interp::alu`).
    pub(super) fn condition(&self, s: &State, insn: &Insn) -> Result<Bool, Unsupported> {
        let Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } = *insn
        else {
            return Err(Unsupported("not a conditional jump".into()));
        };
        let (mut a, mut b) = (s.regs[dst.index()].v.clone(), self.operand(s, src).v);
        if width == Width::W32 {
            a = a.extract(31, 0);
            b = b.extract(31, 0);
        }
        Ok(match cond {
            Cond::Eq => a.eq(&b),
            Cond::Ne => a.eq(&b).not(),
            Cond::Gt => a.bvugt(&b),
            Cond::Ge => a.bvuge(&b),
            Cond::Lt => a.bvult(&b),
            Cond::Le => a.bvule(&b),
            Cond::Set => (&a & &b).eq(BV::from_u64(0, a.get_size())).not(),
            Cond::Sgt => a.bvsgt(&b),
            Cond::Sge => a.bvsge(&b),
            Cond::Slt => a.bvslt(&b),
            Cond::Sle => a.bvsle(&b),
        })
    }

    pub(super) fn step(&mut self, s: &mut State, pc: usize) -> Result<(), Unsupported> {
        match self.input.insns[pc] {
            // Local calls and returns are edges (`Encoder::call`, `Encoder::ret`).
            Insn::WideTail
            | Insn::Ja { .. }
            | Insn::Jump { .. }
            | Insn::Exit
            | Insn::Call(CallTarget::Local(_)) => {}
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let d = s.regs[dst.index()].clone();
                let o = self.operand(s, src);
                s.regs[dst.index()] = alu(width, op, &d, &o);
            }
            Insn::Neg { width, dst } => {
                let d = &s.regs[dst.index()];
                let v = match width {
                    Width::W64 => d.v.bvneg(),
                    Width::W32 => d.v.extract(31, 0).bvneg().zero_ext(32),
                };
                s.regs[dst.index()] = numeric(d, v);
            }
            Insn::Endian { kind, bits, dst } => {
                let d = &s.regs[dst.index()];
                let low = d.v.extract(u32::from(bits) - 1, 0);
                let v = match kind {
                    Endian::ToLe => low,
                    Endian::ToBe | Endian::Swap => {
                        let n = u32::from(bits) / 8;
                        (0..n)
                            .map(|i| low.extract(8 * i + 7, 8 * i))
                            .reduce(|acc, b| acc.concat(&b))
                            .unwrap_or(low)
                    }
                };
                let v = if bits < 64 {
                    v.zero_ext(64 - u32::from(bits))
                } else {
                    v
                };
                s.regs[dst.index()] = numeric(d, v);
            }
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm,
            } => {
                let value = u64::from(imm as u32) | (u64::from(next_imm as u32) << 32);
                s.regs[dst.index()] = match kind {
                    Imm64Kind::Value => Val::num(bv(value)),
                    Imm64Kind::MapFd | Imm64Kind::MapIdx => {
                        Val::ptr(T_MAPFD, bv(u64::from(imm as u32)))
                    }
                    Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
                        let map = imm as u32 as usize;
                        let t = self.global(map)?;
                        let base = self.instances[(t - T_MAPVAL) as usize].base.clone();
                        Val::ptr(t, base + bv(u64::from(next_imm as u32)))
                    }
                    // A code address (a callback to pass to a helper): some value the
                    // program cannot read through (provenance unknown, never judged safe).
                    Imm64Kind::Func => Val::unknown(BV::fresh_const("code_address", 64)),
                    _ => return Err(Unsupported(format!("lddw of kind {kind:?}"))),
                };
            }
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let n = size.bytes();
                let base = &s.regs[src.index()];
                let addr = &base.v + BV::from_i64(i64::from(off), 64);
                let from_ctx = base.tags.contains(&T_CTX) || base.tags.contains(&T_UNKNOWN);
                s.regs[dst.index()] = self.load(s, &addr, n, signed, from_ctx);
            }
            Insn::Store {
                size,
                dst,
                off,
                value,
            } => {
                let n = size.bytes();
                let addr = &s.regs[dst.index()].v + BV::from_i64(i64::from(off), 64);
                let v = self.operand(s, value);
                s.mem = store_le(&s.mem, &addr, n, &v.v);
                let t = if n == 8 { v.t.clone() } else { tag(T_NUM) };
                for i in 0..n {
                    s.tags = s.tags.store(&(&addr + bv(i as u64)), &t);
                }
                if n == 8 {
                    s.stored.extend(v.tags.iter().copied());
                }
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let n = size.bytes();
                let addr = &s.regs[dst.index()].v + BV::from_i64(i64::from(off), 64);
                let old = load_le(&s.mem, &addr, n);
                let w = 8 * n as u32;
                let o = old.extract(w - 1, 0);
                let sv = s.regs[src.index()].v.extract(w - 1, 0);
                let r0 = s.regs[0].v.extract(w - 1, 0);
                let new = match op {
                    AtomicOp::Add => &o + &sv,
                    AtomicOp::Or => &o | &sv,
                    AtomicOp::And => &o & &sv,
                    AtomicOp::Xor => &o ^ &sv,
                    AtomicOp::Xchg => sv.clone(),
                    AtomicOp::CmpXchg => o.eq(&r0).ite(&sv, &o),
                };
                s.mem = store_le(&s.mem, &addr, n, &new);
                for i in 0..n {
                    s.tags = s.tags.store(&(&addr + bv(i as u64)), &tag(T_NUM));
                }
                let old64 = if w < 64 { o.zero_ext(64 - w) } else { o };
                if op == AtomicOp::CmpXchg {
                    s.regs[0] = Val::num(old64);
                } else if fetch {
                    s.regs[src.index()] = Val::num(old64);
                }
            }
            Insn::Call(CallTarget::Helper(id)) => self.helper(s, pc, id)?,
            ref other => {
                return Err(Unsupported(format!("instruction `{other:?}` at pc {pc}")));
            }
        }
        Ok(())
    }

    /// A load of `n` bytes at `addr`; through a pointer that may be the context, its pointer
    /// fields read as the object's address (`Run::ctx_load`: decided by the address, whatever
    /// the bytes hold). Through a pointer into another region, an address inside the context
    /// is an out-of-region access, itself an alarm the encoding would not discharge (every
    /// run is encoded exactly up to its first out-of-region access).
    fn load(&self, s: &State, addr: &BV, n: usize, signed: bool, from_ctx: bool) -> Val {
        let mut v = load_le(&s.mem, addr, n);
        if signed && n < 8 {
            v = v.extract(8 * n as u32 - 1, 0).sign_ext(64 - 8 * n as u32);
        }
        let mut val = if n == 8 {
            let t = s
                .tags
                .select(addr)
                .as_bv()
                .unwrap_or_else(|| tag(T_UNKNOWN));
            let mut tags = s.stored.clone();
            tags.insert(T_NUM);
            Val { v, t, tags }
        } else {
            Val::num(v)
        };
        let layout = crate::platform::layout(self.input.program_type).filter(|_| from_ctx);
        if let Some(layout) = layout {
            for f in crate::runtime::context::pointer_fields(layout) {
                if n > f.size as usize {
                    continue;
                }
                let field = match f.kind {
                    FieldKind::PacketStart => Val::ptr(T_PACKET, s.data.clone()),
                    FieldKind::PacketEnd => Val::ptr(T_PACKET, s.end.clone()),
                    FieldKind::PacketMeta => Val::ptr(T_PACKET, s.meta.clone()),
                    // A traced function's argument may be any value: the context's bytes, which
                    // the model chooses and the replay passes on (`RunInput::args_from_ctx`).
                    FieldKind::BtfArg => continue,
                    _ => Val::unknown(BV::fresh_const("ctx_ptr", 64)),
                };
                let hit = addr.eq(&self.ctx_base + bv(u64::from(f.offset)));
                val = Val {
                    v: hit.ite(&field.v, &val.v),
                    t: hit.ite(&field.t, &val.t),
                    tags: val.tags.union(&field.tags).copied().collect(),
                };
            }
        }
        val
    }
}

/// A numeric result computed from `d`: a number if `d` was one, else of unknown provenance.
fn numeric(d: &Val, v: BV) -> Val {
    if d.is_num() {
        Val::num(v)
    } else {
        let is_num = d.t.eq(tag(T_NUM));
        Val {
            v,
            t: is_num.ite(&tag(T_NUM), &tag(T_UNKNOWN)),
            tags: [T_NUM, T_UNKNOWN].into(),
        }
    }
}

/// `dst op src` with `interp::alu::binary`'s semantics, and the provenance of the result.
fn alu(width: Width, op: AluOp, d: &Val, s: &Val) -> Val {
    let (a, b) = match width {
        Width::W64 => (d.v.clone(), s.v.clone()),
        Width::W32 => (d.v.extract(31, 0), s.v.extract(31, 0)),
    };
    let bits = a.get_size();
    let zero = BV::from_u64(0, bits);
    let mask = BV::from_u64(u64::from(bits) - 1, bits);
    let is_zero = b.eq(&zero);
    let v = match op {
        AluOp::Add => &a + &b,
        AluOp::Sub => &a - &b,
        AluOp::Mul => &a * &b,
        AluOp::Div => is_zero.ite(&zero, &a.bvudiv(&b)),
        AluOp::SDiv => is_zero.ite(&zero, &a.bvsdiv(&b)),
        AluOp::Mod => is_zero.ite(&a, &a.bvurem(&b)),
        AluOp::SMod => is_zero.ite(&a, &a.bvsrem(&b)),
        AluOp::Or => &a | &b,
        AluOp::And => &a & &b,
        AluOp::Xor => &a ^ &b,
        AluOp::Lsh => a.bvshl(&(&b & &mask)),
        AluOp::Rsh => a.bvlshr(&(&b & &mask)),
        AluOp::Arsh => a.bvashr(&(&b & &mask)),
        AluOp::Mov => b.clone(),
        AluOp::MovSx(n) => {
            let n = u32::from(n).min(bits);
            if n < bits {
                b.extract(n - 1, 0).sign_ext(bits - n)
            } else {
                b.clone()
            }
        }
    };
    let v = if bits < 64 { v.zero_ext(64 - bits) } else { v };
    let tn = tag(T_NUM);
    let unk = tag(T_UNKNOWN);
    match (width, op) {
        (Width::W64, AluOp::Mov) => Val {
            v,
            t: s.t.clone(),
            tags: s.tags.clone(),
        },
        _ if d.is_num() && s.is_num() => Val::num(v),
        (Width::W64, AluOp::Add) => {
            let (dn, sn) = (d.t.eq(&tn), s.t.eq(&tn));
            Val {
                v,
                t: dn.ite(&sn.ite(&tn, &s.t), &sn.ite(&d.t, &unk)),
                tags: d.tags.union(&s.tags).copied().chain([T_UNKNOWN]).collect(),
            }
        }
        (Width::W64, AluOp::Sub) => {
            let sn = s.t.eq(&tn);
            let same = d.t.eq(&s.t);
            Val {
                v,
                t: sn.ite(&d.t, &same.ite(&tn, &unk)),
                tags: d.tags.iter().copied().chain([T_NUM, T_UNKNOWN]).collect(),
            }
        }
        _ => {
            let both = d.t.eq(&tn) & s.t.eq(&tn);
            Val {
                v,
                t: both.ite(&tn, &unk),
                tags: [T_NUM, T_UNKNOWN].into(),
            }
        }
    }
}
