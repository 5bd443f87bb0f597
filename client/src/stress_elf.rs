//! Writes the stress program as a relocatable eBPF ELF object, so other verifiers (PREVAIL,
//! the Linux kernel through a loader that still reads legacy `maps` sections) can be timed on
//! exactly the program `vouch bench --stress` verifies.
//!
//! The object is what clang emits for such a program: one executable section `xdp` with a
//! global `STT_FUNC` symbol, a legacy `maps` section holding one `struct bpf_map_def`, an
//! `R_BPF_64_64` relocation on every `lddw` of the map, and a `license` section.

use vouch_verifier::analysis::MapInfo;
use vouch_verifier::isa::{Imm64Kind, Insn, encode_program};

const EM_BPF: u16 = 247;
const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_REL: u32 = 9;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const R_BPF_64_64: u64 = 1;

struct Section {
    name: &'static str,
    kind: u32,
    flags: u64,
    data: Vec<u8>,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// The object's bytes: `insns` as function `name` in section `xdp`, `map` as the one map.
pub fn object(insns: &[Insn], name: &str, map: &MapInfo) -> Vec<u8> {
    // clang leaves map references as plain `lddw` (src 0, imm 0) with a relocation.
    let mut relocations = vec![];
    let plain: Vec<Insn> = insns
        .iter()
        .enumerate()
        .map(|(pc, insn)| match *insn {
            Insn::LoadImm64 {
                dst,
                kind: Imm64Kind::MapFd,
                ..
            } => {
                relocations.push(pc as u64 * 8);
                Insn::LoadImm64 {
                    dst,
                    kind: Imm64Kind::Value,
                    imm: 0,
                    next_imm: 0,
                }
            }
            other => other,
        })
        .collect();
    let code = encode_program(&plain);

    let mut map_def = vec![];
    for v in [
        map.map_type,
        map.key_size,
        map.value_size,
        map.max_entries,
        0,
    ] {
        map_def.extend_from_slice(&v.to_le_bytes());
    }

    // String table: "", name, map name.
    let mut strtab = vec![0u8];
    let name_off = strtab.len() as u32;
    strtab.extend_from_slice(name.as_bytes());
    strtab.push(0);
    let map_off = strtab.len() as u32;
    strtab.extend_from_slice(map.name.as_bytes());
    strtab.push(0);

    // Section indices (0 is the null section).
    const XDP: u16 = 1;
    const MAPS: u16 = 2;
    const SYMTAB: u32 = 5;
    const STRTAB: u32 = 6;
    let mut symtab = vec![0u8; 24];
    let symbol = |out: &mut Vec<u8>, name: u32, info: u8, shndx: u16, size: u64| {
        out.extend_from_slice(&name.to_le_bytes());
        out.push(info);
        out.push(0);
        out.extend_from_slice(&shndx.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
    };
    // STB_GLOBAL << 4 | STT_FUNC, and STT_OBJECT.
    symbol(&mut symtab, name_off, 0x12, XDP, code.len() as u64);
    symbol(&mut symtab, map_off, 0x11, MAPS, map_def.len() as u64);
    let map_symbol = 2u64;
    let mut rel = vec![];
    for offset in relocations {
        rel.extend_from_slice(&offset.to_le_bytes());
        rel.extend_from_slice(&((map_symbol << 32) | R_BPF_64_64).to_le_bytes());
    }

    let sections = [
        Section {
            name: "xdp",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_EXECINSTR,
            data: code,
            link: 0,
            info: 0,
            align: 8,
            entsize: 0,
        },
        Section {
            name: "maps",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            data: map_def,
            link: 0,
            info: 0,
            align: 4,
            entsize: 0,
        },
        Section {
            name: "license",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            data: b"GPL\0".to_vec(),
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        },
        Section {
            name: ".relxdp",
            kind: SHT_REL,
            flags: 0,
            data: rel,
            link: SYMTAB,
            info: u32::from(XDP),
            align: 8,
            entsize: 16,
        },
        Section {
            name: ".symtab",
            kind: SHT_SYMTAB,
            flags: 0,
            data: symtab,
            link: STRTAB,
            info: 1,
            align: 8,
            entsize: 24,
        },
        Section {
            name: ".strtab",
            kind: SHT_STRTAB,
            flags: 0,
            data: strtab,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        },
    ];
    let mut shstrtab = vec![0u8];
    let mut name_offsets = vec![];
    for s in sections.iter().map(|s| s.name).chain([".shstrtab"]) {
        name_offsets.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(s.as_bytes());
        shstrtab.push(0);
    }

    let mut out = vec![0u8; 64];
    let mut headers: Vec<[u8; 64]> = vec![[0u8; 64]];
    let all = sections
        .iter()
        .map(|s| (s, s.data.as_slice()))
        .collect::<Vec<_>>();
    let shstr = Section {
        name: ".shstrtab",
        kind: SHT_STRTAB,
        flags: 0,
        data: shstrtab.clone(),
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    };
    for (i, (s, data)) in all
        .into_iter()
        .chain([(&shstr, shstrtab.as_slice())])
        .enumerate()
    {
        while !(out.len() as u64).is_multiple_of(s.align.max(1)) {
            out.push(0);
        }
        let offset = out.len() as u64;
        out.extend_from_slice(data);
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name_offsets[i].to_le_bytes());
        h[4..8].copy_from_slice(&s.kind.to_le_bytes());
        h[8..16].copy_from_slice(&s.flags.to_le_bytes());
        h[24..32].copy_from_slice(&offset.to_le_bytes());
        h[32..40].copy_from_slice(&(data.len() as u64).to_le_bytes());
        h[40..44].copy_from_slice(&s.link.to_le_bytes());
        h[44..48].copy_from_slice(&s.info.to_le_bytes());
        h[48..56].copy_from_slice(&s.align.to_le_bytes());
        h[56..64].copy_from_slice(&s.entsize.to_le_bytes());
        headers.push(h);
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    for h in &headers {
        out.extend_from_slice(h);
    }
    let shnum = headers.len() as u16;
    let e = &mut out[..64];
    e[0..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // ELFCLASS64
    e[5] = 1; // little-endian
    e[6] = 1; // EV_CURRENT
    e[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
    e[18..20].copy_from_slice(&EM_BPF.to_le_bytes());
    e[20..24].copy_from_slice(&1u32.to_le_bytes());
    e[40..48].copy_from_slice(&shoff.to_le_bytes());
    e[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    e[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    e[60..62].copy_from_slice(&shnum.to_le_bytes());
    e[62..64].copy_from_slice(&(shnum - 1).to_le_bytes()); // e_shstrndx
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier::analysis::{Options, Verdict, verify_program};
    use vouch_verifier::elf::{LoadOptions, load};
    use vouch_verifier::isa::asm::assemble;

    /// The object loads back to the same program (map references relocated to the map) and
    /// verifies as the in-memory program does.
    #[test]
    fn emitted_object_loads_back_to_the_same_program() {
        let insns = assemble(&crate::stress::program(3)).expect("stress program assembles");
        let map = MapInfo {
            name: "counters".into(),
            map_type: 1,
            key_size: 4,
            value_size: 8,
            max_entries: 1024,
            read_only: false,
            frozen: None,
            inner: None,
        };
        let bytes = object(&insns, "stress", &map);
        let obj = load(&bytes, &LoadOptions::default()).expect("emitted object loads");
        assert_eq!(obj.maps.len(), 1);
        assert_eq!(obj.maps[0].name, "counters");
        assert_eq!((obj.maps[0].key_size, obj.maps[0].value_size), (4, 8));
        let program = obj
            .programs
            .iter()
            .find(|p| p.section == "xdp" && p.function == "stress")
            .expect("xdp/stress listed");
        let loaded = program.insns.as_ref().expect("decodes");
        assert_eq!(loaded, &insns);
        let report = verify_program(&obj, program, &Options::default());
        assert_eq!(report.verdict, Verdict::Accepted);
    }
}
