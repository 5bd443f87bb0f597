//! BTF-defined maps: the variables of the `.maps` DATASEC.
//!
//! libbpf's macros encode each attribute in the *type* of a struct member, never in data:
//! `__uint(max_entries, 16)` is `int (*max_entries)[16]` (the number is the array length),
//! `__type(key, struct k)` is `struct k *key` (the key size is the pointee's size), and
//! `__array(values, struct inner)` is `struct inner *values[]` (the inner map template of a
//! map-in-map). This module reads those encodings back.

use super::LoadError;
use super::btf::{Btf, TypeId, TypeKind};
use super::file::{ElfFile, Section};
use super::maps::{MapDef, MapSource};
use std::collections::HashMap;

/// Deepest map-in-map nesting followed (Linux allows one level).
const MAX_NESTING: usize = 2;

pub fn collect(
    btf: &Btf,
    elf: &ElfFile<'_>,
    section: &Section<'_>,
    maps: &mut Vec<MapDef>,
    by_location: &mut HashMap<(usize, u64), usize>,
) -> Result<(), LoadError> {
    let Some((_, datasec)) = btf.find_datasec(".maps") else {
        return Err(LoadError::Malformed(
            "the object has a `.maps` section but its BTF has no `.maps` DATASEC".into(),
        ));
    };
    let vars = btf.datasec_vars(datasec).map_err(LoadError::Btf)?;
    for var in vars {
        // Compilers may leave DATASEC offsets at 0 (loaders fix them up); the symbol is the truth.
        let offset = elf
            .symbols
            .iter()
            .find(|s| s.section == Some(section.index) && s.name == var.name)
            .map_or(u64::from(var.offset), |s| s.value);
        // A hostile symbol value near u64::MAX must not wrap around into the section.
        if offset
            .checked_add(u64::from(var.size))
            .is_none_or(|end| end > section.size)
        {
            return Err(LoadError::Malformed(format!(
                "map `{}` at offset {offset} lies outside the {}-byte `.maps` section",
                var.name, section.size
            )));
        }
        let def = parse_def(btf, var.name, var.ty, 0)
            .map_err(|e| LoadError::Malformed(format!("BTF map `{}`: {e}", var.name)))?;
        maps.push(def);
        by_location.insert((section.index, offset), maps.len() - 1);
    }
    Ok(())
}

/// Reads one map definition struct.
fn parse_def(btf: &Btf, name: &str, ty: TypeId, depth: usize) -> Result<MapDef, String> {
    let st = btf.resolve(ty).map_err(|e| e.to_string())?;
    let members = btf
        .members(st)
        .map_err(|_| format!("its type is `{}`, not a struct", btf.type_name(ty)))?;
    let mut def = MapDef {
        name: name.to_string(),
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        flags: 0,
        pinning: 0,
        inner_map_idx: None,
        inner: None,
        key_type: None,
        value_type: None,
        source: MapSource::Btf,
        initial: None,
    };
    for m in members {
        let field = btf.string_at(m.name_off).map_err(|e| e.to_string())?;
        match field {
            "type" => def.map_type = uint(btf, m.ty, field)?,
            "max_entries" => def.max_entries = uint(btf, m.ty, field)?,
            "map_flags" => def.flags = uint(btf, m.ty, field)?,
            "pinning" => def.pinning = uint(btf, m.ty, field)?,
            "key_size" => def.key_size = uint(btf, m.ty, field)?,
            "value_size" => def.value_size = uint(btf, m.ty, field)?,
            "key" => {
                let (id, size) = pointee(btf, m.ty, field)?;
                def.key_type = Some(id);
                def.key_size = size;
            }
            "value" => {
                let (id, size) = pointee(btf, m.ty, field)?;
                def.value_type = Some(id);
                def.value_size = size;
            }
            "values" => {
                if let Some(inner_ty) = inner_template(btf, m.ty)? {
                    if depth >= MAX_NESTING {
                        return Err("map-in-map nesting is too deep".into());
                    }
                    let inner = parse_def(btf, &format!("{name}.inner"), inner_ty, depth + 1)?;
                    // The outer map's values are map fds.
                    def.value_size = 4;
                    def.inner = Some(Box::new(inner));
                }
            }
            // numa_node, map_extra and future attributes do not change what a program may do.
            _ => {}
        }
    }
    Ok(def)
}

/// `int (*name)[N]` → N.
fn uint(btf: &Btf, ty: TypeId, field: &str) -> Result<u32, String> {
    let ptr = btf.resolve(ty).map_err(|e| e.to_string())?;
    let Some(TypeKind::Ptr(target)) = btf.get(ptr).map(|t| &t.kind) else {
        return Err(format!(
            "attribute `{field}` is not encoded as a pointer to an array"
        ));
    };
    let arr = btf.resolve(*target).map_err(|e| e.to_string())?;
    match btf.get(arr).map(|t| &t.kind) {
        Some(TypeKind::Array(a)) => Ok(a.nelems),
        _ => Err(format!(
            "attribute `{field}` is not encoded as a pointer to an array"
        )),
    }
}

/// `T *name` → (T, sizeof(T)).
fn pointee(btf: &Btf, ty: TypeId, field: &str) -> Result<(TypeId, u32), String> {
    let ptr = btf.resolve(ty).map_err(|e| e.to_string())?;
    let Some(TypeKind::Ptr(target)) = btf.get(ptr).map(|t| &t.kind) else {
        return Err(format!(
            "`{field}` is not declared as a pointer to its type"
        ));
    };
    let size = btf
        .size_of(*target)
        .map_err(|e| format!("`{field}`: {e}"))?;
    let size = u32::try_from(size).map_err(|_| format!("`{field}` is larger than 4 GiB"))?;
    Ok((*target, size))
}

/// `struct inner *values[]` → the inner struct; `None` when the values are programs (a prog array
/// initialised with functions) rather than maps.
fn inner_template(btf: &Btf, ty: TypeId) -> Result<Option<TypeId>, String> {
    let arr = btf.resolve(ty).map_err(|e| e.to_string())?;
    let Some(TypeKind::Array(a)) = btf.get(arr).map(|t| &t.kind) else {
        return Err("`values` is not an array".into());
    };
    let ptr = btf.resolve(a.elem).map_err(|e| e.to_string())?;
    let Some(TypeKind::Ptr(target)) = btf.get(ptr).map(|t| &t.kind) else {
        return Err("`values` is not an array of pointers".into());
    };
    let target = btf.resolve(*target).map_err(|e| e.to_string())?;
    Ok(match btf.get(target).map(|t| &t.kind) {
        Some(TypeKind::Struct(_)) => Some(target),
        _ => None,
    })
}
