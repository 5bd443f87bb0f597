//! The audit log: one JSON line per verdict issued (cache hits included: each answer is a
//! verdict handed to someone), append-only and hash-chained, in `DATA_DIR/audit.jsonl`.
//!
//! A record is canonical JSON:
//! `{"cached", "digest", "envelope", "hash", "keyId", "peer", "prev", "program", "seq", "time",
//! "verdict"}` where `envelope` is the sha256 of the envelope bytes handed out, `prev` the
//! previous record's `hash` (64 zeros for the first) and `hash` the sha256 of the record's
//! canonical JSON without `hash`. Changing, removing or reordering any record breaks the chain
//! from there on; [`verify_chain`] (and `vouch audit-log DIR`) find where.
//!
//! Writes go through one thread that owns the file and commits in groups: it takes every
//! record queued, writes them, flushes once, then answers each request with its sequence
//! number. A request's answer waits for its record, so no verdict leaves unlogged, and under
//! load one write covers many records.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};
use vouch_proto::envelope::canonical::to_canonical;
use vouch_proto::envelope::hex;

pub const AUDIT_FILE: &str = "audit.jsonl";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest record line read back (a record is a few hundred bytes).
const MAX_LINE: usize = 64 << 10;
/// Most records one group commit takes.
const MAX_GROUP: usize = 4096;

/// What the service says about one verdict it issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub time: String,
    /// Who asked: the peer address (and TLS client certificate digest when there is one).
    pub peer: String,
    /// `FILE#SECTION/FUNCTION`.
    pub program: String,
    /// `sha256:<hex>` of the program.
    pub digest: String,
    pub verdict: String,
    pub key_id: String,
    pub cached: bool,
    /// sha256 of the envelope bytes handed out.
    pub envelope: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev: String,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Broken {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("the audit log is closed")]
    Closed,
}

/// The hash of a record: sha256 of its canonical JSON without `hash`.
fn record_hash(seq: u64, entry: &AuditEntry, prev: &str) -> String {
    #[derive(Serialize)]
    struct Unhashed<'a> {
        seq: u64,
        #[serde(flatten)]
        entry: &'a AuditEntry,
        prev: &'a str,
    }
    let text = to_canonical(&Unhashed { seq, entry, prev }).unwrap_or_default();
    hex(&Sha256::digest(text.as_bytes()))
}

/// A verified chain: how many records, and the last one's sequence number and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

/// Verifies the whole chain of an audit log file (a missing file is an empty chain).
pub fn verify_chain(path: &Path) -> Result<ChainSummary, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let mut summary = ChainSummary {
        records: 0,
        last_seq: 0,
        last_hash: GENESIS.to_owned(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(summary),
        Err(e) => return Err(io(e)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        number += 1;
        let broken = |message: String| AuditError::Broken {
            path: path.to_owned(),
            line: number,
            message,
        };
        if line.last() != Some(&b'\n') {
            return Err(broken(if n > MAX_LINE {
                "line too long".into()
            } else {
                "truncated record (no newline): the file was cut or a write was interrupted".into()
            }));
        }
        let record: AuditRecord = serde_json::from_slice(&line[..line.len() - 1])
            .map_err(|e| broken(format!("not an audit record: {e}")))?;
        if record.seq != summary.last_seq + 1 {
            return Err(broken(format!(
                "sequence number {} follows {} (records removed or reordered)",
                record.seq, summary.last_seq
            )));
        }
        if record.prev != summary.last_hash {
            return Err(broken(format!(
                "prev is {}, the previous record's hash is {} (a record before it was changed or removed)",
                record.prev, summary.last_hash
            )));
        }
        let hash = record_hash(record.seq, &record.entry, &record.prev);
        if record.hash != hash {
            return Err(broken(format!(
                "hash is {}, the record hashes to {hash} (this record was changed)",
                record.hash
            )));
        }
        summary.records += 1;
        summary.last_seq = record.seq;
        summary.last_hash = record.hash;
    }
    Ok(summary)
}

type Request = (AuditEntry, oneshot::Sender<Result<u64, String>>);

/// Handle to the writer thread; cloning shares the thread.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<Request>,
}

/// Joins the writer thread once every handle is dropped (after graceful shutdown), so the last
/// records are on disk before the process exits.
pub struct AuditWriter {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AuditWriter {
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl AuditLog {
    /// Opens (or creates) `DIR/audit.jsonl`, verifying the existing chain first: a service must
    /// not extend a log someone has tampered with.
    pub fn open(dir: &Path) -> Result<(AuditLog, AuditWriter, ChainSummary), AuditError> {
        let path = dir.join(AUDIT_FILE);
        let summary = verify_chain(&path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| AuditError::Io {
                path: path.clone(),
                source,
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = (summary.last_seq, summary.last_hash.clone());
        let thread = std::thread::Builder::new()
            .name("vouchd-audit".into())
            .spawn(move || writer(file, path, rx, state))
            .map_err(|source| AuditError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok((
            AuditLog { tx },
            AuditWriter {
                thread: Some(thread),
            },
            summary,
        ))
    }

    /// Appends records (in order); resolves to their sequence numbers once all are written.
    pub async fn append_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<u64>, AuditError> {
        let mut waiting = Vec::with_capacity(entries.len());
        for entry in entries {
            let (reply, rx) = oneshot::channel();
            self.tx
                .send((entry, reply))
                .map_err(|_| AuditError::Closed)?;
            waiting.push(rx);
        }
        let mut seqs = Vec::with_capacity(waiting.len());
        for rx in waiting {
            seqs.push(Self::answer(rx.await)?);
        }
        Ok(seqs)
    }

    fn answer(
        reply: Result<Result<u64, String>, oneshot::error::RecvError>,
    ) -> Result<u64, AuditError> {
        match reply {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(message)) => Err(AuditError::Io {
                path: PathBuf::from(AUDIT_FILE),
                source: std::io::Error::other(message),
            }),
            Err(_) => Err(AuditError::Closed),
        }
    }

    /// Appends a record; resolves to its sequence number once it is written.
    pub async fn append(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((entry, reply))
            .map_err(|_| AuditError::Closed)?;
        Self::answer(rx.await)
    }
}

fn writer(
    file: std::fs::File,
    path: PathBuf,
    mut rx: mpsc::UnboundedReceiver<Request>,
    (mut seq, mut prev): (u64, String),
) {
    let mut out = std::io::BufWriter::with_capacity(256 << 10, file);
    let mut group: Vec<Request> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let (start_seq, start_prev) = (seq, prev.clone());
        let mut seqs = Vec::with_capacity(group.len());
        let mut result: std::io::Result<()> = Ok(());
        for (entry, _) in &group {
            let next = seq + 1;
            let hash = record_hash(next, entry, &prev);
            let record = AuditRecord {
                seq: next,
                entry: entry.clone(),
                prev: std::mem::take(&mut prev),
                hash: hash.clone(),
            };
            let line = to_canonical(&record).unwrap_or_default();
            result = result
                .and_then(|()| out.write_all(line.as_bytes()))
                .and_then(|()| out.write_all(b"\n"));
            seq = next;
            prev = hash;
            seqs.push(seq);
        }
        result = result.and_then(|()| out.flush());
        match result {
            Ok(()) => {
                for ((_, reply), s) in group.drain(..).zip(seqs) {
                    let _ = reply.send(Ok(s));
                }
            }
            Err(e) => {
                // Nothing of this group counts: the chain continues from where it was, and the
                // requests fail rather than hand out unlogged verdicts.
                tracing::error!("audit log {}: {e}", path.display());
                seq = start_seq;
                prev = start_prev;
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> AuditEntry {
        AuditEntry {
            time: "2025-01-01T00:00:00Z".into(),
            peer: format!("127.0.0.1:{i}"),
            program: "a.o#xdp/f".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            verdict: "accepted".into(),
            key_id: "0011223344556677".into(),
            cached: i.is_multiple_of(2),
            envelope: "cd".repeat(32),
        }
    }

    #[tokio::test]
    async fn chain_survives_reopen_and_detects_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, writer, summary) = AuditLog::open(dir.path()).expect("open");
        assert_eq!(summary.records, 0);
        let mut seqs = vec![];
        for i in 0..10 {
            seqs.push(log.append(entry(i)).await.expect("append"));
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        drop(log);
        writer.finish();
        let (log, writer, summary) = AuditLog::open(dir.path()).expect("reopen");
        assert_eq!(summary.records, 10);
        assert_eq!(log.append(entry(10)).await.expect("append"), 11);
        drop(log);
        writer.finish();
        let path = dir.path().join(AUDIT_FILE);
        assert_eq!(verify_chain(&path).expect("valid").records, 11);

        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        // Changed field, removed record, swapped records, truncated tail.
        let changed = text.replacen("\"verdict\":\"accepted\"", "\"verdict\":\"rejected\"", 1);
        let removed = lines[..3].join("\n") + "\n" + &lines[4..].join("\n") + "\n";
        let mut swapped = lines.clone();
        swapped.swap(2, 3);
        let swapped = swapped.join("\n") + "\n";
        let truncated = &text[..text.len() - 5];
        for (what, bad, line) in [
            ("changed", changed.as_str(), 1),
            ("removed", removed.as_str(), 4),
            ("swapped", swapped.as_str(), 3),
            ("truncated", truncated, 11),
        ] {
            std::fs::write(&path, bad).expect("write");
            match verify_chain(&path) {
                Err(AuditError::Broken { line: l, .. }) => assert_eq!(l, line, "{what}"),
                other => panic!("{what}: {other:?}"),
            }
            assert!(AuditLog::open(dir.path()).is_err(), "{what}");
        }
    }
}
