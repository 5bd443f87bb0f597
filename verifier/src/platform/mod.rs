//! What Vouch knows about the Linux eBPF platform: program types and how sections name them,
//! helper ids and names, helper prototypes (`helpers`: argument contracts, return kinds, packet
//! invalidation, availability per program type) and context layouts (`context`: which fields
//! each program type may read and write, and which hold pointers); with a kernel BTF, the types
//! of tracing programs' arguments and the kernel structs they read (`kernel_btf`).

pub mod context;
pub mod helper_ids;
pub mod helpers;
pub mod kernel_btf;
pub mod program_type;

pub use context::{ContextLayout, CtxField, FieldKind, direct_packet_write, layout};
pub use helper_ids::{helper_id, helper_name};
pub use helpers::{HelperProto, proto, proto_for};
pub use program_type::{ProgramType, SectionType, program_type_for, section_type};
