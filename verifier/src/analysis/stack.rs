//! One call frame's 512-byte stack: which bytes are initialised, and the values spilled into its
//! 8-byte slots.
//!
//! A spilled register keeps its full abstract value (number bounds or pointer) and its zone
//! relations (through the slot's zone variable). A store that overwrites part of a slot holding a
//! pointer turns the slot into [`Unusable::CorruptedPointer`]: its bytes are initialised, but
//! reading them back would expose pointer bits. Other narrow stores mark bytes initialised with
//! unknown contents.

use super::value::{Unusable, Value};

pub const STACK_SIZE: usize = 512;
pub const SLOTS: usize = STACK_SIZE / 8;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stack {
    /// Bit `i` set: byte `i` (offset from the stack's bottom) is initialised.
    init: [u64; 8],
    /// Spilled 8-byte values, sorted by slot.
    slots: Vec<(u8, Value)>,
    /// Known constants stored by narrow stores: (offset, size, value). Kept so that a map key
    /// written with `*(u32 *)(r10 - 4) = 10` is known to be 10.
    consts: Vec<(u16, u8, u64)>,
}

impl Stack {
    /// The initialisation bits, 64 bytes per word.
    pub fn init_words(&self) -> [u64; 8] {
        self.init
    }

    pub fn is_init(&self, byte: usize) -> bool {
        byte < STACK_SIZE && self.init[byte / 64] & (1 << (byte % 64)) != 0
    }

    /// Whether bytes `start..start+len` are all initialised.
    pub fn all_init(&self, start: usize, len: usize) -> bool {
        (start..start + len).all(|b| self.is_init(b))
    }

    /// The first uninitialised byte of `start..start+len`, if any.
    pub fn first_uninit(&self, start: usize, len: usize) -> Option<usize> {
        (start..start + len).find(|&b| !self.is_init(b))
    }

    pub fn mark_init(&mut self, start: usize, len: usize) {
        for b in start..(start + len).min(STACK_SIZE) {
            self.init[b / 64] |= 1 << (b % 64);
        }
    }

    pub fn slot(&self, slot: usize) -> Option<&Value> {
        self.slots
            .iter()
            .find(|(s, _)| usize::from(*s) == slot)
            .map(|(_, v)| v)
    }

    pub fn slot_mut(&mut self, slot: usize) -> Option<&mut Value> {
        let pos = self
            .slots
            .binary_search_by_key(&(slot as u8), |(s, _)| *s)
            .ok()?;
        Some(&mut self.slots[pos].1)
    }

    pub fn slots(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.slots.iter().map(|(s, v)| (usize::from(*s), v))
    }

    pub fn slots_mut(&mut self) -> impl Iterator<Item = (usize, &mut Value)> {
        self.slots.iter_mut().map(|(s, v)| (usize::from(*s), v))
    }

    fn set_slot(&mut self, slot: usize, value: Option<Value>) {
        let pos = self.slots.binary_search_by_key(&(slot as u8), |(s, _)| *s);
        match (pos, value) {
            (Ok(i), Some(v)) => self.slots[i].1 = v,
            (Ok(i), None) => {
                self.slots.remove(i);
            }
            (Err(i), Some(v)) => self.slots.insert(i, (slot as u8, v)),
            (Err(_), None) => {}
        }
    }

    /// Stores 8 bytes at an aligned offset: the slot holds `value` exactly.
    pub fn spill(&mut self, offset: usize, value: Value) {
        self.forget_consts(offset, 8);
        self.mark_init(offset, 8);
        self.set_slot(offset / 8, Some(value));
    }

    /// A narrow store of a known constant (after [`Stack::write_bytes`] for the same bytes).
    pub fn note_const(&mut self, offset: usize, size: usize, value: u64) {
        self.forget_consts(offset, size);
        self.consts.push((offset as u16, size as u8, value));
    }

    fn forget_consts(&mut self, start: usize, len: usize) {
        self.consts.retain(|&(o, n, _)| {
            let (o, n) = (usize::from(o), usize::from(n));
            o + n <= start || start + len <= o
        });
    }

    /// The constant held by bytes `offset..offset+size`, if known: from a narrow constant
    /// store of exactly those bytes or from a spilled 8-byte constant covering them.
    pub fn constant_at(&self, offset: usize, size: usize) -> Option<u64> {
        if let Some(&(_, _, v)) = self
            .consts
            .iter()
            .find(|&&(o, n, _)| usize::from(o) == offset && usize::from(n) == size)
        {
            return Some(v);
        }
        let slot = offset / 8;
        if (offset % 8) + size > 8 {
            return None;
        }
        match self.slot(slot) {
            Some(Value::Num(n)) => n.is_constant().map(|c| {
                let shifted = c >> ((offset % 8) * 8);
                if size == 8 {
                    shifted
                } else {
                    shifted & ((1u64 << (size * 8)) - 1)
                }
            }),
            _ => None,
        }
    }

    /// Stores `len` bytes whose abstract value is not kept (a narrow or unaligned store, or a
    /// helper writing into the buffer): the bytes become initialised and the slots they touch
    /// lose their values (see [`Stack::clobber`]).
    pub fn write_bytes(&mut self, start: usize, len: usize) {
        self.mark_init(start, len);
        self.clobber(start, len);
    }

    /// Bytes `start..start+len` may have been overwritten (initialisation unchanged): a slot
    /// they touch loses its value, and a slot that held a pointer becomes unusable (its bytes
    /// may be part old pointer, part new data).
    pub fn clobber(&mut self, start: usize, len: usize) {
        if len == 0 {
            return;
        }
        self.forget_consts(start, len);
        let first = start / 8;
        let last = (start + len - 1) / 8;
        for slot in first..=last.min(SLOTS - 1) {
            let covered = start <= slot * 8 && slot * 8 + 8 <= start + len;
            match self.slot(slot) {
                Some(Value::Ptr(_)) if !covered => {
                    self.set_slot(slot, Some(Value::Bad(Unusable::CorruptedPointer)));
                }
                Some(Value::Bad(Unusable::CorruptedPointer)) if !covered => {}
                _ => self.set_slot(slot, None),
            }
        }
    }

    /// Pointwise join: a byte is initialised if it is on both sides; a slot keeps a value if
    /// both sides hold one (joined by `join_value`), or if one side holds one and the other has
    /// plain initialised bytes there (joined with an unknown number).
    pub fn join(&self, other: &Stack, join_value: impl Fn(&Value, &Value) -> Value) -> Stack {
        let mut init = [0u64; 8];
        for (i, w) in init.iter_mut().enumerate() {
            *w = self.init[i] & other.init[i];
        }
        let consts = self
            .consts
            .iter()
            .filter(|c| other.consts.contains(c))
            .copied()
            .collect();
        let mut out = Stack {
            init,
            slots: Vec::with_capacity(self.slots.len().max(other.slots.len())),
            consts,
        };
        let unknown = Value::unknown();
        // Both slot lists are sorted: walk them together.
        let (mut a, mut b) = (self.slots.iter().peekable(), other.slots.iter().peekable());
        loop {
            let sa = a.peek().map(|(s, _)| *s);
            let sb = b.peek().map(|(s, _)| *s);
            let Some(slot) = sa.into_iter().chain(sb).min() else {
                break;
            };
            let va = a.next_if(|(s, _)| *s == slot).map(|(_, v)| v);
            let vb = b.next_if(|(s, _)| *s == slot).map(|(_, v)| v);
            let bytes = usize::from(slot) * 8;
            let v = match (va, vb) {
                (Some(va), Some(vb)) => Some(join_value(va, vb)),
                (Some(va), None) => other.all_init(bytes, 8).then(|| join_value(va, &unknown)),
                (None, Some(vb)) => self.all_init(bytes, 8).then(|| join_value(&unknown, vb)),
                (None, None) => None,
            };
            if let Some(v) = v
                && out.all_init(usize::from(slot) * 8, 8)
            {
                out.slots.push((slot, v));
            }
        }
        out
    }

    /// Whether every concrete stack `self` describes is described by `other`.
    pub fn leq(&self, other: &Stack, leq_value: impl Fn(&Value, &Value) -> bool) -> bool {
        if (0..8).any(|i| other.init[i] & !self.init[i] != 0) {
            return false;
        }
        if !other.consts.iter().all(|c| self.consts.contains(c)) {
            return false;
        }
        // Every slot of `other` must cover what `self` holds there.
        let covered = other
            .slots
            .iter()
            .all(|(s, ov)| match self.slot(usize::from(*s)) {
                Some(sv) => leq_value(sv, ov),
                None => matches!(ov, Value::Num(n) if *n == crate::domain::scalar::Scalar::top()),
            });
        // A slot only `self` has is covered by `other`'s plain initialised bytes (an unknown
        // number) only if it holds a number: a spilled pointer read back from `other` would be
        // a number, so `other` would not describe `self`.
        let numbers_only = self
            .slots
            .iter()
            .filter(|(s, _)| other.slot(usize::from(*s)).is_none())
            .all(|(_, v)| matches!(v, Value::Num(_)));
        covered && numbers_only
    }
}
