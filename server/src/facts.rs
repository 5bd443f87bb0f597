//! What a verdict says about a program, computed from the verifier's types: the program digest,
//! the map and helper bindings, the errors, the option names. Shared by `vouchd` (which signs
//! them) and `vouch audit --reverify` (which recomputes them locally), so both agree by
//! construction.
//!
//! **Program digest** (`sha256:` in the statement's program subject): sha256 of a
//! length-prefixed, little-endian encoding of everything the verdict depends on in the linked
//! program: the tag `vouch-program-v1`, the program type's name, the instruction slots (after
//! linking and relocation, so map `lddw`s carry map indices), every referenced map (index, name,
//! type, key/value size, max entries, flags, initial contents of data maps, inner map template),
//! the helper ids and kfunc names. Section and function names are not in it (they are in the
//! subject's name), so a renamed but identical program has the same digest.

use sha2::{Digest, Sha256};
use vouch_proto::envelope::{ErrorInfo, MapBinding, MapTemplate, OptionsInfo, SourceInfo};
use vouch_verifier::analysis::{Options, Report};
use vouch_verifier::elf::{MapDef, Object, Program};

struct Hasher(Sha256);

impl Hasher {
    fn u32(&mut self, v: u32) {
        self.0.update(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.update(b);
    }
    fn map(&mut self, m: &MapDef) {
        self.bytes(m.name.as_bytes());
        for v in [
            m.map_type,
            m.key_size,
            m.value_size,
            m.max_entries,
            m.flags,
            m.inner_map_idx.map_or(u32::MAX, |i| i),
        ] {
            self.u32(v);
        }
        match &m.initial {
            Some(init) => {
                self.u32(1);
                self.bytes(init);
            }
            None => self.u32(0),
        }
        match &m.inner {
            Some(inner) => {
                self.u32(1);
                self.map(inner);
            }
            None => self.u32(0),
        }
    }
}

/// The program digest (raw sha256); see the module documentation for what it covers.
pub fn program_digest(object: &Object, program: &Program) -> [u8; 32] {
    let mut h = Hasher(Sha256::new());
    h.bytes(b"vouch-program-v1");
    h.bytes(program.program_type.name().as_bytes());
    h.u64(program.slots.len() as u64);
    for slot in &program.slots {
        h.0.update(slot.to_bytes());
    }
    h.u64(program.maps.len() as u64);
    for &i in &program.maps {
        h.u64(i as u64);
        match object.maps.get(i) {
            Some(m) => {
                h.u32(1);
                h.map(m);
            }
            None => h.u32(0),
        }
    }
    h.u64(program.helpers.len() as u64);
    for &id in &program.helpers {
        h.u32(id as u32);
    }
    h.u64(program.kfuncs.len() as u64);
    for k in &program.kfuncs {
        h.bytes(k.as_bytes());
    }
    h.0.finalize().into()
}

/// The maps a program binds, as the statement lists them: identity (what the driver compares
/// with the image's map slots) plus what a host needs to create them without the ELF: initial
/// contents of global data, whether they are frozen, the inner template of a map of maps.
pub fn map_bindings(object: &Object, program: &Program) -> Vec<MapBinding> {
    let table = vouch_verifier::analysis::map_table(&object.maps);
    program
        .maps
        .iter()
        .filter_map(|&i| {
            let m = object.maps.get(i)?;
            // The template: a BTF inner definition, or (legacy) another record of the object.
            let inner = m.inner.as_deref().or_else(|| {
                let j = table.get(i)?.inner?;
                object.maps.get(j)
            });
            Some(MapBinding {
                index: u32::try_from(i).ok()?,
                name: m.name.clone(),
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.flags,
                initial: m.initial.as_deref().map(hex),
                frozen: table.get(i).is_some_and(|t| t.frozen.is_some()),
                inner: inner.map(|t| {
                    Box::new(MapTemplate {
                        name: t.name.clone(),
                        map_type: t.map_type,
                        key_size: t.key_size,
                        value_size: t.value_size,
                        max_entries: t.max_entries,
                        flags: t.flags,
                    })
                }),
            })
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Helper ids, sorted and without repeats.
pub fn helper_ids(program: &Program) -> Vec<i64> {
    let mut ids: Vec<i64> = program.helpers.iter().map(|&h| i64::from(h)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The options a statement names: the analysis options, the digest of the kernel BTF
/// (`sha256:<hex>`) when one was given, and whether alarms were refined with Z3.
pub fn options_info(options: &Options, kernel_btf: Option<&str>, z3: bool) -> OptionsInfo {
    OptionsInfo {
        kernel_btf: kernel_btf.map(str::to_owned),
        z3,
        domain: if options.relational {
            "zone"
        } else {
            "interval"
        }
        .to_owned(),
        strict_div: options.strict_div,
        allow_ptr_leaks: options.allow_ptr_leaks,
    }
}

/// The analysis options a statement names (for re-verification).
pub fn options_from_info(info: &OptionsInfo) -> Option<Options> {
    let relational = match info.domain.as_str() {
        "zone" => true,
        "interval" => false,
        _ => return None,
    };
    Some(Options {
        relational,
        strict_div: info.strict_div,
        allow_ptr_leaks: info.allow_ptr_leaks,
        ..Options::default()
    })
}

/// The errors of a report, root cause first, with their source positions.
pub fn error_infos(program: &Program, report: &Report) -> Vec<ErrorInfo> {
    report
        .diagnostics
        .iter()
        .map(|d| ErrorInfo {
            pc: d.pc as u64,
            kind: d.kind.to_owned(),
            message: d.message.clone(),
            source: program.line_at(d.pc).map(|l| SourceInfo {
                file: l.file.clone(),
                line: l.line,
                column: l.column,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier::elf::{LoadOptions, load};

    fn corpus(name: &str) -> Object {
        let path = format!("{}/../corpus/build/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).expect("corpus object");
        load(&bytes, &LoadOptions::default()).expect("loads")
    }

    #[test]
    fn digest_is_stable_and_sensitive() {
        let a = corpus("xdp_drop_icmp.bpf.o");
        let b = corpus("xdp_drop_icmp.bpf.o");
        let pa = &a.programs[0];
        assert_eq!(program_digest(&a, pa), program_digest(&b, &b.programs[0]));
        let mut changed = pa.clone();
        changed.slots[0].imm ^= 1;
        assert_ne!(program_digest(&a, pa), program_digest(&a, &changed));
        let mut typed = pa.clone();
        typed.program_type = vouch_verifier::platform::ProgramType::SchedCls;
        assert_ne!(program_digest(&a, pa), program_digest(&a, &typed));
    }

    #[test]
    fn map_changes_change_the_digest() {
        let object = corpus("xdp_proto_count.bpf.o");
        let p = &object.programs[0];
        assert!(!p.maps.is_empty());
        let mut other = object.clone();
        other.maps[p.maps[0]].max_entries += 1;
        assert_ne!(program_digest(&object, p), program_digest(&other, p));
        assert_eq!(map_bindings(&object, p).len(), p.maps.len());
    }

    #[test]
    fn global_data_and_inner_templates_are_in_the_bindings() {
        let object = corpus("globals.bpf.o");
        let p = &object.programs[0];
        let b = map_bindings(&object, p);
        let rodata = b
            .iter()
            .find(|m| m.name.contains("rodata"))
            .expect(".rodata");
        assert!(rodata.frozen && rodata.initial.is_some());
        assert_eq!(
            rodata.initial_bytes().expect("hex"),
            object.maps[rodata.index as usize].initial
        );
        let object = corpus("map_in_map.bpf.o");
        let b = map_bindings(&object, &object.programs[0]);
        assert!(b.iter().any(|m| m.inner.is_some()), "{b:?}");
    }

    #[test]
    fn options_round_trip() {
        for relational in [true, false] {
            let o = Options {
                relational,
                strict_div: true,
                ..Options::default()
            };
            assert_eq!(options_from_info(&options_info(&o, None, false)), Some(o));
        }
    }
}
