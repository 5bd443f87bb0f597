//! Short names the family tables are written in, so each prototype reads as one line close to
//! Linux's `bpf_func_proto`: `helper(id, name, &[args], ret)` plus modifiers (`.gpl()`,
//! `.only(types)`, ...). Defaults: callable from every program type, not GPL-only, does not touch
//! the packet, does not leak its arguments.

use super::{Access, Arg, Family, HelperProto, Ret};
use crate::platform::ProgramType as T;

pub(super) const ANY: Arg = Arg::Anything;
pub(super) const MAP: Arg = Arg::MapPtr;
pub(super) const KEY: Arg = Arg::MapKey;
pub(super) const VALUE: Arg = Arg::MapValue;
pub(super) const CTX: Arg = Arg::Ctx { nullable: false };
pub(super) const SOCK: Arg = Arg::Socket { nullable: false };
/// `ARG_PTR_TO_MEM | MEM_RDONLY`.
pub(super) const MEM_R: Arg = Arg::Mem {
    access: Access::Read,
    nullable: false,
};
/// `ARG_PTR_TO_MEM | MEM_RDONLY | PTR_MAYBE_NULL`.
pub(super) const MEM_R_OR_NULL: Arg = Arg::Mem {
    access: Access::Read,
    nullable: true,
};
/// `ARG_PTR_TO_UNINIT_MEM`.
pub(super) const MEM_W: Arg = Arg::Mem {
    access: Access::Write,
    nullable: false,
};
/// Plain `ARG_PTR_TO_MEM`: read, and possibly written, by the helper.
pub(super) const MEM_RW: Arg = Arg::Mem {
    access: Access::ReadWrite,
    nullable: false,
};
/// `ARG_PTR_TO_MEM_OR_NULL`.
pub(super) const MEM_RW_OR_NULL: Arg = Arg::Mem {
    access: Access::ReadWrite,
    nullable: true,
};
/// `ARG_CONST_SIZE`.
pub(super) const SIZE: Arg = Arg::Size { zero_ok: false };
/// `ARG_CONST_SIZE_OR_ZERO`.
pub(super) const SIZE0: Arg = Arg::Size { zero_ok: true };
/// `ARG_PTR_TO_STACK_OR_NULL`: the callback context of `loop`, `for_each_map_elem`, ...
pub(super) const STACK_OR_NULL: Arg = Arg::Stack { nullable: true };
/// An 8-byte result slot the helper fills (`ARG_PTR_TO_LONG`, `FIXED_SIZE_MEM | MEM_UNINIT`).
pub(super) const OUT_U64: Arg = Arg::FixedMem {
    size: 8,
    access: Access::Write,
};

pub(super) const fn btf(name: &'static str) -> Arg {
    Arg::BtfId {
        name,
        nullable: false,
    }
}

pub(super) const fn btf_or_null(name: &'static str) -> Arg {
    Arg::BtfId {
        name,
        nullable: true,
    }
}

pub(super) const INT: Ret = Ret::Integer;
pub(super) const VOID: Ret = Ret::Void;

pub(super) const fn ret_btf_or_null(name: &'static str) -> Ret {
    Ret::BtfId {
        name,
        nullable: true,
    }
}

/// A prototype with the defaults (see the module doc).
pub(super) const fn helper(
    id: i32,
    name: &'static str,
    args: &'static [Arg],
    ret: Ret,
) -> HelperProto {
    HelperProto {
        id,
        name,
        ret,
        args,
        families: &[Family::Any],
        types: &[],
        changes_packet_data: false,
        gpl_only: false,
        leaks_args: false,
    }
}

impl HelperProto {
    pub(super) const fn gpl(self) -> HelperProto {
        HelperProto {
            gpl_only: true,
            ..self
        }
    }

    pub(super) const fn changes_packet(self) -> HelperProto {
        HelperProto {
            changes_packet_data: true,
            ..self
        }
    }

    pub(super) const fn leaks(self) -> HelperProto {
        HelperProto {
            leaks_args: true,
            ..self
        }
    }

    /// Callable from these families (instead of every type).
    pub(super) const fn families(self, families: &'static [Family]) -> HelperProto {
        HelperProto { families, ..self }
    }

    /// Callable from these families and these extra types.
    pub(super) const fn families_and(
        self,
        families: &'static [Family],
        types: &'static [T],
    ) -> HelperProto {
        HelperProto {
            families,
            types,
            ..self
        }
    }

    /// Callable from exactly these program types.
    pub(super) const fn only(self, types: &'static [T]) -> HelperProto {
        HelperProto {
            families: &[Family::Listed],
            types,
            ..self
        }
    }
}

/// tc: `sched_cls` and `sched_act`.
pub(super) const TC: &[T] = &[T::SchedCls, T::SchedAct];
/// tc and the lwt hook that may rewrite and redirect (`lwt_xmit_func_proto`).
pub(super) const TC_LWT_XMIT: &[T] = &[T::SchedCls, T::SchedAct, T::LwtXmit];
/// tc and every lwt hook (the helpers of `lwt_out_func_proto`, which the others extend).
pub(super) const TC_LWT: &[T] = &[
    T::SchedCls,
    T::SchedAct,
    T::LwtIn,
    T::LwtOut,
    T::LwtXmit,
    T::LwtSeg6local,
];
/// tc and XDP.
pub(super) const TC_XDP: &[T] = &[T::SchedCls, T::SchedAct, T::Xdp];
/// BTF-typed tracing programs (Linux's `tracing_prog_func_proto`, which lsm reuses).
pub(super) const BTF_TRACING: &[T] = &[T::Tracing, T::Lsm];
/// Programs that may look up sockets by tuple (`sk_lookup_tcp`, `skc_lookup_tcp`, ...).
pub(super) const SOCKET_LOOKUP: &[T] = &[
    T::CgroupSkb,
    T::SchedCls,
    T::SchedAct,
    T::Xdp,
    T::SkSkb,
    T::CgroupSockAddr,
];
/// Programs attached to a cgroup that have cgroup storage (`get_local_storage`).
pub(super) const CGROUP_STORAGE: &[T] = &[
    T::CgroupSkb,
    T::CgroupSock,
    T::CgroupSockAddr,
    T::SockOps,
    T::CgroupDevice,
    T::CgroupSysctl,
    T::CgroupSockopt,
    T::Lsm,
];
/// Programs whose return value reaches a syscall (`get_retval`, `set_retval`).
pub(super) const CGROUP_RETVAL: &[T] = &[
    T::CgroupSock,
    T::CgroupSockAddr,
    T::CgroupDevice,
    T::CgroupSysctl,
    T::CgroupSockopt,
    T::Lsm,
];
/// Programs that run in process context with a current task besides the tracing ones.
pub(super) const PROCESS_CONTEXT: &[T] = &[
    T::CgroupSock,
    T::CgroupSockAddr,
    T::SkMsg,
    T::CgroupDevice,
    T::CgroupSysctl,
    T::CgroupSockopt,
];
/// Programs with socket-local storage (`sk_storage_get` / `sk_storage_delete` with a socket).
pub(super) const SK_STORAGE: &[T] = &[
    T::CgroupSkb,
    T::SchedCls,
    T::SchedAct,
    T::CgroupSockAddr,
    T::SockOps,
    T::SkMsg,
    T::CgroupSockopt,
    T::Tracing,
    T::Lsm,
];
