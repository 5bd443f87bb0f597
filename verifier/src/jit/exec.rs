//! Running a loaded image: the [`Env`] it runs against, the helper trampolines, and
//! [`execute`].
//!
//! **Helpers.** Every helper call saves r1-r5, stores its pc and helper id in `env`, and calls
//! `env.helpers[slot]` (or `env.call_by_id` for `callx`, whose id is only known at run time) with
//! r1-r5 in the argument registers and `env` in r9. The trampolines here turn that into a call of
//! [`Host::call`] on the host object `env.host` points to; a host may also put its own native
//! functions into the table. After the call the code checks `env.status`: anything but
//! [`STATUS_RUNNING`] ends the program at once (the stack is unwound through `env.exit_rsp` to
//! the entry, or to the callback thunk running: see "Callbacks").
//!
//! **Tail calls** go through the runtime like any helper: `bpf_tail_call` returns
//! [`HelperReturn::TailCall`], the trampoline sets [`STATUS_TAIL_CALL`] with the target in
//! `env.value`, the program ends, and the caller of [`execute`] ([`crate::runtime::native::run`])
//! runs the target image on the same context. So tail calls need no code patching and cannot grow
//! the native stack.
//!
//! **Callbacks** (`bpf_loop`, `bpf_for_each_map_elem`): `lddw src=4` yields the address of the
//! function's entry thunk (RIP-relative, so the image stays position-independent). A host
//! answers such a helper with [`HelperReturn::Callback`]; the trampoline checks that the address
//! is one of the image's thunks, calls it (an `extern "sysv64"` function: r1-r5, then `env`) with
//! `env.frame` = r10 of the frame that called the helper, and hands its r0 to [`Host::resume`],
//! until the host returns a value. The thunk sets up a new BPF frame below that one (the frame
//! limit applies, as for local calls) and points `env.exit_rsp` at itself while it runs, so a
//! helper error, exit or tail call inside the callback unwinds to the thunk, never across the
//! Rust frames of the trampoline; the trampoline then sees the status and returns at once, and
//! the helper stub unwinds the rest. No borrow of the host is held while the callback runs (it
//! calls helpers itself).

use super::load::Loaded;
use crate::interp::{HelperError, HelperReturn, Trap};
use std::cell::Cell;
use std::ffi::c_void;

/// A helper as the code calls it: r1-r5, then `env`.
pub type HelperFn = unsafe extern "sysv64" fn(u64, u64, u64, u64, u64, *const Env) -> u64;
/// Loads `size` bytes at a kernel address (`PROBE_MEM` semantics: 0 where nothing is mapped).
pub type ProbeFn = unsafe extern "sysv64" fn(u64, u64, *const Env) -> u64;
/// A legacy packet load (`ld_abs`/`ld_ind`) at a signed offset; sets [`STATUS_EXIT`] with 0
/// when out of bounds (Linux's semantics).
pub type LegacyFn = unsafe extern "sysv64" fn(u64, u64, *const Env) -> u64;

/// The program is running (or ended normally).
pub const STATUS_RUNNING: u64 = 0;
/// A helper ended the program with r0 = `env.value`.
pub const STATUS_EXIT: u64 = 1;
/// A successful tail call to program `env.value`.
pub const STATUS_TAIL_CALL: u64 = 2;
/// A helper failed (the host keeps the error).
pub const STATUS_HELPER_ERROR: u64 = 3;
/// A local call would exceed 8 frames (at `env.pc`).
pub const STATUS_CALL_DEPTH: u64 = 4;
/// Execution ran past the last instruction (at `env.pc`).
pub const STATUS_FELL_OFF: u64 = 5;

/// Frames of 512 bytes the code may use (Linux's limit, the interpreter's default).
pub const MAX_FRAMES: usize = 8;

/// What the code runs against. `#[repr(C)]`: the code reads fields at fixed offsets (the
/// `OFF_*` constants, checked at compile time). Fields the code writes are `Cell`s.
///
/// | offset | field | |
/// |---|---|---|
/// | 0 | `helpers` | `*const HelperFn`, one per helper slot of the image |
/// | 8 | `maps` | `*const u64`: what `lddw` of map slot i yields (a map handle) |
/// | 16 | `map_values` | `*const u64`: address of value 0 of map slot i (array maps) |
/// | 24 | `ctx_values` | `*const Cell<u64>`: current value of ctx pointer field i |
/// | 32 | `ctx_base` | host address of the context |
/// | 40 | `frame_top` | r10 of the entry frame (one past the top of the stack buffer) |
/// | 48 | `stack_limit` | lowest r10 a local call may set (the last frame's of `image.stack_size`) |
/// | 56 | `args` | r2-r5 at entry (r1 is the entry's `ctx` argument) |
/// | 88 | `call_by_id` | the trampoline for `callx` (id in `helper_id`) |
/// | 96 | `probe_load` | kernel-address loads of BTF-argument program types |
/// | 104 | `legacy_load` | `ld_abs` / `ld_ind` |
/// | 112 | `host` | opaque: the host's state, for the trampolines |
/// | 120 | `status` | `STATUS_*`, written by trampolines and trap stubs |
/// | 128 | `value` | exit value or tail-call target |
/// | 136 | `pc` | pc of the current helper call or trap |
/// | 144 | `helper_id` | id of the current helper call |
/// | 152 | `exit_rsp` | native stack pointer to unwind to when the program ends early (`ret` from there leaves the outermost BPF function of the entry or of a callback thunk) |
/// | 160 | `frame` | r10 of the frame of the current helper call (images with callbacks only) |
#[repr(C)]
pub struct Env {
    pub helpers: *const HelperFn,
    pub maps: *const u64,
    pub map_values: *const u64,
    pub ctx_values: *const Cell<u64>,
    pub ctx_base: u64,
    pub frame_top: u64,
    pub stack_limit: u64,
    pub args: [u64; 4],
    pub call_by_id: HelperFn,
    pub probe_load: ProbeFn,
    pub legacy_load: LegacyFn,
    pub host: *mut c_void,
    pub status: Cell<u64>,
    pub value: Cell<u64>,
    pub pc: Cell<u64>,
    pub helper_id: Cell<u64>,
    pub exit_rsp: Cell<u64>,
    pub frame: Cell<u64>,
}

pub(crate) const OFF_HELPERS: i32 = 0;
pub(crate) const OFF_MAPS: i32 = 8;
pub(crate) const OFF_MAP_VALUES: i32 = 16;
pub(crate) const OFF_CTX_VALUES: i32 = 24;
pub(crate) const OFF_CTX_BASE: i32 = 32;
pub(crate) const OFF_FRAME_TOP: i32 = 40;
pub(crate) const OFF_STACK_LIMIT: i32 = 48;
pub(crate) const OFF_ARGS: i32 = 56;
pub(crate) const OFF_CALL_BY_ID: i32 = 88;
pub(crate) const OFF_PROBE_LOAD: i32 = 96;
pub(crate) const OFF_LEGACY_LOAD: i32 = 104;
pub(crate) const OFF_STATUS: i32 = 120;
pub(crate) const OFF_PC: i32 = 136;
pub(crate) const OFF_HELPER_ID: i32 = 144;
pub(crate) const OFF_EXIT_RSP: i32 = 152;
pub(crate) const OFF_FRAME: i32 = 160;

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Env, helpers) == OFF_HELPERS as usize);
    assert!(offset_of!(Env, maps) == OFF_MAPS as usize);
    assert!(offset_of!(Env, map_values) == OFF_MAP_VALUES as usize);
    assert!(offset_of!(Env, ctx_values) == OFF_CTX_VALUES as usize);
    assert!(offset_of!(Env, ctx_base) == OFF_CTX_BASE as usize);
    assert!(offset_of!(Env, frame_top) == OFF_FRAME_TOP as usize);
    assert!(offset_of!(Env, stack_limit) == OFF_STACK_LIMIT as usize);
    assert!(offset_of!(Env, args) == OFF_ARGS as usize);
    assert!(offset_of!(Env, call_by_id) == OFF_CALL_BY_ID as usize);
    assert!(offset_of!(Env, probe_load) == OFF_PROBE_LOAD as usize);
    assert!(offset_of!(Env, legacy_load) == OFF_LEGACY_LOAD as usize);
    assert!(offset_of!(Env, host) == 112);
    assert!(offset_of!(Env, status) == OFF_STATUS as usize);
    assert!(offset_of!(Env, value) == 128);
    assert!(offset_of!(Env, pc) == OFF_PC as usize);
    assert!(offset_of!(Env, helper_id) == OFF_HELPER_ID as usize);
    assert!(offset_of!(Env, exit_rsp) == OFF_EXIT_RSP as usize);
    assert!(offset_of!(Env, frame) == OFF_FRAME as usize);
};

/// The outside world of a JIT-compiled program: what its helpers do.
pub trait Host {
    /// Calls helper `id` (as `i64`: `callx` may pass any register value) with r1-r5.
    fn call(&mut self, id: i64, args: [u64; 5]) -> Result<HelperReturn, HelperError>;

    /// The callback a helper asked for ([`HelperReturn::Callback`]) returned `r0`: what next
    /// (the innermost helper continues; see [`crate::interp::Helpers::resume`]). The default has
    /// no callback helpers.
    fn resume(&mut self, _r0: u64) -> Result<HelperReturn, HelperError> {
        Err(HelperError::Failed(
            "a callback returned, but no helper is waiting for it".into(),
        ))
    }

    /// Called after every helper: the host refreshes the values of the context pointer fields
    /// (a helper may have moved the packet), by slot of the image's `ctx_fields`.
    fn refresh_ctx(&mut self, _values: &[Cell<u64>]) {}

    /// A load of `size` bytes at kernel address `addr` (BTF-argument program types). The
    /// default reads nothing: 0.
    fn probe_load(&mut self, _addr: u64, _size: usize) -> u64 {
        0
    }

    /// A legacy packet load of `size` bytes at `offset` from the packet start, big-endian, or
    /// `None` when out of bounds (the program then ends with r0 = 0).
    fn legacy_load(&mut self, _offset: i64, _size: usize) -> Option<u64> {
        None
    }
}

/// What the trampolines reach through `env.host`.
struct HostCell<'h> {
    host: &'h mut dyn Host,
    ctx_values: &'h [Cell<u64>],
    /// Host addresses of the image's callback thunks.
    thunks: &'h [u64],
    error: Option<HelperError>,
}

/// Recovers the host from `env`.
///
/// # Safety
/// `env` must be the `Env` [`execute`] built, during that call, and no other reference from
/// `host_of` may be used after this one is made.
unsafe fn host_of<'a>(env: *const Env) -> (&'a Env, &'a mut HostCell<'a>) {
    // SAFETY: `execute` passes a valid `Env` whose `host` points to a `HostCell` that lives for
    // the whole run; trampolines nest only through callbacks, and `call_trampoline` makes a new
    // reference after each callback instead of keeping one across it, so the `&mut` is unique.
    unsafe {
        let env = &*env;
        (env, &mut *(env.host as *mut HostCell<'a>))
    }
}

/// The trampoline of every helper slot and of `callx`: calls [`Host::call`] for
/// `env.helper_id`, running the callbacks it asks for.
unsafe extern "sysv64" fn call_trampoline(
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    env_ptr: *const Env,
) -> u64 {
    // SAFETY: only the code of a run of `execute` calls this, with that run's env.
    let (env, cell) = unsafe { host_of(env_ptr) };
    let id = env.helper_id.get() as i64;
    let mut result = guarded(|| cell.host.call(id, [a1, a2, a3, a4, a5]));
    // The helper call's own pc, id and frame, which the callbacks' helper calls overwrite.
    let (pc, frame) = (env.pc.get(), env.frame.get());
    while let Ok(HelperReturn::Callback { func, args }) = result {
        // SAFETY: as above; `cell` is not used again before `host_of` makes a new reference.
        let (env, cell) = unsafe { host_of(env_ptr) };
        if !cell.thunks.contains(&func) {
            result = Err(HelperError::Failed(format!(
                "the callback {func:#x} is not the address of a function"
            )));
            break;
        }
        env.frame.set(frame);
        // SAFETY: `func` is one of the image's callback thunks (checked just above), which take
        // r1-r5 and env and return r0; the image is trusted like the entry (see `execute`).
        let r0 = unsafe {
            let thunk: HelperFn = std::mem::transmute(func as usize);
            thunk(args[0], args[1], args[2], args[3], args[4], env_ptr)
        };
        // SAFETY: as above, after the callback (whose helper calls made their own references).
        let (env, cell) = unsafe { host_of(env_ptr) };
        if env.status.get() != STATUS_RUNNING {
            // The callback ended the program (exit, tail call, error, frame limit): unwind.
            return 0;
        }
        env.pc.set(pc);
        env.helper_id.set(id as u64);
        result = guarded(|| cell.host.resume(r0));
    }
    // SAFETY: as above.
    let (env, cell) = unsafe { host_of(env_ptr) };
    let r0 = match result {
        // Not reached: the loop above runs every callback asked for.
        Ok(HelperReturn::Callback { .. }) => {
            cell.error = Some(HelperError::Failed("a callback was left unrun".into()));
            env.status.set(STATUS_HELPER_ERROR);
            0
        }
        Ok(HelperReturn::Value(v)) => v,
        Ok(HelperReturn::Exit(v)) => {
            env.status.set(STATUS_EXIT);
            env.value.set(v);
            v
        }
        Ok(HelperReturn::TailCall(t)) => {
            env.status.set(STATUS_TAIL_CALL);
            env.value.set(t);
            0
        }
        Err(e) => {
            cell.error = Some(e);
            env.status.set(STATUS_HELPER_ERROR);
            0
        }
    };
    cell.host.refresh_ctx(cell.ctx_values);
    r0
}

/// Runs a host call, turning a panic into a helper error (it must not unwind into native code).
fn guarded(
    f: impl FnOnce() -> Result<HelperReturn, HelperError>,
) -> Result<HelperReturn, HelperError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(HelperError::Failed("the helper panicked".into())))
}

unsafe extern "sysv64" fn probe_trampoline(addr: u64, size: u64, env: *const Env) -> u64 {
    // SAFETY: as in `call_trampoline`.
    let (_, cell) = unsafe { host_of(env) };
    cell.host.probe_load(addr, size as usize)
}

unsafe extern "sysv64" fn legacy_trampoline(offset: u64, size: u64, env: *const Env) -> u64 {
    // SAFETY: as in `call_trampoline`.
    let (env, cell) = unsafe { host_of(env) };
    match cell.host.legacy_load(offset as i64, size as usize) {
        Some(v) => v,
        None => {
            env.status.set(STATUS_EXIT);
            env.value.set(0);
            0
        }
    }
}

/// What one image binds: handles and addresses per slot, filled by the host.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// What `lddw` of each map slot yields.
    pub maps: Vec<u64>,
    /// Address of value 0 of each map slot (0 where the image takes none).
    pub map_values: Vec<u64>,
}

/// How a run of one image ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exit(u64),
    TailCall(u64),
}

/// Runs `image` once: r1 = `ctx`, r2-r5 = `args`, r10 = `frame_top`, frames of 512 bytes down to
/// `frame_top - image.stack_size` (one frame for a program without local calls, up to
/// [`MAX_FRAMES`]; a local call past them is [`Trap::CallDepth`]).
///
/// # Safety
/// The image must have been compiled by [`super::compile`] from a program the verifier accepted,
/// for the program type whose context `ctx` is, with `bindings` and `host` giving what the
/// verifier assumed (real maps, a real context of `image.ctx_size` bytes); and
/// `frame_top - image.stack_size .. frame_top` must be writable memory that nothing else uses
/// during the run. Native code does what the program says, unchecked.
pub unsafe fn execute(
    loaded: &Loaded,
    ctx: u64,
    args: [u64; 4],
    frame_top: u64,
    bindings: &Bindings,
    ctx_values: &[Cell<u64>],
    host: &mut dyn Host,
) -> Result<Ending, Trap> {
    let image = loaded.image();
    let setup = |what: String| Trap::Unsupported { pc: 0, what };
    if bindings.maps.len() < image.map_slots.len()
        || bindings.map_values.len() < image.map_slots.len()
        || ctx_values.len() < image.ctx_fields.len()
    {
        return Err(setup(
            "the image's map or ctx slots are not all bound".into(),
        ));
    }
    let frames = (image.stack_size as usize / 512).min(MAX_FRAMES);
    if frames == 0 {
        return Err(setup(format!(
            "the image asks for {} bytes of stack, less than one frame",
            image.stack_size
        )));
    }
    let helpers: Vec<HelperFn> = vec![call_trampoline; image.helpers.len().max(1)];
    let mut cell = HostCell {
        host,
        ctx_values,
        thunks: loaded.thunks(),
        error: None,
    };
    cell.host.refresh_ctx(ctx_values);
    let env = Env {
        helpers: helpers.as_ptr(),
        maps: bindings.maps.as_ptr(),
        map_values: bindings.map_values.as_ptr(),
        ctx_values: ctx_values.as_ptr(),
        ctx_base: ctx,
        frame_top,
        stack_limit: frame_top.wrapping_sub(((frames - 1) * 512) as u64),
        args,
        call_by_id: call_trampoline,
        probe_load: probe_trampoline,
        legacy_load: legacy_trampoline,
        host: &mut cell as *mut HostCell<'_> as *mut c_void,
        status: Cell::new(STATUS_RUNNING),
        value: Cell::new(0),
        pc: Cell::new(0),
        helper_id: Cell::new(0),
        exit_rsp: Cell::new(0),
        frame: Cell::new(frame_top),
    };
    // SAFETY: the caller vouches for the image and its memory (see above); `env` and everything
    // it points to (`helpers`, `bindings`, `ctx_values`, `cell`) outlive the call.
    let r0 = unsafe { loaded.call(ctx, &env) };
    let pc = env.pc.get() as usize;
    match env.status.get() {
        STATUS_RUNNING => Ok(Ending::Exit(r0)),
        STATUS_EXIT => Ok(Ending::Exit(env.value.get())),
        STATUS_TAIL_CALL => Ok(Ending::TailCall(env.value.get())),
        STATUS_CALL_DEPTH => Err(Trap::CallDepth {
            pc,
            max: MAX_FRAMES,
        }),
        STATUS_FELL_OFF => Err(Trap::FellOffEnd { pc }),
        _ => Err(Trap::Helper {
            pc,
            id: env.helper_id.get() as i64,
            error: cell
                .error
                .take()
                .unwrap_or_else(|| HelperError::Failed("unknown status".into())),
        }),
    }
}
