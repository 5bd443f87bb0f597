//! `vouch run BUNDLE --trust KEYS`: the thin driver. A host runs code it did not verify itself,
//! so it trusts nothing in the bundle until the signature says so, and runs nothing unless every
//! check passes:
//!
//! 1. `verify_bundle`: signature under a trusted key, a Vouch verdict, not expired (nor issued in
//!    the future), folder = program, verdict `accepted`, an image whose sha256 the statement
//!    binds, for this host's target;
//! 2. the image parses strictly (`Image::from_bytes`: it is hostile input until 1 passed, and
//!    still parsed with limits after) and its header names the same target;
//! 3. `check_bindings`: the maps (by `lddw` index, with type, sizes, max entries) and helpers
//!    the image binds are exactly those of the statement;
//! 4. the program type is one this build knows (the runtime builds its context from it).
//!
//! Then the maps are created from the *signed* definitions (type, sizes, flags, initial contents
//! of global data, frozen `.rodata`, inner templates; no ELF needed), the image is loaded W^X and
//! run with the user-space runtime. A refusal exits 1 with the reason on stderr; bad usage
//! (unreadable packet file, bad key file) exits 2.

use crate::run_object::{Engine, ObjectRunArgs, Shown, execute_and_print, read_inputs};
use anyhow::Result;
use std::path::{Path, PathBuf};
use vouch_proto::bundle::{VerifiedBundle, verify_bundle};
use vouch_proto::envelope::time::now_unix;
use vouch_proto::envelope::{MapBinding, TrustStore};
use vouch_verifier::analysis::MapInfo;
use vouch_verifier::jit::{Image, load::Loaded};
use vouch_verifier::platform::ProgramType;
use vouch_verifier::runtime::{Runtime, RuntimeConfig};

/// Highest map index a statement may name: the driver creates a placeholder for every index
/// below it that the program does not use, so a hostile index must not allocate unboundedly.
const MAX_MAP_INDEX: u32 = 1 << 16;
/// `BPF_MAP_TYPE_ARRAY`, for placeholders of the maps the program does not bind.
const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_F_RDONLY_PROG`, as `analysis::map_table` reads it.
const F_RDONLY_PROG: u32 = 0x80;

/// Runs a bundle; `Ok(false)` (exit 1) when it is refused.
pub fn run(
    bundle: &Path,
    trust: &[PathBuf],
    input: Option<&Path>,
    args: &ObjectRunArgs,
) -> Result<bool> {
    if trust.is_empty() {
        anyhow::bail!("running a bundle needs --trust KEYS (public key files or folders)");
    }
    if args.section.is_some() || args.function.is_some() || args.interpret {
        anyhow::bail!(
            "--section/--function/--interpret are for objects: a bundle holds one program's image"
        );
    }
    let trust = TrustStore::load(trust)?;
    // Inputs first: a typo in a path is a usage error (exit 2), not a refusal.
    let packets = read_inputs(args, input)?;
    let checked = match check(bundle, &trust) {
        Ok(c) => c,
        Err(reason) => {
            eprintln!("vouch run: {}: REFUSED: {reason}", bundle.display());
            return Ok(false);
        }
    };
    let loaded = match Loaded::new(&checked.image) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "vouch run: {}: REFUSED: cannot load the image: {e}",
                bundle.display()
            );
            return Ok(false);
        }
    };
    let p = &checked.bundle.statement.predicate;
    let file = bundle.display().to_string();
    let shown = Shown {
        file: &file,
        section: &p.program.section,
        function: &p.program.function,
        program_type: checked.program_type,
        header: format!(
            "{}/{}: verdict accepted, signed by key {}, image sha256:{} ({} bytes); running natively",
            p.program.section,
            p.program.function,
            checked.bundle.key_id,
            checked.bundle.statement.image_digest().unwrap_or_default(),
            checked.bundle.image.len()
        ),
    };
    let mut rt = checked.runtime;
    execute_and_print(&Engine::Native(&loaded), &mut rt, &shown, &packets, args)?;
    Ok(true)
}

/// A bundle that passed every check, with what running it needs.
struct Checked {
    bundle: VerifiedBundle,
    image: Image,
    program_type: ProgramType,
    runtime: Runtime,
}

/// Every check of the module documentation; nothing here trusts the bundle before
/// `verify_bundle` returned.
fn check(dir: &Path, trust: &TrustStore) -> Result<Checked, String> {
    let host =
        vouch_proto::host_jit_target().ok_or("this host has no JIT target (x86-64 Unix only)")?;
    let bundle = verify_bundle(dir, trust, now_unix(), host).map_err(|e| e.to_string())?;
    let image =
        Image::from_bytes(&bundle.image).map_err(|e| format!("the image is malformed: {e}"))?;
    if image.target != host {
        return Err(format!(
            "the image header names target `{}`, this host runs `{host}`",
            image.target
        ));
    }
    let p = &bundle.statement.predicate;
    let program_type = ProgramType::from_name(&p.program.program_type)
        .filter(|t| *t != ProgramType::Unknown)
        .ok_or_else(|| {
            format!(
                "program type `{}` is unknown to this driver",
                p.program.program_type
            )
        })?;
    let helpers: Vec<i64> = image.helpers.iter().map(|&h| i64::from(h)).collect();
    bundle
        .check_bindings(&image_bindings(&image, &p.maps), &helpers)
        .map_err(|e| e.to_string())?;
    let runtime = runtime_for(&p.maps)?;
    Ok(Checked {
        bundle,
        image,
        program_type,
        runtime,
    })
}

/// The maps the image binds, in the statement's form and order, for `check_bindings`. Identity
/// (index, name, type, sizes, max entries) comes from the image header; what the header does not
/// record (flags, initial contents, template) from the statement entry of the same index — the
/// driver creates the maps from those, so they are what gets bound. A slot whose index the
/// statement lacks, or a statement map the image does not bind, makes the lists differ.
fn image_bindings(image: &Image, signed: &[MapBinding]) -> Vec<MapBinding> {
    let mut out: Vec<MapBinding> = vec![];
    for slot in &image.map_slots {
        if out.iter().any(|b| b.index == slot.index) {
            continue;
        }
        let same = signed.iter().find(|b| b.index == slot.index);
        out.push(MapBinding {
            index: slot.index,
            name: slot.name.clone(),
            map_type: slot.map_type,
            key_size: slot.key_size,
            value_size: slot.value_size,
            max_entries: slot.max_entries,
            flags: same.map_or(0, |b| b.flags),
            initial: same.and_then(|b| b.initial.clone()),
            frozen: same.is_some_and(|b| b.frozen),
            inner: same.and_then(|b| b.inner.clone()),
        });
    }
    let rank = |b: &MapBinding| {
        signed
            .iter()
            .position(|s| s.index == b.index)
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|b| (rank(b), b.index));
    out
}

/// A runtime whose map table has the signed maps at their indices (placeholders elsewhere, so
/// indices line up with the image's slots), then the inner templates; global data filled with
/// the signed initial contents.
fn runtime_for(maps: &[MapBinding]) -> Result<Runtime, String> {
    let len = match maps.iter().map(|m| m.index).max() {
        Some(i) if i >= MAX_MAP_INDEX => {
            return Err(format!("map index {i} is over the driver's limit"));
        }
        Some(i) => i as usize + 1,
        None => 0,
    };
    let placeholder = MapInfo {
        name: String::new(),
        map_type: MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        read_only: true,
        frozen: None,
        inner: None,
    };
    let mut table = vec![placeholder; len];
    let mut initial = vec![];
    for m in maps {
        let bytes = m.initial_bytes()?;
        let mut info = MapInfo {
            name: m.name.clone(),
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            read_only: m.flags & F_RDONLY_PROG != 0,
            frozen: if m.frozen { bytes.clone() } else { None },
            inner: None,
        };
        if let Some(t) = &m.inner {
            table.push(MapInfo {
                name: t.name.clone(),
                map_type: t.map_type,
                key_size: t.key_size,
                value_size: t.value_size,
                max_entries: t.max_entries,
                read_only: t.flags & F_RDONLY_PROG != 0,
                frozen: None,
                inner: None,
            });
            info.inner = Some(table.len() - 1);
        }
        if let Some(bytes) = bytes {
            initial.push((m.index as usize, bytes));
        }
        table[m.index as usize] = info;
    }
    let mut rt = Runtime::new(&table, RuntimeConfig::default())
        .map_err(|e| format!("cannot create the maps: {e}"))?;
    for (index, bytes) in initial {
        rt.set_array_bytes(index, 0, &bytes)
            .map_err(|e| format!("cannot set initial contents: {e}"))?;
    }
    Ok(rt)
}
