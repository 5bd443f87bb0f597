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
//! Writes go through one thread that owns the file and commits in groups ([`log`]): it takes
//! every request queued, writes their records with one `write`, then answers the requests
//! that wait. Sequence numbers are assigned when a request queues its records (under a lock,
//! in queue order), so an answer can carry them before the write.
//!
//! **Decision: a cache hit re-issues a verdict**, so every answered program gets its own record
//! and sequence number, hit or miss: the same signed envelope handed to another peer (or the
//! same one again) is a verdict issued to someone. The two kinds differ in *when* the answer
//! leaves:
//! - a **new verdict** (verified, or re-signed) waits until its record is written: no verdict
//!   exists anywhere that the log does not hold;
//! - a **cache hit** leaves once its record is queued; the writer commits hits in groups. A hit
//!   hands out an envelope whose first issue is already on disk, so what a crash (not a graceful
//!   stop) can lose is the last few milliseconds of *re-issue* records, never a verdict. On
//!   graceful shutdown the writer drains the queue before the process exits, so nothing is lost.
//!
//! If a write fails (disk full, I/O error), the writer keeps the unwritten bytes and retries
//! with backoff; until it succeeds the service refuses every request (UNAVAILABLE) rather than
//! hand out verdicts it cannot log, and waiting answers keep waiting. The chain never skips.
//!
//! What makes a record cheap: the service hands the writer shared, precomputed facts per cached
//! verdict ([`VerdictFacts`], envelope digest included) and the writer lays the canonical line
//! out by hand ([`RecordWriter`], tested to be byte-identical to [`to_canonical`]) and hashes
//! it once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vouch_proto::envelope::canonical::{to_canonical, write_string};
use vouch_proto::envelope::time::format_rfc3339;
use vouch_proto::envelope::{hex, push_hex};

mod log;
pub use log::{AuditLog, AuditWriter};

pub const AUDIT_FILE: &str = "audit.jsonl";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest record line read back (a record is a few hundred bytes).
const MAX_LINE: usize = 64 << 10;

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

/// What every record of one verdict says, whoever it is issued to: computed once per cached
/// verdict and shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictFacts {
    /// `FILE#SECTION/FUNCTION`.
    pub program: String,
    /// `sha256:<hex>` of the program.
    pub digest: String,
    pub verdict: String,
    pub key_id: String,
    /// sha256 (hex) of the envelope bytes handed out.
    pub envelope: String,
}

/// One verdict issued: when (Unix seconds), to whom, which, and whether from the cache.
#[derive(Clone, Debug)]
pub struct Issued {
    pub time: i64,
    pub peer: Arc<str>,
    pub verdict: Arc<VerdictFacts>,
    pub cached: bool,
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
    #[error("the audit log cannot be written at the moment (see the server's log); retrying")]
    Unwritable,
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

/// Lays out record lines by hand, byte for byte what [`to_canonical`] makes of an
/// [`AuditRecord`] (members sorted: `cached digest envelope hash keyId peer prev program seq
/// time verdict`), and chains them.
pub struct RecordWriter {
    seq: u64,
    prev: String,
    /// Canonical JSON of the record without `hash`, split where `hash` sorts in.
    head: String,
    tail: String,
    /// The last formatted time, reused while the second is the same.
    time: (i64, String),
}

impl RecordWriter {
    /// Continues a chain whose last record has `seq` and `prev` as its hash.
    pub fn new(seq: u64, prev: String) -> RecordWriter {
        RecordWriter {
            seq,
            prev,
            head: String::with_capacity(256),
            tail: String::with_capacity(512),
            time: (i64::MIN, String::new()),
        }
    }

    /// Appends the next record's line (with its newline) to `out`; returns its sequence number.
    pub fn write(&mut self, r: &Issued, out: &mut Vec<u8>) -> u64 {
        if self.time.0 != r.time {
            self.time = (r.time, format_rfc3339(r.time));
        }
        let seq = self.seq + 1;
        let (head, tail) = (&mut self.head, &mut self.tail);
        head.clear();
        tail.clear();
        let f = &r.verdict;
        head.push_str(if r.cached {
            "{\"cached\":true,\"digest\":"
        } else {
            "{\"cached\":false,\"digest\":"
        });
        write_string(&f.digest, head);
        head.push_str(",\"envelope\":");
        write_string(&f.envelope, head);
        tail.push_str(",\"keyId\":");
        write_string(&f.key_id, tail);
        tail.push_str(",\"peer\":");
        write_string(&r.peer, tail);
        tail.push_str(",\"prev\":");
        write_string(&self.prev, tail);
        tail.push_str(",\"program\":");
        write_string(&f.program, tail);
        tail.push_str(",\"seq\":");
        tail.push_str(itoa(seq, &mut [0; 20]));
        tail.push_str(",\"time\":");
        write_string(&self.time.1, tail);
        tail.push_str(",\"verdict\":");
        write_string(&f.verdict, tail);
        tail.push('}');
        let mut h = Sha256::new();
        h.update(head.as_bytes());
        h.update(tail.as_bytes());
        self.prev.clear();
        push_hex(&h.finalize(), &mut self.prev);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(b",\"hash\":\"");
        out.extend_from_slice(self.prev.as_bytes());
        out.push(b'"');
        out.extend_from_slice(tail.as_bytes());
        out.push(b'\n');
        self.seq = seq;
        seq
    }
}

/// Decimal digits of `n` in `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> Issued {
        Issued {
            time: 1_735_689_600 + i64::from(i / 3),
            peer: format!("127.0.0.1:{i}").into(),
            verdict: Arc::new(VerdictFacts {
                program: "a.o#xdp/f".into(),
                digest: format!("sha256:{}", "ab".repeat(32)),
                verdict: "accepted".into(),
                key_id: "0011223344556677".into(),
                envelope: "cd".repeat(32),
            }),
            cached: i.is_multiple_of(2),
        }
    }

    #[test]
    fn hand_laid_lines_are_the_canonical_json_of_the_record() {
        let mut w = RecordWriter::new(41, GENESIS.to_owned());
        let odd = Issued {
            time: 0,
            peer: "[::1]:5 cert=sha256:00 \"quoted\" \\ back\tslash \u{1} é 😀".into(),
            verdict: Arc::new(VerdictFacts {
                program: "we\"ird\n.o#sec/fn\u{7f}".into(),
                digest: String::new(),
                verdict: "rejected".into(),
                key_id: "k".into(),
                envelope: "\u{1f}".into(),
            }),
            cached: false,
        };
        let mut prev = GENESIS.to_owned();
        for (i, r) in [entry(0), odd, entry(1), entry(u32::MAX)]
            .iter()
            .enumerate()
        {
            let mut out = vec![];
            let seq = w.write(r, &mut out);
            assert_eq!(seq, 42 + i as u64);
            let entry = AuditEntry {
                time: format_rfc3339(r.time),
                peer: r.peer.to_string(),
                program: r.verdict.program.clone(),
                digest: r.verdict.digest.clone(),
                verdict: r.verdict.verdict.clone(),
                key_id: r.verdict.key_id.clone(),
                cached: r.cached,
                envelope: r.verdict.envelope.clone(),
            };
            let hash = record_hash(seq, &entry, &prev);
            let record = AuditRecord {
                seq,
                entry,
                prev: prev.clone(),
                hash: hash.clone(),
            };
            let expected = to_canonical(&record).expect("canonical") + "\n";
            assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
            prev = hash;
        }
        let mut buf = [0; 20];
        assert_eq!(itoa(0, &mut buf), "0");
        assert_eq!(itoa(u64::MAX, &mut buf), "18446744073709551615");
    }

    #[tokio::test]
    async fn queued_records_are_numbered_at_once_and_drained_on_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, writer, _) = AuditLog::open(dir.path()).expect("open");
        let mut expected = 1;
        for i in 0..500u32 {
            // Hits queue without waiting; every fifth answer waits for its records.
            let records = vec![entry(i); 1 + (i % 3) as usize];
            let n = records.len() as u64;
            let seqs = if i % 5 == 0 {
                log.append_many(records).await.expect("append")
            } else {
                log.append_queued(records).expect("queue")
            };
            assert_eq!(seqs, expected..expected + n);
            expected += n;
        }
        // Closing the last handle lets the writer drain the queue, then stop.
        drop(log);
        writer.finish();
        let path = dir.path().join(AUDIT_FILE);
        let summary = verify_chain(&path).expect("valid chain");
        assert_eq!(summary.records, expected - 1);
        let text = std::fs::read_to_string(&path).expect("read");
        let last: AuditRecord =
            serde_json::from_str(text.lines().last().expect("a line")).expect("record");
        assert_eq!(last.seq, expected - 1);
        assert_eq!(last.entry.peer, "127.0.0.1:499");
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
