//! The eBPF instruction set of RFC 9669: decoding with validation, encoding, assembly and
//! disassembly.
//!
//! Start with [`Insn`], the typed instruction every other stage matches on; then
//! [`decode_program`], which turns untrusted bytes into `Insn`s or a [`DecodeError`] naming the pc.
//!
//! Invariants: a `Vec<Insn>` returned by [`decode_program`] has one entry per 8-byte slot (the
//! second slot of `lddw` is [`Insn::WideTail`]); every jump, local call and function reference in
//! it lands on the first slot of an instruction inside the program; no instruction writes r10.

pub mod asm;
mod decode;
pub mod disasm;
mod encode;
mod insn;
pub mod opcode;

pub use decode::{DecodeError, MAX_SLOTS, RawInsn, decode_at, decode_program, decode_raw};
pub use encode::{encode, encode_program};
pub use insn::*;
