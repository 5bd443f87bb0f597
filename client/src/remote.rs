//! Commands that talk to `vouchd`: `keys`, `submit`, and the shared connection options.

use crate::check::Domain;
use anyhow::{Context, Result, bail};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;
use tokio::net::TcpStream;
use tonic::codegen::Service;
use tonic::codegen::http::Uri;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use vouch_proto::api::verifier_client::VerifierClient;
use vouch_proto::api::{self, GetKeysRequest, ProgramResult, VerifyRequest};
use vouch_proto::bundle::{bundle_dir_name, write_bundle};
use vouch_server::corked::Corked;

/// How to reach the server.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Server URL: http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(long)]
    pub server: String,
    /// CA certificate (PEM) to check the server's TLS certificate against.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one (mutual TLS).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerArgs {
    pub async fn connect(&self) -> Result<VerifierClient<Channel>> {
        let mut endpoint = Channel::from_shared(self.server.clone())
            .with_context(|| format!("bad server URL `{}`", self.server))?;
        if self.server.starts_with("https://") || self.tls_ca.is_some() {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.tls_ca {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            endpoint = endpoint.tls_config(tls).context("bad TLS configuration")?;
        }
        let channel = endpoint
            .connect_with_connector(CorkedConnector)
            .await
            .with_context(|| format!("cannot connect to {}", self.server))?;
        Ok(VerifierClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX))
    }
}

/// Opens the TCP connection of a channel: `TCP_NODELAY`, and writes coalesced per scheduler
/// turn (`vouch_server::corked`), so many requests in flight share a `write`. tonic adds TLS on
/// top for `https://` servers.
#[derive(Clone, Copy)]
struct CorkedConnector;

impl Service<Uri> for CorkedConnector {
    type Response = TokioIo<Corked<TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| std::io::Error::other(format!("no host in `{uri}`")))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(Corked::new(stream)))
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    crate::object::read_limited(path, 1 << 20)
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `vouch keys`: the server's public keys as PEM blocks (what `--trust` reads), each after a
/// `# key id ...` comment.
pub fn keys(server: &ServerArgs) -> Result<bool> {
    runtime()?.block_on(async {
        let mut client = server.connect().await?;
        let keys = client
            .get_keys(GetKeysRequest {})
            .await
            .context("GetKeys failed")?
            .into_inner();
        for k in keys.keys {
            let role = if k.current { "current" } else { "previous" };
            println!("# key id {} ({}, {role})", k.key_id, k.algorithm);
            print!("{}", k.pem);
        }
        Ok(true)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SubmitFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone, Debug)]
pub struct SubmitArgs {
    /// An eBPF ELF object.
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Folder for the bundles (`<stem>.<function>.vouch/`).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = SubmitFormat::Text)]
    pub format: SubmitFormat,
    /// Only programs in this section.
    #[arg(long)]
    pub section: Option<String>,
    /// Only programs whose function has this name.
    #[arg(long)]
    pub function: Option<String>,
    /// Program type for every program (as for `check`).
    #[arg(long = "type", value_name = "TYPE")]
    pub program_type: Option<String>,
    #[arg(long, value_enum, default_value_t = Domain::Zone)]
    pub domain: Domain,
    /// Reject division and modulo by a divisor that may be zero.
    #[arg(long)]
    pub strict_div: bool,
    /// Allow pointer leaks (privileged-Linux policy).
    #[arg(long)]
    pub allow_ptr_leaks: bool,
    /// JIT target for accepted programs (`none` for no image).
    #[arg(long, default_value = vouch_proto::JIT_TARGET_X86_64_SYSV)]
    pub jit_target: String,
    /// The BTF of the kernel the programs will run on (this host's: /sys/kernel/btf/vmlinux),
    /// sent with the object: CO-RE relocations resolve against it and it types tracing
    /// programs' arguments. The verdict names its sha256.
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
    /// Ask the server to refine alarms with Z3, as `check --z3` does locally: discharged
    /// alarms are listed (and signed), the others get the solver's status and counterexample.
    /// Needs a vouchd built with the `z3` feature.
    #[arg(long)]
    pub z3: bool,
}

impl SubmitArgs {
    pub fn request(&self, elf: Vec<u8>) -> Result<VerifyRequest> {
        let kernel_btf = match &self.btf {
            Some(path) => crate::object::read_limited(
                path,
                vouch_server::kernel_btf::MAX_KERNEL_BTF_BYTES as u64,
            )?,
            None => vec![],
        };
        Ok(VerifyRequest {
            kernel_btf,
            elf: elf.into(),
            file_name: self
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            section: self.section.clone(),
            function: self.function.clone(),
            program_type: self.program_type.clone(),
            options: Some(api::Options {
                domain: match self.domain {
                    Domain::Zone => api::Domain::Zone,
                    Domain::Interval => api::Domain::Interval,
                } as i32,
                strict_div: self.strict_div,
                allow_ptr_leaks: self.allow_ptr_leaks,
                z3: self.z3,
            }),
            jit_target: if self.jit_target == "none" {
                String::new()
            } else {
                self.jit_target.clone()
            },
        })
    }
}

/// Turns a gRPC status into an error that says what the server said.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("server said {:?}: {}", status.code(), status.message())
}

/// `vouch submit`: verify remotely, write one bundle per program, print verdicts like `check`.
pub fn submit(args: &SubmitArgs) -> Result<bool> {
    let elf = crate::object::read_input(&args.file)?;
    let request = args.request(elf)?;
    let file = args.file.display().to_string();
    let response = runtime()?.block_on(async {
        let mut client = args.server.connect().await?;
        client
            .verify(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(status_error)
    });
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            if args.format == SubmitFormat::Json {
                println!(
                    "{}",
                    json!({"file": file, "programs": [], "error": format!("{e:#}")})
                );
            }
            return Err(e.context(file));
        }
    };
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut programs = vec![];
    for p in &response.programs {
        let dir = args.out.join(bundle_dir_name(&name, &p.function));
        let image = (!p.image.is_empty()).then_some(&p.image[..]);
        write_bundle(&dir, &p.envelope, image)
            .with_context(|| format!("cannot write {}", dir.display()))?;
        match args.format {
            SubmitFormat::Text => print_text(&file, p, &dir),
            SubmitFormat::Json => programs.push(json_program(p, &dir)),
        }
    }
    if args.format == SubmitFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"file": file, "programs": programs, "error": null})
            )?
        );
    }
    if response.programs.is_empty() {
        bail!("{file}: the server returned no programs");
    }
    Ok(response
        .programs
        .iter()
        .all(|p| p.verdict == api::Verdict::Accepted as i32))
}

fn verdict_name(p: &ProgramResult) -> &'static str {
    if p.verdict == api::Verdict::Accepted as i32 {
        "accepted"
    } else {
        "rejected"
    }
}

fn print_text(file: &str, p: &ProgramResult, dir: &Path) {
    let name = format!("{}/{}", p.section, p.function);
    let smt = crate::smt::Smt::from_api(p);
    for (i, d) in p.errors.iter().enumerate() {
        println!("error[{}]: {}", d.kind, d.message);
        println!("  --> {file}: {name} at pc {}", d.pc);
        if let Some(line) = &d.source {
            let width = line.line.to_string().len();
            println!("{:width$} |", "");
            println!("{} | {}", line.line, line.text.trim_end());
            let col = (line.column as usize).saturating_sub(1);
            println!(
                "{:width$} | {:col$}^ {}:{}:{}",
                "", "", line.file, line.line, line.column
            );
        }
        for v in &d.values {
            println!("   = {v}");
        }
        if let Some(s) = &smt {
            s.print_text(i);
        }
        println!();
    }
    if let Some(s) = &smt {
        s.print_discharged();
    }
    let verdict = if p.verdict == api::Verdict::Accepted as i32 {
        "accepted"
    } else {
        "REJECTED"
    };
    let errors = if p.errors.is_empty() {
        String::new()
    } else {
        format!(", {} error(s)", p.errors.len())
    };
    let cached = if p.cached { ", cached" } else { "" };
    println!(
        "{name}: {verdict} ({} instructions, {:.1} ms{errors}{cached}) signed by {} -> {}",
        p.instructions,
        p.verify_micros as f64 / 1000.0,
        p.key_id,
        dir.display()
    );
    if !p.image.is_empty() {
        println!("  image: {} bytes of x86-64 (image.bin)", p.image.len());
    } else if !p.no_image_reason.is_empty() {
        println!("  no image: {}", p.no_image_reason);
    }
}

fn json_program(p: &ProgramResult, dir: &Path) -> serde_json::Value {
    let smt = crate::smt::Smt::from_api(p);
    let mut v = json!({
        "section": p.section,
        "function": p.function,
        "program_type": p.program_type,
        "instructions": p.instructions,
        "verdict": verdict_name(p),
        "errors": p.errors.iter().enumerate().map(|(i, d)| {
            let mut e = json!({
                "pc": d.pc, "kind": d.kind, "message": d.message, "values": d.values,
                "source": d.source.as_ref().map(|l| json!({"file": l.file, "line": l.line, "column": l.column, "text": l.text})),
            });
            if let Some(s) = &smt {
                e["smt"] = s.json(i);
            }
            e
        }).collect::<Vec<_>>(),
        "seconds": p.verify_micros as f64 / 1e6,
        "cached": p.cached,
        "program_digest": p.program_digest,
        "key_id": p.key_id,
        "audit_seq": p.audit_seq,
        "bundle": dir.display().to_string(),
        "image": !p.image.is_empty(),
        "no_image_reason": (!p.no_image_reason.is_empty()).then_some(&p.no_image_reason),
    });
    if let Some(s) = &smt {
        v["discharged"] = json!(s.discharged.len());
        v["discharged_alarms"] = json!(s.discharged_json());
    }
    v
}
