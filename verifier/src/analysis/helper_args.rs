//! Helper argument contracts: each argument checked against its prototype's kind (maps, keys,
//! values, memory with its size, context, sockets, callbacks, ring buffer records, ...), with the
//! effects a helper has on the caller's stack (bytes it writes become initialised).

use super::state::{Loc, State};
use super::transfer::Env;
use super::value::{Ptr, Region, Value};
use crate::platform::helpers::{Access, Arg};
use crate::platform::kernel_btf::KernelTypes;
#[allow(clippy::too_many_arguments)]
pub(super) fn check_arg(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    name: &str,
    r: usize,
    arg: Arg,
    v: &Value,
    next: Option<&Value>,
    map: &mut Option<usize>,
    alloc_size: &mut Option<u64>,
    released: &mut Vec<u32>,
) {
    let bad = |env: &mut Env<'_>, what: &str| {
        env.fail(
            pc,
            "helper",
            format!("{name}: r{r} must be {what}, but it is {}", v.describe()),
            vec![],
        );
    };
    match arg {
        // Linux: "leaks addr into helper function" where pointers may not leak.
        Arg::Anything if matches!(v, Value::Ptr(_)) && !env.leaks_allowed() => {
            env.fail(
                pc,
                "leak",
                format!("{name}: r{r} would pass an address to the helper as a number"),
                vec![],
            );
        }
        Arg::Anything | Arg::FormatArg => {}
        Arg::MapPtr => match v {
            Value::Ptr(Ptr {
                region: Region::MapFd { map: m },
                nullable: false,
                ..
            }) => {
                if map.is_none() {
                    *map = Some(*m);
                }
            }
            _ => bad(env, "a map (from a map reference)"),
        },
        Arg::MapKey | Arg::MapValue | Arg::MapValueOut | Arg::MapValueOrNull => {
            let Some(m) = *map else {
                bad(env, "a pointer, after a map argument");
                return;
            };
            let info = &env.maps[m];
            let size = if arg == Arg::MapKey {
                info.key_size
            } else {
                info.value_size
            };
            if arg == Arg::MapValueOrNull
                && matches!(v, Value::Num(n) if n.is_constant() == Some(0))
            {
                return;
            }
            let access = if arg == Arg::MapValueOut {
                Access::Write
            } else {
                Access::Read
            };
            let what = if arg == Arg::MapKey {
                "map key"
            } else {
                "map value"
            };
            // A lookup with an out-of-range key just returns NULL; an update or delete of an
            // element that cannot exist is a bug.
            if arg == Arg::MapKey && name != "bpf_map_lookup_elem" {
                check_array_key(env, state, pc, name, r, v, m);
            }
            check_mem(
                env,
                state,
                pc,
                name,
                r,
                v,
                u64::from(size),
                u64::from(size),
                access,
                what,
            );
        }
        Arg::Mem { access, nullable } => {
            let size = match next {
                Some(Value::Num(n)) => (n.unsigned_range().0, n.unsigned_range().1),
                _ => (0, u64::MAX),
            };
            if nullable && matches!(v, Value::Num(n) if n.is_constant() == Some(0)) {
                if size.1 != 0 {
                    env.fail(
                        pc,
                        "helper",
                        format!("{name}: r{r} is NULL, so r{} must be 0", r + 1),
                        vec![],
                    );
                }
                return;
            }
            check_mem(env, state, pc, name, r, v, size.0, size.1, access, "buffer");
        }
        Arg::FixedMem { size, access } => {
            check_mem(
                env,
                state,
                pc,
                name,
                r,
                v,
                u64::from(size),
                u64::from(size),
                access,
                "buffer",
            );
        }
        Arg::Size { zero_ok } => match v {
            Value::Num(n) => {
                if !zero_ok && n.contains(0) {
                    env.fail(
                        pc,
                        "helper",
                        format!("{name}: size in r{r} may be 0: {n}"),
                        vec![],
                    );
                }
            }
            _ => bad(env, "a size (a number)"),
        },
        Arg::AllocSize => match v {
            Value::Num(n) => *alloc_size = n.is_constant().or(Some(n.unsigned_range().0)),
            _ => bad(env, "a size (a number)"),
        },
        Arg::Ctx { nullable } => match v {
            Value::Ptr(Ptr {
                region: Region::Ctx,
                off,
                nullable: false,
                ..
            }) if off.is_constant() == Some(0) => {}
            Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
            _ => bad(env, "the context pointer, unmodified"),
        },
        // Helpers trust these pointers (Linux checks their BTF type): only a pointer to the
        // start of an object of the right type will do, never an untyped kernel address.
        Arg::Socket { nullable } | Arg::BtfId { nullable, .. } => {
            let want = match arg {
                Arg::BtfId { name, .. } => Some(name),
                _ => None,
            };
            match v {
                Value::Ptr(
                    p @ Ptr {
                        region: Region::Kernel { btf_name },
                        nullable: n,
                        ..
                    },
                ) if (nullable || !n)
                    && kernel_object_ok(env.kernel.as_ref(), btf_name, want, p) => {}
                Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
                _ => {
                    let what = match want {
                        Some(name) if !name.is_empty() => {
                            format!(
                                "a pointer to the start of a `struct {name}`, checked against NULL"
                            )
                        }
                        _ => {
                            "a pointer to the start of a kernel socket object, checked against NULL"
                                .into()
                        }
                    };
                    bad(env, &what)
                }
            }
        }
        Arg::OwnedSocket | Arg::PercpuBtfId | Arg::Kptr => match v {
            Value::Ptr(
                p @ Ptr {
                    region: Region::Kernel { btf_name },
                    nullable: false,
                    ..
                },
            ) if kernel_object_ok(env.kernel.as_ref(), btf_name, Some(""), p) => {}
            _ => bad(env, "a typed kernel object pointer, checked against NULL"),
        },
        Arg::SpinLock | Arg::Timer => match v {
            Value::Ptr(Ptr {
                region: Region::MapValue { size, .. },
                nullable: false,
                off,
                ..
            }) => {
                let limit = u64::from(*size);
                if off.signed_range().0 < 0 || off.signed_range().1 as u64 + 4 > limit {
                    bad(env, "a pointer inside a map value");
                }
            }
            _ => bad(env, "a pointer into a map value"),
        },
        Arg::Callback => match v {
            Value::Ptr(Ptr {
                region: Region::Func { .. },
                ..
            }) => {
                if !env.callback_sites.contains(&pc) {
                    env.fail(
                        pc,
                        "helper",
                        format!("{name}: the callback must be loaded into r2 with `lddw` just before the call, so it can be verified"),
                        vec![],
                    );
                }
            }
            _ => bad(env, "a function reference"),
        },
        Arg::ConstStr => match v {
            Value::Ptr(Ptr {
                region: Region::MapValue {
                    read_only: true, ..
                },
                nullable: false,
                ..
            }) => {}
            _ => bad(env, "a pointer to a constant string in read-only data"),
        },
        Arg::RingbufRecord => match v {
            Value::Ptr(Ptr {
                region: Region::Mem { ringbuf: true, .. },
                nullable: false,
                null_id,
                off,
                ..
            }) => {
                if off.is_constant() != Some(0) {
                    bad(env, "the unmodified pointer bpf_ringbuf_reserve returned");
                }
                released.push(*null_id);
            }
            _ => bad(env, "a ring buffer record checked against NULL"),
        },
        Arg::Dynptr { access } => check_mem(env, state, pc, name, r, v, 16, 16, access, "dynptr"),
        Arg::Stack { nullable } => match v {
            Value::Ptr(Ptr {
                region: Region::Stack { .. },
                nullable: false,
                ..
            }) => {}
            Value::Num(n) if nullable && n.is_constant() == Some(0) => {}
            _ => bad(env, "a stack pointer"),
        },
    }
}

/// Map types whose keys are indices below `max_entries`.
fn is_array_map(map_type: u32) -> bool {
    matches!(map_type, 2 | 3 | 4 | 6 | 8 | 12 | 14 | 16 | 17)
}

/// A constant key of an array map must be a valid index: an out-of-range constant can never
/// name an element, so the call is a bug (Linux's own array maps reject it at run time).
fn check_array_key(
    env: &mut Env<'_>,
    state: &State,
    pc: usize,
    name: &str,
    r: usize,
    v: &Value,
    map: usize,
) {
    let info = &env.maps[map];
    if !is_array_map(info.map_type) || info.key_size != 4 {
        return;
    }
    let Value::Ptr(Ptr {
        region: Region::Stack { depth },
        off,
        ..
    }) = v
    else {
        return;
    };
    let (Some(off), Some(stack)) = (off.is_constant(), state.stack(usize::from(*depth))) else {
        return;
    };
    let Some(key) = stack.constant_at(off as usize, 4) else {
        return;
    };
    if key >= u64::from(info.max_entries) {
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: key {} in r{r} is out of range for array map `{}` ({} entries)",
                key as u32 as i32, info.name, info.max_entries
            ),
            vec![],
        );
    }
}

/// Memory passed to a helper: `[ptr, ptr + size)` in bounds for every possible size in
/// `[min, max]`; read memory initialised; written stack memory becomes initialised.
#[allow(clippy::too_many_arguments)]
fn check_mem(
    env: &mut Env<'_>,
    state: &mut State,
    pc: usize,
    name: &str,
    r: usize,
    v: &Value,
    min: u64,
    max: u64,
    access: Access,
    what: &str,
) {
    let Value::Ptr(p) = v else {
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: r{r} must point to a {what}, but it is {}",
                v.describe()
            ),
            vec![],
        );
        return;
    };
    if p.nullable {
        env.fail(
            pc,
            "null",
            format!("{name}: r{r} may be NULL; check it first"),
            vec![],
        );
    }
    let limit: Option<i128> = match p.region {
        Region::Stack { .. } => Some(512),
        Region::MapValue { size, .. } => Some(i128::from(size)),
        Region::Mem { size, .. } => Some(i128::from(size)),
        Region::Packet => None,
        Region::Ctx | Region::MapFd { .. } | Region::Func { .. } | Region::Kernel { .. } => {
            env.fail(pc, "helper", format!("{name}: r{r} must point to a {what} on the stack, in a map value or the packet, not to {}", p.region), vec![]);
            return;
        }
    };
    if access != Access::Read
        && let Region::MapValue {
            read_only: true, ..
        } = p.region
    {
        env.fail(
            pc,
            "helper",
            format!("{name} writes into a read-only map value"),
            vec![],
        );
    }
    let (lo, hi) = (
        i128::from(p.off.signed_range().0),
        i128::from(p.off.signed_range().1),
    );
    let in_bounds = match limit {
        Some(limit) => lo >= 0 && hi + i128::from(max) <= limit,
        None => {
            // Packet memory: the same proof as a load of `max` bytes.
            let var = super::state::var_of(Loc::Reg(r as u8));
            let upper = state.zone.diff_bound(var, super::state::V_PACKET_SIZE);
            lo >= 0 && upper.is_some_and(|d| i128::from(d) + i128::from(max) <= 0)
        }
    };
    if !in_bounds {
        let size = if min == max {
            format!("{max}")
        } else {
            format!(
                "up to {}",
                if max == u64::MAX {
                    "unbounded".to_string()
                } else {
                    max.to_string()
                }
            )
        };
        env.fail(
            pc,
            "helper",
            format!(
                "{name}: the {what} in r{r} must hold {size} bytes, but that may exceed its {}",
                p.region
            ),
            vec![format!("r{r} = {}", v.describe())],
        );
        return;
    }
    if let Region::Stack { depth } = p.region
        && let Some(stack) = state.stack_mut(usize::from(depth))
    {
        let start = lo as usize;
        let end = (hi + i128::from(max)).clamp(0, 512) as usize;
        match access {
            Access::Read | Access::ReadWrite => {
                let need_end = (hi + i128::from(min)) as usize;
                if let Some(b) = stack.first_uninit(start, need_end.saturating_sub(start))
                    && !env.leaks_allowed()
                {
                    env.fail(
                        pc,
                        "uninit",
                        format!(
                            "{name} reads uninitialised stack byte r10{:+} of the {what} in r{r}",
                            b as i64 - 512
                        ),
                        vec![],
                    );
                }
                if let Some((slot, _)) = stack
                    .slots()
                    .find(|(s, v)| *s * 8 < end && *s * 8 + 8 > start && matches!(v, Value::Ptr(_)))
                    && !env.leaks_allowed()
                    && access != Access::Write
                {
                    env.fail(
                        pc,
                        "leak",
                        format!(
                            "{name} reads the pointer spilled at r10{:+}",
                            slot as i64 * 8 - 512
                        ),
                        vec![],
                    );
                }
                if access == Access::ReadWrite {
                    stack.write_bytes(start, end - start);
                }
            }
            Access::Write => {
                // Bytes the helper may write lose their contents; only bytes written for every
                // possible offset and size become initialised.
                stack.clobber(start, end.saturating_sub(start));
                let sure_end = (lo + i128::from(min)).clamp(0, 512) as usize;
                let sure_start = hi as usize;
                if sure_start < sure_end {
                    stack.mark_init(sure_start, sure_end - sure_start);
                }
            }
        }
    }
}

/// Kernel pointers whose type the analysis does not know: traced functions' arguments, fields
/// read through them, joins of different types, `__ksym` variables.
pub(super) const UNTYPED_KERNEL: &[&str] = &[
    "traced function argument",
    "kernel field",
    "kernel object",
    "kernel variable",
];

/// Socket types a `struct sock_common *` argument accepts (Linux's
/// `ARG_PTR_TO_BTF_ID_SOCK_COMMON`: every type that starts with a `sock_common`).
const SOCK_FAMILY: &[&str] = &[
    crate::platform::context::BPF_SOCK,
    "sock",
    "sock_common",
    "tcp_sock",
    "udp_sock",
    "tcp6_sock",
    "udp6_sock",
    "tcp_timewait_sock",
    "tcp_request_sock",
    "request_sock",
    "inet_sock",
    "mptcp_sock",
    "unix_sock",
];

/// A kernel pointer a helper may be given where it expects an object of type `want` (`None`:
/// any socket; `Some("")`: any typed object): a known type that matches, at offset 0; or, with
/// the kernel's BTF, a `want` nested inside the object at the pointer's constant offset.
fn kernel_object_ok(
    kernel: Option<&KernelTypes<'_>>,
    btf_name: &'static str,
    want: Option<&str>,
    p: &Ptr,
) -> bool {
    if UNTYPED_KERNEL.contains(&btf_name) {
        return false;
    }
    let matches = match want {
        None => SOCK_FAMILY.contains(&btf_name),
        Some("") => true,
        Some(name) => btf_name == name || (name == "sock" && SOCK_FAMILY.contains(&btf_name)),
    };
    match p.off.is_constant() {
        Some(0) => matches,
        Some(off) => match (kernel, want) {
            (Some(k), Some(name)) if !name.is_empty() => k.nested_at(btf_name, off, name),
            _ => false,
        },
        None => false,
    }
}
