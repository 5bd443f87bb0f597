//! Applying CO-RE relocations to a linked program.
//!
//! Each record of `.BTF.ext` names an instruction, a local type, an access path and what to
//! compute (a field's offset, size, existence, ...). The value is computed against the target
//! BTF when one is given (a kernel's), else against the object's own BTF, and patched into the
//! instruction the way libbpf patches it: the immediate of an ALU instruction or `lddw`, the
//! offset of a load or store. Before patching, the instruction must hold the value the local BTF
//! gives, as the compiler wrote it; anything else means the record and the code disagree, and the
//! object is refused (except for bitfields, where libbpf does not check either: see `ambiguous`). A relocation whose field or type does not exist in the target (and is not an
//! existence check) poisons its instruction with a call to helper `0xbad2310`, exactly as libbpf
//! does, so the verifier rejects the program only if that instruction is reachable.

use super::LoadError;
use super::LoadOptions;
use super::btf::{Btf, TypeKind};
use super::btf_ext::{BtfExt, CoreRelo, CoreReloKind, TargetField};
use super::file::ElfFile;
use super::link::{Function, Placed};
use crate::isa::RawInsn;

/// The helper id libbpf calls in place of an instruction whose relocation failed.
pub const POISON_HELPER: i32 = 0xbad2310;

/// What a relocation computes to.
pub(super) enum Outcome {
    Value(u64),
    /// The field or type is missing in the target: poison the instruction.
    Missing,
}

pub fn apply(
    slots: &mut [RawInsn],
    placed: &[Placed],
    functions: &[Function],
    elf: &ElfFile<'_>,
    btf: Option<&Btf>,
    ext: &BtfExt,
    options: &LoadOptions,
) -> Result<(), LoadError> {
    for p in placed {
        let f = &functions[p.function];
        let section = &elf.sections[f.section].name;
        for relo in ext.core_relos(section) {
            if relo.insn < f.start || relo.insn >= f.end {
                continue;
            }
            let local =
                btf.ok_or_else(|| LoadError::Malformed("CO-RE records without `.BTF`".into()))?;
            let pc = p.pc + (relo.insn - f.start);
            let location = format!(
                "{section}+{:#x} (`{}` {})",
                relo.insn * 8,
                relo.access_str,
                local.type_name(relo.type_id)
            );
            let fail = |reason: String| LoadError::Core {
                location: location.clone(),
                reason,
            };
            let expected = compute(relo, local, local).map_err(&fail)?;
            let target = match options.target_btf.as_deref() {
                Some(t) => compute(relo, local, t).map_err(&fail)?,
                None => expected_value(&expected),
            };
            let validate = !ambiguous(relo, local).map_err(&fail)?;
            patch(slots, pc, &expected, &target, validate).map_err(fail)?;
        }
    }
    Ok(())
}

fn expected_value(o: &Outcome) -> Outcome {
    match o {
        Outcome::Value(v) => Outcome::Value(*v),
        Outcome::Missing => Outcome::Missing,
    }
}

/// Whether the compiler and libbpf may disagree on the relocation's local value: a bitfield's
/// offset, size and shifts depend on the load width each picks (`BPF_CORE_READ_BITFIELD`), so
/// libbpf does not check the instruction's value against its own for them, only for signedness
/// and existence (`bpf_core_calc_field_relo`). The instruction is then patched with libbpf's
/// value, which is what a loader runs.
pub(super) fn ambiguous(relo: &CoreRelo, local: &Btf) -> Result<bool, String> {
    if !relo.kind.is_field_based()
        || matches!(
            relo.kind,
            CoreReloKind::FieldSigned | CoreReloKind::FieldExists
        )
    {
        return Ok(false);
    }
    let field = relo.local_field(local).map_err(|e| e.to_string())?;
    Ok(field.bitfield_size != 0)
}

/// The relocation's value computed with `target` as the target BTF (`local` for the local value).
fn compute(relo: &CoreRelo, local: &Btf, target: &Btf) -> Result<Outcome, String> {
    let same = std::ptr::eq(local, target);
    let kind = relo.kind;
    if kind.is_field_based() {
        let field = if same {
            relo.local_field(local).map_err(|e| e.to_string())?
        } else {
            match relo
                .target_field(local, target)
                .map_err(|e| e.to_string())?
            {
                TargetField::Found { field, .. } => field,
                TargetField::NoType { .. } | TargetField::NoField { .. } => {
                    return Ok(if kind == CoreReloKind::FieldExists {
                        Outcome::Value(0)
                    } else {
                        Outcome::Missing
                    });
                }
            }
        };
        let btf = if same { local } else { target };
        return relo
            .field_value(btf, &field)
            .map(Outcome::Value)
            .map_err(|e| e.to_string());
    }
    if kind.is_type_based() {
        let found = if same {
            Some(relo.type_id)
        } else {
            super::btf_ext::core_relo::target_candidates(local, relo.type_id, target)
                .map_err(|e| e.to_string())?
                .first()
                .copied()
        };
        let btf = if same { local } else { target };
        return Ok(match (kind, found) {
            (CoreReloKind::TypeIdLocal, _) => Outcome::Value(u64::from(relo.type_id)),
            (CoreReloKind::TypeExists | CoreReloKind::TypeMatches, f) => {
                Outcome::Value(u64::from(f.is_some()))
            }
            (CoreReloKind::TypeIdTarget, Some(id)) => Outcome::Value(u64::from(id)),
            (CoreReloKind::TypeSize, Some(id)) => {
                Outcome::Value(btf.size_of(id).map_err(|e| e.to_string())?)
            }
            (_, None) => Outcome::Missing,
            _ => return Err(format!("{kind:?} is not a type relocation")),
        });
    }
    // Enum value relocations: access[0] is the enumerator's index in the local enum.
    let index = relo.access.first().copied().unwrap_or(0) as usize;
    let enum_id = local.resolve(relo.type_id).map_err(|e| e.to_string())?;
    let Some(TypeKind::Enum(e) | TypeKind::Enum64(e)) = local.get(enum_id).map(|t| &t.kind) else {
        return Err(format!("type [{enum_id}] is not an enum"));
    };
    let enumerator = e
        .values
        .get(index)
        .ok_or_else(|| format!("enumerator {index} does not exist"))?;
    let value = if same {
        Some(enumerator.value)
    } else {
        let name = local
            .string_at(enumerator.name_off)
            .map_err(|e| e.to_string())?;
        let candidates = super::btf_ext::core_relo::target_candidates(local, relo.type_id, target)
            .map_err(|e| e.to_string())?;
        candidates
            .iter()
            .find_map(|&c| match target.get(c).map(|t| &t.kind) {
                Some(TypeKind::Enum(te) | TypeKind::Enum64(te)) => te
                    .values
                    .iter()
                    .find(|v| target.string_at(v.name_off).is_ok_and(|n| n == name))
                    .map(|v| v.value),
                _ => None,
            })
    };
    Ok(match (kind, value) {
        (CoreReloKind::EnumvalExists, v) => Outcome::Value(u64::from(v.is_some())),
        (CoreReloKind::EnumvalValue, Some(v)) => Outcome::Value(v),
        (_, None) => Outcome::Missing,
        _ => return Err(format!("{kind:?} is not an enum value relocation")),
    })
}

pub(super) fn patch(
    slots: &mut [RawInsn],
    pc: usize,
    expected: &Outcome,
    target: &Outcome,
    validate: bool,
) -> Result<(), String> {
    let insn = *slots
        .get(pc)
        .ok_or_else(|| format!("instruction {pc} is outside the program"))?;
    let class = insn.opcode & 0x07;
    let is_alu_k = matches!(class, 0x04 | 0x07) && insn.opcode & 0x08 == 0;
    let is_mem = matches!(class, 0x01..=0x03);
    let is_lddw = insn.opcode == 0x18;
    let Outcome::Value(want) = expected else {
        return Err("the field does not exist in the object's own BTF".into());
    };
    let current: u64 = if is_alu_k {
        u64::from(insn.imm as u32)
    } else if is_mem {
        insn.off as u16 as u64
    } else if is_lddw {
        let hi = slots.get(pc + 1).map_or(0, |s| s.imm as u32);
        (u64::from(hi) << 32) | u64::from(insn.imm as u32)
    } else {
        return Err(format!(
            "instruction {pc} (opcode {:#04x}) cannot be relocated",
            insn.opcode
        ));
    };
    let matches = if is_mem {
        current == (*want & 0xffff)
    } else if is_lddw {
        current == *want
    } else {
        current == (*want & 0xffff_ffff)
    };
    if validate && !matches {
        return Err(format!(
            "instruction {pc} holds {current}, but the object's BTF gives {want}"
        ));
    }
    let value = match target {
        Outcome::Value(v) => *v,
        Outcome::Missing => {
            slots[pc] = RawInsn {
                opcode: 0x85,
                dst: 0,
                src: 0,
                off: 0,
                imm: POISON_HELPER,
            };
            return Ok(());
        }
    };
    let s = &mut slots[pc];
    if is_alu_k {
        s.imm = u32::try_from(value)
            .map_err(|_| format!("value {value} does not fit an immediate"))?
            as i32;
    } else if is_mem {
        s.off = i16::try_from(value)
            .map_err(|_| format!("offset {value} does not fit a 16-bit offset"))?;
    } else {
        s.imm = value as u32 as i32;
        if let Some(next) = slots.get_mut(pc + 1) {
            next.imm = (value >> 32) as u32 as i32;
        }
    }
    Ok(())
}
