//! `vouch-verifier`: everything Vouch knows about eBPF programs, with no I/O policy, no network and
//! no keys.
//!
//! Built so far:
//! - [`isa`]: the RFC 9669 instruction set — decoding with validation, encoding, an assembler and a
//!   disassembler for the bpf_conformance assembly syntax.
//! - [`interp`]: the reference interpreter, the project's semantic oracle. Every memory access is
//!   checked against the regions it may touch; a violation is a typed [`interp::Trap`], never
//!   undefined behaviour.
//! - [`conformance`]: the bpf_conformance test-file format and the helpers its tests call.
//!
//! - [`elf`]: ELF objects, BTF, relocation and linking; [`platform`]: program types, helper
//!   prototypes, context layouts; [`cfg`]: inlined control-flow graphs and their weak topological
//!   order; [`domain`]: the scalar (bounds + known bits) and zone (difference-bound) domains;
//!   [`analysis`]: the abstract interpreter that proves programs safe.
//!
//! To come (see ARCHITECTURE.md): `runtime`, `jit`.

pub mod analysis;
pub mod cfg;
pub mod conformance;
pub mod domain;
pub mod elf;
pub mod interp;
pub mod isa;
pub mod jit;
pub mod platform;
pub mod runtime;
#[cfg(feature = "z3")]
pub mod smt;

/// Version of the verifier, recorded in every verdict so a verdict names the code that issued it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
