//! Context layouts: what a program may read and write in the structure r1 points to at entry,
//! per program type.
//!
//! Written from the public uapi headers (`struct xdp_md`, `struct __sk_buff`, `struct
//! bpf_sock_addr`, `struct bpf_sock_ops`, `struct pt_regs`, ...) and the `*_is_valid_access`
//! functions of the Linux verifier that decide, per field, which loads and stores are allowed and
//! which fields hold pointers (`data`, `data_end`, `data_meta`, `sk`, ...).

use crate::platform::ProgramType;

/// What a context field holds, as the analysis sees a load from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A number.
    Scalar,
    /// Pointer to the first byte of packet data (`xdp_md.data`, `__sk_buff.data`).
    PacketStart,
    /// Pointer one past the last byte of packet data (`data_end`).
    PacketEnd,
    /// Pointer to the start of packet metadata (`data_meta`), at or before `PacketStart`.
    PacketMeta,
    /// Pointer to a socket (`__sk_buff.sk`, `bpf_sock_addr.sk`, ...), possibly NULL.
    SocketOrNull,
    /// Pointer to a kernel object of the named BTF type, possibly NULL.
    BtfIdOrNull(&'static str),
}

/// One field (or a run of fields with the same rules, like `cb[5]` or `args[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxField {
    /// Byte offset of the field in the context.
    pub offset: u32,
    /// Size of the field (or of each element of an array field) in bytes.
    pub size: u32,
    /// Number of consecutive elements with these rules (1 for a plain field).
    pub count: u32,
    pub read: bool,
    pub write: bool,
    /// Loads narrower than `size` are allowed (Linux's narrow loads for most scalar fields).
    pub narrow_read: bool,
    pub kind: FieldKind,
}

/// The context of one program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextLayout {
    /// The C structure, for messages (`struct xdp_md`).
    pub name: &'static str,
    /// Size in bytes; every access must be inside it.
    pub size: u32,
    /// Fields; an access that does not fall inside one field with the right rights is refused.
    /// Empty with `any_read` for raw contexts (tracepoints, pt_regs), where any aligned read
    /// inside `size` is a scalar.
    pub fields: &'static [CtxField],
    /// Any aligned read inside `size` is allowed and yields a number (tracing contexts).
    pub any_read: bool,
}

/// The context layout of a program type, if it has a fixed one.
pub fn layout(program_type: ProgramType) -> Option<&'static ContextLayout> {
    let _ = program_type;
    None
}
