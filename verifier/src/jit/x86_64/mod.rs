//! The x86-64 back end: one pass over the program, written with a small hand-written encoder
//! ([`encode`]), then one pass patching forward branches.
//!
//! Layout of the code (see [`crate::jit`] for the register map and calling convention):
//!
//! ```text
//! entry:    push rbx, rbp, r12-r15; r12 = env; r1 = ctx; r2-r5 = env.args; r0, r6-r9 = 0
//!           r10 = env.frame_top; env.exit_rsp = rsp - 8 (pc 0's return address); call pc0;
//! epilogue: pop r15-r12, rbp, rbx; ret
//! abort:    rsp = env.exit_rsp; ret                  (a helper or trap ended the program: returns
//!           from the outermost BPF function, to the epilogue or to a callback thunk)
//! pc0 ...   the program, one block of x86 per instruction; `exit` is `ret`
//!           a trap for falling off the end
//! thunks:   one `extern "sysv64"` entry per callback (`callbacks.rs`)
//! cold:     per-site out-of-line paths (traps; "call a shared stub, jump back")
//! shared:   stubs shared by all sites (see `stubs.rs`): helper calls, context and
//!           kernel-memory loads, legacy packet loads, division
//! ```
//!
//! The entry calls pc 0 like a local call, so every `exit` is a plain `ret`, in the entry
//! function and in subprograms alike. A local call pushes r6-r9 and r10 (40 bytes, plus the
//! return address: the native stack stays 16-byte aligned in every frame), moves r10 down 512
//! bytes after checking the frame limit, calls, and pops them back.
//!
//! **Why shared stubs.** Compile time is proportional to the x86 instructions written, and a
//! helper call, a context-checked load or a division used to expand to 10-20 of them at every
//! site. Now a helper call site is `mov r11d, pc; call stub` and the stub (one per helper slot,
//! plus one common body) does the saving, the call and the status check; the native code pays a
//! `call`/`ret` pair, which is noise next to a helper call or a division.
//!
//! **Context pointer fields.** Linux rewrites loads of `xdp_md.data` & co. into 64-bit loads; the
//! interpreter answers them by address (`Helpers::load_override`). The JIT does what the
//! interpreter does, by address too: every load of a program type whose context has pointer
//! fields first checks whether its address falls inside the context (`addr - env.ctx_base <
//! ctx_size`, one `lea`/`sub`/`cmp`/`jb`, predicted not taken); only then a cold path calls a
//! shared stub that compares the offset with the fields' and loads `env.ctx_values[i]` (or does
//! the plain load). This is exact whatever register the base pointer travelled through (spills,
//! copies, subprogram arguments), needs nothing from the verifier, and so cannot disagree with
//! it. Program types with BTF arguments (fentry, LSM) also send loads at kernel addresses to
//! `env.probe_load`.

mod callbacks;
mod encode;
mod mem;
mod ops;
mod stubs;

use super::JitError;
use super::exec::{
    OFF_ARGS, OFF_EXIT_RSP, OFF_FRAME_TOP, OFF_HELPER_ID, OFF_MAP_VALUES, OFF_MAPS,
    OFF_STACK_LIMIT, STATUS_CALL_DEPTH, STATUS_FELL_OFF,
};
use super::image::{CtxField, FORMAT_VERSION, Image, MAX_INSNS, MapSlot, TARGET_X86_64_SYSV};
use crate::analysis::MapInfo;
use crate::interp::STACK_SIZE;
use crate::isa::{CallTarget, Imm64Kind, Insn};
use crate::platform::ProgramType;
use encode::{
    Alu, Asm, Gpr, Label, R8, R11, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, W,
    mem,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use stubs::{Cold, Shared};

/// BPF register → x86-64 register (any width: the encoder takes the width separately).
const R: [Gpr; 11] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];
/// The register holding `env`.
const ENV: Gpr = R12;

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
    c.thunks();
    c.stubs()?;
    let callbacks = c.thunk_offsets()?;
    let code = c.a.finish().map_err(JitError::Assembler)?;
    Ok(Image {
        format_version: FORMAT_VERSION,
        target: TARGET_X86_64_SYSV.into(),
        entry_offset: 0,
        stack_size: stack_size(insns),
        ctx_size: c.ctx_size,
        ctx_fields: c.ctx_fields,
        helpers: c.helpers,
        map_slots: c.map_slots,
        callbacks,
        code,
    })
}

/// The BPF stack the program needs: a program without local calls or callbacks only ever uses
/// the entry frame, and a run zeroes its whole stack first (4 KiB for eight frames was the
/// largest part of a small program's per-run setup).
fn stack_size(insns: &[Insn]) -> u32 {
    let calls = insns.iter().any(|i| {
        matches!(
            i,
            Insn::Call(CallTarget::Local(_))
                | Insn::LoadImm64 {
                    kind: Imm64Kind::Func,
                    ..
                }
        )
    });
    let frames = if calls { super::exec::MAX_FRAMES } else { 1 };
    (frames * STACK_SIZE) as u32
}

/// `W::Q` for 64-bit BPF operations, `W::D` for 32-bit ones.
fn width(w: crate::isa::Width) -> W {
    match w {
        crate::isa::Width::W64 => W::Q,
        crate::isa::Width::W32 => W::D,
    }
}

struct Compiler<'p> {
    a: Asm,
    insns: &'p [Insn],
    maps: &'p [MapInfo],
    /// Ends the program early (see the layout above).
    abort: Label,
    /// Per-site out-of-line paths, emitted after the program.
    cold: Vec<Cold>,
    /// Shared stubs, by [`Shared::key`], and in the order they were first asked for (the order
    /// they are emitted in, so the bytes only depend on the program).
    shared: Vec<Option<Label>>,
    shared_order: Vec<(Shared, Label)>,
    ctx_size: u32,
    ctx_fields: Vec<CtxField>,
    probe: bool,
    helpers: Vec<i32>,
    helper_slot: HashMap<i32, usize, BuildHasherDefault<IdHasher>>,
    map_slots: Vec<MapSlot>,
    map_slot: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// Functions `lddw src=4` refers to, in the order of their first `lddw`, with the label of
    /// each one's entry thunk.
    thunks: Vec<(usize, Label)>,
}

/// A hasher for the helper-id and map-index tables: one multiply per key (std's SipHash,
/// keyed against flooding, cost a tenth of the compile time here; the keys are at most one per
/// instruction, so a collision-heavy program only slows its own compilation).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// The label of pc `pc`: labels 0..n are the program's instructions.
fn pc_label(pc: usize) -> Label {
    Label(pc as u32)
}

impl<'p> Compiler<'p> {
    fn new(
        insns: &'p [Insn],
        maps: &'p [MapInfo],
        ctx_size: u32,
        ctx_fields: Vec<CtxField>,
    ) -> Result<Compiler<'p>, JitError> {
        for (pc, insn) in insns.iter().enumerate() {
            if let Some(t) = insn.branch_target(pc) {
                let ok = usize::try_from(t)
                    .ok()
                    .filter(|&t| t < insns.len() && insns[t] != Insn::WideTail);
                if ok.is_none() {
                    return Err(JitError::BadTarget { pc, target: t });
                }
            }
        }
        // Real programs take 5-16 bytes of code per instruction (README.md, "JIT"); capacity that
        // is never written costs nothing.
        let mut a = Asm::new(insns.len() * 12 + 1024, insns.len());
        let abort = a.new_label();
        Ok(Compiler {
            a,
            insns,
            maps,
            abort,
            cold: Vec::new(),
            shared: Vec::new(),
            shared_order: Vec::new(),
            ctx_size,
            ctx_fields,
            probe: false,
            helpers: Vec::new(),
            helper_slot: HashMap::default(),
            map_slots: Vec::new(),
            map_slot: HashMap::default(),
            thunks: Vec::new(),
        })
    }

    /// The label of the target of the jump or call at `pc` (checked by [`Compiler::new`]).
    fn target(&self, pc: usize) -> Result<Label, JitError> {
        let t = self.insns[pc].branch_target(pc).unwrap_or(-1);
        usize::try_from(t)
            .ok()
            .filter(|&t| t < self.insns.len())
            .map(pc_label)
            .ok_or(JitError::BadTarget { pc, target: t })
    }

    /// The label of shared stub `s`, emitted with the stubs.
    fn shared(&mut self, s: Shared) -> Label {
        let key = s.key();
        if let Some(&Some(l)) = self.shared.get(key) {
            return l;
        }
        let l = self.a.new_label();
        if self.shared.len() <= key {
            self.shared.resize(key + 1, None);
        }
        self.shared[key] = Some(l);
        self.shared_order.push((s, l));
        l
    }

    fn program(&mut self) -> Result<(), JitError> {
        let a = &mut self.a;
        let epilogue = a.new_label();
        for r in [RBX, RBP, R12, R13, R14, R15] {
            a.push(r);
        }
        a.mov_rr(W::Q, ENV, RSI);
        for (i, r) in [RSI, RDX, RCX, R8].into_iter().enumerate() {
            a.mov_rm(W::Q, r, mem(ENV, OFF_ARGS + 8 * i as i32));
        }
        for r in [RAX, RBX, R13, R14, R15] {
            a.alu_rr(Alu::Xor, W::D, r, r);
        }
        a.mov_rm(W::Q, RBP, mem(ENV, OFF_FRAME_TOP));
        // Where pc 0's return address will be: `ret` from there leaves the program.
        a.lea(R11, mem(RSP, -8));
        a.mov_mr(W::Q, mem(ENV, OFF_EXIT_RSP), R11);
        a.call(pc_label(0));
        a.bind(epilogue);
        for r in [R15, R14, R13, R12, RBP, RBX] {
            a.pop(r);
        }
        a.ret();
        a.bind(self.abort);
        a.mov_rm(W::Q, RSP, mem(ENV, OFF_EXIT_RSP));
        a.ret();

        for pc in 0..self.insns.len() {
            self.a.bind(pc_label(pc));
            self.insn(pc)?;
        }
        let fell = self.trap(STATUS_FELL_OFF, self.insns.len() - 1);
        self.a.jmp(fell);
        Ok(())
    }

    /// A cold path that sets `status` at `pc` and ends the program.
    fn trap(&mut self, status: u64, pc: usize) -> Label {
        let label = self.a.new_label();
        self.cold.push(Cold::Trap { label, status, pc });
        label
    }

    fn insn(&mut self, pc: usize) -> Result<(), JitError> {
        match self.insns[pc] {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(pc, width, op, dst.index(), src)?,
            Insn::Neg { width: w, dst } => self.neg(w, dst.index()),
            Insn::Endian { kind, bits, dst } => self.endian(kind, bits, dst.index()),
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => self.load(size, signed, dst.index(), src.index(), off),
            Insn::Store {
                size,
                dst,
                off,
                value,
            } => self.store(size, dst.index(), off, value),
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
            Insn::LoadPacket { size, mode, imm } => self.legacy_load(pc, size, mode, imm),
            Insn::Ja { .. } => {
                let t = self.target(pc)?;
                self.a.jmp(t);
            }
            Insn::Jump {
                width: w,
                cond,
                dst,
                src,
                ..
            } => {
                let t = self.target(pc)?;
                self.jump(w, cond, dst.index(), src, t);
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
                let stub = self.shared(Shared::Helper { slot, id });
                self.a.mov_ri32(R11, pc as u32);
                self.a.call(stub);
            }
            Insn::CallX { reg } => {
                let stub = self.shared(Shared::CallById);
                self.a.mov_mr(W::Q, mem(ENV, OFF_HELPER_ID), R[reg.index()]);
                self.a.mov_ri32(R11, pc as u32);
                self.a.call(stub);
            }
            Insn::Call(CallTarget::Local(_)) => {
                let t = self.target(pc)?;
                let depth = self.trap(STATUS_CALL_DEPTH, pc);
                let a = &mut self.a;
                a.lea(R11, mem(RBP, -(STACK_SIZE as i32)));
                a.alu_rm(Alu::Cmp, W::Q, R11, mem(ENV, OFF_STACK_LIMIT));
                a.jcc(encode::Cc::B, depth);
                for r in [RBX, R13, R14, R15, RBP] {
                    a.push(r);
                }
                a.mov_rr(W::Q, RBP, R11);
                a.call(t);
                for r in [RBP, R15, R14, R13, RBX] {
                    a.pop(r);
                }
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                return Err(JitError::Unsupported {
                    pc,
                    what: format!(
                        "a kfunc call (BTF id {btf_id}: a kernel function; the verifier rejects such calls)"
                    ),
                });
            }
            Insn::Exit => self.a.ret(),
        }
        Ok(())
    }

    /// `lddw`: a constant, a map handle / map value address from `env`, or (src=4) the address
    /// of a function's callback thunk.
    fn lddw(
        &mut self,
        pc: usize,
        dst: usize,
        kind: Imm64Kind,
        imm: i32,
        next_imm: i32,
    ) -> Result<(), JitError> {
        let d = R[dst];
        match kind {
            Imm64Kind::Value => {
                let v = (u64::from(next_imm as u32) << 32) | u64::from(imm as u32);
                self.a.mov_ri64(d, v);
                Ok(())
            }
            Imm64Kind::MapFd | Imm64Kind::MapIdx | Imm64Kind::MapValue | Imm64Kind::MapIdxValue => {
                let value = matches!(kind, Imm64Kind::MapValue | Imm64Kind::MapIdxValue);
                let slot = self.map_slot(pc, imm, value)?;
                let table = if value { OFF_MAP_VALUES } else { OFF_MAPS };
                let a = &mut self.a;
                a.mov_rm(W::Q, d, mem(ENV, table));
                a.mov_rm(W::Q, d, mem(d, (8 * slot) as i32));
                // The offset into the value is unsigned.
                if value && next_imm > 0 {
                    a.alu_ri(Alu::Add, W::Q, d, next_imm);
                } else if value && next_imm < 0 {
                    a.mov_ri32(R11, next_imm as u32);
                    a.alu_rr(Alu::Add, W::Q, d, R11);
                }
                Ok(())
            }
            Imm64Kind::Func => {
                let thunk = self.thunk(pc)?;
                self.a.lea_rip(d, thunk);
                Ok(())
            }
            Imm64Kind::BtfVar => Err(JitError::Unsupported {
                pc,
                what: "lddw of a BTF variable (a kernel symbol, which user space does not have)"
                    .into(),
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
}

#[cfg(test)]
mod encode_tests;
#[cfg(test)]
mod tests;
