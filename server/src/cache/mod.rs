//! The verdict cache: program results (verdict, errors, signed envelope, image) keyed by
//! [`program_key`], in memory and persisted under `DATA_DIR/cache/<key>.pb` (the
//! `ProgramResult` message, protobuf-encoded), so a restart keeps every verdict.
//!
//! In front of it, an in-memory request index ([`RequestIndex`]) maps a request (the exact ELF
//! bytes and every other field) to the program keys it produced, so a fleet sending the same
//! object is answered without even parsing the ELF.
//!
//! Both are bounded and evict the least recently used entries ([`LruMap`]).
//!
//! A cached envelope is re-signed (same predicate, new times, current key) when it was signed by
//! a previous key or has less than half its validity left; see `service.rs`.

mod lru;
mod requests;

pub use lru::LruMap;
pub use requests::{REQUEST_INDEX_BYTES, RequestIndex};

use crate::audit::VerdictFacts;
use prost::Message;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vouch_proto::api::ProgramResult;
use vouch_proto::envelope::time::parse_rfc3339;
use vouch_proto::envelope::{OptionsInfo, Statement, canonical::to_canonical, hex, sha256_hex};

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

/// One cached verdict: the answer as sent (with `cached` unset), its parsed statement, and
/// what answering it again needs, computed once when the entry is made.
#[derive(Clone, Debug)]
pub struct Entry {
    pub result: ProgramResult,
    pub statement: Statement,
    /// The statement's expiry, Unix seconds (0 if unreadable: re-signed at once).
    pub expires: i64,
    /// What an audit record of this verdict says (program, digest, verdict, key, envelope hash).
    pub audit: Arc<VerdictFacts>,
}

impl Entry {
    pub fn new(result: ProgramResult, statement: Statement) -> Entry {
        let expires = parse_rfc3339(&statement.predicate.expires_at).unwrap_or(0);
        let audit = Arc::new(VerdictFacts {
            program: statement.name(),
            digest: result.program_digest.clone(),
            verdict: statement.predicate.verdict.clone(),
            key_id: result.key_id.clone(),
            envelope: sha256_hex(&result.envelope),
        });
        Entry {
            result,
            statement,
            expires,
            audit,
        }
    }
}

/// The statement inside a result's envelope (no signature check: the service wrote it).
pub fn statement_of(result: &ProgramResult) -> Option<Statement> {
    let envelope = vouch_proto::envelope::Envelope::from_json(&result.envelope).ok()?;
    Statement::from_payload(&envelope.payload_unverified().ok()?).ok()
}

pub struct Cache {
    dir: Option<PathBuf>,
    programs: LruMap<Key, Arc<Entry>>,
    requests: RequestIndex,
}

impl Cache {
    /// A cache persisted in `dir` (created if missing), loading what is there. Unreadable
    /// entries are skipped with a warning: the cache is an optimisation, never a source of truth.
    pub fn open(dir: Option<&Path>, max_entries: usize) -> std::io::Result<Cache> {
        let cache = Cache {
            dir: dir.map(Path::to_owned),
            programs: LruMap::new(max_entries),
            requests: RequestIndex::new(max_entries, REQUEST_INDEX_BYTES),
        };
        let Some(dir) = dir else { return Ok(cache) };
        std::fs::create_dir_all(dir)?;
        let mut loaded = 0usize;
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
            if loaded >= max_entries {
                break;
            }
            let entry = std::fs::read(&path)
                .ok()
                .and_then(|b| ProgramResult::decode(b.as_slice()).ok())
                .and_then(|result| {
                    let statement = statement_of(&result)?;
                    Some(Entry::new(result, statement))
                });
            match entry {
                Some(entry) => {
                    cache.programs.insert(key, Arc::new(entry));
                    loaded += 1;
                }
                None => tracing::warn!("skipping unreadable cache entry {}", path.display()),
            }
        }
        tracing::info!("verdict cache: {loaded} entries from {}", dir.display());
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.programs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        self.programs.get(key)
    }

    /// Stores an entry in memory (evicting the least recently used when full; evicted entries
    /// stay on disk for the next start) and on disk (atomically: temp file, then rename).
    pub fn insert(&self, key: Key, entry: Arc<Entry>) {
        let bytes = entry.result.encode_to_vec();
        self.programs.insert(key, entry);
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

    /// The request index (see [`RequestIndex`]).
    pub fn requests(&self) -> &RequestIndex {
        &self.requests
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
