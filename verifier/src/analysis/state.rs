//! The abstract state at a program point: registers, call frames with their stacks, the
//! relations between numeric quantities, and the resources the program holds.
//!
//! Each location that can hold a value (a register, a spilled stack slot, a caller's saved
//! register) owns one zone variable, which stands for the number it holds or, for a pointer, its
//! offset. `packet_size` (data_end - data) and `meta_offset` (data_meta - data) have variables of
//! their own, and each loop head a counter. Non-relational bounds live in the values themselves
//! ([`Value`]); the zone adds relations. After the zone learns something (a branch), bounds are
//! tightened from it ([`State::reduce`]).

use super::stack::Stack;
use super::value::srange;
use super::value::{Ptr, Region, Unusable, Value};
use crate::domain::scalar::Scalar;
use crate::domain::zone::{BOUNDS_SPAN, Bound, Var, Zone};
use std::rc::Rc;

/// Largest packet Linux handles (`MAX_PACKET_OFF`).
pub const MAX_PACKET_SIZE: i64 = 0xffff;
/// Most metadata bytes before the packet data (XDP allows 32; room for more).
pub const MAX_META: i64 = 255;

pub const V_PACKET_SIZE: Var = Var(0);
pub const V_META: Var = Var(1);
const REG_BASE: u32 = 2;
const SLOT_BASE: u32 = REG_BASE + 11;
const SAVED_BASE: u32 = SLOT_BASE + 8 * 64;
const COUNTER_BASE: u32 = SAVED_BASE + 8 * 5;

/// A place that holds a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loc {
    Reg(u8),
    Slot { depth: u8, slot: u8 },
}

pub fn var_of(loc: Loc) -> Var {
    match loc {
        Loc::Reg(r) => Var(REG_BASE + u32::from(r)),
        Loc::Slot { depth, slot } => Var(SLOT_BASE + u32::from(depth) * 64 + u32::from(slot)),
    }
}

/// Zone variable of register `reg` (6-10) saved by the caller at `depth`.
pub fn saved_var(depth: usize, reg: usize) -> Var {
    Var(SAVED_BASE + (depth as u32) * 5 + (reg as u32 - 6))
}

/// Zone variable counting the iterations of loop `index`.
pub fn counter_var(index: usize) -> Var {
    Var(COUNTER_BASE + index as u32)
}

/// A caller's frame while a callee runs: its stack and the registers the call preserves.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Shared by the frame's clones until one of them writes it (`Rc::make_mut`, in
    /// [`State::stack_mut`] and the passes that rewrite slots): states are cloned on every edge,
    /// and most edges leave the stack alone. Joins of two states that still share a stack skip
    /// it.
    pub stack: Rc<Stack>,
    /// r6-r10 of this frame, saved while a callee runs (unused for the innermost frame); all of
    /// r0-r10 while a callback runs (the helper call that runs it has not returned).
    pub saved: Vec<Value>,
    /// This frame runs a callback (its `exit` returns to the helper, which wants 0 or 1).
    pub callback: bool,
}

#[derive(Clone, Debug)]
pub struct State {
    pub bottom: bool,
    pub regs: [Value; 11],
    /// One per active call depth; the last is the current frame.
    pub frames: Vec<Frame>,
    pub zone: Zone,
    /// Use relations (zone domain) or only bounds (interval domain).
    pub relational: bool,
    /// Ring buffer records reserved and not yet submitted or discarded (their null ids).
    pub records: Vec<u32>,
    /// A `bpf_spin_lock` is held.
    pub lock_held: bool,
    /// The iterations of the unrolled loops this state is in, outermost first: (loop index,
    /// iteration). States of different iterations are kept apart (trace partitioning; see
    /// `fixpoint::unroll`), and a join of two states of different iterations belongs to none.
    pub iterations: Vec<(u32, u32)>,
}

impl State {
    pub fn bottom() -> State {
        State {
            bottom: true,
            regs: std::array::from_fn(|_| Value::uninit()),
            frames: vec![],
            zone: Zone::top(),
            relational: true,
            records: vec![],
            lock_held: false,
            iterations: vec![],
        }
    }

    /// The state at a program's entry: r1 = ctx, r10 = top of an empty stack.
    pub fn entry(relational: bool, has_ctx: bool) -> State {
        let mut s = State {
            bottom: false,
            regs: std::array::from_fn(|_| Value::uninit()),
            frames: vec![Frame {
                stack: Rc::default(),
                saved: vec![],
                callback: false,
            }],
            zone: Zone::top(),
            relational,
            records: vec![],
            lock_held: false,
            iterations: vec![],
        };
        s.zone
            .set_interval(V_PACKET_SIZE, Some(0), Some(MAX_PACKET_SIZE));
        s.zone.set_interval(V_META, Some(-MAX_META), Some(0));
        if has_ctx {
            s.set(Loc::Reg(1), Value::ptr(Region::Ctx, 0));
        }
        s.set(Loc::Reg(10), Value::ptr(Region::Stack { depth: 0 }, 512));
        s
    }

    pub fn depth(&self) -> usize {
        self.frames.len().saturating_sub(1)
    }

    pub fn stack(&self, depth: usize) -> Option<&Stack> {
        self.frames.get(depth).map(|f| &*f.stack)
    }

    pub fn stack_mut(&mut self, depth: usize) -> Option<&mut Stack> {
        self.frames
            .get_mut(depth)
            .map(|f| Rc::make_mut(&mut f.stack))
    }

    /// Sets a location to a value with no relation to anything but its own bounds.
    pub fn set(&mut self, loc: Loc, value: Value) {
        let var = var_of(loc);
        match &value {
            Value::Num(s) => {
                self.zone
                    .set_interval(var, Some(s.signed_range().0), Some(s.signed_range().1))
            }
            Value::Ptr(p) => self.zone.set_interval(
                var,
                Some(p.off.signed_range().0),
                Some(p.off.signed_range().1),
            ),
            Value::Bad(_) => self.zone.forget(var),
        }
        self.put(loc, value);
    }

    /// Unlinks the values that carry NULL-check id `id` from the pointer about to be created
    /// with it. Ids are per instruction, so they belong to what the same instruction made on an
    /// earlier loop iteration, which a check of the new pointer says nothing about. Ring buffer
    /// records keep theirs: it also names the record that must be submitted.
    pub fn detach_null_id(&mut self, id: u32) {
        let linked = |v: &Value| {
            matches!(v, Value::Ptr(p) if p.nullable
                && p.null_id == id
                && !matches!(p.region, Region::Mem { ringbuf: true, .. }))
        };
        let unlink = |v: &mut Value| {
            if let Value::Ptr(p) = v {
                p.null_id = 0;
            }
        };
        for v in self.regs.iter_mut().filter(|v| linked(v)) {
            unlink(v);
        }
        self.update_slots(linked, unlink);
    }

    /// Applies `f` to every spilled value on every stack that `matches`, copying a stack
    /// shared with other states only if one of its slots does.
    pub fn update_slots(
        &mut self,
        matches: impl Fn(&Value) -> bool,
        mut f: impl FnMut(&mut Value),
    ) {
        for frame in self.frames.iter_mut() {
            if frame.stack.slots().any(|(_, v)| matches(v)) {
                for (_, v) in Rc::make_mut(&mut frame.stack).slots_mut() {
                    if matches(v) {
                        f(v);
                    }
                }
            }
        }
    }

    /// Stores a value without changing the zone (the caller has set the variable's relations);
    /// the next [`State::reduce`] reconciles the two.
    pub fn put(&mut self, loc: Loc, value: Value) {
        self.zone.touch(var_of(loc));
        match loc {
            Loc::Reg(r) => self.regs[usize::from(r)] = value,
            Loc::Slot { depth, slot } => {
                if let Some(stack) = self.stack_mut(usize::from(depth)) {
                    stack.spill(usize::from(slot) * 8, value);
                }
            }
        }
    }

    /// Copies a location into another, keeping the zone relation `dst == src`.
    pub fn copy(&mut self, dst: Loc, src_var: Var, value: Value) {
        let d = var_of(dst);
        if d != src_var {
            if self.relational && !matches!(value, Value::Bad(_)) {
                self.zone.assign_var(d, src_var, 0);
            } else {
                self.zone.forget(d);
                if let Value::Num(s) | Value::Ptr(Ptr { off: s, .. }) = &value {
                    self.zone
                        .set_interval(d, Some(s.signed_range().0), Some(s.signed_range().1));
                }
            }
        }
        self.put(dst, value);
    }

    /// Tightens the bounds of every value from what the zone implies, and detects
    /// contradictions (the state becomes bottom).
    ///
    /// Only locations whose zone bounds changed since the last reduction, or whose value was
    /// replaced ([`State::put`]), can tighten anything: the zone reports them
    /// ([`Zone::take_touched`]), and after a join or widening it reports everything.
    pub fn reduce(&mut self) {
        if self.bottom {
            return;
        }
        if self.zone.is_bottom() {
            self.bottom = true;
            return;
        }
        // One pair of buffers per thread serves every call.
        thread_local! {
            static BUFFERS: std::cell::RefCell<(Vec<Bound>, Vec<Var>)> =
                std::cell::RefCell::new((Vec::with_capacity(BOUNDS_SPAN), Vec::new()));
        }
        BUFFERS.with(|buf| match buf.try_borrow_mut() {
            Ok(mut buf) => {
                let (bounds, touched) = &mut *buf;
                self.reduce_with(bounds, touched);
            }
            // Not reentrant today; if it ever were, fresh buffers keep it correct.
            Err(_) => self.reduce_with(&mut Vec::new(), &mut Vec::new()),
        });
    }

    fn reduce_with(&mut self, bounds: &mut Vec<Bound>, touched: &mut Vec<Var>) {
        if self.zone.take_touched(touched) {
            bounds.clear();
            for &var in touched.iter() {
                let (lo, hi) = self.zone.interval(var);
                if lo.is_some() || hi.is_some() {
                    bounds.push((var, lo, hi));
                }
            }
            if !self.reduce_bounds(bounds) {
                self.bottom = true;
            }
            return;
        }
        // Everything may have changed: visit every location the zone bounds (a sorted range
        // per frame), not every location.
        self.zone
            .bounds_in(Var(REG_BASE), Var(REG_BASE + 11), bounds);
        if !self.reduce_bounds(bounds) {
            self.bottom = true;
            return;
        }
        for depth in 0..self.frames.len() {
            let base = SLOT_BASE + depth as u32 * 64;
            self.zone.bounds_in(Var(base), Var(base + 64), bounds);
            if !self.reduce_bounds(bounds) {
                self.bottom = true;
                return;
            }
        }
        // What this pass taught the zone is consistent with the values already.
        self.zone.take_touched(touched);
    }

    /// Reduces the registers and stack slots among `bounds` (zone variables with their
    /// bounds, in order; others are skipped). False on a contradiction.
    fn reduce_bounds(&mut self, bounds: &[Bound]) -> bool {
        for &(var, lo, hi) in bounds {
            if (REG_BASE..SLOT_BASE).contains(&var.0) {
                let r = (var.0 - REG_BASE) as usize;
                if !reduce_value(&mut self.zone, &mut self.regs[r], var, lo, hi) {
                    return false;
                }
                continue;
            }
            if !(SLOT_BASE..SAVED_BASE).contains(&var.0) {
                continue;
            }
            let depth = ((var.0 - SLOT_BASE) / 64) as usize;
            let slot = ((var.0 - SLOT_BASE) % 64) as usize;
            if depth >= self.frames.len() {
                continue;
            }
            // Reduce a copy and write it back only if it changed: the stack may be shared.
            let Some(old) = self.frames[depth].stack.slot(slot) else {
                continue;
            };
            // Most slots' values are already within the zone's bounds: then only the zone
            // may learn, and the value needs no copy.
            if lo.is_none() && hi.is_none() {
                continue;
            }
            if let Some(s) = scalar_of(old) {
                let (smin, smax) = s.signed_range();
                let (l, h) = (lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX));
                if l <= smin && smax <= h {
                    if !teach_zone(&mut self.zone, s, var, l, h) {
                        return false;
                    }
                    continue;
                }
            }
            let mut value = old.clone();
            if !reduce_value(&mut self.zone, &mut value, var, lo, hi) {
                return false;
            }
            if value != *old
                && let Some(v) = Rc::make_mut(&mut self.frames[depth].stack).slot_mut(slot)
            {
                *v = value;
            }
        }
        true
    }

    /// Every value in registers and on every stack, mutably (for invalidation passes).
    pub fn for_each_value(&mut self, mut f: impl FnMut(&mut Value)) {
        for v in self.regs.iter_mut() {
            f(v);
        }
        for frame in self.frames.iter_mut() {
            for (_, v) in Rc::make_mut(&mut frame.stack).slots_mut() {
                f(v);
            }
            for v in frame.saved.iter_mut() {
                f(v);
            }
        }
    }

    /// Replaces every packet pointer with a stale marker (after a helper that moves packets).
    pub fn invalidate_packet_pointers(&mut self, helper_pc: usize) {
        let stale = Value::Bad(Unusable::StalePacket { helper_pc });
        self.for_each_value(|v| {
            if matches!(
                v,
                Value::Ptr(Ptr {
                    region: Region::Packet,
                    ..
                })
            ) {
                *v = stale.clone();
            }
        });
    }
}

/// Tightens `value` (held in zone variable `var`, which the zone bounds by `lo..=hi`) from the
/// zone's bounds, and the zone from the value's. False when they contradict (unreachable).
fn reduce_value(
    zone: &mut Zone,
    value: &mut Value,
    var: Var,
    lo: Option<i64>,
    hi: Option<i64>,
) -> bool {
    if lo.is_none() && hi.is_none() {
        return true;
    }
    let scalar = match value {
        Value::Num(s) => s,
        Value::Ptr(p) => &mut p.off,
        Value::Bad(_) => return true,
    };
    let (smin, smax) = scalar.signed_range();
    let lo = lo.unwrap_or(i64::MIN);
    let hi = hi.unwrap_or(i64::MAX);
    // Most of the time the zone knows nothing the bounds do not: skip the meet.
    if lo > smin || smax > hi {
        match scalar.meet(&srange(lo, hi)) {
            Some(m) => *scalar = m,
            None => return false,
        }
    }
    teach_zone(zone, scalar, var, lo, hi)
}

/// The other direction: the bounds may know more than the zone (known bits round a bound,
/// `x != c` trims an end). The zone must learn it, or the next assignment computes from its
/// weaker bound and loses it (`i += 8` after `i != 128` with `i` a multiple of 8 would climb
/// past 128 at every iteration of a loop). False when that makes the zone bottom.
fn teach_zone(zone: &mut Zone, scalar: &Scalar, var: Var, lo: i64, hi: i64) -> bool {
    let (smin, smax) = scalar.signed_range();
    if smin > lo || smax < hi {
        zone.add_interval(var, Some(smin), Some(smax));
        if zone.is_bottom() {
            return false;
        }
    }
    true
}

/// The scalar a zone variable of `value` bounds: a number, or a pointer's offset.
fn scalar_of(value: &Value) -> Option<&Scalar> {
    match value {
        Value::Num(s) => Some(s),
        Value::Ptr(p) => Some(&p.off),
        Value::Bad(_) => None,
    }
}

/// The region a join of pointers into `a` and `b` points into, if they can be merged: values of
/// different maps merge into "one of several maps" (the smaller size, read-only if either is),
/// memory blocks into the smaller block, kernel objects into an unnamed kernel object.
pub fn join_region(a: Region, b: Region) -> Option<Region> {
    if a == b {
        return Some(a);
    }
    match (a, b) {
        (
            Region::MapValue {
                size: s,
                read_only: r,
                ..
            },
            Region::MapValue {
                size: t,
                read_only: u,
                ..
            },
        ) => Some(Region::MapValue {
            map: super::value::MERGED_MAPS,
            size: s.min(t),
            read_only: r || u,
        }),
        (
            Region::Mem {
                size: s,
                ringbuf: false,
            },
            Region::Mem {
                size: t,
                ringbuf: false,
            },
        ) => Some(Region::Mem {
            size: s.min(t),
            ringbuf: false,
        }),
        (Region::Kernel { .. }, Region::Kernel { .. }) => Some(Region::Kernel {
            btf_name: "kernel object",
        }),
        _ => None,
    }
}

/// What kind of value `v` is, as a number: numbers (zero apart), pointers by region and
/// nullability, unusable values by why.
fn kind(v: &Value) -> u64 {
    match v {
        Value::Num(n) => u64::from(n.is_constant() == Some(0)),
        Value::Ptr(p) => {
            let region = match p.region {
                Region::Ctx => 1,
                Region::Stack { depth } => 2 + (u64::from(depth) << 8),
                Region::Packet => 3,
                Region::MapValue { map, .. } => 4 + ((map as u64) << 8),
                Region::MapFd { map } => 5 + ((map as u64) << 8),
                Region::Mem { size, ringbuf } => {
                    6 + (u64::from(size) << 8) + (u64::from(ringbuf) << 40)
                }
                Region::Kernel { .. } => 7,
                Region::Func { pc } => 8 + ((pc as u64) << 8),
            };
            (region << 4) | 2 | (u64::from(p.nullable) << 2)
        }
        Value::Bad(u) => {
            8 + match u {
                Unusable::Uninit => 0,
                Unusable::Mixed => 1,
                Unusable::StalePacket { .. } => 2,
                Unusable::CorruptedPointer => 3,
                Unusable::Released => 4,
            }
        }
    }
}

/// How much of a state its [`State::shape`] tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    Full,
    Slots,
    PointerSlots,
    Registers,
}

impl State {
    /// A hash of the state's shape: what kind of value each location holds (number, pointer
    /// into which region, may-be-NULL), which stack bytes are initialised, which resources are
    /// held. States of one shape join without losing kinds; the fixpoint keeps shapes apart.
    /// Coarser `detail` leaves out the stack: [`Detail::Slots`] its initialised bytes,
    /// [`Detail::PointerSlots`] also the slots holding numbers (paths whose spilled pointers
    /// differ in kind, a header in the packet or in a stack copy, stay apart),
    /// [`Detail::Registers`] all of it, for merging the most alike paths first when there are
    /// too many shapes; that coarsest grouping also ignores registers outside `live` (a bit per
    /// register), which are not read again.
    pub fn shape(&self, detail: Detail, live: u16) -> u64 {
        // FNV-1a over a few words per location: cheap, and a collision only merges two shapes
        // (a join, which is always sound).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u64| {
            h ^= x;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        // Dead registers still tell paths apart while there are few (a dead flag can be what
        // separates two paths whose live values differ), but not in the coarsest grouping.
        let truly_live = live;
        let live = if detail == Detail::Registers {
            live
        } else {
            u16::MAX
        };
        for (r, v) in self.regs.iter().enumerate() {
            mix(if live & (1 << r) != 0 { kind(v) } else { 0 });
            // The finest grouping also keeps apart paths that set a live register to
            // different constants (switch arms that pick an offset and a size for one call).
            if detail == Detail::Full
                && truly_live & (1 << r) != 0
                && let Value::Num(n) = v
                && let Some(c) = n.is_constant()
            {
                mix(c.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            }
        }
        for f in self.frames.iter().filter(|_| detail != Detail::Registers) {
            if detail == Detail::Full {
                for w in f.stack.init_words() {
                    mix(w);
                }
            }
            for (slot, v) in f.stack.slots() {
                if detail == Detail::PointerSlots && !matches!(v, Value::Ptr(_)) {
                    continue;
                }
                mix(slot as u64);
                mix(kind(v));
            }
        }
        for r in &self.records {
            mix(u64::from(*r));
        }
        mix(u64::from(self.lock_held));
        mix(self.frames.len() as u64);
        for &(l, i) in &self.iterations {
            mix((u64::from(l) << 32) | u64::from(i));
        }
        h
    }

    /// The kind of each register (see [`State::shape`]), 0 for those outside `live`.
    pub fn register_kinds(&self, live: u16) -> [u64; 11] {
        std::array::from_fn(|r| {
            if live & (1 << r) != 0 {
                kind(&self.regs[r])
            } else {
                0
            }
        })
    }

    /// The state in a reader's terms: initialised registers, spilled stack slots, initialised
    /// stack bytes, and the relations the zone keeps (`r2 - packet_size <= -14`).
    pub fn describe(&self) -> String {
        if self.bottom {
            return "unreachable".into();
        }
        let mut parts: Vec<String> = vec![];
        for (r, v) in self.regs.iter().enumerate() {
            if v.is_initialized() {
                parts.push(format!("r{r} = {}", v.describe()));
            }
        }
        for (depth, frame) in self.frames.iter().enumerate() {
            let init: Vec<usize> = (0..512).filter(|&b| frame.stack.is_init(b)).collect();
            if let (Some(first), Some(last)) = (init.first(), init.last()) {
                let span = if init.len() == last - first + 1 {
                    format!(
                        "r10{:+}..r10{:+}",
                        *first as i64 - 512,
                        *last as i64 + 1 - 512
                    )
                } else {
                    format!(
                        "{} bytes in r10{:+}..r10{:+}",
                        init.len(),
                        *first as i64 - 512,
                        *last as i64 + 1 - 512
                    )
                };
                parts.push(format!("frame {depth} stack initialised: {span}"));
            }
            for (slot, v) in frame.stack.slots() {
                parts.push(format!(
                    "frame {depth} [r10{:+}] = {}",
                    slot as i64 * 8 - 512,
                    v.describe()
                ));
            }
        }
        let names = |v: Var| -> String {
            match v {
                V_PACKET_SIZE => "packet_size".into(),
                V_META => "meta_offset".into(),
                Var(n) if (REG_BASE..REG_BASE + 11).contains(&n) => format!("r{}", n - REG_BASE),
                Var(n) if (SLOT_BASE..SAVED_BASE).contains(&n) => {
                    let i = n - SLOT_BASE;
                    format!("frame{}[r10{:+}]", i / 64, i64::from(i % 64) * 8 - 512)
                }
                Var(n) if n >= COUNTER_BASE => format!("loop{}.iterations", (n - COUNTER_BASE) / 2),
                Var(n) => format!("v{n}"),
            }
        };
        parts.push(format!("relations: {}", self.zone.fmt_with(names)));
        parts.join("; ")
    }
}

/// Join of two values at the same location. Pointers join only within one region.
pub fn join_value(a: &Value, b: &Value) -> Value {
    // Most locations hold the same value on both paths (a join's inputs are clones that each
    // changed a few): the join is that value, without the bounds' reconciliation.
    if a == b {
        return a.clone();
    }
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => Value::Num(x.join(y)),
        (Value::Ptr(p), Value::Ptr(q)) if join_region(p.region, q.region).is_some() => {
            Value::Ptr(join_ptr(p, q, p.off.join(&q.off)))
        }
        // A pointer on one path and NULL on the other is a pointer that may be NULL.
        (Value::Ptr(p), Value::Num(n)) | (Value::Num(n), Value::Ptr(p))
            if n.is_constant() == Some(0) && nullable_region(p.region) =>
        {
            Value::Ptr(Ptr {
                nullable: true,
                ..p.clone()
            })
        }
        (Value::Bad(Unusable::Uninit), _) | (_, Value::Bad(Unusable::Uninit)) => Value::uninit(),
        (Value::Bad(x), Value::Bad(y)) if x == y => Value::Bad(*x),
        (Value::Bad(x @ Unusable::StalePacket { .. }), _)
        | (_, Value::Bad(x @ Unusable::StalePacket { .. })) => Value::Bad(*x),
        _ => Value::Bad(Unusable::Mixed),
    }
}

/// Regions whose pointers may meet NULL in a join (the ones programs NULL-check).
fn nullable_region(r: Region) -> bool {
    matches!(
        r,
        Region::MapValue { .. } | Region::Mem { .. } | Region::Kernel { .. } | Region::MapFd { .. }
    )
}

/// Two pointers into joinable regions, with offset `off`: NULL-able if either is, readable
/// unchecked (`probe_mem`) only if every NULL-able side is.
fn join_ptr(p: &Ptr, q: &Ptr, off: Scalar) -> Ptr {
    Ptr {
        region: join_region(p.region, q.region).unwrap_or(p.region),
        off,
        nullable: p.nullable || q.nullable,
        null_id: p.null_id.max(q.null_id),
        probe_mem: (!p.nullable || p.probe_mem) && (!q.nullable || q.probe_mem),
    }
}

pub fn widen_value(a: &Value, b: &Value, thresholds: &[i64]) -> Value {
    if a == b {
        return a.clone();
    }
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => Value::Num(x.widen(y, thresholds)),
        (Value::Ptr(p), Value::Ptr(q)) if join_region(p.region, q.region).is_some() => {
            Value::Ptr(join_ptr(p, q, p.off.widen(&q.off, thresholds)))
        }
        _ => join_value(a, b),
    }
}

pub fn leq_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (_, Value::Bad(Unusable::Uninit)) => true,
        (Value::Num(x), Value::Num(y)) => x.leq(y),
        (Value::Ptr(p), Value::Ptr(q)) => {
            join_region(p.region, q.region) == Some(q.region)
                && p.off.leq(&q.off)
                && (!p.nullable || q.nullable)
                // A pointer that must be checked before any load is not covered by one that
                // allows loads unchecked (`probe_mem`): the join drops the permission.
                && (!p.nullable || p.probe_mem || !q.probe_mem)
        }
        (Value::Bad(x), Value::Bad(y)) => x == y || *y == Unusable::Mixed,
        (_, Value::Bad(Unusable::Mixed)) => true,
        _ => false,
    }
}

/// Whether a location's zone variable keeps its meaning across a join: both sides hold numbers,
/// or pointers into one region (whose offsets the variable stands for). A NULL joined with a
/// pointer keeps the pointer's offset relations (NULL's "offset" is never used).
fn same_kind(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(_), Value::Num(_)) => true,
        (Value::Ptr(p), Value::Ptr(q)) => join_region(p.region, q.region).is_some(),
        _ => false,
    }
}

impl State {
    /// Takes the values of registers `regs` from `other` (which `self` must contain, e.g. a
    /// join `self` widens), keeping `self`'s relations: the bounds are met into the zone. Used
    /// to keep iterating a loop's guard registers exactly while everything else is widened.
    pub fn keep_registers_from(&mut self, other: &State, regs: &[usize]) {
        if self.bottom || other.bottom || self.frames.len() != other.frames.len() {
            return;
        }
        let saved = self.clone();
        for &r in regs.iter().filter(|&&r| r < 11) {
            if !same_kind(&self.regs[r], &other.regs[r]) {
                continue;
            }
            self.regs[r] = other.regs[r].clone();
            let var = var_of(Loc::Reg(r as u8));
            let (lo, hi) = other.zone.interval(var);
            self.zone.add_interval(var, lo, hi);
        }
        self.reduce();
        if self.bottom {
            // Cannot happen for a containing `self`; stay with the plain result if it does.
            *self = saved;
        }
    }
}

impl State {
    fn combine(
        &self,
        other: &State,
        zone: Zone,
        values: impl Fn(&Value, &Value) -> Value,
    ) -> State {
        if self.bottom {
            return other.clone();
        }
        if other.bottom {
            return self.clone();
        }
        let mut out = State {
            bottom: false,
            regs: std::array::from_fn(|r| values(&self.regs[r], &other.regs[r])),
            frames: Vec::with_capacity(self.frames.len()),
            zone,
            relational: self.relational,
            records: {
                let mut r = self.records.clone();
                r.extend(other.records.iter().filter(|x| !self.records.contains(x)));
                r
            },
            lock_held: self.lock_held || other.lock_held,
            iterations: if self.iterations == other.iterations {
                self.iterations.clone()
            } else {
                vec![]
            },
        };
        for (f, g) in self.frames.iter().zip(&other.frames) {
            // A stack both states still share joins (and widens) to itself.
            let stack = if Rc::ptr_eq(&f.stack, &g.stack) {
                f.stack.clone()
            } else {
                Rc::new(f.stack.join(&g.stack, &values))
            };
            let saved = f
                .saved
                .iter()
                .zip(&g.saved)
                .map(|(a, b)| values(a, b))
                .collect();
            out.frames.push(Frame {
                stack,
                saved,
                callback: f.callback,
            });
        }
        // Locations whose kinds differ lost their meaning: drop their relations.
        for r in 0..11 {
            if !same_kind(&self.regs[r], &other.regs[r]) {
                out.zone.forget(var_of(Loc::Reg(r as u8)));
            }
        }
        let slots = var_of(Loc::Slot { depth: 0, slot: 0 });
        for (depth, (f, g)) in self.frames.iter().zip(&other.frames).enumerate() {
            // A shared stack holds the same kinds in both states.
            if Rc::ptr_eq(&f.stack, &g.stack) {
                continue;
            }
            let first = Var(slots.0 + 64 * depth as u32);
            for var in out.zone.vars_in(first, Var(first.0 + 64)) {
                let slot = (var.0 - first.0) as usize;
                let (a, b) = (f.stack.slot(slot), g.stack.slot(slot));
                if !matches!((a, b), (Some(x), Some(y)) if same_kind(x, y)) {
                    out.zone.forget(var);
                }
            }
        }
        out.reduce();
        out
    }

    pub fn join(&self, other: &State) -> State {
        if self.bottom {
            return other.clone();
        }
        if other.bottom {
            return self.clone();
        }
        self.combine(other, self.zone.join(&other.zone), join_value)
    }

    pub fn widen(&self, newer: &State, thresholds: &[i64]) -> State {
        if self.bottom {
            return newer.clone();
        }
        if newer.bottom {
            return self.clone();
        }
        let zone = self.zone.widen(&newer.zone);
        self.combine(newer, zone, |a, b| widen_value(a, b, thresholds))
    }

    pub fn leq(&self, other: &State) -> bool {
        if self.bottom {
            return true;
        }
        if other.bottom {
            return false;
        }
        self.frames.len() == other.frames.len()
            && (0..11).all(|r| leq_value(&self.regs[r], &other.regs[r]))
            && self.frames.iter().zip(&other.frames).all(|(f, g)| {
                (Rc::ptr_eq(&f.stack, &g.stack) || f.stack.leq(&g.stack, leq_value))
                    && f.saved.iter().zip(&g.saved).all(|(a, b)| leq_value(a, b))
            })
            && self.records.iter().all(|r| other.records.contains(r))
            && (!self.lock_held || other.lock_held)
            && self.zone.leq(&other.zone)
    }
}
