//! Calls and returns: local calls, helper calls, and the callbacks helpers run.
//!
//! Every call that runs program code pushes a [`Frame`] with its own zeroed 512-byte stack, so a
//! callback counts against [`super::Config::max_frames`] exactly like a local call (the verifier
//! counts it the same way). A callback frame saves all registers: the helper call that runs it
//! has not returned, and when it does, the caller sees its registers as before the call (r1-r5
//! included, as for every helper call here) with r0 = the helper's result.

use super::{Flow, Frame, HelperError, HelperReturn, Helpers, Insn, RegionKind, Trap, Vm, watch};

impl<H: Helpers> Vm<H> {
    /// A new frame for a call at `pc`: checks the limit and returns the new r10.
    fn push_frame(
        &mut self,
        pc: usize,
        frames: &mut Vec<Frame>,
        frame: Frame,
    ) -> Result<u64, Trap> {
        if frames.len() + 1 >= self.config.max_frames {
            return Err(Trap::CallDepth {
                pc,
                max: self.config.max_frames,
            });
        }
        frames.push(frame);
        self.enter_frame(frames.len())
            .map_err(|what| Trap::Unsupported { pc, what })
    }

    /// `call` of the local function at `target`.
    pub(super) fn call_local(
        &mut self,
        pc: usize,
        target: usize,
        regs: &mut [u64; 11],
        frames: &mut Vec<Frame>,
    ) -> Result<Flow, Trap> {
        let mut saved = [0u64; 4];
        saved.copy_from_slice(&regs[6..10]);
        let frame = Frame::Local {
            return_pc: pc + 1,
            saved,
            saved_fp: regs[10],
            saved_init: self.init,
        };
        regs[10] = self.push_frame(pc, frames, frame)?;
        // A callee starts with its arguments and its frame pointer (Linux: r6-r9 unreadable).
        self.init = (self.init & watch::ARGS) | watch::FP;
        Ok(Flow::Goto(target))
    }

    /// `call` of helper `id` (or `callx`).
    pub(super) fn call_helper(
        &mut self,
        prog: &[Insn],
        pc: usize,
        id: i64,
        regs: &mut [u64; 11],
        frames: &mut Vec<Frame>,
    ) -> Result<Flow, Trap> {
        let Ok(id32) = i32::try_from(id) else {
            return Err(Trap::Helper {
                pc,
                id,
                error: HelperError::Unknown,
            });
        };
        let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
        let ret = match self.scripted.iter().find(|(p, _)| *p == pc) {
            Some(&(_, v)) => Ok(HelperReturn::Value(v)),
            None => self.helpers.call(id32, args, &mut self.mem),
        };
        let saved_init = self.init;
        self.helper_returned(prog, pc, id, ret, (*regs, saved_init), regs, frames)
    }

    /// What a helper call (or its resumption after a callback) produced: `saved` are the
    /// registers of the caller at the call, and its initialisation shadow.
    #[allow(clippy::too_many_arguments)]
    fn helper_returned(
        &mut self,
        prog: &[Insn],
        pc: usize,
        id: i64,
        ret: Result<HelperReturn, HelperError>,
        (saved, saved_init): ([u64; 11], u16),
        regs: &mut [u64; 11],
        frames: &mut Vec<Frame>,
    ) -> Result<Flow, Trap> {
        match ret {
            Ok(HelperReturn::Value(v)) => {
                *regs = saved;
                regs[0] = v;
                // Linux: a helper call leaves r1-r5 unreadable (this machine keeps their values).
                self.init = (saved_init & !watch::ARGS) | watch::R0;
                Ok(Flow::Goto(pc + 1))
            }
            Ok(HelperReturn::Exit(v)) => Ok(Flow::Exit(v)),
            Ok(HelperReturn::TailCall(target)) => Ok(Flow::TailCall(target)),
            Ok(HelperReturn::Callback { func, args }) => {
                let target = self.function_at(prog, func).ok_or_else(|| Trap::Helper {
                    pc,
                    id,
                    error: HelperError::Failed(format!(
                        "the callback {func:#x} is not the address of a function"
                    )),
                })?;
                let frame = Frame::Callback {
                    call_pc: pc,
                    id,
                    saved,
                    saved_init,
                };
                let fp = self.push_frame(pc, frames, frame)?;
                *regs = [0; 11];
                regs[1..6].copy_from_slice(&args);
                regs[10] = fp;
                self.init = watch::ARGS | watch::FP;
                Ok(Flow::Goto(target))
            }
            Err(error) => Err(Trap::Helper { pc, id, error }),
        }
    }

    /// `exit`: the program ends, a local call returns, or a callback returns to its helper.
    pub(super) fn exit(
        &mut self,
        prog: &[Insn],
        regs: &mut [u64; 11],
        frames: &mut Vec<Frame>,
    ) -> Result<Flow, Trap> {
        let Some(frame) = frames.pop() else {
            return Ok(Flow::Exit(regs[0]));
        };
        self.mem.set_live(self.stacks[frames.len() + 1], false);
        match frame {
            Frame::Local {
                return_pc,
                saved,
                saved_fp,
                saved_init,
            } => {
                regs[6..10].copy_from_slice(&saved);
                regs[10] = saved_fp;
                self.init =
                    (saved_init & watch::CALLEE_SAVED) | watch::FP | (self.init & watch::R0);
                Ok(Flow::Goto(return_pc))
            }
            Frame::Callback {
                call_pc,
                id,
                saved,
                saved_init,
            } => {
                let ret = self.helpers.resume(regs[0], &mut self.mem);
                self.helper_returned(prog, call_pc, id, ret, (saved, saved_init), regs, frames)
            }
        }
    }

    /// The code address of the function at `pc` (what `lddw src=4` yields).
    pub(super) fn code_address(&mut self, prog: &[Insn], pc: usize) -> Result<u64, Trap> {
        let target = prog[pc]
            .branch_target(pc)
            .and_then(|t| usize::try_from(t).ok())
            .filter(|&t| prog.get(t).is_some_and(|i| *i != Insn::WideTail))
            .ok_or(Trap::BadJump {
                pc,
                target: prog[pc].branch_target(pc).unwrap_or(-1),
            })?;
        let code = match self.code {
            Some(id) => id,
            None => {
                let id = self
                    .mem
                    .add(RegionKind::Code, Vec::new(), false)
                    .map_err(|what| Trap::Unsupported { pc, what })?;
                self.code = Some(id);
                id
            }
        };
        Ok(self.mem.base(code) + 8 * target as u64)
    }

    /// The pc of the function whose code address is `addr`, if it is one (of the program
    /// running: code addresses do not survive a tail call).
    fn function_at(&self, prog: &[Insn], addr: u64) -> Option<usize> {
        let (region, offset) = self.mem.region_of(addr)?;
        if Some(region) != self.code || offset % 8 != 0 {
            return None;
        }
        let pc = usize::try_from(offset / 8).ok()?;
        prog.get(pc).filter(|i| **i != Insn::WideTail).map(|_| pc)
    }
}
