//! The x86-64 JIT: verified programs compiled once, on the verification machine, to
//! position-independent native code that any x86-64 host runs without recompiling.
//!
//! The pieces, in the order a program goes through them:
//! - [`compile`] ([`x86_64`]): `&[Insn]` + the map table + the program type → an [`Image`]: a
//!   header (format version, target, entry offset, stack size, the helper ids and map slots it
//!   binds, the context pointer fields it rewrites) and the code. Deterministic: the same program
//!   gives the same bytes, so an image can be hashed and signed.
//! - [`Image::to_bytes`] / [`Image::from_bytes`] ([`image`]): the wire form. Parsing is strict
//!   and bounded, because images come from the network.
//! - [`load::Loaded::new`]: copies the code into fresh pages, then makes them read+execute
//!   (never writable and executable at once); unmapped on drop.
//! - [`exec`]: the [`Env`] the code runs against, the helper trampolines, and [`exec::execute`],
//!   which runs a loaded image once. [`crate::runtime::native::run`] binds it to the user-space
//!   runtime (maps, helpers, contexts, tail calls); [`crate::conformance::run_jit`] to the
//!   bpf_conformance helpers.
//!
//! # Calling convention
//! Entry: `extern "sysv64" fn(ctx: *mut u8, env: *const Env) -> u64`. The code has no absolute
//! address: helpers, map handles and everything that differs between hosts or runs is reached
//! through `env` (see [`Env`] for its layout).
//!
//! Register map (BPF → x86-64). r1-r5 are the SysV argument registers, so a helper call needs no
//! shuffling; r6-r9 and r10 are callee-saved, so they survive helper calls for free:
//!
//! | BPF | x86-64 | | BPF | x86-64 |
//! |---|---|---|---|---|
//! | r0 | rax | | r6 | rbx |
//! | r1 | rdi | | r7 | r13 |
//! | r2 | rsi | | r8 | r14 |
//! | r3 | rdx | | r9 | r15 |
//! | r4 | rcx | | r10 (fp) | rbp |
//! | r5 | r8  | | env | r12 |
//!
//! r9, r10 and r11 are scratch. `env` also travels to helpers in r9, the sixth SysV argument
//! register, which a five-argument helper simply ignores: the runtime needs its state, and this
//! costs one `mov` instead of a thread-local.
//!
//! Semantics follow [`crate::interp`] exactly (the differential tests check it), including two
//! points where the interpreter is stricter than Linux: r1-r5 survive helper calls (the code saves
//! them around the call), and registers start at 0.
//!
//! # What the native code does not check
//! Memory accesses are plain `mov`s: an image is only as safe as the verification of the program
//! it was compiled from. Running it is therefore `unsafe` ([`exec::execute`]), and a host must only
//! run images whose verdict it trusts (the signed verdict binds the image digest). There is no
//! instruction budget either: the verifier proves termination.

pub mod exec;
pub mod image;
pub mod load;
pub mod x86_64;

pub use exec::{Ending, Env, Host};
pub use image::{CtxField, Image, ImageError, MapSlot};
pub use x86_64::compile;

use thiserror::Error;

/// Why a program could not be compiled. Each variant names the pc.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum JitError {
    #[error("pc {pc}: {what} is not supported by the JIT")]
    Unsupported { pc: usize, what: String },
    #[error("pc {pc}: jump or call target {target} is outside the program or inside an lddw")]
    BadTarget { pc: usize, target: i64 },
    #[error("pc {pc}: lddw refers to map {index}, which the map table does not have")]
    UnknownMap { pc: usize, index: i64 },
    #[error("the program is empty")]
    Empty,
    #[error("the program has {0} instructions; the JIT takes at most {max}", max = image::MAX_INSNS)]
    TooLarge(usize),
    #[error("code generation failed: {0}")]
    Assembler(String),
}
