//! The verdict cache: program results (verdict, errors, signed envelope, image) keyed by
//! [`program_key`], in memory and persisted under `DATA_DIR/cache/<key>.pb` (the
//! `ProgramResult` message, protobuf-encoded), so a restart keeps every verdict.
//!
//! In front of it, an in-memory request index maps [`request_key`] (a digest of the ELF bytes
//! and everything else in the request) to the program keys it produced, so a fleet sending the
//! same object is answered without even parsing the ELF.
//!
//! A cached envelope is re-signed (same predicate, new times, current key) when it was signed by
//! a previous key or has less than half its validity left; see `service.rs`.

use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use vouch_proto::api::ProgramResult;
use vouch_proto::envelope::{OptionsInfo, Statement, canonical::to_canonical, hex};

pub type Key = [u8; 32];

/// The cache key of one program's verdict: sha256 over the program digest, the options, the
/// verifier version, the JIT target, and the subject name (`FILE#SECTION/FUNCTION`, part of the
/// signed statement). `.text` subprograms are judged in their callers' context, so for them
/// `object_digest` (sha256 of the whole ELF) is in the key too.
pub fn program_key(
    program_digest: &[u8; 32],
    options: &OptionsInfo,
    version: &str,
    target: &str,
    subject: &str,
    object_digest: Option<&[u8; 32]>,
) -> Key {
    let mut h = Sha256::new();
    // v2: statements carry map definitions and images (the JIT is wired in).
    h.update(b"vouch-cache-v2\0");
    h.update(program_digest);
    h.update(to_canonical(options).unwrap_or_default().as_bytes());
    for s in [version, target, subject] {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    if let Some(d) = object_digest {
        h.update(d);
    }
    h.finalize().into()
}

/// The request index key: sha256 over the ELF bytes and every other field of the request.
pub fn request_key(request: &vouch_proto::api::VerifyRequest, version: &str) -> Key {
    let mut h = Sha256::new();
    h.update(b"vouch-request-v1\0");
    h.update((request.elf.len() as u64).to_le_bytes());
    h.update(&request.elf);
    let options = request.options.unwrap_or_default();
    let fields = [
        request.file_name.as_str(),
        request.section.as_deref().unwrap_or("\u{0}none"),
        request.function.as_deref().unwrap_or("\u{0}none"),
        request.program_type.as_deref().unwrap_or("\u{0}none"),
        request.jit_target.as_str(),
        version,
    ];
    for s in fields {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    h.update([
        options.domain as u8,
        u8::from(options.strict_div),
        u8::from(options.allow_ptr_leaks),
        u8::from(options.z3),
    ]);
    h.finalize().into()
}

/// One cached verdict: the answer as sent (with `cached` unset) and its parsed statement.
#[derive(Clone, Debug)]
pub struct Entry {
    pub result: ProgramResult,
    pub statement: Statement,
}

/// The statement inside a result's envelope (no signature check: the service wrote it).
pub fn statement_of(result: &ProgramResult) -> Option<Statement> {
    let envelope = vouch_proto::envelope::Envelope::from_json(&result.envelope).ok()?;
    Statement::from_payload(&envelope.payload_unverified().ok()?).ok()
}

pub struct Cache {
    dir: Option<PathBuf>,
    max_entries: usize,
    programs: RwLock<HashMap<Key, Arc<Entry>>>,
    requests: RwLock<HashMap<Key, Arc<[Key]>>>,
}

impl Cache {
    /// A cache persisted in `dir` (created if missing), loading what is there. Unreadable
    /// entries are skipped with a warning: the cache is an optimisation, never a source of truth.
    pub fn open(dir: Option<&Path>, max_entries: usize) -> std::io::Result<Cache> {
        let cache = Cache {
            dir: dir.map(Path::to_owned),
            max_entries,
            programs: RwLock::new(HashMap::new()),
            requests: RwLock::new(HashMap::new()),
        };
        let Some(dir) = dir else { return Ok(cache) };
        std::fs::create_dir_all(dir)?;
        let mut loaded = HashMap::new();
        for e in std::fs::read_dir(dir)? {
            let path = e?.path();
            let Some(key) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pb"))
                .and_then(unhex32)
            else {
                continue;
            };
            if loaded.len() >= max_entries {
                break;
            }
            let entry = std::fs::read(&path)
                .ok()
                .and_then(|b| ProgramResult::decode(b.as_slice()).ok())
                .and_then(|result| {
                    let statement = statement_of(&result)?;
                    Some(Entry { result, statement })
                });
            match entry {
                Some(entry) => {
                    loaded.insert(key, Arc::new(entry));
                }
                None => tracing::warn!("skipping unreadable cache entry {}", path.display()),
            }
        }
        tracing::info!(
            "verdict cache: {} entries from {}",
            loaded.len(),
            dir.display()
        );
        if let Ok(mut programs) = cache.programs.write() {
            *programs = loaded;
        }
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.programs.read().map_or(0, |p| p.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        self.programs.read().ok()?.get(key).cloned()
    }

    /// Stores an entry in memory and on disk (atomically: temp file, then rename).
    pub fn insert(&self, key: Key, entry: Entry) {
        let bytes = entry.result.encode_to_vec();
        if let Ok(mut programs) = self.programs.write() {
            if programs.len() >= self.max_entries && !programs.contains_key(&key) {
                // Full: drop an arbitrary entry (it stays on disk for the next start).
                if let Some(victim) = programs.keys().next().copied() {
                    programs.remove(&victim);
                }
            }
            programs.insert(key, Arc::new(entry));
        }
        if let Some(dir) = &self.dir {
            let name = hex(&key);
            let tmp = dir.join(format!("{name}.tmp{}", std::process::id()));
            let result = std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, dir.join(format!("{name}.pb"))));
            if let Err(e) = result {
                tracing::warn!("cannot persist cache entry {name}: {e}");
            }
        }
    }

    pub fn request(&self, key: &Key) -> Option<Arc<[Key]>> {
        self.requests.read().ok()?.get(key).cloned()
    }

    pub fn insert_request(&self, key: Key, programs: Vec<Key>) {
        if let Ok(mut requests) = self.requests.write() {
            if requests.len() >= self.max_entries {
                requests.clear();
            }
            requests.insert(key, programs.into());
        }
    }
}

fn unhex32(s: &str) -> Option<Key> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
