//! `vouchd` flags, start-up and graceful shutdown.
//!
//! On start it prints `vouchd listening on ADDR` (and `vouchd metrics on ADDR`) on stdout, so a
//! caller that passed port 0 learns the port. SIGINT or SIGTERM stop accepting connections,
//! let in-flight requests finish, write the last audit records, then exit 0.

use crate::audit::AuditLog;
use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::service::{Config, Signer, VerifierService};
use anyhow::{Context, Result};
use clap::Parser;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use vouch_proto::api::verifier_server::VerifierServer;
use vouch_proto::envelope::keys::read_public_keys;
use vouch_proto::envelope::{KeyPair, PublicKey};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "vouchd",
    version,
    about = "Vouch's verification service: eBPF objects in, signed verdicts out (gRPC)"
)]
pub struct Args {
    /// Address to listen on (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Private key that signs verdicts (`vouch keygen --out FILE`; mode 0600).
    #[arg(long)]
    pub key: PathBuf,
    /// Folder for the verdict cache and the audit log (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// TLS certificate chain (PEM); with --tls-key, the server speaks TLS only.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) clients must present a certificate from (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Largest ELF object accepted, in bytes (larger: RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_elf_bytes: usize,
    /// Most seconds one Verify may take (then DEADLINE_EXCEEDED).
    #[arg(long, default_value_t = 30.0)]
    pub deadline: f64,
    /// Verifications running at once (blocking pool size); default: the number of CPUs.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Previous signing keys (public or private key files): listed by GetKeys so hosts can
    /// still check verdicts they signed; never used to sign.
    #[arg(long = "previous-key")]
    pub previous_keys: Vec<PathBuf>,
    /// How long a verdict is valid, in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    pub verdict_ttl: u64,
    /// Most verdicts kept in memory (all are kept on disk).
    #[arg(long, default_value_t = 100_000)]
    pub cache_entries: usize,
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VOUCHD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vouchd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The handlers need the runtime's signal driver, so they are registered inside it.
    let shutdown = {
        let _guard = runtime.enter();
        shutdown_signal()
    };
    match runtime.block_on(run(args, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vouchd: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Registers the SIGINT and SIGTERM handlers now and returns a future that resolves on either.
///
/// Registration must happen before `vouchd listening on` is printed: a handler installed lazily,
/// on the future's first poll, leaves a window in which SIGTERM still has its default action and
/// kills the process without draining requests or flushing the audit log (seen in CI, where a test
/// stopped the server right after its first answer).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

fn read_previous(path: &std::path::Path) -> Result<Vec<PublicKey>> {
    match read_public_keys(path) {
        Ok(keys) => Ok(keys),
        Err(_) => Ok(vec![KeyPair::read(path)?.public.clone()]),
    }
}

fn tls_config(args: &Args) -> Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
    if let Some(ca) = &args.client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(Some(tls))
}

/// Runs the service until `shutdown` resolves, then drains it.
pub async fn run(args: Args, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let key = KeyPair::read(&args.key)?;
    let mut previous_keys = vec![];
    for p in &args.previous_keys {
        previous_keys.extend(read_previous(p)?);
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let (audit, audit_writer, chain) = AuditLog::open(&args.data_dir)?;
    let cache = Arc::new(
        Cache::open(Some(&args.data_dir.join("cache")), args.cache_entries)
            .context("cannot open the verdict cache")?,
    );
    let metrics = Arc::new(Metrics::default());
    let deadline = Duration::try_from_secs_f64(args.deadline)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--deadline must be a positive number of seconds")?;
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let config = Config {
        signer: Signer {
            key,
            ttl_secs: i64::try_from(args.verdict_ttl).unwrap_or(i64::MAX),
        },
        previous_keys,
        max_elf_bytes: args.max_elf_bytes,
        deadline,
        workers,
    };
    tracing::info!(
        "key {} signs; {} previous key(s); audit log has {} record(s); {} cached verdict(s)",
        config.signer.key.id(),
        config.previous_keys.len(),
        chain.records,
        cache.len()
    );
    let service = VerifierService::new(config, cache, audit, metrics.clone());
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_task = match args.metrics {
        Some(m) => {
            let l = TcpListener::bind(m)
                .await
                .with_context(|| format!("cannot listen on {m} for metrics"))?;
            println!("vouchd metrics on {}", l.local_addr()?);
            Some(tokio::spawn(crate::metrics::serve(l, metrics)))
        }
        None => None,
    };
    println!("vouchd listening on {addr}");
    let _ = std::io::stdout().flush();
    tracing::info!("listening on {addr} with {workers} worker(s)");

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<VerifierServer<VerifierService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(vouch_proto::api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    // Leave room above the ELF and kernel BTF limits for the other fields, so an oversized
    // object gets our
    // RESOURCE_EXHAUSTED with its size rather than a bare decoding error.
    let message_limit = args
        .max_elf_bytes
        .saturating_add(crate::kernel_btf::MAX_KERNEL_BTF_BYTES)
        .saturating_add(1 << 20);
    let verifier = InterceptedService::new(
        VerifierServer::new(service)
            .max_decoding_message_size(message_limit)
            .max_encoding_message_size(usize::MAX),
        crate::deadline::stamp_arrival,
    );
    let mut builder = Server::builder();
    if let Some(tls) = tls_config(&args)? {
        builder = builder.tls_config(tls).context("bad TLS configuration")?;
    }
    builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(verifier)
        // Every connection: TCP_NODELAY, and responses finished in the same scheduler turn
        // share one write (`corked`); TLS, when configured, runs on top.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(|s| s.map(crate::corked::Corked::new)),
            shutdown,
        )
        .await
        .context("gRPC server failed")?;
    if let Some(t) = metrics_task {
        t.abort();
    }
    // The server (and with it every handle on the audit log) is gone: wait for the last records.
    tokio::task::spawn_blocking(move || audit_writer.finish())
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
}
