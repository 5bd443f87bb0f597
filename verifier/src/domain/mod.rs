//! Abstract domains of the analysis.
//!
//! - `scalar`: what a 64-bit register value may be, non-relationally: signed and unsigned bounds
//!   in 64- and 32-bit views plus known bits (a tnum), with the exact wrap-around semantics of
//!   every RFC 9669 ALU operation and the refinement a comparison gives each operand.
//! - `zone`: relations `x - y <= c` between variables (pointer offsets, packet size, scalars), a
//!   sparse difference-bound matrix with incremental closure: it proves
//!   `packet_offset + 14 <= packet_size` after `if (data + 14 > data_end)`.
//! - The product the analysis works on (register types, stack cells, frames) lives in
//!   `analysis::state`.

pub mod scalar;
pub mod tnum;
pub mod zone;
