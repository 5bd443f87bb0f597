//! Helpers that take a callback: `bpf_loop` and `bpf_for_each_map_elem` run it, in place, any
//! number of times; `timer_set_callback`, `find_vma` and `user_ringbuf_drain` never do here.
//!
//! The runtime does not call program code itself: it answers [`HelperReturn::Callback`] (run
//! this function with these arguments) and the engine runs the function the way it runs its own
//! calls, then hands the callback's r0 to [`Runtime::resume`], which answers again. So the same
//! code serves the interpreter (a callback frame) and the JIT (an entry thunk called from the
//! helper trampoline), and no borrow of the runtime is held while the program runs. Calls in
//! progress live in [`Run`] (innermost last: callbacks may call `bpf_loop` again).
//!
//! Semantics are Linux's, as the verifier assumed them (`analysis::calls::enter_callback`):
//! - `bpf_loop(nr, fn, ctx, flags)`: flags ≠ 0 → -EINVAL, nr > 2^23 → -E2BIG; else
//!   `fn(i, ctx)` for i = 0.. until it returns non-zero or nr calls were made; returns the
//!   number of calls.
//! - `bpf_for_each_map_elem(map, fn, ctx, flags)`: flags ≠ 0 → -EINVAL; `fn(map, &key, &value,
//!   ctx)` for each element of an array or hash map (see [`super::Map::element_keys`] for the
//!   order; elements deleted meanwhile are skipped) until it returns non-zero; returns the number
//!   of calls. The key is a read-only copy, the value the element's own.
//! - `timer_set_callback(timer, fn)`: recorded, never fires (user space has no timers); 0.
//! - `find_vma(task, addr, fn, ctx, flags)`: no vma is ever found: -ENOENT (flags ≠ 0: -EINVAL).
//! - `user_ringbuf_drain(map, fn, ctx, flags)`: nothing to drain: 0 (unknown flags: -EINVAL).

use super::maps::ElementKeys;
use super::{AddressSpace, Run, Runtime};
use crate::interp::{HelperError, HelperReturn, RegionKind, SharedBytes};

pub const FOR_EACH_MAP_ELEM: i32 = 164;
pub const TIMER_SET_CALLBACK: i32 = 170;
pub const FIND_VMA: i32 = 180;
pub const LOOP: i32 = 181;
pub const USER_RINGBUF_DRAIN: i32 = 209;
/// Linux's `BPF_MAX_LOOPS`.
pub const MAX_LOOPS: u32 = 1 << 23;

const EINVAL: i64 = 22;
const ENOENT: i64 = 2;
const E2BIG: i64 = 7;
/// `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP`, the flags `user_ringbuf_drain` knows.
const RB_WAKEUP_FLAGS: u64 = 3;

/// Whether helper `id` takes a callback (and so is handled here).
pub fn takes_callback(id: i32) -> bool {
    matches!(
        id,
        FOR_EACH_MAP_ELEM | TIMER_SET_CALLBACK | FIND_VMA | LOOP | USER_RINGBUF_DRAIN
    )
}

/// A helper running its callback: what it calls, and what is left to call it for.
#[derive(Debug)]
pub struct CallbackLoop {
    func: u64,
    ctx: u64,
    /// Calls made so far (the helper's result).
    calls: u64,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// `bpf_loop`: this many calls in all, r1 = the index.
    Count(u64),
    /// `bpf_for_each_map_elem` over map `map` (`handle`: its address): the elements still to
    /// visit from `next`, and the read-only key buffer (at `key_addr`) each call reads.
    Elements {
        map: usize,
        handle: u64,
        keys: ElementKeys,
        next: usize,
        key: SharedBytes,
        key_addr: u64,
    },
}

fn value(v: i64) -> Result<HelperReturn, HelperError> {
    Ok(HelperReturn::Value(v as u64))
}

impl Runtime {
    /// Calls helper `id`, one of those [`takes_callback`] names.
    pub(super) fn callback_helper(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        match id {
            LOOP => {
                if a[3] != 0 {
                    return value(-EINVAL);
                }
                // Linux takes nr_loops as a u32.
                let n = a[0] as u32;
                if n > MAX_LOOPS {
                    return value(-E2BIG);
                }
                let source = Source::Count(u64::from(n));
                self.next_call(run, space, CallbackLoop::new(a[1], a[2], source))
            }
            FOR_EACH_MAP_ELEM => {
                let map = self.map_arg(run, id, a[0])?;
                if a[3] != 0 {
                    return value(-EINVAL);
                }
                let Some(keys) = self.maps[map].element_keys() else {
                    // Linux refuses such programs at load time.
                    return value(-EINVAL);
                };
                let key = SharedBytes::zeroed(self.maps[map].info.key_size as usize);
                let kind = RegionKind::HelperBuffer {
                    helper: "for_each_map_elem (the key)".into(),
                };
                let key_addr = space.expose(&key, kind, false)?;
                let source = Source::Elements {
                    map,
                    handle: a[0],
                    keys,
                    next: 0,
                    key,
                    key_addr,
                };
                self.next_call(run, space, CallbackLoop::new(a[1], a[2], source))
            }
            TIMER_SET_CALLBACK => {
                // struct bpf_timer is 16 bytes inside a map value.
                space.check(a[0], 16, true)?;
                run.timer_callbacks.insert(a[0], a[1]);
                value(0)
            }
            FIND_VMA => value(if a[4] != 0 { -EINVAL } else { -ENOENT }),
            USER_RINGBUF_DRAIN => {
                self.map_arg(run, id, a[0])?;
                value(if a[3] & !RB_WAKEUP_FLAGS != 0 {
                    -EINVAL
                } else {
                    0
                })
            }
            _ => Err(HelperError::Failed(format!(
                "helper {id} does not take a callback"
            ))),
        }
    }

    /// The innermost callback of `run` returned `r0`: the next call, or the helper's result.
    pub fn resume(
        &mut self,
        run: &mut Run,
        r0: u64,
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        let l = run.callbacks.pop().ok_or_else(|| {
            HelperError::Failed("a callback returned, but no helper is waiting for it".into())
        })?;
        if r0 != 0 {
            // 1: stop (the verifier allows only 0 and 1; Linux stops on anything non-zero).
            return Ok(finish(l, space));
        }
        self.next_call(run, space, l)
    }

    /// Asks the engine for the next call of `l`'s callback, or ends the helper.
    fn next_call(
        &mut self,
        run: &mut Run,
        space: &mut dyn AddressSpace,
        mut l: CallbackLoop,
    ) -> Result<HelperReturn, HelperError> {
        let Some(args) = self.next_args(&mut l, space)? else {
            return Ok(finish(l, space));
        };
        l.calls += 1;
        let func = l.func;
        run.callbacks.push(l);
        Ok(HelperReturn::Callback { func, args })
    }

    /// r1-r5 of the next call, or `None` when there is nothing left to visit.
    fn next_args(
        &mut self,
        l: &mut CallbackLoop,
        space: &mut dyn AddressSpace,
    ) -> Result<Option<[u64; 5]>, HelperError> {
        match &mut l.source {
            Source::Count(n) => Ok((l.calls < *n).then_some([l.calls, l.ctx, 0, 0, 0])),
            Source::Elements {
                map,
                handle,
                keys,
                next,
                key,
                key_addr,
            } => {
                let m = &self.maps[*map];
                loop {
                    let i = *next;
                    let element = match keys {
                        ElementKeys::Indices(n) => match u32::try_from(i) {
                            Ok(i) if i < *n => Some((i.to_le_bytes().to_vec(), m.array_value(i))),
                            _ => None,
                        },
                        ElementKeys::Keys(ks) => ks.get(i).map(|k| (k.clone(), m.peek(k))),
                    };
                    let Some((k, v)) = element else {
                        return Ok(None);
                    };
                    *next += 1;
                    // An element deleted by an earlier call is not visited.
                    let Some(v) = v else { continue };
                    key.set(0, &k);
                    let kind = RegionKind::MapValue {
                        map: m.info.name.clone(),
                    };
                    let value_addr = space.expose(&v, kind, !m.info.read_only)?;
                    return Ok(Some([*handle, *key_addr, value_addr, l.ctx, 0]));
                }
            }
        }
    }
}

impl CallbackLoop {
    fn new(func: u64, ctx: u64, source: Source) -> CallbackLoop {
        CallbackLoop {
            func,
            ctx,
            calls: 0,
            source,
        }
    }
}

/// The helper's result; the key buffer is taken back.
fn finish(l: CallbackLoop, space: &mut dyn AddressSpace) -> HelperReturn {
    if let Source::Elements { key, .. } = &l.source {
        space.retire(key);
    }
    HelperReturn::Value(l.calls)
}

#[cfg(test)]
#[path = "callbacks_tests.rs"]
mod tests;
