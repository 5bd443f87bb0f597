//! Typing tracing programs from the kernel's BTF (`--btf /sys/kernel/btf/vmlinux`).
//!
//! An fentry, fexit, fmod_ret, tp_btf or LSM program reads the traced function's arguments from
//! `u64 ctx[]`. Which of them are pointers, and to what, is written in the kernel's BTF, not in
//! the object's: without it every argument is an untyped kernel value (`FieldKind::BtfArg`).
//! With it, Vouch applies the rules of Linux's `btf_ctx_access` and `btf_struct_walk`:
//!
//! - `ctx[i]` must be a whole argument slot (offset a multiple of 8); the slot after the last
//!   argument is the return value for fexit, fmod_ret (an integer only) and LSM programs.
//! - An integer, enum, `void *` or pointer-to-integer argument is a number; it cannot be
//!   dereferenced. A pointer to a struct or union is a pointer to that kernel type
//!   ([`ArgKind::Struct`]).
//! - A load through such a pointer must lie inside the struct (a trailing flexible array of
//!   structs extends it) and inside one member: a pointer member is read whole and is a pointer
//!   to its struct; anything else is a number.
//!
//! Decisions where Vouch departs from Linux, all on the permissive side where the access itself
//! is harmless (loads through these pointers are fault-tolerant `PROBE_MEM` loads in Linux):
//! - A pointer to something other than a struct, int or void (`char **`, a function pointer)
//!   is a number; Linux refuses to load the argument at all.
//! - A struct passed by value, a float or an array argument is a number (newer kernels accept
//!   structs by value; older ones refuse).
//! - A pointer to an anonymous struct stays an untyped kernel pointer: the analysis names
//!   kernel types, and an anonymous one has no name.
//! - Module functions (`fentry/module:function`) and targets the BTF does not have keep the
//!   untyped arguments.
//! - Slots past the arguments (or a return value the target does not have) are untyped kernel
//!   values, where Linux refuses the load: see [`AttachProto::access`].
//!
//! Where Vouch is stricter than Linux: every typed argument and every pointer read from a kernel
//! struct may be NULL (a traced function may be called with NULL; a field may hold it). Linux
//! treats arguments of tp_btf programs as trusted non-NULL pointers and lets helpers that take
//! kernel objects handle NULL; Vouch asks for a NULL check before such a pointer is passed to a
//! helper parameter that does not accept NULL. Loads through them need no check.

use crate::elf::btf::{Btf, BtfKind, Member, TypeId, TypeKind};
use crate::platform::ProgramType;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// What an argument slot (`ctx[i]`) or a struct member read holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A number: integers, enums, `void *`, pointers to integers (Linux: `SCALAR_VALUE`).
    Scalar,
    /// A pointer to the named kernel struct or union (Linux: `PTR_TO_BTF_ID`), possibly NULL.
    Struct(&'static str),
    /// A kernel pointer whose type Vouch cannot name (an anonymous struct, or too many names
    /// interned): read like an untyped argument.
    Untyped,
}

/// The typed context of one attach target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachProto {
    /// The traced function, tracepoint or LSM hook, for messages.
    pub target: String,
    /// One entry per argument slot.
    pub args: Vec<ArgKind>,
    /// The slot after the arguments (`ctx[args.len()]`) holds the return value: fexit, fmod_ret
    /// (integers only) and LSM programs of a function that returns one.
    pub ret: Option<ArgKind>,
}

/// Argument slots of a tracing context (Linux's `MAX_BPF_FUNC_ARGS`).
pub const MAX_ARGS: i64 = 12;

impl AttachProto {
    /// What a load of `size` bytes at `offset` of the context yields, as `btf_ctx_access`
    /// decides; `Err` names the rule broken.
    ///
    /// A slot this target does not type (past its arguments, or a return value it does not
    /// have) is an untyped kernel value, as without the BTF, where Linux refuses the load:
    /// programs read such slots in branches written for other kernel versions, which
    /// `LINUX_KERNEL_VERSION` (a load-time constant Vouch does not know) rules out (bcc's
    /// `biolatency` reads `ctx[1]` of `block_rq_insert` for kernels before 5.11). The read
    /// stays in the kernel stack below `MAX_ARGS` slots, which Linux itself lets `raw_tp`
    /// programs read whatever the tracepoint's arity, and the value is untyped.
    pub fn access(&self, offset: i64, size: u32) -> Result<ArgKind, String> {
        if !(0..MAX_ARGS * 8).contains(&offset) || offset % 8 != 0 {
            return Err(format!(
                "arguments of {} are 8-byte slots ctx[0..{MAX_ARGS}]: offset {offset} is not the start of one",
                self.target
            ));
        }
        let slot = (offset / 8) as usize;
        let kind = match slot.cmp(&self.args.len()) {
            std::cmp::Ordering::Less => self.args[slot],
            std::cmp::Ordering::Equal => self.ret.unwrap_or(ArgKind::Untyped),
            std::cmp::Ordering::Greater => ArgKind::Untyped,
        };
        // A narrower load of a pointer slot is its low bytes: a number.
        Ok(match kind {
            ArgKind::Struct(_) | ArgKind::Untyped if size != 8 => ArgKind::Scalar,
            k => k,
        })
    }
}

/// The kernel's BTF with the lookups the analysis makes: attach targets and struct layouts.
pub struct KernelTypes<'a> {
    btf: &'a Btf,
    /// Struct or union id by name (`None`: no such type), filled as the analysis asks.
    structs: RefCell<HashMap<&'static str, Option<TypeId>>>,
}

/// Upper bound on the bytes of kernel type names interned for the process's lifetime. A kernel
/// BTF names some 10^5 types; past the bound, further types stay untyped.
const MAX_INTERNED_BYTES: usize = 16 << 20;

/// The `&'static` copy of a kernel type name: the analysis identifies kernel objects by name
/// (`Region::Kernel`), which must be `Copy`. Each distinct name is stored once per process, so
/// the memory is bounded by the names of the kernels verified against ([`MAX_INTERNED_BYTES`]).
pub fn intern(name: &str) -> Option<&'static str> {
    static NAMES: OnceLock<Mutex<(HashSet<&'static str>, usize)>> = OnceLock::new();
    let mut guard = NAMES
        .get_or_init(|| Mutex::new((HashSet::new(), 0)))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (names, bytes) = &mut *guard;
    if let Some(&known) = names.get(name) {
        return Some(known);
    }
    if *bytes + name.len() > MAX_INTERNED_BYTES {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    *bytes += name.len();
    names.insert(leaked);
    Some(leaked)
}

/// Most nested structs and arrays one struct walk descends through (a hostile BTF may nest
/// without end).
const MAX_WALK_DEPTH: usize = 64;

impl<'a> KernelTypes<'a> {
    pub fn new(btf: &'a Btf) -> KernelTypes<'a> {
        KernelTypes {
            btf,
            structs: RefCell::new(HashMap::new()),
        }
    }

    /// The typed context of a program of `program_type` loaded from `section`, or `None` when
    /// the section names no attach target the BTF describes (the arguments then stay untyped).
    pub fn attach_proto(&self, program_type: ProgramType, section: &str) -> Option<AttachProto> {
        let (kind, target) = section.split_once('/')?;
        if target.is_empty() || target.contains(':') {
            return None;
        }
        enum Ret {
            None,
            Any,
            SmallInt,
        }
        let (function, skip, ret, what) = match (program_type, kind) {
            (ProgramType::Tracing, "fentry" | "fentry.s") => {
                (target.to_owned(), 0, Ret::None, "fentry")
            }
            (ProgramType::Tracing, "fexit" | "fexit.s") => {
                (target.to_owned(), 0, Ret::Any, "fexit")
            }
            (ProgramType::Tracing, "fmod_ret" | "fmod_ret.s") => {
                (target.to_owned(), 0, Ret::SmallInt, "fmod_ret")
            }
            (ProgramType::Tracing, "tp_btf") => {
                (format!("btf_trace_{target}"), 1, Ret::None, "tp_btf")
            }
            (ProgramType::Lsm, "lsm" | "lsm.s" | "lsm_cgroup") => {
                (format!("bpf_lsm_{target}"), 0, Ret::Any, "lsm")
            }
            _ => return None,
        };
        let proto_id = if what == "tp_btf" {
            // `typedef void (*btf_trace_<name>)(void *__data, args...)`.
            let typedef = self.btf.find_by_name(BtfKind::Typedef, &function)?;
            match self.btf.get(self.btf.resolve(typedef).ok()?)?.kind {
                TypeKind::Ptr(p) => self.btf.resolve(p).ok()?,
                _ => return None,
            }
        } else {
            match self
                .btf
                .get(self.btf.find_by_name(BtfKind::Func, &function)?)?
                .kind
            {
                TypeKind::Func(f) => f.proto,
                _ => return None,
            }
        };
        let TypeKind::FuncProto(proto) = &self.btf.get(proto_id)?.kind else {
            return None;
        };
        let args = proto
            .params
            .iter()
            .skip(skip)
            .map(|p| self.arg_kind(p.ty))
            .collect();
        let target = format!("{what} target `{target}`");
        let ret = match ret {
            Ret::None => None,
            Ret::Any if proto.ret == 0 => None,
            Ret::Any => Some(self.arg_kind(proto.ret)),
            // Linux lets fmod_ret read only an integer return value.
            Ret::SmallInt => match self
                .btf
                .resolve(proto.ret)
                .ok()
                .and_then(|r| self.btf.get(r))
            {
                Some(t) if matches!(&t.kind, TypeKind::Int(i) if i.size <= 8) => {
                    Some(ArgKind::Scalar)
                }
                _ => None,
            },
        };
        Some(AttachProto { target, args, ret })
    }

    /// How `btf_ctx_access` types an argument of BTF type `ty`.
    fn arg_kind(&self, ty: TypeId) -> ArgKind {
        let Some(t) = self.btf.resolve(ty).ok().and_then(|r| self.btf.get(r)) else {
            return ArgKind::Untyped;
        };
        match t.kind {
            TypeKind::Ptr(pointee) => self.pointer_to(pointee),
            _ => ArgKind::Scalar,
        }
    }

    /// A pointer to `pointee`: a struct pointer, or a number for anything else.
    fn pointer_to(&self, pointee: TypeId) -> ArgKind {
        let Ok(resolved) = self.btf.resolve(pointee) else {
            return ArgKind::Untyped;
        };
        match self.btf.get(resolved).map(|t| &t.kind) {
            Some(TypeKind::Struct(_) | TypeKind::Union(_)) => match self.btf.name(resolved) {
                Some(name) => match intern(name) {
                    Some(name) => {
                        self.structs
                            .borrow_mut()
                            .entry(name)
                            .or_insert(Some(resolved));
                        ArgKind::Struct(name)
                    }
                    None => ArgKind::Untyped,
                },
                None => ArgKind::Untyped,
            },
            _ => ArgKind::Scalar,
        }
    }

    /// The struct or union called `name`, if the BTF has one.
    fn struct_id(&self, name: &'static str) -> Option<TypeId> {
        if let Some(&id) = self.structs.borrow().get(name) {
            return id;
        }
        let id = self
            .btf
            .find_by_name(BtfKind::Struct, name)
            .or_else(|| self.btf.find_by_name(BtfKind::Union, name));
        self.structs.borrow_mut().insert(name, id);
        id
    }

    /// What a load of `size` bytes at `offset` of a `struct name` yields (Linux's
    /// `btf_struct_walk`), or `None` if the BTF has no such struct.
    pub fn walk(
        &self,
        name: &'static str,
        offset: i64,
        size: u32,
    ) -> Option<Result<ArgKind, String>> {
        let id = self.struct_id(name)?;
        Some(self.walk_from(id, name, offset, size))
    }

    fn walk_from(
        &self,
        mut id: TypeId,
        outer: &str,
        offset: i64,
        size: u32,
    ) -> Result<ArgKind, String> {
        let beyond = || format!("{size}-byte read at offset {offset} is outside `struct {outer}`");
        let mut off = u64::try_from(offset).map_err(|_| beyond())?;
        let size64 = u64::from(size);
        for _ in 0..MAX_WALK_DEPTH {
            let (total, members) = self.composite(id).ok_or_else(beyond)?;
            if off + size64 > total {
                // A trailing flexible array of structs extends the struct.
                let last = members.last().ok_or_else(beyond)?;
                let moff = u64::from(last.bit_offset / 8);
                let elem = match self.resolved(last.ty).map(|t| &t.kind) {
                    Some(TypeKind::Array(a)) if a.nelems == 0 && off >= moff => a.elem,
                    _ => return Err(beyond()),
                };
                let elem = self.btf.resolve(elem).map_err(|_| beyond())?;
                let elem_size = match self.composite(elem) {
                    Some((s, _)) if s > 0 => s,
                    _ => return Err(beyond()),
                };
                off = (off - moff) % elem_size;
                id = elem;
                continue;
            }
            match self.member_at(id, members, off, size64)? {
                Step::Done(kind) => return Ok(kind),
                Step::Into(inner, inner_off) => {
                    id = inner;
                    off = inner_off;
                }
            }
        }
        Err(format!("`struct {outer}` nests too deeply to be walked"))
    }

    /// The member of the struct `id` (with `members`) that a load of `size` bytes at `off`
    /// reads: the answer, or the nested struct to continue in.
    fn member_at(
        &self,
        id: TypeId,
        members: &[Member],
        off: u64,
        size: u64,
    ) -> Result<Step, String> {
        let tname = self.btf.type_name(id);
        let is_union = matches!(self.btf.get(id).map(|t| &t.kind), Some(TypeKind::Union(_)));
        let mut first_error = None;
        for m in members {
            let moff = u64::from(m.bit_offset / 8);
            if off + size <= moff {
                break;
            }
            if m.bitfield_size > 0 {
                let end_bit = u64::from(m.bit_offset) + u64::from(m.bitfield_size);
                if off <= moff && end_bit.div_ceil(8) <= off + size {
                    return Ok(Step::Done(ArgKind::Scalar));
                }
                continue;
            }
            if off < moff {
                break;
            }
            let result = self.in_member(&tname, m, moff, off, size);
            match result {
                Some(Ok(step)) => return Ok(step),
                Some(Err(e)) if is_union => {
                    first_error.get_or_insert(e);
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Err(first_error.unwrap_or_else(|| {
            format!("{size}-byte read at offset {off} of `{tname}` is not inside one member")
        }))
    }

    /// A load of `size` bytes at `off` against member `m` (at byte `moff`): `None` if the load
    /// does not overlap it.
    fn in_member(
        &self,
        tname: &str,
        m: &Member,
        moff: u64,
        off: u64,
        size: u64,
    ) -> Option<Result<Step, String>> {
        let mname = self.btf.string_at(m.name_off).unwrap_or("");
        let Ok(msize) = self.btf.size_of(m.ty) else {
            return Some(Err(format!("member `{mname}` of `{tname}` has no size")));
        };
        let true_end = moff.saturating_add(msize);
        if off >= true_end {
            return None;
        }
        // An array is read element by element (`off < true_end`, so the member has a size).
        let (mtype, elems) = self.elements(m.ty)?;
        let elem_size = msize.checked_div(elems).filter(|&s| s > 0)?;
        let moff = moff + (off - moff) / elem_size * elem_size;
        match self.btf.get(mtype).map(|t| &t.kind) {
            Some(TypeKind::Struct(_) | TypeKind::Union(_)) => {
                return Some(Ok(Step::Into(mtype, off - moff)));
            }
            Some(TypeKind::Ptr(pointee)) => {
                if elem_size != size || off != moff {
                    return Some(Err(format!(
                        "member `{mname}` of `{tname}` is a pointer: read all 8 bytes at offset {moff}, not {size} at {off}"
                    )));
                }
                if let k @ (ArgKind::Struct(_) | ArgKind::Untyped) = self.pointer_to(*pointee) {
                    return Some(Ok(Step::Done(k)));
                }
            }
            _ => {}
        }
        if off + size > true_end {
            return Some(Err(format!(
                "{size}-byte read at offset {off} of `{tname}` runs past the end of member `{mname}`"
            )));
        }
        Some(Ok(Step::Done(ArgKind::Scalar)))
    }

    /// Whether a `struct want` starts at byte `offset` of a `struct name`, nested one or more
    /// members deep (Linux's `btf_struct_ids_match`): a pointer there may be passed where a
    /// `want` is expected (`bpf_d_path(&file->f_path, ...)`).
    pub fn nested_at(&self, name: &'static str, offset: u64, want: &str) -> bool {
        let Some(mut id) = self.struct_id(name) else {
            return false;
        };
        let mut off = offset;
        for _ in 0..MAX_WALK_DEPTH {
            if off == 0 && self.btf.name(id) == Some(want) {
                return true;
            }
            match self.struct_member_at(id, off) {
                Some((inner, inner_off)) => {
                    id = inner;
                    off = inner_off;
                }
                None => return false,
            }
        }
        false
    }

    /// The struct or union member (or element of an array of them) of struct `id` that
    /// contains byte `off`, and the offset inside it.
    fn struct_member_at(&self, id: TypeId, off: u64) -> Option<(TypeId, u64)> {
        let (_, members) = self.composite(id)?;
        for m in members.iter().filter(|m| m.bitfield_size == 0) {
            let moff = u64::from(m.bit_offset / 8);
            let Ok(msize) = self.btf.size_of(m.ty) else {
                continue;
            };
            if off < moff || off >= moff.saturating_add(msize) {
                continue;
            }
            let (t, elems) = self.elements(m.ty)?;
            let elem_size = msize.checked_div(elems).filter(|&s| s > 0)?;
            if self.composite(t).is_some() {
                return Some((t, (off - moff) % elem_size));
            }
        }
        None
    }

    /// The element type of `ty` (itself, resolved, if it is no array; multi-dimensional arrays
    /// linearised) and how many elements `ty` holds.
    fn elements(&self, ty: TypeId) -> Option<(TypeId, u64)> {
        let mut t = self.btf.resolve(ty).ok()?;
        let mut elems = 1u64;
        for _ in 0..MAX_WALK_DEPTH {
            match self.btf.get(t).map(|x| &x.kind) {
                Some(TypeKind::Array(a)) => {
                    elems = elems.saturating_mul(u64::from(a.nelems));
                    t = self.btf.resolve(a.elem).ok()?;
                }
                _ => break,
            }
        }
        Some((t, elems))
    }

    fn resolved(&self, id: TypeId) -> Option<&crate::elf::btf::Type> {
        self.btf.resolve(id).ok().and_then(|r| self.btf.get(r))
    }

    /// Size and members of struct or union `id`.
    fn composite(&self, id: TypeId) -> Option<(u64, &[Member])> {
        match &self.btf.get(id)?.kind {
            TypeKind::Struct(c) | TypeKind::Union(c) => Some((u64::from(c.size), &c.members)),
            _ => None,
        }
    }
}

enum Step {
    Done(ArgKind),
    /// Continue in the nested struct or union at this offset inside it.
    Into(TypeId, u64),
}

#[cfg(test)]
pub(crate) mod tests;
