//! The typed instruction: what every later stage (interpreter, analysis, JIT) matches on.
//!
//! A decoded [`Insn`] is valid by construction: registers are in range, reserved fields were zero,
//! and each variant only carries the operands its encoding has. One `Insn` stands for one 8-byte
//! slot; `lddw` takes two slots, so its second slot is represented by [`Insn::WideTail`], which
//! validation guarantees is never a jump target and never executed. This keeps `pc` equal to the
//! slot index everywhere, as RFC 9669 counts it.

use std::fmt;

/// One of the eleven registers r0–r10. r10 is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R9: Reg = Reg(9);
    /// The frame pointer: read-only, points one past the top of the current frame's stack.
    pub const FP: Reg = Reg(10);

    /// The register numbered `n`, if there is one.
    pub fn new(n: u8) -> Option<Reg> {
        (n <= 10).then_some(Reg(n))
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn number(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%r{}", self.0)
    }
}

/// Operand width of arithmetic and jumps: the `ALU`/`JMP32` classes work on the low 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

/// The second operand of an arithmetic, jump or store instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    Reg(Reg),
    Imm(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    /// Unsigned division; division by zero yields 0.
    Div,
    /// Signed division (v4); division by zero yields 0.
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    /// Signed modulo (v4), truncating like C.
    SMod,
    Xor,
    Mov,
    /// Move with sign extension from the low 8, 16 or 32 bits (v4); register source only.
    MovSx(u8),
    Arsh,
}

/// Byte-order operations. `ToLe`/`ToBe` come from the `ALU` class, `Swap` (`bswap`) from `ALU64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    ToLe,
    ToBe,
    Swap,
}

/// Access size of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    /// Exchange; always fetches the old value into the source register.
    Xchg,
    /// Compare with r0 and exchange; the old value always lands in r0.
    CmpXchg,
}

/// What the 64-bit immediate of `lddw` means (its `src` field, RFC 9669 §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imm64Kind {
    /// src=0: the 64-bit constant itself.
    Value,
    /// src=1: address of the map whose fd is `imm`.
    MapFd,
    /// src=2: address of byte `next_imm` of the value of map fd `imm`.
    MapValue,
    /// src=3: address of the kernel variable with BTF id `imm`.
    BtfVar,
    /// src=4: address of the instruction at relative offset `imm` (a callback).
    Func,
    /// src=5: address of the map with index `imm`.
    MapIdx,
    /// src=6: address of byte `next_imm` of the value of map index `imm`.
    MapIdxValue,
}

impl Imm64Kind {
    pub fn from_src(src: u8) -> Option<Imm64Kind> {
        Some(match src {
            0 => Imm64Kind::Value,
            1 => Imm64Kind::MapFd,
            2 => Imm64Kind::MapValue,
            3 => Imm64Kind::BtfVar,
            4 => Imm64Kind::Func,
            5 => Imm64Kind::MapIdx,
            6 => Imm64Kind::MapIdxValue,
            _ => return None,
        })
    }

    pub fn src(self) -> u8 {
        match self {
            Imm64Kind::Value => 0,
            Imm64Kind::MapFd => 1,
            Imm64Kind::MapValue => 2,
            Imm64Kind::BtfVar => 3,
            Imm64Kind::Func => 4,
            Imm64Kind::MapIdx => 5,
            Imm64Kind::MapIdxValue => 6,
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

/// Legacy packet-load addressing: absolute offset, or a register plus an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketMode {
    Abs,
    Ind(Reg),
}

/// Whom a `call` instruction calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// src=0: a helper function by its id.
    Helper(i32),
    /// src=1: a bpf-to-bpf call to the instruction `pc + 1 + offset`.
    Local(i32),
    /// src=2: a kernel function by BTF id; `module` is the BTF object index (0 = vmlinux).
    Kfunc { btf_id: i32, module: i16 },
}

/// A decoded, validated instruction. See the module comment for the `lddw` convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    },
    Neg {
        width: Width,
        dst: Reg,
    },
    Endian {
        kind: Endian,
        bits: u8,
        dst: Reg,
    },
    /// `dst = *(size *)(src + off)`, sign-extended when `signed` (v4 `MEMSX`).
    Load {
        size: Size,
        signed: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = value`.
    Store {
        size: Size,
        dst: Reg,
        off: i16,
        value: Operand,
    },
    Atomic {
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// First slot of `lddw`; the raw `imm` and `next_imm` words are kept as they were.
    LoadImm64 {
        dst: Reg,
        kind: Imm64Kind,
        imm: i32,
        next_imm: i32,
    },
    /// Second slot of `lddw`: never a jump target, never executed.
    WideTail,
    /// Legacy `ld_abs`/`ld_ind`: r0 = big-endian load from the packet; traps out of bounds.
    LoadPacket {
        size: Size,
        mode: PacketMode,
        imm: i32,
    },
    /// Unconditional jump to `pc + 1 + off` (`ja`, 16-bit offset; `gotol`/`ja32`, 32-bit).
    Ja {
        off: i32,
        long: bool,
    },
    Jump {
        width: Width,
        cond: Cond,
        dst: Reg,
        src: Operand,
        off: i16,
    },
    Call(CallTarget),
    /// `callx`: call the helper whose id is in `reg` (the bpf_conformance convention).
    CallX {
        reg: Reg,
    },
    Exit,
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies.
    pub fn slots(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The absolute target of a jump, local call or `lddw` function reference at `pc`.
    pub fn branch_target(&self, pc: usize) -> Option<i64> {
        let rel = match *self {
            Insn::Ja { off, .. } => i64::from(off),
            Insn::Jump { off, .. } => i64::from(off),
            Insn::Call(CallTarget::Local(off)) => i64::from(off),
            Insn::LoadImm64 {
                kind: Imm64Kind::Func,
                imm,
                ..
            } => i64::from(imm),
            _ => return None,
        };
        Some(pc as i64 + 1 + rel)
    }
}
