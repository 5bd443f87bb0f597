//! What Vouch knows about the Linux eBPF platform: program types and how sections name them,
//! helper ids and names. Context layouts and helper prototypes (for the verifier) come with the
//! analysis.

pub mod context;
pub mod helper_ids;
pub mod helpers;
pub mod program_type;

pub use helper_ids::{helper_id, helper_name};
pub use program_type::{ProgramType, SectionType, program_type_for, section_type};
