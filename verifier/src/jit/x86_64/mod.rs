//! The x86-64 back end: one pass over the program with iced-x86's `CodeAssembler`.
//!
//! Layout of the code (see [`crate::jit`] for the register map and calling convention):
//!
//! ```text
//! entry:    push rbx, rbp, r12-r15; r12 = env; r1 = ctx; r2-r5 = env.args; r0, r6-r9 = 0
//!           r10 = env.frame_top; env.exit_rsp = rsp; call pc0;
//! epilogue: pop r15-r12, rbp, rbx; ret
//! abort:    rsp = env.exit_rsp; jmp epilogue        (a helper or trap ended the program)
//! pc0 ...   the program, one block of x86 per instruction; `exit` is `ret`
//!           a trap stub for falling off the end
//! stubs:    out-of-line paths: ctx pointer fields, kernel-memory loads, traps
//! ```
//!
//! The entry calls pc 0 like a local call, so every `exit` is a plain `ret`, in the entry
//! function and in subprograms alike. A local call pushes r6-r9 and r10 (40 bytes, plus the
//! return address: the native stack stays 16-byte aligned in every frame), moves r10 down 512
//! bytes after checking the frame limit, calls, and pops them back.
//!
//! **Context pointer fields.** Linux rewrites loads of `xdp_md.data` & co. into 64-bit loads; the
//! interpreter answers them by address (`Helpers::load_override`). The JIT does what the
//! interpreter does, by address too: every load of a program type whose context has pointer
//! fields first checks whether its address falls inside the context (`addr - env.ctx_base <
//! ctx_size`, one `lea`/`sub`/`cmp`/`jb`, predicted not taken); only then an out-of-line stub
//! compares the offset with the fields' and loads `env.ctx_values[i]` instead. This is exact
//! whatever register the base pointer travelled through (spills, copies, subprogram arguments),
//! needs nothing from the verifier, and so cannot disagree with it. Program types with BTF
//! arguments (fentry, LSM) also send loads at kernel addresses to `env.probe_load`.

mod mem;
mod ops;

use super::JitError;
use super::exec::{
    OFF_ARGS, OFF_CALL_BY_ID, OFF_EXIT_RSP, OFF_FRAME_TOP, OFF_HELPER_ID, OFF_HELPERS, OFF_PC,
    OFF_STACK_LIMIT, OFF_STATUS, STATUS_CALL_DEPTH, STATUS_FELL_OFF,
};
use super::image::{CtxField, FORMAT_VERSION, Image, MAX_INSNS, MapSlot, TARGET_X86_64_SYSV};
use crate::analysis::MapInfo;
use crate::interp::STACK_SIZE;
use crate::isa::{CallTarget, Imm64Kind, Insn};
use crate::platform::ProgramType;
use iced_x86::code_asm::*;
use std::collections::HashMap;

/// BPF register → x86-64 register, 64-bit view.
pub(super) const R64: [AsmRegister64; 11] = [rax, rdi, rsi, rdx, rcx, r8, rbx, r13, r14, r15, rbp];
pub(super) const R32: [AsmRegister32; 11] =
    [eax, edi, esi, edx, ecx, r8d, ebx, r13d, r14d, r15d, ebp];
pub(super) const R16: [AsmRegister16; 11] = [ax, di, si, dx, cx, r8w, bx, r13w, r14w, r15w, bp];
pub(super) const R8: [AsmRegister8; 11] = [al, dil, sil, dl, cl, r8b, bl, r13b, r14b, r15b, bpl];
/// The register holding `env`.
pub(super) const ENV: AsmRegister64 = r12;

/// Compiles a decoded program (see [`crate::isa::decode_program`]) into an image.
///
/// `maps` is the object's map table ([`crate::analysis::map_table`]): an `lddw` of map `i` binds
/// slot of `maps[i]`. `program_type` decides the context the code rewrites loads of (`None`: no
/// context, as for the conformance suite). The program should be one the verifier accepted: the
/// code checks no memory access (see [`crate::jit`]).
pub fn compile(
    insns: &[Insn],
    maps: &[MapInfo],
    program_type: Option<ProgramType>,
) -> Result<Image, JitError> {
    if insns.is_empty() {
        return Err(JitError::Empty);
    }
    if insns.len() > MAX_INSNS {
        return Err(JitError::TooLarge(insns.len()));
    }
    let layout = program_type.and_then(crate::platform::layout);
    let ctx_fields: Vec<CtxField> = layout
        .map(crate::runtime::context::pointer_fields)
        .unwrap_or_default()
        .iter()
        .map(|f| CtxField {
            offset: f.offset,
            size: f.size,
        })
        .collect();
    let ctx_size = if ctx_fields.is_empty() {
        0
    } else {
        layout.map_or(0, |l| l.size)
    };
    let mut c = Compiler::new(insns, maps, ctx_size, ctx_fields)?;
    c.probe = program_type.is_some_and(ProgramType::has_btf_args);
    c.program()?;
    let code = c.a.assemble(0).map_err(asm_err)?;
    Ok(Image {
        format_version: FORMAT_VERSION,
        target: TARGET_X86_64_SYSV.into(),
        entry_offset: 0,
        stack_size: (super::exec::MAX_FRAMES * STACK_SIZE) as u32,
        ctx_size: c.ctx_size,
        ctx_fields: c.ctx_fields,
        helpers: c.helpers,
        map_slots: c.map_slots,
        code,
    })
}

pub(super) fn asm_err(e: IcedError) -> JitError {
    JitError::Assembler(e.to_string())
}

/// Out-of-line code emitted after the program.
pub(super) enum Stub {
    /// Sets `env.status` / `env.pc` and ends the program.
    Trap {
        label: CodeLabel,
        status: u64,
        pc: usize,
    },
    /// A load whose address is inside the context (offset in r11): a pointer field, or back to
    /// the plain load.
    Ctx {
        label: CodeLabel,
        size: usize,
        dst: usize,
        plain: CodeLabel,
        done: CodeLabel,
    },
    /// A load at a kernel address (in r11), through `env.probe_load`.
    Probe {
        label: CodeLabel,
        size: usize,
        dst: usize,
        done: CodeLabel,
    },
}

pub(super) struct Compiler<'p> {
    pub(super) a: CodeAssembler,
    insns: &'p [Insn],
    maps: &'p [MapInfo],
    /// Label of each pc that is a jump or call target.
    labels: Vec<Option<CodeLabel>>,
    /// Instruction count when the last label was bound (two labels may not share an
    /// instruction).
    bound_at: Option<usize>,
    abort: CodeLabel,
    pub(super) stubs: Vec<Stub>,
    pub(super) ctx_size: u32,
    pub(super) ctx_fields: Vec<CtxField>,
    pub(super) probe: bool,
    helpers: Vec<i32>,
    helper_slot: HashMap<i32, usize>,
    map_slots: Vec<MapSlot>,
    map_slot: HashMap<u32, usize>,
}

impl<'p> Compiler<'p> {
    fn new(
        insns: &'p [Insn],
        maps: &'p [MapInfo],
        ctx_size: u32,
        ctx_fields: Vec<CtxField>,
    ) -> Result<Compiler<'p>, JitError> {
        let mut a = CodeAssembler::new(64).map_err(asm_err)?;
        let mut labels = vec![None; insns.len()];
        labels[0] = Some(a.create_label());
        for (pc, insn) in insns.iter().enumerate() {
            if let Insn::LoadImm64 {
                kind: Imm64Kind::Func,
                ..
            } = insn
            {
                continue;
            }
            if let Some(t) = insn.branch_target(pc) {
                let ok = usize::try_from(t)
                    .ok()
                    .filter(|&t| t < insns.len() && insns[t] != Insn::WideTail);
                let Some(t) = ok else {
                    return Err(JitError::BadTarget { pc, target: t });
                };
                if labels[t].is_none() {
                    labels[t] = Some(a.create_label());
                }
            }
        }
        let abort = a.create_label();
        Ok(Compiler {
            a,
            insns,
            maps,
            labels,
            bound_at: None,
            abort,
            stubs: Vec::new(),
            ctx_size,
            ctx_fields,
            probe: false,
            helpers: Vec::new(),
            helper_slot: HashMap::new(),
            map_slots: Vec::new(),
            map_slot: HashMap::new(),
        })
    }

    /// Binds `label` to the next instruction (after a `nop` if another label is bound there).
    pub(super) fn bind(&mut self, label: &mut CodeLabel) -> Result<(), JitError> {
        let n = self.a.instructions().len();
        if self.bound_at == Some(n) {
            self.a.nop().map_err(asm_err)?;
        }
        self.bound_at = Some(self.a.instructions().len());
        self.a.set_label(label).map_err(asm_err)
    }

    fn target(&self, pc: usize) -> Result<CodeLabel, JitError> {
        let t = self.insns[pc].branch_target(pc).unwrap_or(-1);
        usize::try_from(t)
            .ok()
            .and_then(|t| self.labels.get(t).copied().flatten())
            .ok_or(JitError::BadTarget { pc, target: t })
    }

    fn program(&mut self) -> Result<(), JitError> {
        let a = &mut self.a;
        let mut epilogue = a.create_label();
        for r in [rbx, rbp, r12, r13, r14, r15] {
            a.push(r).map_err(asm_err)?;
        }
        a.mov(ENV, rsi).map_err(asm_err)?;
        for (i, r) in [rsi, rdx, rcx, r8].into_iter().enumerate() {
            a.mov(r, qword_ptr(ENV + (OFF_ARGS + 8 * i as i32)))
                .map_err(asm_err)?;
        }
        for r in [eax, ebx, r13d, r14d, r15d] {
            a.xor(r, r).map_err(asm_err)?;
        }
        a.mov(rbp, qword_ptr(ENV + OFF_FRAME_TOP))
            .map_err(asm_err)?;
        a.mov(qword_ptr(ENV + OFF_EXIT_RSP), rsp).map_err(asm_err)?;
        let pc0 = self.labels[0].ok_or(JitError::Empty)?;
        a.call(pc0).map_err(asm_err)?;
        self.bind(&mut epilogue)?;
        let a = &mut self.a;
        for r in [r15, r14, r13, r12, rbp, rbx] {
            a.pop(r).map_err(asm_err)?;
        }
        a.ret().map_err(asm_err)?;
        let mut abort = self.abort;
        self.bind(&mut abort)?;
        self.a
            .mov(rsp, qword_ptr(ENV + OFF_EXIT_RSP))
            .map_err(asm_err)?;
        self.a.jmp(epilogue).map_err(asm_err)?;

        for pc in 0..self.insns.len() {
            if let Some(mut l) = self.labels[pc] {
                self.bind(&mut l)?;
            }
            self.insn(pc)?;
        }
        let fell = self.trap_label(STATUS_FELL_OFF, self.insns.len() - 1);
        self.a.jmp(fell).map_err(asm_err)?;
        self.stubs()
    }

    pub(super) fn abort_label(&self) -> CodeLabel {
        self.abort
    }

    /// A label that sets `status` at `pc` and ends the program (emitted with the stubs).
    pub(super) fn trap_label(&mut self, status: u64, pc: usize) -> CodeLabel {
        let label = self.a.create_label();
        self.stubs.push(Stub::Trap { label, status, pc });
        label
    }

    fn insn(&mut self, pc: usize) -> Result<(), JitError> {
        let insn = self.insns[pc];
        let e = asm_err;
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(pc, width, op, dst.index(), src)?,
            Insn::Neg { width, dst } => self.neg(width, dst.index())?,
            Insn::Endian { kind, bits, dst } => self.endian(kind, bits, dst.index())?,
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => self.load(size, signed, dst.index(), src.index(), off)?,
            Insn::Store {
                size,
                dst,
                off,
                value,
            } => self.store(size, dst.index(), off, value)?,
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(pc, size, op, fetch, dst.index(), src.index(), off)?,
            Insn::LoadImm64 {
                dst,
                kind,
                imm,
                next_imm,
            } => self.lddw(pc, dst.index(), kind, imm, next_imm)?,
            Insn::WideTail => {}
            Insn::LoadPacket { size, mode, imm } => self.legacy_load(pc, size, mode, imm)?,
            Insn::Ja { .. } => {
                let t = self.target(pc)?;
                self.a.jmp(t).map_err(e)?;
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let t = self.target(pc)?;
                self.jump(width, cond, dst.index(), src, t)?;
            }
            Insn::Call(CallTarget::Helper(id)) => {
                let slot = match self.helper_slot.get(&id) {
                    Some(&s) => s,
                    None => {
                        self.helpers.push(id);
                        self.helper_slot.insert(id, self.helpers.len() - 1);
                        self.helpers.len() - 1
                    }
                };
                self.a.mov(qword_ptr(ENV + OFF_HELPER_ID), id).map_err(e)?;
                self.helper_call(pc, Some(slot))?;
            }
            Insn::CallX { reg } => {
                self.a
                    .mov(qword_ptr(ENV + OFF_HELPER_ID), R64[reg.index()])
                    .map_err(e)?;
                self.helper_call(pc, None)?;
            }
            Insn::Call(CallTarget::Local(_)) => {
                let t = self.target(pc)?;
                let depth = self.trap_label(STATUS_CALL_DEPTH, pc);
                let a = &mut self.a;
                a.lea(r11, qword_ptr(rbp - STACK_SIZE as i32)).map_err(e)?;
                a.cmp(r11, qword_ptr(ENV + OFF_STACK_LIMIT)).map_err(e)?;
                a.jb(depth).map_err(e)?;
                for r in [rbx, r13, r14, r15, rbp] {
                    a.push(r).map_err(e)?;
                }
                a.mov(rbp, r11).map_err(e)?;
                a.call(t).map_err(e)?;
                for r in [rbp, r15, r14, r13, rbx] {
                    a.pop(r).map_err(e)?;
                }
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                return Err(JitError::Unsupported {
                    pc,
                    what: format!("kfunc call (BTF id {btf_id})"),
                });
            }
            Insn::Exit => self.a.ret().map_err(e)?,
        }
        Ok(())
    }

    /// A helper call: r1-r5 saved around it (the interpreter keeps them), `env` in r9, then the
    /// status check. `slot` is the helper table slot, `None` for `callx` (by id).
    fn helper_call(&mut self, pc: usize, slot: Option<usize>) -> Result<(), JitError> {
        let e = asm_err;
        let abort = self.abort;
        let a = &mut self.a;
        a.mov(qword_ptr(ENV + OFF_PC), pc as i32).map_err(e)?;
        for r in [rdi, rsi, rdx, rcx, r8] {
            a.push(r).map_err(e)?;
        }
        a.sub(rsp, 8).map_err(e)?;
        a.mov(r9, ENV).map_err(e)?;
        match slot {
            Some(s) => {
                a.mov(r11, qword_ptr(ENV + OFF_HELPERS)).map_err(e)?;
                a.call(qword_ptr(r11 + (8 * s) as i32)).map_err(e)?;
            }
            None => a.call(qword_ptr(ENV + OFF_CALL_BY_ID)).map_err(e)?,
        }
        a.add(rsp, 8).map_err(e)?;
        for r in [r8, rcx, rdx, rsi, rdi] {
            a.pop(r).map_err(e)?;
        }
        a.cmp(qword_ptr(ENV + OFF_STATUS), 0).map_err(e)?;
        a.jne(abort).map_err(e)
    }

    /// `lddw`: a constant, or a map handle / map value address from `env`.
    fn lddw(
        &mut self,
        pc: usize,
        dst: usize,
        kind: Imm64Kind,
        imm: i32,
        next_imm: i32,
    ) -> Result<(), JitError> {
        let e = asm_err;
        let d = R64[dst];
        match kind {
            Imm64Kind::Value => {
                let v = (u64::from(next_imm as u32) << 32) | u64::from(imm as u32);
                self.a.mov(d, v).map_err(e)
            }
            Imm64Kind::MapFd | Imm64Kind::MapIdx | Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
                let value = matches!(kind, Imm64Kind::MapValue | Imm64Kind::MapIdxValue);
                let slot = self.map_slot(pc, imm, value)?;
                let table = if value {
                    super::exec::OFF_MAP_VALUES
                } else {
                    super::exec::OFF_MAPS
                };
                let a = &mut self.a;
                a.mov(d, qword_ptr(ENV + table)).map_err(e)?;
                a.mov(d, qword_ptr(d + (8 * slot) as i32)).map_err(e)?;
                if value && next_imm != 0 {
                    a.mov(r11, u64::from(next_imm as u32)).map_err(e)?;
                    a.add(d, r11).map_err(e)?;
                }
                Ok(())
            }
            Imm64Kind::Func | Imm64Kind::BtfVar => Err(JitError::Unsupported {
                pc,
                what: format!("lddw of kind {kind:?}"),
            }),
        }
    }

    fn map_slot(&mut self, pc: usize, imm: i32, value: bool) -> Result<usize, JitError> {
        let Some(info) = usize::try_from(imm).ok().and_then(|i| self.maps.get(i)) else {
            return Err(JitError::UnknownMap {
                pc,
                index: i64::from(imm),
            });
        };
        let index = imm as u32;
        let slot = match self.map_slot.get(&index) {
            Some(&s) => s,
            None => {
                self.map_slots.push(MapSlot {
                    index,
                    map_type: info.map_type,
                    key_size: info.key_size,
                    value_size: info.value_size,
                    max_entries: info.max_entries,
                    value_ref: false,
                    name: info.name.chars().take(255).collect(),
                });
                self.map_slot.insert(index, self.map_slots.len() - 1);
                self.map_slots.len() - 1
            }
        };
        self.map_slots[slot].value_ref |= value;
        Ok(slot)
    }

    fn stubs(&mut self) -> Result<(), JitError> {
        let e = asm_err;
        let abort = self.abort;
        for stub in std::mem::take(&mut self.stubs) {
            match stub {
                Stub::Trap {
                    mut label,
                    status,
                    pc,
                } => {
                    self.bind(&mut label)?;
                    let a = &mut self.a;
                    a.mov(qword_ptr(ENV + OFF_STATUS), status as i32)
                        .map_err(e)?;
                    a.mov(qword_ptr(ENV + OFF_PC), pc as i32).map_err(e)?;
                    a.jmp(abort).map_err(e)?;
                }
                Stub::Ctx {
                    mut label,
                    size,
                    dst,
                    plain,
                    done,
                } => {
                    self.bind(&mut label)?;
                    let fields: Vec<(usize, u32)> = self
                        .ctx_fields
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| size <= f.size as usize)
                        .map(|(i, f)| (i, f.offset))
                        .collect();
                    let mut hits = Vec::new();
                    for &(i, offset) in &fields {
                        let hit = self.a.create_label();
                        self.a.cmp(r11, offset as i32).map_err(e)?;
                        self.a.je(hit).map_err(e)?;
                        hits.push((i, hit));
                    }
                    self.a.jmp(plain).map_err(e)?;
                    for (i, mut hit) in hits {
                        self.bind(&mut hit)?;
                        let a = &mut self.a;
                        a.mov(R64[dst], qword_ptr(ENV + super::exec::OFF_CTX_VALUES))
                            .map_err(e)?;
                        a.mov(R64[dst], qword_ptr(R64[dst] + (8 * i) as i32))
                            .map_err(e)?;
                        a.jmp(done).map_err(e)?;
                    }
                }
                Stub::Probe {
                    mut label,
                    size,
                    dst,
                    done,
                } => {
                    self.bind(&mut label)?;
                    let a = &mut self.a;
                    let saved = [rax, rdi, rsi, rdx, rcx, r8];
                    for r in saved {
                        a.push(r).map_err(e)?;
                    }
                    a.mov(rdi, r11).map_err(e)?;
                    a.mov(esi, size as u32).map_err(e)?;
                    a.mov(rdx, ENV).map_err(e)?;
                    a.call(qword_ptr(ENV + super::exec::OFF_PROBE_LOAD))
                        .map_err(e)?;
                    a.mov(r11, rax).map_err(e)?;
                    for r in saved.into_iter().rev() {
                        a.pop(r).map_err(e)?;
                    }
                    a.mov(R64[dst], r11).map_err(e)?;
                    a.jmp(done).map_err(e)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
