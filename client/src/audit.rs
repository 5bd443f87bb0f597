//! Offline commands on keys, bundles and audit logs: `keygen`, `audit`, `audit-log`. None of
//! them talks to a server: a verdict is checked with the public key alone.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use vouch_proto::bundle::inspect_bundle;
use vouch_proto::envelope::time::now_unix;
use vouch_proto::envelope::{KeyPair, TrustStore};
use vouch_verifier::analysis::verify_program;
use vouch_verifier::elf::{LoadOptions, load};
use vouch_verifier::platform::ProgramType;

/// `vouch keygen --out FILE`: FILE (private, 0600) and FILE.pub.
pub fn keygen(out: &Path) -> Result<bool> {
    let key = KeyPair::generate()?;
    let public = key.write(out)?;
    println!(
        "key id {}: private key {} (mode 0600), public key {}",
        key.id(),
        out.display(),
        public.display()
    );
    Ok(true)
}

#[derive(clap::Args, Clone, Debug)]
pub struct AuditArgs {
    /// A bundle folder (`<stem>.<function>.vouch/`, as `vouch submit` writes it).
    pub bundle: PathBuf,
    /// Trusted public keys: key files, or folders of `*.pub` / `*.pem` files.
    #[arg(long, required = true, num_args = 1..)]
    pub trust: Vec<PathBuf>,
    /// Re-run the verification locally on this object and confirm the same digest and verdict.
    #[arg(long, value_name = "FILE.o")]
    pub reverify: Option<PathBuf>,
    /// With `--reverify`: the kernel BTF the verdict names (its sha256 must match).
    #[arg(long, value_name = "FILE", requires = "reverify")]
    pub btf: Option<PathBuf>,
}

/// `vouch audit`: exit 0 when the bundle is authentic (and, with `--reverify`, the local
/// verification agrees), 1 when it is refused, 2 on bad usage.
pub fn audit(args: &AuditArgs) -> Result<bool> {
    let trust = TrustStore::load(&args.trust)?;
    let bundle = match inspect_bundle(&args.bundle, &trust, now_unix()) {
        Ok(b) => b,
        Err(reason) => {
            println!("{}: REFUSED: {reason}", args.bundle.display());
            return Ok(false);
        }
    };
    let s = &bundle.statement;
    let p = &s.predicate;
    println!("{}: authentic verdict", args.bundle.display());
    println!("  program   {} ({})", s.name(), p.program.program_type);
    println!(
        "  digest    sha256:{}",
        s.program_digest().unwrap_or_default()
    );
    println!(
        "  verdict   {}{}",
        p.verdict,
        p.errors
            .first()
            .map(|e| format!(" (pc {}: {})", e.pc, e.message))
            .unwrap_or_default()
    );
    println!(
        "  verifier  {} {}, domain {}, strict-div {}, allow-ptr-leaks {}",
        p.verifier.name,
        p.verifier.version,
        p.options.domain,
        p.options.strict_div,
        p.options.allow_ptr_leaks
    );
    if let Some(btf) = &p.options.kernel_btf {
        println!("  kernel    BTF {btf}");
    }
    if p.options.z3 {
        println!(
            "  z3        alarms refined with Z3; {} discharged",
            p.discharged.len()
        );
        for d in &p.discharged {
            println!(
                "            pc {}: {} (query sha256 {})",
                d.pc, d.message, d.query_sha256
            );
        }
    }
    println!(
        "  signed by {} at {}, expires {}",
        bundle.key_id, p.issued_at, p.expires_at
    );
    match (&p.image, s.image_digest()) {
        (Some(i), Some(d)) => println!("  image     {} sha256:{d} (matches image.bin)", i.target),
        _ => println!("  image     none"),
    }
    let Some(object_path) = &args.reverify else {
        return Ok(true);
    };
    reverify(s, object_path, args.btf.as_deref())
}

fn reverify(s: &vouch_proto::envelope::Statement, path: &Path, btf: Option<&Path>) -> Result<bool> {
    let p = &s.predicate;
    let bytes = crate::object::read_input(path)?;
    let program_type = ProgramType::from_name(&p.program.program_type)
        .with_context(|| format!("unknown program type `{}`", p.program.program_type))?;
    // The kernel BTF the verdict was relocated and typed against, and only that one.
    let target_btf = match (&p.options.kernel_btf, btf) {
        (None, None) => None,
        (Some(want), None) => {
            bail!("the verdict was checked against kernel BTF {want}: pass that file with --btf")
        }
        (None, Some(_)) => bail!("the verdict names no kernel BTF: re-verify without --btf"),
        (Some(want), Some(path)) => {
            let bytes = crate::object::read_input(path)?;
            let got = vouch_server::kernel_btf::digest(&bytes);
            if got != *want {
                println!(
                    "  reverify  REFUSED: {} is kernel BTF {got}, the verdict names {want}",
                    path.display()
                );
                return Ok(false);
            }
            let parsed = vouch_verifier::elf::btf::Btf::parse(&bytes)
                .with_context(|| format!("{}: invalid BTF", path.display()))?;
            Some(std::sync::Arc::new(parsed))
        }
    };
    let object = load(
        &bytes,
        &LoadOptions {
            program_type: Some(program_type),
            target_btf,
            ..LoadOptions::default()
        },
    )
    .with_context(|| format!("{}: cannot load", path.display()))?;
    let Some(program) = object
        .programs
        .iter()
        .find(|q| q.section == p.program.section && q.function == p.program.function)
    else {
        println!(
            "  reverify  REFUSED: {} has no program {}/{}",
            path.display(),
            p.program.section,
            p.program.function
        );
        return Ok(false);
    };
    let digest = vouch_proto::envelope::hex(&vouch_server::facts::program_digest(&object, program));
    if Some(digest.as_str()) != s.program_digest() {
        println!(
            "  reverify  REFUSED: {} has program digest sha256:{digest}, the verdict is for sha256:{}",
            path.display(),
            s.program_digest().unwrap_or_default()
        );
        return Ok(false);
    }
    let Some(options) = vouch_server::facts::options_from_info(&p.options) else {
        bail!("the verdict names unknown options {:?}", p.options);
    };
    let report = verify_program(&object, program, &options);
    // A verdict refined with Z3 is re-verified the same way: its discharges are part of it.
    let report = if p.options.z3 {
        crate::smt::available(true).context(
            "the verdict was refined with Z3 (options.z3); re-verifying it needs the same",
        )?;
        let (report, smt) = crate::smt::refine(report, &object, program, &options);
        let local: Vec<&str> = smt.discharged.iter().map(|(_, _, h)| h.as_str()).collect();
        let signed: Vec<&str> = p
            .discharged
            .iter()
            .map(|d| d.query_sha256.as_str())
            .collect();
        if local != signed {
            println!(
                "  reverify  DIFFERENT: Z3 here discharges {} alarm(s), the verdict lists {}",
                local.len(),
                signed.len()
            );
            return Ok(false);
        }
        report
    } else {
        report
    };
    let local = report.verdict.to_string();
    if local != p.verdict {
        println!(
            "  reverify  DIFFERENT: local verification says {local}, the verdict says {}",
            p.verdict
        );
        return Ok(false);
    }
    if p.verifier.version != vouch_verifier::VERSION {
        println!(
            "  reverify  same verdict ({local}) with verifier {} (the verdict's is {})",
            vouch_verifier::VERSION,
            p.verifier.version
        );
    } else {
        println!("  reverify  same digest and verdict ({local})");
    }
    Ok(true)
}

/// `vouch audit-log DIR`: verifies the hash chain of `DIR/audit.jsonl` (or of the file given).
pub fn audit_log(path: &Path) -> Result<bool> {
    let file = if path.is_dir() {
        path.join(vouch_server::audit::AUDIT_FILE)
    } else {
        path.to_owned()
    };
    if !file.exists() {
        bail!("{}: no audit log", file.display());
    }
    match vouch_server::audit::verify_chain(&file) {
        Ok(s) => {
            println!(
                "{}: {} record(s), hash chain intact; last seq {}, hash {}",
                file.display(),
                s.records,
                s.last_seq,
                s.last_hash
            );
            Ok(true)
        }
        Err(e @ vouch_server::audit::AuditError::Broken { .. }) => {
            println!("BROKEN: {e}");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
