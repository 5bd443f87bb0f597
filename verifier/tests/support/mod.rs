//! Inputs for tests that run accepted programs: the listed programs of a folder, random packets
//! parsers get deep into, random map contents. Shared by `soundness_oracle.rs` and
//! `jit_differential.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use vouch_verifier::analysis::{MapInfo, Options, Verdict, verify_program};
use vouch_verifier::elf::{LoadOptions, MapSource, Object, Program, load};
use vouch_verifier::runtime::maps::types;
use vouch_verifier::runtime::{Rng, Runtime, RuntimeConfig};

/// Largest random packet.
pub const MAX_PACKET: usize = 1600;

/// (object, section, function) of every listed program.
pub fn listed(dir: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("EXPECTED.tsv")) {
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split('\t').collect();
            if c.len() >= 3 {
                out.push((c[0].into(), c[1].into(), c[2].into()));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("manifest.toml")) {
        let mut cur: BTreeMap<String, String> = BTreeMap::new();
        let mut flush = |cur: &mut BTreeMap<String, String>| {
            if let (Some(o), Some(s), Some(f)) =
                (cur.get("object"), cur.get("section"), cur.get("function"))
            {
                out.push((o.clone(), s.clone(), f.clone()));
            }
            cur.clear();
        };
        for line in text.lines() {
            if line.trim() == "[[program]]" {
                flush(&mut cur);
            } else if let Some((k, v)) = line.split_once(" = ")
                && let Some(v) = v.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"'))
            {
                cur.insert(k.trim().to_string(), v.to_string());
            }
        }
        flush(&mut cur);
    }
    out
}

/// FNV-1a, for a per-program seed that does not depend on iteration order.
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A random key: a small integer (as arrays and counters use), the runtime's pid/tgid (as
/// tracing programs use), or random bytes.
pub fn random_key(rng: &mut Rng, size: usize) -> Vec<u8> {
    let pid_tgid = RuntimeConfig::default().pid_tgid;
    let number = match rng.below(3) {
        0 => rng.below(8),
        1 if size == 4 => pid_tgid & 0xffff_ffff,
        1 => pid_tgid,
        _ => return rng.bytes(size),
    };
    let mut k = vec![0; size];
    let n = size.min(8);
    k[..n].copy_from_slice(&number.to_le_bytes()[..n]);
    k
}

/// One of `items`, uniformly.
pub fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// A random packet that parsers get deep into: Ethernet (maybe VLAN-tagged), IPv4 or IPv6 (or
/// another EtherType), TCP/UDP/ICMP/GRE (or another protocol), random payload; then cut to a
/// length biased towards header boundaries, where bounds checks matter.
pub fn random_packet(rng: &mut Rng) -> Vec<u8> {
    let mut p = rng.bytes(12);
    let mut ethertype: u16 = pick(
        rng,
        &[0x0800, 0x0800, 0x0800, 0x86dd, 0x86dd, 0x8100, 0x0806],
    );
    if rng.below(8) == 0 {
        ethertype = rng.next_u64() as u16;
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    if ethertype == 0x8100 {
        p.extend_from_slice(&(rng.next_u64() as u16 & 0x0fff).to_be_bytes());
        ethertype = pick(rng, &[0x0800, 0x86dd]);
        p.extend_from_slice(&ethertype.to_be_bytes());
    }
    let mut proto: u8 = pick(rng, &[6, 6, 17, 17, 1, 47, 58]);
    if rng.below(8) == 0 {
        proto = rng.next_u64() as u8;
    }
    match ethertype {
        0x0800 => {
            let ihl = if rng.below(4) == 0 {
                5 + rng.below(11) as u8
            } else {
                5
            };
            let mut ip = rng.bytes(usize::from(ihl) * 4);
            ip[0] = 0x40 | ihl;
            let frag: u16 = if rng.below(4) == 0 {
                rng.next_u64() as u16
            } else {
                0x4000
            };
            ip[6..8].copy_from_slice(&frag.to_be_bytes());
            ip[9] = proto;
            p.extend_from_slice(&ip);
        }
        0x86dd => {
            let mut ip = rng.bytes(40);
            ip[0] = 0x60 | (ip[0] & 0x0f);
            ip[6] = proto;
            p.extend_from_slice(&ip);
        }
        _ => {}
    }
    match proto {
        6 => {
            let mut tcp = rng.bytes(20);
            let any = rng.next_u64() as u16;
            let port: u16 = pick(rng, &[80, 443, 22, 8080, any]);
            tcp[2..4].copy_from_slice(&port.to_be_bytes());
            let doff = if rng.below(4) == 0 {
                5 + rng.below(11) as u8
            } else {
                5
            };
            tcp[12] = doff << 4;
            p.extend_from_slice(&tcp);
            let opts = rng.bytes((usize::from(doff) - 5) * 4);
            p.extend_from_slice(&opts);
        }
        17 => {
            let mut udp = rng.bytes(8);
            let any = rng.next_u64() as u16;
            let port: u16 = pick(rng, &[53, 4789, 6081, 67, any]);
            udp[2..4].copy_from_slice(&port.to_be_bytes());
            p.extend_from_slice(&udp);
        }
        _ => {}
    }
    let headers = p.len();
    let payload = rng.below(MAX_PACKET as u64 - headers as u64) as usize;
    p.extend_from_slice(&rng.bytes(payload));
    let len = match rng.below(4) {
        // Cut near the end of the headers, where parsers check bounds.
        0 | 1 => (headers as u64 + 8).saturating_sub(rng.below(24)) as usize,
        2 => rng.below(129) as usize,
        _ => p.len(),
    };
    p.truncate(len);
    p
}

/// Fills the object's maps with random contents. `targets` are the program indices a
/// prog_array may point at.
pub fn populate(
    rt: &mut Runtime,
    object: &Object,
    table: &[MapInfo],
    rng: &mut Rng,
    targets: &[u32],
) {
    for i in 0..table.len() {
        let info = table[i].clone();
        if info.frozen.is_some() {
            continue;
        }
        let global = object
            .maps
            .get(i)
            .is_some_and(|d| matches!(d.source, MapSource::GlobalData { .. }));
        let ks = info.key_size as usize;
        let vs = info.value_size as usize;
        match info.map_type {
            types::PROG_ARRAY => {
                for slot in 0..info.max_entries.min(64) {
                    if targets.is_empty() || rng.below(4) == 0 {
                        continue;
                    }
                    let t = targets[rng.below(targets.len() as u64) as usize];
                    let _ = rt.maps[i].update(&slot.to_le_bytes(), &t.to_le_bytes(), 0);
                }
            }
            types::ARRAY_OF_MAPS | types::HASH_OF_MAPS => {
                let Some(inner) = info.inner.and_then(|t| table.get(t)).cloned() else {
                    continue;
                };
                for _ in 0..4 {
                    let Ok(m) = rt.add_map(&inner) else { break };
                    fill(rt, m, &inner, rng);
                    let key = random_key(rng, ks);
                    let _ = rt.maps[i].update(&key, &(m as u32).to_le_bytes(), 0);
                }
            }
            _ if global && rng.below(2) == 0 => {
                // User space may write .data/.bss; keep the initial contents half the time.
                let _ = rt.set_array_bytes(i, 0, &rng.bytes(vs));
            }
            _ if global => {}
            _ => fill(rt, i, &info, rng),
        }
    }
}

pub fn fill(rt: &mut Runtime, m: usize, info: &MapInfo, rng: &mut Rng) {
    let (ks, vs) = (info.key_size as usize, info.value_size as usize);
    match info.map_type {
        types::QUEUE | types::STACK => {
            for _ in 0..rng.below(8) {
                let _ = rt.maps[m].push(&rng.bytes(vs), 0);
            }
        }
        types::RINGBUF | types::PERF_EVENT_ARRAY => {}
        _ if rt.maps[m].is_array() => {
            for idx in 0..info.max_entries.min(64) {
                let _ = rt.maps[m].update(&idx.to_le_bytes(), &rng.bytes(vs), 0);
            }
        }
        _ => {
            for _ in 0..rng.below(17) {
                let mut key = random_key(rng, ks);
                if info.map_type == types::LPM_TRIE && ks >= 4 {
                    let bits = rng.below((ks as u64 - 4) * 8 + 1) as u32;
                    key[..4].copy_from_slice(&bits.to_le_bytes());
                }
                let _ = rt.maps[m].update(&key, &rng.bytes(vs), 0);
            }
        }
    }
}

/// Whether `p` is a `.text` function linked into another program (it runs only as called).
pub fn is_subprogram(object: &Object, p: &Program) -> bool {
    p.section == ".text"
        && object.programs.iter().any(|q| {
            q.functions
                .iter()
                .skip(1)
                .any(|f| f.section == p.section && f.name == p.function)
        })
}

/// Runs per program: `default`, or the number in environment variable `var` (for longer hunts).
pub fn runs(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The listed programs of `dir`, grouped by object file: object → [(section, function)].
pub fn listed_by_file(dir: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_file: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (o, s, f) in listed(dir) {
        by_file.entry(o).or_default().push((s, f));
    }
    by_file
}

/// Object `file` of `dir`, loaded, with whether the verifier accepts each of its programs
/// (default options); `None` if it cannot be read or loaded.
pub fn load_verified(dir: &Path, file: &str) -> Option<(Object, Vec<bool>)> {
    let bytes = std::fs::read(dir.join(file)).ok()?;
    let object = load(&bytes, &LoadOptions::default()).ok()?;
    let options = Options::default();
    let accepted = object
        .programs
        .iter()
        .map(|p| verify_program(&object, p, &options).verdict == Verdict::Accepted)
        .collect();
    Some((object, accepted))
}
