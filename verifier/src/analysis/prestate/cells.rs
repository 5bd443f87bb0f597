//! Stack contents of an entry state: `s[a...b]` cells and `rN.stack_numeric_size`.

use super::{Builder, Constraint, Field, PType, Subject, offset_field};
use crate::analysis::stack::STACK_SIZE;
use crate::analysis::state::{Loc, State};
use crate::analysis::value::{Ptr, Region, Value, srange};
use crate::domain::scalar::Scalar;

impl Builder {
    /// `rN.stack_numeric_size=K`: the K bytes from every offset rN may have are numbers, so
    /// the bytes common to all of them are initialised.
    pub(super) fn stack_numeric_sizes(&mut self, s: &mut State, assign: &[Option<PType>; 11]) {
        for r in 0..11u8 {
            if assign[usize::from(r)] != Some(PType::Stack) {
                continue;
            }
            let Some((size, _)) = self.field_range(&Subject::Reg(r), Field::StackNumericSize)
            else {
                continue;
            };
            let Value::Ptr(p) = &s.regs[usize::from(r)] else {
                continue;
            };
            let (lo, hi) = p.off.signed_range();
            let start = hi.max(0);
            let end = lo.saturating_add(size).min(STACK_SIZE as i64);
            if start < end
                && let Some(stack) = s.stack_mut(0)
            {
                stack.write_bytes(start as usize, (end - start) as usize);
            }
        }
    }

    /// `s[a...b].type=...` with its value.
    pub(super) fn stack_cells(&mut self, s: &mut State) -> Option<()> {
        let mut cells: Vec<(i64, i64)> = vec![];
        for item in &self.items {
            let subject = match &item.c {
                Constraint::TypeIn { subject, .. } => subject,
                Constraint::Range { term, .. } => &term.subject,
                _ => continue,
            };
            if let Subject::Stack { lo, hi } = subject
                && !cells.contains(&(*lo, *hi))
            {
                cells.push((*lo, *hi));
            }
        }
        for (lo, hi) in cells {
            let subject = Subject::Stack { lo, hi };
            let text = format!("s[{lo}...{hi}]");
            let mut types: Option<Vec<PType>> = None;
            for item in &mut self.items {
                if let Constraint::TypeIn {
                    subject: sub,
                    types: t,
                } = &item.c
                    && *sub == subject
                {
                    item.applied = true;
                    types = Some(t.clone());
                }
            }
            let (start, end) = (
                lo.saturating_sub(self.shift),
                hi.saturating_sub(self.shift).saturating_add(1),
            );
            if start < 0 || end > STACK_SIZE as i64 || start >= end {
                self.unsupported(&text, "outside the stack frame");
                self.mark_cell_used(&subject);
                continue;
            }
            let (start, len) = (start as usize, (end - start) as usize);
            let aligned = len == 8 && start % 8 == 0;
            let slot = Loc::Slot {
                depth: 0,
                slot: (start / 8) as u8,
            };
            match types.as_deref() {
                Some([PType::Number]) => {
                    let value_given = self.cell_has_value(&subject);
                    let n = self.number(&subject).ok()?;
                    if let Some(stack) = s.stack_mut(0) {
                        stack.write_bytes(start, len);
                    }
                    if aligned {
                        s.set(slot, Value::Num(n));
                    } else if let (Some(c), true) = (n.is_constant(), matches!(len, 1 | 2 | 4)) {
                        let mask = (1u64 << (len * 8)) - 1;
                        if let Some(stack) = s.stack_mut(0) {
                            stack.note_const(start, len, c & mask);
                        }
                    } else if value_given {
                        self.unsupported(
                            &text,
                            "a narrow stack cell's value that is not one constant",
                        );
                    }
                }
                Some([t]) if aligned && offset_field(t).is_some() => {
                    let field = offset_field(t)?;
                    let off = match self.field_range(&subject, field) {
                        Some((a, b)) if *t == PType::Stack => {
                            srange(a.saturating_sub(self.shift), b.saturating_sub(self.shift))
                        }
                        Some((a, b)) => srange(a, b),
                        None => Scalar::top(),
                    };
                    let region = match t {
                        PType::Ctx => Region::Ctx,
                        PType::Packet => Region::Packet,
                        PType::Stack => Region::Stack { depth: 0 },
                        _ => {
                            self.unsupported(&text, "a spilled pointer of this type");
                            self.mark_cell_used(&subject);
                            continue;
                        }
                    };
                    s.set(
                        slot,
                        Value::Ptr(Ptr {
                            region,
                            off,
                            nullable: false,
                            null_id: 0,
                            probe_mem: false,
                        }),
                    );
                }
                _ => {
                    self.unsupported(
                        &text,
                        "a stack cell of no single number or spillable pointer type",
                    );
                    self.mark_cell_used(&subject);
                }
            }
        }
        Some(())
    }

    fn cell_has_value(&self, subject: &Subject) -> bool {
        self.items.iter().any(|i| {
            matches!(&i.c, Constraint::Range { term, .. } if &term.subject == subject
                && matches!(term.field, Some(Field::SValue | Field::UValue)))
        })
    }

    fn mark_cell_used(&mut self, subject: &Subject) {
        for item in &mut self.items {
            if matches!(&item.c, Constraint::Range { term, .. } if &term.subject == subject) {
                item.applied = true;
            }
        }
    }
}
