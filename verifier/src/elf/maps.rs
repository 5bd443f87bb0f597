//! Map definitions: legacy `maps` sections, BTF-defined `.maps`, and the array maps that hold
//! global data (`.data`, `.rodata`, `.bss`, `.kconfig`).
//!
//! The loader gives every map an index in [`super::Object::maps`]; a relocated `lddw` refers to
//! a map by that index (its `imm`), the way a loaded program refers to a map by fd.

use super::LoadError;
use super::btf::{Btf, TypeId};
use super::file::{ElfFile, Section};
use std::collections::HashMap;

/// Where a map's definition came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapSource {
    /// A `struct bpf_map_def` record in a legacy `maps` section.
    Legacy {
        section: String,
        offset: u64,
        record_size: u64,
    },
    /// A BTF-defined map in `.maps`.
    Btf,
    /// The global variables of a data section, as a one-element array.
    GlobalData { section: String, read_only: bool },
    /// `extern ... __kconfig` variables, filled in by the loader of the target host.
    Kconfig,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub pinning: u32,
    /// Legacy `inner_map_idx`: the index (among this section's records) of the inner map template.
    pub inner_map_idx: Option<u32>,
    /// BTF map-in-map: the template of the inner maps.
    pub inner: Option<Box<MapDef>>,
    pub key_type: Option<TypeId>,
    pub value_type: Option<TypeId>,
    pub source: MapSource,
    /// Initial contents of a global-data map (zeros for `.bss`).
    pub initial: Option<Vec<u8>>,
}

/// `BPF_MAP_TYPE_*` names, by number (uapi order).
const MAP_TYPE_NAMES: [&str; 33] = [
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
];

pub const MAP_TYPE_ARRAY: u32 = 2;
pub const MAP_TYPE_PROG_ARRAY: u32 = 3;

/// The name of a `BPF_MAP_TYPE_*` number, or `type N` for numbers Linux does not define.
pub fn map_type_name(map_type: u32) -> String {
    MAP_TYPE_NAMES
        .get(map_type as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("type {map_type}"))
}

/// Maps found in an object, with the lookups relocation needs.
#[derive(Debug, Default)]
pub struct MapTable {
    pub maps: Vec<MapDef>,
    /// (section index, byte offset of the definition) → map index, for legacy and BTF maps.
    by_location: HashMap<(usize, u64), usize>,
    /// Data section index → map index.
    by_data_section: HashMap<usize, usize>,
    /// `.kconfig` extern name → byte offset in the kconfig map.
    pub kconfig_offsets: HashMap<String, u64>,
    pub kconfig_map: Option<usize>,
}

impl MapTable {
    pub fn map_at(&self, section: usize, offset: u64) -> Option<usize> {
        self.by_location.get(&(section, offset)).copied()
    }

    pub fn data_map(&self, section: usize) -> Option<usize> {
        self.by_data_section.get(&section).copied()
    }

    fn push(&mut self, def: MapDef) -> usize {
        self.maps.push(def);
        self.maps.len() - 1
    }
}

/// Whether a section holds legacy map definitions.
pub fn is_legacy_maps_section(name: &str) -> bool {
    name == "maps" || name.starts_with("maps/")
}

/// Whether a section holds global data that becomes an array map.
pub fn is_data_section(s: &Section<'_>) -> bool {
    let n = s.name.as_str();
    let data_name = [".data", ".rodata", ".bss"]
        .iter()
        .any(|p| n == *p || n.strip_prefix(p).is_some_and(|rest| rest.starts_with('.')));
    data_name && !s.is_executable()
}

/// Collects every map of the object.
pub fn collect(elf: &ElfFile<'_>, btf: Option<&Btf>) -> Result<MapTable, LoadError> {
    let mut table = MapTable::default();
    for section in &elf.sections {
        if is_legacy_maps_section(&section.name) {
            legacy(elf, section, &mut table)?;
        }
    }
    if let Some(section) = elf.section_by_name(".maps") {
        let btf = btf.ok_or_else(|| {
            LoadError::Malformed(
                "the object has a `.maps` section but no `.BTF` to describe it".into(),
            )
        })?;
        super::btf_maps::collect(btf, elf, section, &mut table.maps, &mut table.by_location)?;
    }
    for section in elf.sections.iter().filter(|s| is_data_section(s)) {
        let value_size = u32::try_from(section.size).map_err(|_| {
            LoadError::Malformed(format!(
                "data section `{}` is larger than 4 GiB",
                section.name
            ))
        })?;
        let read_only = section.name.starts_with(".rodata");
        let initial = if section.data.is_empty() {
            vec![0; section.size.min(super::file::MAX_OBJECT_BYTES as u64) as usize]
        } else {
            section.data.to_vec()
        };
        let index = table.push(MapDef {
            name: section.name.clone(),
            map_type: MAP_TYPE_ARRAY,
            key_size: 4,
            value_size,
            max_entries: 1,
            flags: if read_only { 0x80 } else { 0 },
            pinning: 0,
            inner_map_idx: None,
            inner: None,
            key_type: None,
            value_type: btf
                .and_then(|b| b.find_datasec(&section.name))
                .map(|(id, _)| id),
            source: MapSource::GlobalData {
                section: section.name.clone(),
                read_only,
            },
            initial: Some(initial),
        });
        table.by_data_section.insert(section.index, index);
    }
    kconfig(btf, &mut table)?;
    Ok(table)
}

/// Legacy `struct bpf_map_def` records. The record size is the section size divided by the number
/// of map symbols in it, as libbpf computes it, so objects built against any version of the struct
/// (20, 28, 32 bytes, ...) load.
fn legacy(elf: &ElfFile<'_>, section: &Section<'_>, table: &mut MapTable) -> Result<(), LoadError> {
    let mut syms: Vec<(&str, u64)> = elf
        .symbols
        .iter()
        .filter(|s| s.section == Some(section.index) && !s.is_section() && !s.name.is_empty())
        .map(|s| (s.name.as_str(), s.value))
        .collect();
    syms.sort_by_key(|(_, v)| *v);
    syms.dedup_by_key(|(_, v)| *v);
    let size = section.data.len() as u64;
    if size == 0 {
        return Ok(());
    }
    if syms.is_empty() {
        return Err(LoadError::Malformed(format!(
            "map section `{}` has {size} bytes but no map symbols",
            section.name
        )));
    }
    let count = syms.len() as u64;
    if !size.is_multiple_of(count) {
        return Err(LoadError::Malformed(format!(
            "map section `{}` ({size} bytes) does not divide into {count} map definitions",
            section.name
        )));
    }
    let record_size = size / count;
    if record_size < 16 {
        return Err(LoadError::Malformed(format!(
            "map definitions in `{}` are {record_size} bytes; at least 16 (type, key, value, max entries) are needed",
            section.name
        )));
    }
    for (name, offset) in syms {
        if offset % record_size != 0 || offset + record_size > size {
            return Err(LoadError::Malformed(format!(
                "map `{name}` at offset {offset} in `{}` is not on a {record_size}-byte record boundary inside the section",
                section.name
            )));
        }
        let rec = &section.data[offset as usize..(offset + record_size) as usize];
        let field = |i: usize| -> u32 {
            rec.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0)
        };
        let has_inner = record_size >= 24;
        let index = table.push(MapDef {
            name: name.to_string(),
            map_type: field(0),
            key_size: field(1),
            value_size: field(2),
            max_entries: field(3),
            flags: field(4),
            pinning: if record_size >= 32 { field(7) } else { 0 },
            // Only maps of maps have an inner template (index 0 is a valid one).
            inner_map_idx: (has_inner && matches!(field(0), 12 | 13)).then(|| field(5)),
            inner: None,
            key_type: None,
            value_type: None,
            source: MapSource::Legacy {
                section: section.name.clone(),
                offset,
                record_size,
            },
            initial: None,
        });
        table.by_location.insert((section.index, offset), index);
    }
    Ok(())
}

/// `.kconfig` externs become one map laid out as the `.kconfig` DATASEC says.
fn kconfig(btf: Option<&Btf>, table: &mut MapTable) -> Result<(), LoadError> {
    let Some(btf) = btf else { return Ok(()) };
    let Some((id, sec)) = btf.find_datasec(".kconfig") else {
        return Ok(());
    };
    let vars = btf.datasec_vars(sec).map_err(LoadError::Btf)?;
    let mut size = 0u64;
    for v in &vars {
        table
            .kconfig_offsets
            .insert(v.name.to_string(), u64::from(v.offset));
        size = size.max(u64::from(v.offset) + u64::from(v.size));
    }
    let value_size = u32::try_from(size)
        .map_err(|_| LoadError::Malformed(".kconfig data is larger than 4 GiB".into()))?;
    let index = table.push(MapDef {
        name: ".kconfig".into(),
        map_type: MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries: 1,
        flags: 0x80,
        pinning: 0,
        inner_map_idx: None,
        inner: None,
        key_type: None,
        value_type: Some(id),
        source: MapSource::Kconfig,
        initial: Some(vec![0; value_size as usize]),
    });
    table.kconfig_map = Some(index);
    Ok(())
}
