//! The `vouch.v1.Verifier` service.
//!
//! A Verify request goes: limits and options checked on the async runtime → request index
//! (same bytes, same options: answered from the cache without parsing) → otherwise a permit
//! from the pool semaphore (`--workers`) and `spawn_blocking` for loading, verification, JIT and
//! signing, the whole bounded by the deadline → re-signing of stale cached envelopes → one audit
//! record per program (an answer with a new signature waits for them; a pure cache hit only
//! queues them, see `audit`) → response.
//!
//! A verification that outlives its deadline keeps its permit until it finishes (blocking work
//! cannot be cancelled), so the pool stays bounded; its verdict still lands in the cache.

use crate::audit::{AuditError, AuditLog, Issued};
use crate::cache::{self, Cache, Entry, Key};
use crate::deadline::{Arrived, Deadline, grpc_timeout};
use crate::facts;
use crate::image::Jitted;
use crate::kernel_btf::{KernelBtfs, MAX_KERNEL_BTF_BYTES};
use crate::metrics::{Method, Metrics};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use vouch_proto::api::verifier_server::Verifier;
use vouch_proto::api::{
    self, Diagnostic, GetKeysRequest, GetKeysResponse, ProgramResult, SourceLine, VerifyRequest,
    VerifyResponse,
};
use vouch_proto::envelope::time::{format_rfc3339, now_unix};
use vouch_proto::envelope::{
    Envelope, KeyPair, ProgramInfo, PublicKey, Statement, VerdictPredicate, VerifierInfo, hex,
    sha256_hex,
};
use vouch_verifier::analysis::{Options, Verdict, verify_program};
use vouch_verifier::elf::{LoadOptions, load};
use vouch_verifier::platform::ProgramType;

pub use crate::smt::Z3_UNAVAILABLE;

/// Objects larger than this are looked up in the request index on the blocking pool rather
/// than the runtime.
const HASH_INLINE_LIMIT: usize = 1 << 20;

/// Signs statements: the current key and how long verdicts are valid.
pub struct Signer {
    pub key: KeyPair,
    pub ttl_secs: i64,
}

impl Signer {
    fn times(&self) -> (String, String) {
        let now = now_unix();
        (
            format_rfc3339(now),
            format_rfc3339(now.saturating_add(self.ttl_secs)),
        )
    }

    fn sign(&self, statement: &Statement) -> Vec<u8> {
        Envelope::sign(
            vouch_proto::VERDICT_PAYLOAD_TYPE,
            &statement.to_payload(),
            &self.key,
        )
        .to_json()
        .into_bytes()
    }

    /// Whether a cached envelope must be re-signed: another key signed it, or less than half
    /// its validity is left (so every answer is good for at least half the TTL).
    fn stale(&self, entry: &Entry, now: i64) -> bool {
        entry.result.key_id != self.key.id()
            || entry.expires.saturating_sub(now) < self.ttl_secs / 2
    }

    fn resign(&self, entry: &Entry) -> Entry {
        let mut statement = entry.statement.clone();
        (
            statement.predicate.issued_at,
            statement.predicate.expires_at,
        ) = self.times();
        let mut result = entry.result.clone();
        result.envelope = self.sign(&statement).into();
        result.key_id = self.key.id().to_owned();
        Entry::new(result, statement)
    }
}

/// The limits and resources of a service.
pub struct Config {
    pub signer: Signer,
    pub previous_keys: Vec<PublicKey>,
    pub max_elf_bytes: usize,
    pub deadline: Duration,
    pub workers: usize,
}

struct State {
    signer: Arc<Signer>,
    keys: GetKeysResponse,
    cache: Arc<Cache>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    pool: Arc<Semaphore>,
    max_elf_bytes: usize,
    deadline: Duration,
    kernel_btfs: Arc<KernelBtfs>,
}

#[derive(Clone)]
pub struct VerifierService {
    state: Arc<State>,
}

impl VerifierService {
    pub fn new(
        config: Config,
        cache: Arc<Cache>,
        audit: AuditLog,
        metrics: Arc<Metrics>,
    ) -> VerifierService {
        let public = |k: &PublicKey, current| api::PublicKey {
            key_id: k.id.clone(),
            algorithm: "ed25519".into(),
            public_key: k.key.as_bytes().to_vec(),
            pem: k.to_pem(),
            current,
        };
        let mut keys = vec![public(&config.signer.key.public, true)];
        keys.extend(
            config
                .previous_keys
                .iter()
                .filter(|k| **k != config.signer.key.public)
                .map(|k| public(k, false)),
        );
        VerifierService {
            state: Arc::new(State {
                signer: Arc::new(config.signer),
                keys: GetKeysResponse { keys },
                cache,
                audit,
                metrics,
                pool: Arc::new(Semaphore::new(config.workers.max(1))),
                max_elf_bytes: config.max_elf_bytes,
                deadline: config.deadline,
                kernel_btfs: Arc::default(),
            }),
        }
    }
}

/// What a blocking verification hands back: per program, its cache key, the entry, and
/// whether it was already cached.
type Verified = Vec<(Key, Arc<Entry>, bool)>;

/// A request after validation, owned so it can move to the blocking pool.
struct Job {
    request: VerifyRequest,
    file_name: String,
    options: Options,
    /// Refine alarms with Z3 (option `z3`).
    z3: bool,
    program_type: Option<ProgramType>,
    /// The request's slot in the request index.
    request_slot: u64,
}

fn validate(request: &VerifyRequest, max_elf_bytes: usize) -> Result<Job, Status> {
    if request.elf.len() > max_elf_bytes {
        return Err(Status::resource_exhausted(format!(
            "the object is {} bytes; this server verifies objects up to {max_elf_bytes} bytes",
            request.elf.len()
        )));
    }
    if request.kernel_btf.len() > MAX_KERNEL_BTF_BYTES {
        return Err(Status::resource_exhausted(format!(
            "kernel_btf is {} bytes; this server accepts kernel BTF up to {MAX_KERNEL_BTF_BYTES} bytes",
            request.kernel_btf.len()
        )));
    }
    let o = request.options.unwrap_or_default();
    if o.z3 && !crate::smt::AVAILABLE {
        return Err(Status::invalid_argument(Z3_UNAVAILABLE));
    }
    let domain = api::Domain::try_from(o.domain)
        .map_err(|_| Status::invalid_argument(format!("unknown domain {}", o.domain)))?;
    if !request.jit_target.is_empty()
        && !crate::image::SUPPORTED_TARGETS.contains(&request.jit_target.as_str())
    {
        return Err(Status::invalid_argument(format!(
            "unknown JIT target `{}` (supported: {})",
            request.jit_target,
            crate::image::SUPPORTED_TARGETS.join(", ")
        )));
    }
    let program_type =
        match &request.program_type {
            Some(name) => Some(ProgramType::from_name(name).ok_or_else(|| {
                Status::invalid_argument(format!("unknown program type `{name}`"))
            })?),
            None => None,
        };
    // Only the last path component, and never empty: it names subjects and bundle folders.
    let file_name = request
        .file_name
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
        .unwrap_or("object.o")
        .to_owned();
    Ok(Job {
        request: VerifyRequest::default(),
        file_name,
        options: Options {
            relational: domain == api::Domain::Zone,
            strict_div: o.strict_div,
            allow_ptr_leaks: o.allow_ptr_leaks,
            ..Options::default()
        },
        z3: o.z3,
        program_type,
        request_slot: 0,
    })
}

/// Loads, selects and verifies (or finds in the cache) every program of a job. Runs on the
/// blocking pool.
fn run_job(
    job: &Job,
    cache: &Cache,
    kernel_btfs: &KernelBtfs,
    signer: &Signer,
    metrics: &Metrics,
) -> Result<Verified, Status> {
    let kernel_btf = match job.request.kernel_btf.is_empty() {
        true => None,
        false => Some(
            kernel_btfs
                .get(&job.request.kernel_btf)
                .map_err(Status::invalid_argument)?,
        ),
    };
    let load_options = LoadOptions {
        program_type: job.program_type,
        target_btf: kernel_btf.as_ref().map(|k| k.btf.clone()),
        ..LoadOptions::default()
    };
    let object = load(&job.request.elf, &load_options)
        .map_err(|e| Status::invalid_argument(format!("cannot load the ELF object: {e}")))?;
    let programs: Vec<_> = object
        .programs
        .iter()
        .filter(|p| {
            job.request.section.as_ref().is_none_or(|s| *s == p.section)
                && job
                    .request
                    .function
                    .as_ref()
                    .is_none_or(|f| *f == p.function)
        })
        .collect();
    if programs.is_empty() {
        return Err(Status::invalid_argument(
            "no program of the object matches the selection",
        ));
    }
    let options_info = facts::options_info(
        &job.options,
        kernel_btf.as_ref().map(|k| k.digest.as_str()),
        job.z3,
    );
    let version = vouch_verifier::VERSION;
    let target = job.request.jit_target.as_str();
    let object_digest: Option<[u8; 32]> =
        programs.iter().any(|p| p.section == ".text").then(|| {
            use sha2::Digest;
            sha2::Sha256::digest(&job.request.elf).into()
        });
    let mut out = Vec::with_capacity(programs.len());
    for program in programs {
        let digest = facts::program_digest(&object, program);
        let subject = Statement::program_name(&job.file_name, &program.section, &program.function);
        let key = cache::program_key(
            &digest,
            &options_info,
            version,
            target,
            &subject,
            object_digest
                .as_ref()
                .filter(|_| program.section == ".text"),
        );
        if let Some(entry) = cache.get(&key) {
            out.push((key, entry, true));
            continue;
        }
        let started = Instant::now();
        let report = verify_program(&object, program, &job.options);
        let refined = crate::smt::refine(report, &object, program, &job.options, job.z3);
        let report = &refined.report;
        let accepted = report.verdict == Verdict::Accepted;
        let (image, no_image_reason) = if accepted && !target.is_empty() {
            match crate::image::jit_image(&object, program, target)
                .map_err(|e| Status::invalid_argument(e.to_string()))?
            {
                Jitted::Image(bytes) => (Some(bytes), String::new()),
                Jitted::Unavailable(why) => (None, why),
            }
        } else {
            (None, String::new())
        };
        let verify_micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        let (issued_at, expires_at) = signer.times();
        let predicate = VerdictPredicate {
            verdict: report.verdict.to_string(),
            program: ProgramInfo {
                file: job.file_name.clone(),
                section: program.section.clone(),
                function: program.function.clone(),
                program_type: program.program_type.name().to_owned(),
                instructions: program.slots.len() as u64,
            },
            errors: facts::error_infos(program, report),
            discharged: refined.discharged.clone(),
            verifier: VerifierInfo {
                name: "vouch".into(),
                version: version.into(),
            },
            options: options_info.clone(),
            maps: facts::map_bindings(&object, program),
            helpers: facts::helper_ids(program),
            kfuncs: program.kfuncs.clone(),
            image: None,
            issued_at,
            expires_at,
        };
        let statement = Statement::new(
            hex(&digest),
            image.as_ref().map(|b| (sha256_hex(b), target)),
            predicate,
        );
        let result = ProgramResult {
            section: program.section.clone(),
            function: program.function.clone(),
            program_type: program.program_type.name().to_owned(),
            instructions: u32::try_from(program.slots.len()).unwrap_or(u32::MAX),
            verdict: if accepted {
                api::Verdict::Accepted
            } else {
                api::Verdict::Rejected
            } as i32,
            errors: report
                .diagnostics
                .iter()
                .enumerate()
                .map(|(i, d)| Diagnostic {
                    pc: d.pc as u64,
                    kind: d.kind.to_owned(),
                    message: d.message.clone(),
                    values: d.values.clone(),
                    source: program.line_at(d.pc).map(|l| SourceLine {
                        file: l.file.clone(),
                        line: l.line,
                        column: l.column,
                        text: l.text.clone(),
                    }),
                    smt: refined.smt.get(i).cloned(),
                })
                .collect(),
            discharged: refined.discharged_api(),
            envelope: signer.sign(&statement).into(),
            image: image.unwrap_or_default().into(),
            verify_micros,
            cached: false,
            program_digest: format!("sha256:{}", hex(&digest)),
            key_id: signer.key.id().to_owned(),
            audit_seq: 0,
            no_image_reason,
        };
        metrics.cache_misses.fetch_add(1, Relaxed);
        let entry = Arc::new(Entry::new(result, statement));
        cache.insert(key, entry.clone());
        out.push((key, entry, false));
    }
    // A request that carries a kernel BTF is not indexed: the index keeps a copy of every
    // field, and megabytes of BTF per entry would crowd out the objects. Its programs are
    // still answered from the program cache, after the load.
    if job.request.kernel_btf.is_empty() {
        cache.requests().insert(
            job.request_slot,
            &job.request,
            out.iter().map(|(k, _, _)| *k).collect(),
        );
    }
    Ok(out)
}

fn peer_of<T>(request: &Request<T>) -> Arc<str> {
    let mut peer = request
        .remote_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    if let Some(certs) = request.peer_certs()
        && let Some(cert) = certs.first()
    {
        peer.push_str(&format!(" cert=sha256:{}", sha256_hex(cert.as_ref())));
    }
    peer.into()
}

impl VerifierService {
    async fn verify_inner(
        &self,
        peer: Arc<str>,
        request: VerifyRequest,
        deadline: Deadline,
    ) -> Result<VerifyResponse, Status> {
        let s = &self.state;
        let mut job = validate(&request, s.max_elf_bytes)?;
        // The request index: hashing and comparing a big object happen on the blocking pool.
        let index = |cache: &Cache, request: &VerifyRequest| {
            let slot = cache.requests().slot(request);
            (slot, cache.requests().get(slot, request))
        };
        let (slot, keys) = if !request.kernel_btf.is_empty() {
            // Not indexed (see `run_job`).
            (0, None)
        } else if request.elf.len() <= HASH_INLINE_LIMIT {
            index(&s.cache, &request)
        } else {
            let (cache, r) = (s.cache.clone(), request.clone());
            tokio::task::spawn_blocking(move || index(&cache, &r))
                .await
                .map_err(|e| Status::internal(format!("hashing failed: {e}")))?
        };
        job.request_slot = slot;
        job.request = request;
        let cached: Option<Verified> = keys.and_then(|keys| {
            keys.iter()
                .map(|k| s.cache.get(k).map(|e| (*k, e, true)))
                .collect()
        });
        let verified = match cached {
            Some(v) => v,
            None => self.verify_on_pool(job, deadline).await?,
        };
        let now = now_unix();
        let mut results = Vec::with_capacity(verified.len());
        let mut issued = Vec::with_capacity(verified.len());
        // Whether an envelope leaves that was signed for this answer (verified or re-signed):
        // then the answer waits for its audit records (see `audit`).
        let mut new_verdict = false;
        for (key, entry, was_cached) in verified {
            new_verdict |= !was_cached;
            let entry = if s.signer.stale(&entry, now) {
                new_verdict = true;
                let fresh = Arc::new(s.signer.resign(&entry));
                s.cache.insert(key, fresh.clone());
                fresh
            } else {
                entry
            };
            if was_cached {
                s.metrics.cache_hits.fetch_add(1, Relaxed);
            }
            let mut result = entry.result.clone();
            result.cached = was_cached;
            if result.verdict == api::Verdict::Accepted as i32 {
                s.metrics.accepted.fetch_add(1, Relaxed);
            } else {
                s.metrics.rejected.fetch_add(1, Relaxed);
            }
            issued.push(Issued {
                time: now,
                peer: peer.clone(),
                verdict: entry.audit.clone(),
                cached: was_cached,
            });
            results.push(result);
        }
        let seqs = if new_verdict {
            s.audit.append_many(issued).await
        } else {
            s.audit.append_queued(issued)
        }
        .map_err(|e| match e {
            AuditError::Unwritable => Status::unavailable(e.to_string()),
            e => Status::internal(format!("audit log: {e}")),
        })?;
        s.metrics
            .audit_records
            .fetch_add(seqs.end - seqs.start, Relaxed);
        for (r, seq) in results.iter_mut().zip(seqs) {
            r.audit_seq = seq;
        }
        Ok(VerifyResponse {
            programs: results,
            verifier_version: vouch_verifier::VERSION.to_owned(),
        })
    }

    async fn verify_on_pool(&self, job: Job, deadline: Deadline) -> Result<Verified, Status> {
        let s = &self.state;
        let (pool, cache, kernel_btfs, signer, metrics) = (
            s.pool.clone(),
            s.cache.clone(),
            s.kernel_btfs.clone(),
            s.signer.clone(),
            s.metrics.clone(),
        );
        let work = async move {
            let permit = pool
                .acquire_owned()
                .await
                .map_err(|_| Status::unavailable("the server is shutting down"))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                metrics.inflight.fetch_add(1, Relaxed);
                let r = run_job(&job, &cache, &kernel_btfs, &signer, &metrics);
                metrics.inflight.fetch_sub(1, Relaxed);
                r
            })
            .await
            .map_err(|e| {
                tracing::error!("verification task failed: {e}");
                Status::internal("verification failed unexpectedly; the object was not judged")
            })?
        };
        // tokio's timers tick in milliseconds, so a result may come back after a sub-millisecond
        // deadline has passed without the timer firing; the clock decides, not the timer.
        match tokio::time::timeout_at(deadline.at.into(), work).await {
            Ok(r) if Instant::now() <= deadline.at => r,
            _ => Err(Status::deadline_exceeded(format!(
                "verification did not finish within the {} deadline of {} s",
                if deadline.client {
                    "client's (grpc-timeout)"
                } else {
                    "server's"
                },
                deadline.budget.as_secs_f64()
            ))),
        }
    }
}

#[tonic::async_trait]
impl Verifier for VerifierService {
    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        let started = Instant::now();
        let arrived = request
            .extensions()
            .get::<Arrived>()
            .map_or(started, |a| a.0);
        let deadline = Deadline::new(
            arrived,
            self.state.deadline,
            grpc_timeout(request.metadata()),
        );
        let peer = peer_of(&request);
        let result = self
            .verify_inner(peer.clone(), request.into_inner(), deadline)
            .await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.state
            .metrics
            .request(Method::Verify, code, started.elapsed());
        match &result {
            Ok(r) => tracing::debug!(
                "{peer}: {} program(s) in {:?}",
                r.programs.len(),
                started.elapsed()
            ),
            Err(status) => tracing::info!("{peer}: {:?}: {}", status.code(), status.message()),
        }
        result.map(Response::new)
    }

    async fn get_keys(
        &self,
        _request: Request<GetKeysRequest>,
    ) -> Result<Response<GetKeysResponse>, Status> {
        self.state
            .metrics
            .request(Method::GetKeys, tonic::Code::Ok, Duration::ZERO);
        Ok(Response::new(self.state.keys.clone()))
    }
}
