//! `.BTF` and `.BTF.ext` of real objects (the shared samples corpus) and of the running kernel.
//! Test names start with `elf_` so that `cargo test -p vouch-verifier elf` runs them.

use goblin::elf::Elf;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vouch_verifier::elf::btf::{Btf, BtfKind, TypeKind};
use vouch_verifier::elf::btf_ext::{BtfExt, CoreReloKind, TargetField};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples")
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The contents of an object's `.BTF` and `.BTF.ext` sections.
struct Sections<'a> {
    btf: Option<&'a [u8]>,
    ext: Option<&'a [u8]>,
}

/// The BTF sections of an ELF file; `None` if it is not ELF.
fn btf_sections(bytes: &[u8]) -> Option<Sections<'_>> {
    let elf = Elf::parse(bytes).ok()?;
    let section = |wanted: &str| {
        elf.section_headers.iter().find_map(|sh| {
            let name = elf.shdr_strtab.get_at(sh.sh_name)?;
            if name != wanted {
                return None;
            }
            let start = usize::try_from(sh.sh_offset).ok()?;
            let len = usize::try_from(sh.sh_size).ok()?;
            bytes.get(start..start.checked_add(len)?)
        })
    };
    Some(Sections {
        btf: section(".BTF"),
        ext: section(".BTF.ext"),
    })
}

struct Object {
    path: PathBuf,
    btf: Btf,
    ext: Option<BtfExt>,
}

fn load(path: &Path) -> Option<Result<Object, String>> {
    let bytes = std::fs::read(path).ok()?;
    let sections = btf_sections(&bytes)?;
    let btf = match Btf::parse(sections.btf?) {
        Ok(btf) => btf,
        Err(e) => return Some(Err(e.to_string())),
    };
    let ext = match sections.ext.map(|b| BtfExt::parse(b, &btf)).transpose() {
        Ok(ext) => ext,
        Err(e) => return Some(Err(e.to_string())),
    };
    Some(Ok(Object {
        path: path.to_owned(),
        btf,
        ext,
    }))
}

fn sample(rel: &str) -> Object {
    let path = samples_dir().join(rel);
    match load(&path) {
        Some(Ok(object)) => object,
        Some(Err(e)) => panic!("{rel}: {e}"),
        None => panic!("{rel}: not an ELF file with .BTF"),
    }
}

#[test]
fn elf_every_sample_parses_and_invalid_ones_do_not_panic() {
    let mut files = Vec::new();
    all_files(&samples_dir(), &mut files);
    files.sort();
    if files.is_empty() {
        eprintln!("no samples under {}; skipping", samples_dir().display());
        return;
    }
    let (mut with_btf, mut with_ext, mut failures) = (0, 0, Vec::new());
    for path in &files {
        let invalid = path.components().any(|c| c.as_os_str() == "invalid");
        match load(path) {
            None => {}
            Some(Ok(object)) => {
                with_btf += 1;
                with_ext += usize::from(object.ext.is_some());
                exercise(&object);
            }
            Some(Err(e)) if invalid => eprintln!("{} (invalid, rejected): {e}", path.display()),
            Some(Err(e)) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    eprintln!(
        "{} files, {with_btf} with .BTF, {with_ext} with .BTF.ext",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        with_btf > 20 && with_ext > 20,
        "too few objects with BTF found"
    );
}

/// Queries every type and every record; none may fail on a well-formed object.
fn exercise(object: &Object) {
    let btf = &object.btf;
    let path = object.path.display();
    for id in 0..btf.type_count() as u32 {
        let _ = btf.type_name(id);
        let _ = btf.size_of(id);
        btf.resolve(id).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let Some(ext) = &object.ext else { return };
    for (section, relos) in ext.all_core_relos() {
        for relo in relos.iter().filter(|r| r.kind.is_field_based()) {
            let field = relo
                .local_field(btf)
                .unwrap_or_else(|e| panic!("{path} {section} insn {}: {e}", relo.insn));
            relo.field_value(btf, &field)
                .unwrap_or_else(|e| panic!("{path} {section} insn {}: {e}", relo.insn));
        }
    }
}

#[test]
fn elf_minimal_bootstrap_object_facts() {
    // Facts from `bpftool btf dump file minimal.bpf.o` and `llvm-objdump -d`.
    let object = sample("libbpf-bootstrap/minimal.bpf.o");
    let btf = &object.btf;
    let func = btf
        .find_by_name(BtfKind::Func, "handle_tp")
        .expect("FUNC handle_tp");
    assert_eq!(btf.type_name(func), "int handle_tp(void *)");
    let (_, license) = btf.find_datasec("license").expect("license DATASEC");
    let vars = btf.datasec_vars(license).expect("vars");
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].name, "LICENSE");
    assert_eq!(btf.type_name(vars[0].ty), "char[13]");
    assert_eq!(btf.size_of(vars[0].ty), Ok(13));
    let ext = object.ext.as_ref().expect(".BTF.ext");
    let section = "tp/syscalls/sys_enter_write";
    let funcs = ext.func_info(section);
    assert_eq!(funcs.len(), 1);
    assert_eq!((funcs[0].insn, funcs[0].name.as_str()), (0, "handle_tp"));
    let lines = ext.line_info(section);
    // minimal.bpf.c:18, the only call to bpf_printk.
    let printk = lines
        .iter()
        .find(|l| {
            l.line_text
                .contains("bpf_printk(\"BPF triggered from PID %d.\\n\", pid);")
        })
        .expect("line info quoting the bpf_printk call");
    assert_eq!((printk.insn, printk.line), (6, 18));
    assert!(lines.iter().all(|l| l.file.ends_with("minimal.bpf.c")));
    let first = ext.line_for_insn(section, 0).expect("line of insn 0");
    assert!(first.line > 0);
}

#[test]
fn elf_bootstrap_object_func_info_and_core_relos() {
    let object = sample("libbpf-bootstrap/bootstrap.bpf.o");
    let btf = &object.btf;
    let ext = object.ext.as_ref().expect(".BTF.ext");
    let names: Vec<&str> = ext
        .all_func_info()
        .values()
        .flatten()
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        names.contains(&"handle_exec") && names.contains(&"handle_exit"),
        "{names:?}"
    );
    for f in ext.all_func_info().values().flatten() {
        assert!(matches!(
            btf.get(f.type_id).map(|t| &t.kind),
            Some(TypeKind::Func(_))
        ));
    }
    // bootstrap reads task->real_parent->tgid and task->exit_code with BPF_CORE_READ.
    let relos: Vec<_> = ext.all_core_relos().values().flatten().collect();
    assert!(!relos.is_empty());
    let task = btf
        .find_by_name(BtfKind::Struct, "task_struct")
        .expect("local task_struct");
    let exit_code = relos
        .iter()
        .filter(|r| r.type_id == task && r.kind == CoreReloKind::FieldByteOffset)
        .find_map(|r| {
            let field = r.local_field(btf).ok()?;
            let member = btf.member(task, "exit_code").ok()??;
            (member.bit_offset == field.bit_offset).then_some(r)
        });
    assert!(
        exit_code.is_some(),
        "a relocation for task_struct.exit_code"
    );
}

fn vmlinux() -> Option<Vec<u8>> {
    match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            eprintln!("skipping: cannot read /sys/kernel/btf/vmlinux: {e}");
            None
        }
    }
}

#[test]
fn elf_kernel_btf_parses_quickly_and_has_task_struct() {
    let Some(bytes) = vmlinux() else { return };
    let start = Instant::now();
    let btf = Btf::parse(&bytes).expect("vmlinux BTF parses");
    let elapsed = start.elapsed();
    eprintln!(
        "parsed /sys/kernel/btf/vmlinux: {} bytes, {} types in {elapsed:?}",
        bytes.len(),
        btf.type_count()
    );
    let start = Instant::now();
    let task = btf
        .find_by_name(BtfKind::Struct, "task_struct")
        .expect("struct task_struct");
    eprintln!("find_by_name(task_struct) in {:?}", start.elapsed());
    assert!(btf.size_of(task).expect("sized") > 1000);
    let pid = btf
        .member(task, "pid")
        .expect("member search")
        .expect("member pid");
    assert_eq!(btf.type_name(pid.ty), "pid_t");
    assert_eq!(btf.size_of(pid.ty), Ok(4));
    let start = Instant::now();
    for id in 0..btf.type_count() as u32 {
        let _ = btf.size_of(id);
        let _ = btf.type_name(id);
    }
    eprintln!("size_of + type_name of every type in {:?}", start.elapsed());
}

#[test]
fn elf_bootstrap_core_relos_resolve_against_the_kernel() {
    let Some(bytes) = vmlinux() else { return };
    let kernel = Btf::parse(&bytes).expect("vmlinux BTF parses");
    let object = sample("libbpf-bootstrap/bootstrap.bpf.o");
    let ext = object.ext.as_ref().expect(".BTF.ext");
    let start = Instant::now();
    let mut count = 0;
    for relo in ext
        .all_core_relos()
        .values()
        .flatten()
        .filter(|r| r.kind.is_field_based())
    {
        count += 1;
        let local = relo.local_field(&object.btf).expect("local field");
        match relo
            .target_field(&object.btf, &kernel)
            .expect("target lookup")
        {
            TargetField::Found { field, .. } => {
                let value = relo.field_value(&kernel, &field).expect("value");
                eprintln!(
                    "{:?} {} {}: local bit {} -> kernel bit {} (value {value})",
                    relo.kind,
                    object.btf.type_name(relo.type_id),
                    relo.access_str,
                    local.bit_offset,
                    field.bit_offset
                );
            }
            other => panic!("{}: {other:?}", relo.access_str),
        }
    }
    eprintln!(
        "{count} field relocations resolved against vmlinux in {:?}",
        start.elapsed()
    );
    assert!(count > 0);
}

#[test]
fn elf_every_sample_core_relo_against_the_kernel() {
    let Some(bytes) = vmlinux() else { return };
    let kernel = Btf::parse(&bytes).expect("vmlinux BTF parses");
    let mut files = Vec::new();
    all_files(&samples_dir(), &mut files);
    files.sort();
    let (mut found, mut missing, mut errors) = (0, Vec::new(), Vec::new());
    let start = Instant::now();
    for path in files
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "invalid"))
    {
        let Some(Ok(object)) = load(path) else {
            continue;
        };
        let Some(ext) = &object.ext else { continue };
        for relo in ext
            .all_core_relos()
            .values()
            .flatten()
            .filter(|r| r.kind.is_field_based())
        {
            match relo.target_field(&object.btf, &kernel) {
                Ok(TargetField::Found { .. }) => found += 1,
                Ok(other) => {
                    missing.push(format!("{} {}: {other:?}", path.display(), relo.access_str))
                }
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
    }
    eprintln!(
        "{found} found, {} missing in {:?}",
        missing.len(),
        start.elapsed()
    );
    for m in &missing {
        eprintln!("  {m}");
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
