//! Entry states written as constraints, for running the analysis on a snippet from a given
//! abstract pre-state (PREVAIL's test cases: `r1.type=packet`, `r1.packet_offset=0`,
//! `r2.svalue=[0, 10]`, `packet_size=[0, 65534]`, `s[504...511].type=number`, ...).
//!
//! Why a builder and not a test-only hack: the state types are crate-internal and are being
//! optimised; building states through one public, documented entry keeps tests independent of
//! their representation.
//!
//! The translation, and where it is not exact:
//! - Registers not mentioned are uninitialised (PREVAIL: type unknown, so any use fails).
//! - `stack` offsets are PREVAIL's, from the bottom of the stack with `r10.stack_offset` (512 by
//!   default) at the frame pointer; ours are from the bottom of the 512-byte frame with r10 at
//!   512, so every stack offset is shifted by `512 - r10.stack_offset`. r10 is always the frame
//!   pointer (Linux and RFC 9669: it is read-only), whatever the constraints say.
//! - `shared` is a map value ([`Region::MapValue`]) of `shared_region_size` bytes of no
//!   particular map ([`MERGED_MAPS`]); `map_fd N` / `map_fd_programs N` point to map index `N`
//!   of the caller's map table ([`PreState::map_refs`] lists which the table must have).
//! - `packet_size` and `meta_offset` keep our entry bounds (`0..=0xffff`, `-255..=0`) unless the
//!   constraints give theirs, which then replace them.
//! - `X.type in {A, B}` (and `X.type=Y.type`) become several entry states, one per choice,
//!   each analysed separately by [`verify_from`] (the union of their reports).
//!
//! Whatever cannot be expressed (absolute pointer values `r1.svalue` on pointers, loop counters
//! `pc[1]`, relations through unsigned readings or stack cells, unknown types, narrow stack
//! cells with ranges, ...) is listed in [`PreState::unsupported`]: dropping a constraint makes
//! the entry state larger, which is sound for "safe" verdicts but may add false alarms, so the
//! caller must see every one.

mod cells;
mod constraint;

pub use constraint::{
    Constraint, Field, PType, Subject, Term, parse as parse_constraint, parse_int,
};

use super::report::{Report, Stats};
use super::stack::STACK_SIZE;
use super::state::{Loc, State, V_META, V_PACKET_SIZE, var_of};
use super::value::{MERGED_MAPS, Ptr, Region, Value, srange};
use super::{Input, Options, fixpoint};
use crate::domain::scalar::Scalar;
use crate::domain::zone::Var;

/// Most entry states a set of type alternatives may expand into.
const MAX_DISJUNCTS: usize = 64;

/// A constraint the builder could not express, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub constraint: String,
    pub reason: String,
}

/// A map the entry state refers to: the caller's map table needs index `id`, a program array
/// when `programs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRef {
    pub id: usize,
    pub programs: bool,
}

/// An entry state built from constraints: zero or more alternative states (zero when the
/// constraints contradict each other or say `_|_`).
#[derive(Clone, Debug)]
pub struct PreState {
    disjuncts: Vec<State>,
    unsupported: Vec<Unsupported>,
    maps: Vec<MapRef>,
}

impl PreState {
    /// Builds the entry state(s) the constraints describe.
    pub fn build<S: AsRef<str>>(constraints: &[S]) -> PreState {
        Builder::default().run(constraints)
    }

    /// Constraints that were dropped (each makes the state larger than written).
    pub fn unsupported(&self) -> &[Unsupported] {
        &self.unsupported
    }

    /// Maps the state refers to.
    pub fn map_refs(&self) -> &[MapRef] {
        &self.maps
    }

    /// Number of alternative entry states (0: no state satisfies the constraints).
    pub fn disjunct_count(&self) -> usize {
        self.disjuncts.len()
    }

    /// The entry states in a reader's terms (for debugging a disagreement).
    pub fn describe(&self) -> Vec<String> {
        self.disjuncts.iter().map(State::describe).collect()
    }
}

/// Verifies `input` from `pre` instead of the program type's entry state. With several
/// alternative entry states the report is their union: a diagnostic of any, an instruction
/// unreachable only if unreachable from all.
pub fn verify_from(input: Input<'_>, options: &Options, pre: &PreState) -> Report {
    if let Some(m) = pre.maps.iter().find(|m| m.id >= input.maps.len()) {
        return Report::rejected(
            0,
            "pre-state",
            format!(
                "the pre-state refers to map {}, but the map table has {} maps",
                m.id,
                input.maps.len()
            ),
        );
    }
    if pre.disjuncts.is_empty() {
        // Still build the CFG (its errors are reported), from no state at all.
        return fixpoint::run(input, options, State::bottom());
    }
    let mut diagnostics: Vec<super::Diagnostic> = vec![];
    let mut unreachable: Option<Vec<usize>> = None;
    let mut stats = Stats::default();
    let mut invariants = vec![];
    for s in &pre.disjuncts {
        let mut s = s.clone();
        s.relational = options.relational;
        let r = fixpoint::run(input, options, s);
        for d in r.diagnostics {
            if !diagnostics
                .iter()
                .any(|x| x.pc == d.pc && x.message == d.message)
            {
                diagnostics.push(d);
            }
        }
        unreachable = Some(match unreachable {
            None => r.unreachable,
            Some(u) => u
                .into_iter()
                .filter(|p| r.unreachable.contains(p))
                .collect(),
        });
        stats.blocks = stats.blocks.max(r.stats.blocks);
        stats.inlined_instructions = stats.inlined_instructions.max(r.stats.inlined_instructions);
        stats.visits += r.stats.visits;
        stats.loops = stats.loops.max(r.stats.loops);
        invariants.extend(r.invariants);
    }
    let mut report = Report::new(diagnostics, unreachable.unwrap_or_default(), stats);
    report.invariants = invariants;
    report
}

/// One parsed constraint with its text, and whether some entry state used it.
struct Item {
    text: String,
    c: Constraint,
    applied: bool,
}

#[derive(Default)]
struct Builder {
    items: Vec<Item>,
    unsupported: Vec<Unsupported>,
    maps: Vec<MapRef>,
    /// PREVAIL stack offset minus ours (`r10.stack_offset - 512`).
    shift: i64,
    /// First map id past every fd the constraints name.
    fresh_map: usize,
}

/// How a register term reads its zone variable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// A signed number or an offset.
    Signed,
    /// An unsigned reading of a number.
    Unsigned,
}

/// The offset field that belongs to a pointer type.
fn offset_field(t: &PType) -> Option<Field> {
    match t {
        PType::Ctx => Some(Field::CtxOffset),
        PType::Stack => Some(Field::StackOffset),
        PType::Packet => Some(Field::PacketOffset),
        PType::Shared => Some(Field::SharedOffset),
        _ => None,
    }
}

fn to_i64(v: Option<i128>, default: i64) -> Option<i64> {
    match v {
        None => Some(default),
        Some(x) => i64::try_from(x).ok(),
    }
}

impl Builder {
    fn unsupported(&mut self, constraint: &str, reason: &str) {
        if !self
            .unsupported
            .iter()
            .any(|u| u.constraint == constraint && u.reason == reason)
        {
            self.unsupported.push(Unsupported {
                constraint: constraint.to_string(),
                reason: reason.to_string(),
            });
        }
    }

    fn run<S: AsRef<str>>(mut self, constraints: &[S]) -> PreState {
        let mut bottom = false;
        for text in constraints {
            let text = text.as_ref();
            match constraint::parse(text) {
                Ok(Constraint::Bottom) => bottom = true,
                Ok(c) => self.items.push(Item {
                    text: text.to_string(),
                    c,
                    applied: false,
                }),
                Err(e) => self.unsupported(text, &e),
            }
        }
        if bottom {
            return self.finish(vec![]);
        }
        self.shift = self.r10_shift();
        self.fresh_map = self
            .items
            .iter()
            .filter_map(|i| match &i.c {
                Constraint::Range {
                    term:
                        Term {
                            field: Some(Field::MapFd | Field::MapFdPrograms),
                            ..
                        },
                    hi: Some(hi),
                    ..
                } => usize::try_from(*hi).ok(),
                _ => None,
            })
            .max()
            .map_or(0, |m| m.saturating_add(1));
        let choices = self.register_choices();
        let mut states = vec![];
        for assign in choices {
            if let Some(s) = self.state_for(&assign) {
                states.push(s);
            }
        }
        // Constraints no entry state could use.
        let typed: Vec<u8> = self
            .items
            .iter()
            .filter_map(|i| match &i.c {
                Constraint::TypeIn {
                    subject: Subject::Reg(r),
                    ..
                } => Some(*r),
                _ => None,
            })
            .collect();
        let unused: Vec<(String, &'static str)> = self
            .items
            .iter()
            .filter(|i| !i.applied)
            .map(|i| {
                let reason = match &i.c {
                    _ if states.is_empty() => "unused: no state satisfies the constraints",
                    Constraint::Range {
                        term:
                            Term {
                                subject: Subject::Reg(10),
                                ..
                            },
                        ..
                    } => "r10 is the frame pointer: its address and other fields are dropped",
                    Constraint::Range {
                        term:
                            Term {
                                subject: Subject::Reg(r),
                                ..
                            },
                        ..
                    } if !typed.contains(r) => "a register with no type is uninitialised",
                    _ => "applies to no type the register may have",
                };
                (i.text.clone(), reason)
            })
            .collect();
        for (text, reason) in unused {
            if !self.unsupported.iter().any(|u| u.constraint == text) {
                self.unsupported.push(Unsupported {
                    constraint: text,
                    reason: reason.into(),
                });
            }
        }
        self.finish(states)
    }

    fn finish(self, disjuncts: Vec<State>) -> PreState {
        PreState {
            disjuncts,
            unsupported: self.unsupported,
            maps: self.maps,
        }
    }

    fn r10_shift(&mut self) -> i64 {
        let mut shift = 0;
        for item in &mut self.items {
            if let Constraint::Range {
                term:
                    Term {
                        subject: Subject::Reg(10),
                        field: Some(Field::StackOffset),
                    },
                lo: Some(lo),
                hi: Some(hi),
            } = item.c
                && lo == hi
                && let Ok(v) = i64::try_from(lo)
            {
                shift = v.saturating_sub(STACK_SIZE as i64);
                item.applied = true;
            }
        }
        shift
    }

    /// Every combination of register types the constraints allow (one entry per register;
    /// `None`: uninitialised).
    fn register_choices(&mut self) -> Vec<[Option<PType>; 11]> {
        let mut options: [Option<Vec<PType>>; 11] = std::array::from_fn(|_| None);
        let mut same: Vec<(u8, u8)> = vec![];
        let mut notes: Vec<(String, &'static str)> = vec![];
        for item in &mut self.items {
            match &item.c {
                Constraint::TypeIn {
                    subject: Subject::Reg(r),
                    types,
                } => {
                    item.applied = true;
                    let slot = &mut options[usize::from(*r)];
                    *slot = Some(match slot.take() {
                        None => types.clone(),
                        Some(old) => old.into_iter().filter(|t| types.contains(t)).collect(),
                    });
                }
                Constraint::SameType {
                    a: Subject::Reg(a),
                    b: Subject::Reg(b),
                } => {
                    item.applied = true;
                    same.push((*a, *b));
                }
                Constraint::SameType { .. } => {
                    item.applied = true;
                    notes.push((item.text.clone(), "type equality with a stack cell"));
                }
                _ => {}
            }
        }
        for (text, why) in notes {
            self.unsupported(&text, why);
        }
        // r10 is the frame pointer whatever the constraints say.
        if let Some(t) = options[10].take()
            && t != [PType::Stack]
        {
            self.unsupported("r10.type", "r10 is always the frame pointer");
        }
        let mut out: Vec<[Option<PType>; 11]> = vec![std::array::from_fn(|_| None)];
        for (r, opts) in options.iter().enumerate() {
            let Some(opts) = opts else { continue };
            let mut next = vec![];
            for partial in &out {
                for t in opts {
                    let mut p = partial.clone();
                    p[r] = Some(t.clone());
                    next.push(p);
                }
            }
            out = next;
            if out.len() > MAX_DISJUNCTS {
                out.truncate(MAX_DISJUNCTS);
                self.unsupported("(type alternatives)", "too many combinations; some dropped");
            }
        }
        out.retain(|p| {
            same.iter()
                .all(|(a, b)| p[usize::from(*a)] == p[usize::from(*b)])
        });
        out
    }

    /// The scalar the value constraints on `subject` allow, `Err` when they contradict.
    fn number(&mut self, subject: &Subject) -> Result<Scalar, ()> {
        let mut s = Scalar::top();
        let mut notes: Vec<(String, &'static str)> = vec![];
        for item in &mut self.items {
            let narrowed = match &item.c {
                Constraint::Range { term, lo, hi } if &term.subject == subject => {
                    match term.field {
                        Some(Field::SValue) => match (to_i64(*lo, i64::MIN), to_i64(*hi, i64::MAX))
                        {
                            (Some(lo), Some(hi)) => Some(Scalar::range_signed(lo, hi)),
                            _ => {
                                notes.push((item.text.clone(), "signed value out of range"));
                                None
                            }
                        },
                        Some(Field::UValue) => {
                            let lo = u64::try_from(lo.unwrap_or(0)).ok();
                            let hi = u64::try_from(hi.unwrap_or(u64::MAX.into())).ok();
                            match (lo, hi) {
                                (Some(lo), Some(hi)) => Some(Scalar::range_unsigned(lo, hi)),
                                _ => {
                                    notes.push((item.text.clone(), "unsigned value out of range"));
                                    None
                                }
                            }
                        }
                        _ => None,
                    }
                }
                // `rN.uvalue=rN.svalue`: the value is non-negative.
                Constraint::Equal { a, b, plus: 0 }
                    if &a.subject == subject
                        && &b.subject == subject
                        && matches!(
                            (a.field, b.field),
                            (Some(Field::SValue), Some(Field::UValue))
                                | (Some(Field::UValue), Some(Field::SValue))
                        ) =>
                {
                    Some(Scalar::range_signed(0, i64::MAX))
                }
                _ => continue,
            };
            item.applied = true;
            if let Some(r) = narrowed {
                s = r.and_then(|r| s.meet(&r)).ok_or(())?;
            }
        }
        for (text, why) in notes {
            self.unsupported(&text, why);
        }
        Ok(s)
    }

    /// The range a field of `subject` is constrained to (i64 readings), marking its
    /// constraints used; `None` when unconstrained.
    fn field_range(&mut self, subject: &Subject, field: Field) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        let mut notes = vec![];
        for item in &mut self.items {
            if let Constraint::Range { term, lo, hi } = &item.c
                && &term.subject == subject
                && term.field == Some(field)
            {
                item.applied = true;
                match (to_i64(*lo, i64::MIN), to_i64(*hi, i64::MAX)) {
                    (Some(lo), Some(hi)) => {
                        let (a, b) = range.unwrap_or((i64::MIN, i64::MAX));
                        range = Some((a.max(lo), b.min(hi)));
                    }
                    _ => notes.push(item.text.clone()),
                }
            }
        }
        for text in notes {
            self.unsupported(&text, "bound out of range");
        }
        range
    }

    /// Marks every value constraint on a pointer register as unsupported (PREVAIL's absolute
    /// addresses of pointers have no counterpart), keeping only what they say about NULL.
    fn drop_pointer_values(&mut self, subject: &Subject, why: &str) {
        let mut notes = vec![];
        for item in &mut self.items {
            let mentions = |t: &Term| {
                &t.subject == subject && matches!(t.field, Some(Field::SValue | Field::UValue))
            };
            let hit = match &item.c {
                Constraint::Range { term, .. } => mentions(term),
                Constraint::Equal { a, b, .. } | Constraint::DiffLeq { a, b, .. } => {
                    mentions(a) || mentions(b)
                }
                _ => false,
            };
            if hit {
                item.applied = true;
                notes.push(item.text.clone());
            }
        }
        for text in notes {
            self.unsupported(&text, why);
        }
    }

    /// Whether the address constraints on a pointer register allow 0 (PREVAIL expresses "may
    /// be NULL" so: `r2.svalue=[0, 2147418112]`). Without any, the pointer is not NULL.
    fn may_be_null(&mut self, subject: &Subject) -> bool {
        let constrained = self.items.iter().any(|i| {
            matches!(&i.c, Constraint::Range { term, .. } if &term.subject == subject
                && matches!(term.field, Some(Field::SValue | Field::UValue)))
        });
        // Contradictory address constraints: no NULL (the state is not made empty for them).
        constrained && self.number(subject).is_ok_and(|a| a.contains(0))
    }

    fn pointer(&mut self, r: u8, t: &PType) -> Result<Value, ()> {
        let subject = Subject::Reg(r);
        // Only map values are NULL-checked by programs (and by our analysis).
        let nullable = *t == PType::Shared && self.may_be_null(&subject);
        let why = if *t == PType::Shared {
            "absolute address of a pointer (only whether it may be NULL is kept)"
        } else {
            "absolute address of a pointer"
        };
        self.drop_pointer_values(&subject, why);
        let off = |b: &mut Builder, f: Field, shift: i64| -> Scalar {
            match b.field_range(&subject, f) {
                Some((lo, hi)) => srange(lo.saturating_sub(shift), hi.saturating_sub(shift)),
                None => Scalar::top(),
            }
        };
        let (region, off) = match t {
            PType::Ctx => (Region::Ctx, off(self, Field::CtxOffset, 0)),
            PType::Packet => (Region::Packet, off(self, Field::PacketOffset, 0)),
            PType::Stack => {
                let shift = self.shift;
                (
                    Region::Stack { depth: 0 },
                    off(self, Field::StackOffset, shift),
                )
            }
            PType::Shared => {
                let size = match self.field_range(&subject, Field::SharedRegionSize) {
                    Some((lo, hi)) => {
                        if lo != hi {
                            self.unsupported(
                                &format!("r{r}.shared_region_size"),
                                "a range of region sizes: using the smallest",
                            );
                        }
                        u32::try_from(lo.max(0)).unwrap_or(u32::MAX)
                    }
                    None => 0,
                };
                let region = Region::MapValue {
                    map: MERGED_MAPS,
                    size,
                    read_only: false,
                };
                (region, off(self, Field::SharedOffset, 0))
            }
            PType::MapFd | PType::MapFdPrograms => {
                let programs = *t == PType::MapFdPrograms;
                let field = if programs {
                    Field::MapFdPrograms
                } else {
                    Field::MapFd
                };
                let id = match self.field_range(&subject, field) {
                    Some((lo, hi)) if lo == hi && lo >= 0 => lo as usize,
                    _ => {
                        // "Some map": one not named elsewhere, which is one of the choices.
                        self.unsupported(
                            &format!("r{r}.type"),
                            "a map of no known fd: a fresh one is chosen",
                        );
                        self.fresh_map.saturating_add(usize::from(r))
                    }
                };
                match self.maps.iter().find(|m| m.id == id) {
                    Some(m) if m.programs != programs => {
                        self.unsupported(
                            &format!("r{r}.map_fd={id}"),
                            "one map fd used as a program array and as a map",
                        );
                    }
                    Some(_) => {}
                    None => self.maps.push(MapRef { id, programs }),
                }
                (Region::MapFd { map: id }, Scalar::constant(0))
            }
            PType::Number | PType::Other(_) => return Err(()),
        };
        Ok(Value::Ptr(Ptr {
            region,
            off,
            nullable,
            // Ids the analysis hands out are pcs + 1: these do not collide.
            null_id: if nullable { u32::MAX - u32::from(r) } else { 0 },
            probe_mem: false,
        }))
    }

    /// One entry state for one choice of register types; `None` when it is contradictory.
    fn state_for(&mut self, assign: &[Option<PType>; 11]) -> Option<State> {
        let mut s = State::entry(true, false);
        for (r, t) in assign.iter().enumerate() {
            let Some(t) = t else { continue };
            let r8 = r as u8;
            let value = match t {
                PType::Number => Value::Num(self.number(&Subject::Reg(r8)).ok()?),
                PType::Other(name) => {
                    let name = name.clone();
                    self.unsupported(&format!("r{r}.type={name}"), "a type we do not model");
                    continue;
                }
                _ => match self.pointer(r8, t) {
                    Ok(v) => v,
                    Err(()) => continue,
                },
            };
            s.set(Loc::Reg(r8), value);
        }
        self.packet_vars(&mut s);
        self.stack_numeric_sizes(&mut s, assign);
        self.stack_cells(&mut s)?;
        self.relations(&mut s, assign);
        s.reduce();
        (!s.bottom).then_some(s)
    }

    /// `packet_size` and `meta_offset` bounds replace our entry defaults.
    fn packet_vars(&mut self, s: &mut State) {
        for (subject, var) in [
            (Subject::PacketSize, V_PACKET_SIZE),
            (Subject::MetaOffset, V_META),
        ] {
            let mut replaced = false;
            let mut notes = vec![];
            for item in &mut self.items {
                if let Constraint::Range { term, lo, hi } = &item.c
                    && term.subject == subject
                {
                    item.applied = true;
                    let lo = lo.and_then(|v| i64::try_from(v).ok());
                    let hi = hi.and_then(|v| i64::try_from(v).ok());
                    if replaced {
                        s.zone.add_interval(var, lo, hi);
                    } else {
                        s.zone.set_interval(var, lo, hi);
                        replaced = true;
                    }
                    if lo.is_none() && hi.is_none() {
                        notes.push(item.text.clone());
                    }
                }
            }
            for text in notes {
                self.unsupported(&text, "unbounded packet variable");
            }
        }
    }

    /// The zone variable a term names in this state, or why it cannot be used.
    fn term_var(
        &self,
        term: &Term,
        assign: &[Option<PType>; 11],
    ) -> Result<Option<(Var, View)>, &'static str> {
        match (&term.subject, term.field) {
            (Subject::PacketSize, None) => Ok(Some((V_PACKET_SIZE, View::Signed))),
            (Subject::MetaOffset, None) => Ok(Some((V_META, View::Signed))),
            (Subject::Reg(r), Some(f)) => {
                let var = var_of(Loc::Reg(*r));
                match (&assign[usize::from(*r)], f) {
                    (None, _) => Err("relation on a register with no type"),
                    (Some(PType::Number), Field::SValue) => Ok(Some((var, View::Signed))),
                    (Some(PType::Number), Field::UValue) => Ok(Some((var, View::Unsigned))),
                    (Some(_), Field::SValue | Field::UValue) => Err("absolute value of a pointer"),
                    (Some(t), f) if offset_field(t) == Some(f) && f != Field::StackOffset => {
                        Ok(Some((var, View::Signed)))
                    }
                    (Some(PType::Stack), Field::StackOffset) if self.shift == 0 => {
                        Ok(Some((var, View::Signed)))
                    }
                    (Some(PType::Stack), Field::StackOffset) => {
                        Err("relation on a shifted stack offset")
                    }
                    (Some(_), _) => Ok(None),
                }
            }
            (Subject::Stack { .. }, _) => Err("relation on a stack cell"),
            (Subject::Counter(_), _) => Err("loop counter"),
            _ => Err("not a quantity"),
        }
    }

    /// `a=b+c` and `a-b<=c` between registers, `packet_size` and `meta_offset`.
    fn relations(&mut self, s: &mut State, assign: &[Option<PType>; 11]) {
        let mut notes: Vec<(String, &'static str)> = vec![];
        for i in 0..self.items.len() {
            let (a, b, c, equal) = match &self.items[i].c {
                Constraint::Equal { a, b, plus } => (a.clone(), b.clone(), *plus, true),
                Constraint::DiffLeq { a, b, c } => (a.clone(), b.clone(), *c, false),
                _ => continue,
            };
            // `rN.uvalue=rN.svalue` was handled with the number itself.
            if equal && a.subject == b.subject && c == 0 && a.field != b.field {
                continue;
            }
            let text = self.items[i].text.clone();
            let (va, vb) = match (self.term_var(&a, assign), self.term_var(&b, assign)) {
                (Ok(Some(x)), Ok(Some(y))) => (x, y),
                (Err(why), _) | (_, Err(why)) => {
                    self.items[i].applied = true;
                    notes.push((text, why));
                    continue;
                }
                // Not about this alternative's types.
                _ => continue,
            };
            self.items[i].applied = true;
            let unsigned = va.1 == View::Unsigned || vb.1 == View::Unsigned;
            if equal && (!unsigned || (va.1 == vb.1 && c == 0)) {
                // Equal bit patterns are equal signed numbers.
                s.zone.add_equal(va.0, vb.0, c);
            } else if equal && c == 0 {
                // `x.uvalue = y.svalue`: the same bits, and the signed side is non-negative,
                // so both are the same non-negative number.
                s.zone.add_equal(va.0, vb.0, 0);
                s.zone.add_lower(va.0, 0);
            } else if !equal && !unsigned {
                s.zone.add_difference(va.0, vb.0, c);
            } else {
                notes.push((text, "relation through an unsigned reading"));
            }
        }
        for (text, why) in notes {
            self.unsupported(&text, why);
        }
    }
}

#[cfg(test)]
mod tests;
