//! `vouch load`: how fast a server answers a fleet. Measures, on one object:
//! - local verification (load + verify in this process, like `vouch check`), the baseline;
//! - cold remote latency: a few requests under fresh file names, so the server's cache cannot
//!   answer (the subject name is part of the cache key) and it verifies and signs;
//! - cached throughput and p50/p99 latency: `--requests` requests from `--concurrency` clients
//!   over `--connections` HTTP/2 connections, after one warm-up request (over plain HTTP/2
//!   through the lean client of `load_h2`, unless `--tonic-client`).
//!
//! Every answer is counted and checked (one result per program, a verdict, an envelope), so a
//! lost or empty answer is an error, not a faster number.

use crate::load_h2;
use crate::remote::{ServerArgs, SubmitArgs, status_error};
use anyhow::{Context, Result, bail};
use prost::bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use vouch_proto::api::verifier_client::VerifierClient;
use vouch_proto::api::{VerifyRequest, VerifyResponse};

#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    /// An eBPF ELF object.
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Clients sending at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Cached requests in total.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// HTTP/2 connections the clients share.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Cold (uncached) requests to time.
    #[arg(long, default_value_t = 5)]
    pub cold: usize,
    /// Send the cached requests through tonic's channel, as `vouch submit` does (default over
    /// plain HTTP/2: a lean h2 client that costs the shared machine less; same wire format,
    /// every answer decoded and checked alike).
    #[arg(long)]
    pub tonic_client: bool,
}

/// How the cached phase calls Verify.
#[derive(Clone)]
enum Caller {
    Tonic(VerifierClient<Channel>),
    H2(load_h2::Connection),
}

impl Caller {
    async fn verify(&mut self, framed: &Bytes, request: &VerifyRequest) -> Result<VerifyResponse> {
        match self {
            Caller::Tonic(client) => Ok(client
                .verify(request.clone())
                .await
                .map_err(status_error)?
                .into_inner()),
            Caller::H2(connection) => connection.verify(framed).await,
        }
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

pub fn run(args: &LoadArgs) -> Result<bool> {
    let elf = crate::object::read_input(&args.file)?;
    // Local baseline: what `vouch check` does, timed in process (median of a few runs).
    let mut local = vec![];
    for _ in 0..args.cold.max(1) {
        let started = Instant::now();
        let object = vouch_verifier::elf::load(&elf, &Default::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
        for p in &object.programs {
            let _ = vouch_verifier::analysis::verify_program(&object, p, &Default::default());
        }
        local.push(started.elapsed());
    }
    local.sort();
    let submit = SubmitArgs {
        file: args.file.clone(),
        server: args.server.clone(),
        out: PathBuf::from("."),
        format: crate::remote::SubmitFormat::Text,
        section: None,
        function: None,
        program_type: None,
        domain: crate::check::Domain::Zone,
        strict_div: false,
        allow_ptr_leaks: false,
        jit_target: vouch_proto::JIT_TARGET_X86_64_SYSV.into(),
        btf: None,
        z3: false,
    };
    let request = submit.request(elf)?;
    let programs = vouch_verifier::elf::load(&request.elf, &Default::default())
        .map(|o| o.programs.len())
        .unwrap_or(0);
    let runtime = crate::remote::runtime()?;
    runtime.block_on(async {
        let mut clients = vec![];
        for _ in 0..args.connections.max(1) {
            clients.push(args.server.connect().await?);
        }
        // Cold: unique names defeat the cache.
        let mut cold = vec![];
        // Unique per run, even for runs started in the same second.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let nonce = format!("{nonce:x}-{}", std::process::id());
        for i in 0..args.cold {
            let mut r = request.clone();
            r.file_name = format!("load-{nonce}-{i}-{}", r.file_name);
            let started = Instant::now();
            let answer = clients[0]
                .verify(r)
                .await
                .map_err(status_error)?
                .into_inner();
            cold.push(started.elapsed());
            if answer.programs.iter().any(|p| p.cached) {
                bail!("a cold request was answered from the cache");
            }
        }
        cold.sort();
        // Warm the cache for the real name.
        clients[0]
            .verify(request.clone())
            .await
            .map_err(status_error)?;
        // The cached phase: over plain HTTP/2 the lean h2 client (see `load_h2`), else tonic.
        let lean = args.server.server.starts_with("http://")
            && args.server.tls_ca.is_none()
            && !args.tonic_client;
        let mut callers = vec![];
        for client in &clients {
            callers.push(if lean {
                Caller::H2(load_h2::Connection::open(&args.server.server).await?)
            } else {
                Caller::Tonic(client.clone())
            });
        }
        let request = Arc::new((load_h2::frame(&request), request));
        let per_client = args.requests / args.concurrency.max(1);
        let extra = args.requests % args.concurrency.max(1);
        let started = Instant::now();
        let mut tasks = vec![];
        for c in 0..args.concurrency.max(1) {
            let mut caller = callers[c % callers.len()].clone();
            let request = request.clone();
            let n = per_client + usize::from(c < extra);
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    let answer = caller.verify(&request.0, &request.1).await?;
                    latencies.push(t.elapsed());
                    if answer.programs.len() != programs
                        || answer.programs.iter().any(|p| {
                            !p.cached || p.envelope.is_empty() || p.verdict == 0 || p.audit_seq == 0
                        })
                    {
                        bail!("an answer was incomplete or not from the cache");
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        let mut latencies = vec![];
        for t in tasks {
            latencies.extend(t.await.context("client task failed")??);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        if latencies.len() != args.requests {
            bail!("{} of {} requests answered", latencies.len(), args.requests);
        }
        println!(
            "{}: {} program(s); {} requests from {} clients over {} connection(s) ({})",
            args.file.display(),
            programs,
            args.requests,
            args.concurrency,
            clients.len(),
            if lean { "h2 client" } else { "tonic client" }
        );
        println!(
            "cached:  {:.0} requests/s ({:.0} verdicts/s); latency p50 {}, p99 {}, max {}",
            args.requests as f64 / elapsed.as_secs_f64(),
            (args.requests * programs) as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0))
        );
        let (cold_p50, local_p50) = (percentile(&cold, 0.5), percentile(&local, 0.5));
        println!(
            "cold:    remote p50 {} vs local verification p50 {} (difference {})",
            ms(cold_p50),
            ms(local_p50),
            ms(cold_p50.saturating_sub(local_p50))
        );
        Ok(true)
    })
}
