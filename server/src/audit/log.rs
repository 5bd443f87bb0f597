//! The writer thread and its handle (see the module documentation for the guarantees).

use super::{AUDIT_FILE, AuditError, ChainSummary, Issued, RecordWriter, verify_chain};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// After a write, how long the writer lets records of cache hits gather before the next one
/// (a request that waits for its records, or shutdown, cuts it short).
const NAP: Duration = Duration::from_millis(1);
/// After shutdown, how many failed attempts to write the last records before giving up.
const SHUTDOWN_ATTEMPTS: u32 = 10;

/// A request's records and, if its answer waits for them, where to say they are written.
struct Request {
    records: Vec<Issued>,
    written: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Queue {
    /// The sequence number of the last record queued.
    last_seq: u64,
    pending: Vec<Request>,
    /// A pending request waits for its records.
    waiter: bool,
    /// The writer sleeps until notified (rather than napping).
    idle: bool,
    /// Every handle is gone: write what is pending, then stop.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// False while the writer cannot write (it keeps retrying).
    writable: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue inconsistent (plain pushes).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes the queue when the last [`AuditLog`] clone is dropped.
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// Handle to the writer thread; cloning shares the thread.
#[derive(Clone)]
pub struct AuditLog {
    handle: Arc<Handle>,
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
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                last_seq: summary.last_seq,
                ..Queue::default()
            }),
            wake: Condvar::new(),
            writable: AtomicBool::new(true),
        });
        let records = RecordWriter::new(summary.last_seq, summary.last_hash.clone());
        let writer_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vouchd-audit".into())
            .spawn(move || writer(file, path, &writer_shared, records))
            .map_err(|source| AuditError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok((
            AuditLog {
                handle: Arc::new(Handle(shared)),
            },
            AuditWriter {
                thread: Some(thread),
            },
            summary,
        ))
    }

    /// Queues records (consecutive, in order) and returns their sequence numbers.
    fn queue(
        &self,
        records: Vec<Issued>,
        written: Option<oneshot::Sender<()>>,
    ) -> Result<Range<u64>, AuditError> {
        let shared = &self.handle.0;
        if !shared.writable.load(Ordering::Relaxed) {
            return Err(AuditError::Unwritable);
        }
        let n = records.len() as u64;
        let waits = written.is_some();
        let mut queue = shared.lock();
        if queue.closed {
            return Err(AuditError::Closed);
        }
        let first = queue.last_seq + 1;
        queue.last_seq += n;
        queue.pending.push(Request { records, written });
        // Records of hits gather while the writer naps; a waiting answer wakes it.
        let notify = waits || queue.idle;
        queue.waiter |= waits;
        drop(queue);
        if notify {
            shared.wake.notify_one();
        }
        Ok(first..first + n)
    }

    /// Appends records and resolves to their sequence numbers once they are written: for
    /// answers carrying new verdicts.
    pub async fn append_many(&self, records: Vec<Issued>) -> Result<Range<u64>, AuditError> {
        if records.is_empty() {
            return Ok(0..0);
        }
        let (tx, rx) = oneshot::channel();
        let seqs = self.queue(records, Some(tx))?;
        rx.await.map_err(|_| AuditError::Closed)?;
        Ok(seqs)
    }

    /// Appends records without waiting for the write: for answers re-issuing verdicts already
    /// logged (cache hits). Written in order with everything else; drained on shutdown.
    pub fn append_queued(&self, records: Vec<Issued>) -> Result<Range<u64>, AuditError> {
        if records.is_empty() {
            return Ok(0..0);
        }
        self.queue(records, None)
    }

    /// Appends a record; resolves to its sequence number once it is written.
    pub async fn append(&self, record: Issued) -> Result<u64, AuditError> {
        Ok(self.append_many(vec![record]).await?.start)
    }
}

fn writer(mut file: std::fs::File, path: PathBuf, shared: &Shared, mut records: RecordWriter) {
    let mut out: Vec<u8> = Vec::with_capacity(256 << 10);
    let mut group: Vec<Request> = Vec::new();
    let mut napping = false;
    loop {
        {
            let mut queue = shared.lock();
            if napping {
                queue = shared
                    .wake
                    .wait_timeout_while(queue, NAP, |q| !q.waiter && !q.closed)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            while queue.pending.is_empty() && !queue.closed {
                queue.idle = true;
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            queue.idle = false;
            if queue.pending.is_empty() {
                return; // closed and drained
            }
            std::mem::swap(&mut group, &mut queue.pending);
            queue.waiter = false;
        }
        out.clear();
        for request in &group {
            for r in &request.records {
                records.write(r, &mut out);
            }
        }
        if !write_out(&mut file, &out, &path, shared) {
            let lost = out.iter().filter(|b| **b == b'\n').count();
            tracing::error!(
                "audit log {}: gave up writing the last {lost} record(s) at shutdown",
                path.display()
            );
            return;
        }
        for request in group.drain(..) {
            if let Some(w) = request.written {
                let _ = w.send(());
            }
        }
        if out.capacity() > 4 << 20 {
            out = Vec::with_capacity(256 << 10);
        }
        napping = true;
    }
}

/// Writes all of `out`, retrying with backoff on errors (the service refuses requests
/// meanwhile). Gives up only once the service is gone and the disk still fails.
fn write_out(file: &mut std::fs::File, out: &[u8], path: &Path, shared: &Shared) -> bool {
    let mut written = 0;
    let mut failures = 0u32;
    while written < out.len() {
        let error = match file.write(&out[written..]) {
            Ok(0) => std::io::Error::from(std::io::ErrorKind::WriteZero),
            Ok(n) => {
                written += n;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => e,
        };
        if failures == 0 {
            tracing::error!(
                "audit log {}: {error}; refusing requests and retrying",
                path.display()
            );
        }
        shared.writable.store(false, Ordering::Relaxed);
        failures += 1;
        if shared.lock().closed && failures >= SHUTDOWN_ATTEMPTS {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10 << failures.min(7)));
    }
    if failures > 0 {
        tracing::warn!("audit log {}: writing again", path.display());
        shared.writable.store(true, Ordering::Relaxed);
    }
    true
}
