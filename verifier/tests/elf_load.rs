//! What the loader makes of real objects: linking, relocations, maps, global data, CO-RE, line
//! info and program types, each checked against facts read off the objects with llvm-objdump,
//! bpftool or the kernel's BTF.

use std::path::{Path, PathBuf};
use vouch_verifier::elf::{LoadOptions, MapSource, Object, btf::Btf, load};
use vouch_verifier::isa::{CallTarget, Imm64Kind, Insn};
use vouch_verifier::platform::ProgramType;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples")
        .join(name)
}

fn load_sample(name: &str, options: &LoadOptions) -> Object {
    let bytes = std::fs::read(sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    load(&bytes, options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn insns(object: &Object, function: &str) -> Vec<Insn> {
    let p = object
        .programs
        .iter()
        .find(|p| p.function == function)
        .expect("program");
    p.insns.clone().expect("decodes")
}

#[test]
fn bpf_to_bpf_calls_are_linked_after_the_entry() {
    let object = load_sample("build/bpf2bpf.o", &LoadOptions::default());
    let p = object
        .programs
        .iter()
        .find(|p| p.section == "test")
        .expect("test/func");
    let names: Vec<&str> = p.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["func", "add2", "add1"]);
    let code = p.insns.as_ref().expect("decodes");
    // Every local call lands on the first instruction of a linked function.
    let starts: Vec<usize> = p.functions.iter().map(|f| f.pc).collect();
    let mut calls = 0;
    for (pc, insn) in code.iter().enumerate() {
        if let Insn::Call(CallTarget::Local(rel)) = insn {
            let target = (pc as i64 + 1 + i64::from(*rel)) as usize;
            assert!(
                starts[1..].contains(&target),
                "call at {pc} lands at {target}"
            );
            calls += 1;
        }
    }
    assert_eq!(calls, 4);
    assert_eq!(
        p.slots.len(),
        p.functions.iter().map(|f| f.len).sum::<usize>()
    );
}

#[test]
fn global_data_becomes_array_maps_with_offsets() {
    let object = load_sample("build/global_variable.o", &LoadOptions::default());
    let data = object
        .maps
        .iter()
        .position(|m| m.name == ".data")
        .expect(".data map");
    assert_eq!(object.maps[data].value_size, 40);
    assert!(matches!(
        &object.maps[data].source,
        MapSource::GlobalData {
            read_only: false,
            ..
        }
    ));
    let rodata = object
        .maps
        .iter()
        .find(|m| m.name == ".rodata")
        .expect(".rodata");
    assert!(matches!(
        &rodata.source,
        MapSource::GlobalData {
            read_only: true,
            ..
        }
    ));
    let refs: Vec<(i32, i32)> = insns(&object, "func")
        .iter()
        .filter_map(|i| match *i {
            Insn::LoadImm64 {
                kind: Imm64Kind::MapValue,
                imm,
                next_imm,
                ..
            } => Some((imm, next_imm)),
            _ => None,
        })
        .collect();
    assert!(!refs.is_empty());
    for (map, offset) in refs {
        let m = &object.maps[map as usize];
        assert!(
            (offset as u32) < m.value_size,
            "offset {offset} inside {}",
            m.name
        );
    }
}

#[test]
fn legacy_map_definitions_are_read_with_their_record_size() {
    let object = load_sample("linux/sockex1_kern.o", &LoadOptions::default());
    let m = &object.maps[0];
    assert_eq!(
        (
            m.name.as_str(),
            m.map_type,
            m.key_size,
            m.value_size,
            m.max_entries
        ),
        ("my_map", 2, 4, 8, 256)
    );
    assert!(matches!(m.source, MapSource::Legacy { .. }));
    let map_refs = insns(&object, "socket1")
        .iter()
        .filter(|i| {
            matches!(
                i,
                Insn::LoadImm64 {
                    kind: Imm64Kind::MapFd,
                    imm: 0,
                    ..
                }
            )
        })
        .count();
    assert_eq!(map_refs, 1);
    assert_eq!(object.programs[0].program_type, ProgramType::SocketFilter);
    assert_eq!(object.license.as_deref(), Some("GPL"));
}

#[test]
fn btf_map_in_map_has_an_inner_template() {
    let object = load_sample("build/map_in_map.o", &LoadOptions::default());
    let outer = object
        .maps
        .iter()
        .find(|m| m.name == "array_of_maps")
        .expect("outer");
    assert_eq!(outer.map_type, 12);
    let inner = outer.inner.as_ref().expect("inner template");
    assert_eq!(
        (inner.map_type, inner.key_size, inner.value_size),
        (2, 4, 4)
    );
}

#[test]
fn helpers_named_by_extern_calls_are_resolved() {
    let object = load_sample("build/externalfunction.o", &LoadOptions::default());
    assert_eq!(object.programs[0].helpers, vec![1]);
}

#[test]
fn line_info_maps_pcs_to_source() {
    let object = load_sample("libbpf-bootstrap/minimal.bpf.o", &LoadOptions::default());
    let p = &object.programs[0];
    assert_eq!(p.program_type, ProgramType::Tracepoint);
    let line = p.line_at(6).expect("line info at pc 6");
    assert!(line.text.contains("bpf_printk"), "{line:?}");
    assert!(line.file.ends_with("minimal.bpf.c"), "{line:?}");
    assert!(
        p.line_at(0)
            .is_some_and(|l| l.text.contains("bpf_get_current_pid_tgid"))
    );
}

#[test]
fn program_type_override_and_numeric_sections() {
    let options = LoadOptions {
        program_type: Some(ProgramType::Xdp),
        ..LoadOptions::default()
    };
    let object = load_sample("linux/sockex1_kern.o", &options);
    assert_eq!(object.programs[0].program_type, ProgramType::Xdp);
}

/// With the running kernel's BTF, CO-RE field offsets become the kernel's offsets.
#[test]
fn core_relocations_follow_the_target_btf() {
    let Ok(vmlinux) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("skipped: /sys/kernel/btf/vmlinux is not readable");
        return;
    };
    let target = Btf::parse(&vmlinux).expect("kernel BTF parses");
    let local = load_sample("libbpf-bootstrap/bootstrap.bpf.o", &LoadOptions::default());
    let options = LoadOptions {
        target_btf: Some(std::sync::Arc::new(target.clone())),
        ..LoadOptions::default()
    };
    let relocated = load_sample("libbpf-bootstrap/bootstrap.bpf.o", &options);
    let task = target
        .find_by_name(vouch_verifier::elf::btf::BtfKind::Struct, "task_struct")
        .expect("task_struct");
    let real_parent = target
        .member(task, "real_parent")
        .expect("lookup")
        .expect("member")
        .byte_offset();
    let local_code = insns(&local, "handle_exec");
    let kernel_code = insns(&relocated, "handle_exec");
    let changed: Vec<(usize, &Insn, &Insn)> = local_code
        .iter()
        .zip(&kernel_code)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, a, b))
        .collect();
    // The program reads task->real_parent->tgid: one of the patched immediates is the kernel's
    // offset of real_parent.
    let offsets: Vec<i64> = changed
        .iter()
        .filter_map(|(_, _, b)| match b {
            Insn::Alu {
                src: vouch_verifier::isa::Operand::Imm(i),
                ..
            } => Some(i64::from(*i)),
            Insn::Load { off, .. } => Some(i64::from(*off)),
            _ => None,
        })
        .collect();
    if local_code == kernel_code {
        eprintln!("the object's own offsets already match this kernel");
    } else {
        assert!(
            offsets.contains(&(real_parent as i64)),
            "patched values {offsets:?}, real_parent at {real_parent}"
        );
    }
}
