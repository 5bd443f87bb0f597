//! The ELF loader on hostile input: every malformed object gives an error naming what is wrong,
//! never a panic, a hang or unbounded memory.
//!
//! Three sources of bad objects: the fuzz corpus seeds (`fuzz/corpus/load_elf`), the fuzzed files
//! in `../shared/samples/invalid/`, and targeted corruptions of a real object below (truncation,
//! sections past the end or overlapping, huge counts and sizes, symbols past their section,
//! relocations at odd offsets or naming missing symbols, corrupted BTF).

use std::path::{Path, PathBuf};
use vouch_verifier::elf::{LoadError, LoadOptions, load};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fuzz_seeds_and_invalid_samples_never_panic() {
    let mut files =
        files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/load_elf"));
    let invalid = files_in(&shared().join("invalid"));
    assert!(invalid.len() >= 11, "expected the invalid/ samples");
    files.extend(invalid);
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        // Either outcome is fine; reaching the next line means no panic.
        let _ = load(&bytes, &LoadOptions::default());
    }
}

#[test]
fn invalid_samples_marked_reject_load_give_errors() {
    for name in [
        "58087ea4ff41695f3186d628a3250b26dc8d237a",
        "806cc077e56f0ec32236c99055714f63649e7a38",
        "ab3408afd06d68dd7e73bf21bde38350d9751a78",
        "badsymsize.o",
    ] {
        let bytes = std::fs::read(shared().join("invalid").join(name)).expect("readable");
        let err = load(&bytes, &LoadOptions::default()).expect_err(name);
        assert!(!err.to_string().is_empty());
    }
    let bytes = std::fs::read(shared().join("build/badrelo.o")).expect("readable");
    let err = load(&bytes, &LoadOptions::default()).expect_err("badrelo");
    assert!(
        matches!(&err, LoadError::UnknownExternal { name, .. } if name == "ebpf_map_update_elem"),
        "{err}"
    );
}

/// A real object to corrupt, and where its section headers are.
struct Victim {
    bytes: Vec<u8>,
    shoff: usize,
    shnum: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn victim() -> Victim {
    let bytes = std::fs::read(shared().join("libbpf-bootstrap/bootstrap.bpf.o")).expect("sample");
    let shoff = u64_at(&bytes, 0x28) as usize;
    let shnum = usize::from(u16_at(&bytes, 0x3c));
    Victim {
        bytes,
        shoff,
        shnum,
    }
}

impl Victim {
    fn header(&self, i: usize) -> usize {
        self.shoff + i * 64
    }

    fn section_type(&self, i: usize) -> u32 {
        u32_at(&self.bytes, self.header(i) + 4)
    }

    fn find(&self, sh_type: u32) -> usize {
        (0..self.shnum)
            .find(|&i| self.section_type(i) == sh_type)
            .expect("section of that type")
    }

    fn name_of(&self, i: usize) -> String {
        let strndx = usize::from(u16_at(&self.bytes, 0x3e));
        let str_off = u64_at(&self.bytes, self.header(strndx) + 24) as usize;
        let name = u32_at(&self.bytes, self.header(i)) as usize;
        let tail = &self.bytes[str_off + name..];
        let end = tail.iter().position(|&b| b == 0).unwrap_or(0);
        String::from_utf8_lossy(&tail[..end]).into_owned()
    }

    fn find_named(&self, name: &str) -> usize {
        (0..self.shnum)
            .find(|&i| self.name_of(i) == name)
            .expect("named section")
    }

    fn load_with(&self, corrupt: impl FnOnce(&mut Vec<u8>, &Victim)) -> Result<(), LoadError> {
        let mut b = self.bytes.clone();
        corrupt(&mut b, self);
        load(&b, &LoadOptions::default()).map(|_| ())
    }
}

const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;

#[test]
fn targeted_corruptions_give_clear_errors() {
    let v = victim();
    assert!(
        load(&v.bytes, &LoadOptions::default()).is_ok(),
        "the victim itself loads"
    );
    let symtab = v.find(SHT_SYMTAB);
    let rel = v.find(SHT_REL);
    let maps = v.find_named(".maps");
    let btf = v.find_named(".BTF");

    type Corruption = Box<dyn Fn(&mut Vec<u8>, &Victim)>;
    let cases: Vec<(&str, Corruption, &str)> = vec![
        (
            "truncated ELF header",
            Box::new(|b, _| b.truncate(40)),
            "section headers",
        ),
        (
            "truncated section headers",
            Box::new(|b, v| b.truncate(v.shoff + 100)),
            "section headers",
        ),
        ("not BPF", Box::new(|b, _| b[0x12] = 62), "EM_BPF"),
        ("32-bit class", Box::new(|b, _| b[4] = 1), "64-bit"),
        (
            "section past the end",
            Box::new(move |b, v| put_u64(b, v.header(maps) + 32, 1 << 40)),
            "extends past the end",
        ),
        (
            "huge section size",
            Box::new(move |b, v| put_u64(b, v.header(btf) + 32, u64::MAX)),
            "extends past the end",
        ),
        (
            "overlapping sections",
            Box::new(move |b, v| {
                let other = u64_at(b, v.header(symtab) + 24);
                put_u64(b, v.header(btf) + 24, other);
                put_u64(b, v.header(btf) + 32, 16);
            }),
            "overlap",
        ),
        (
            "symbol table not a multiple of the entry size",
            Box::new(move |b, v| {
                let size = u64_at(b, v.header(symtab) + 32);
                put_u64(b, v.header(symtab) + 32, size - 5);
            }),
            "not a multiple",
        ),
        (
            "function symbol past its section",
            Box::new(move |b, v| {
                let off = u64_at(b, v.header(symtab) + 24) as usize;
                let count = u64_at(b, v.header(symtab) + 32) as usize / 24;
                for i in 0..count {
                    let s = off + i * 24;
                    if b[s + 4] & 0xf == 2 {
                        put_u64(b, s + 16, 1 << 20);
                    }
                }
            }),
            "does not fit",
        ),
        (
            "symbol in a missing section",
            Box::new(move |b, v| {
                let off = u64_at(b, v.header(symtab) + 24) as usize;
                b[off + 24 + 6..off + 24 + 8].copy_from_slice(&500u16.to_le_bytes());
            }),
            "only",
        ),
        (
            "relocation at an odd offset",
            Box::new(move |b, v| {
                let off = u64_at(b, v.header(rel) + 24) as usize;
                let r = u64_at(b, off);
                put_u64(b, off, r + 3);
            }),
            "instruction boundary",
        ),
        (
            "relocation naming a missing symbol",
            Box::new(move |b, v| {
                let off = u64_at(b, v.header(rel) + 24) as usize;
                put_u32(b, off + 12, 100_000);
            }),
            "symbols",
        ),
        (
            "relocation section for a missing section",
            Box::new(move |b, v| put_u32(b, v.header(rel) + 44, 999)),
            "does not exist",
        ),
        (
            "BTF with an absurd type section length",
            Box::new(move |b, v| {
                let off = u64_at(b, v.header(btf) + 24) as usize;
                put_u32(b, off + 12, u32::MAX - 8);
            }),
            "BTF",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, corrupt, needle) in cases {
        match v.load_with(|b, v| corrupt(b, v)) {
            Err(e) if e.to_string().contains(needle) => {}
            other => wrong.push(format!(
                "{name}: expected an error containing `{needle}`, got {other:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every truncation and a deterministic spray of byte overwrites: no panic, no hang.
#[test]
fn truncations_and_overwrites_never_panic() {
    let v = victim();
    for len in (0..v.bytes.len()).step_by(13) {
        let _ = load(&v.bytes[..len], &LoadOptions::default());
    }
    // xorshift, fixed seed: the same positions every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut b = v.bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            b[at] = [0, 0xff, 0x7f, 0x80, next() as u8][(next() % 5) as usize];
        }
        let _ = load(&b, &LoadOptions::default());
    }
}
