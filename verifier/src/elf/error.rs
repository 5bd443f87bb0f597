//! Why an object could not be loaded. Every message names what is wrong and where, so a user can
//! act on it without a hex editor.

use super::btf::BtfError;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LoadError {
    #[error("not an ELF file (no \\x7fELF magic)")]
    NotElf,
    #[error("the object is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not an eBPF object: ELF machine is {machine}, expected 247 (EM_BPF)")]
    NotBpf { machine: u16 },
    #[error("malformed ELF: {0}")]
    Malformed(String),
    #[error("unsupported object: {0}")]
    Unsupported(String),
    #[error("bad relocation: {0}")]
    BadRelocation(String),
    #[error(
        "{location} calls or uses `{name}`, which is neither defined in the object nor a known Linux helper or kernel function"
    )]
    UnknownExternal { name: String, location: String },
    #[error("BTF: {0}")]
    Btf(#[from] BtfError),
    #[error("CO-RE relocation of {location}: {reason}")]
    Core { location: String, reason: String },
    #[error("no program matches {0}")]
    NoSuchProgram(String),
}
