//! A host sends its kernel's BTF with a tracing program: the verdict is typed against it and
//! names it, and an auditor re-verifies against the same BTF only. Uses the running kernel's
//! BTF and cilium/ebpf's tcprtt example (`fentry/tcp_close(struct sock *sk)`); skipped where
//! either is missing.

use crate::harness::{Server, request, write_key};
use std::path::{Path, PathBuf};
use std::process::Command;
use vouch_proto::api;
use vouch_proto::envelope::{Envelope, Statement, TrustStore, sha256_hex};

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch-under-test");
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn tcprtt() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples/cilium-examples/tcprtt_bpf_bpfel.o")
}

/// The signed statement of a result, checked against the server's keys.
fn statement(r: &api::ProgramResult, trust: &TrustStore) -> Statement {
    let envelope = Envelope::from_json(&r.envelope).expect("envelope");
    let (payload, _) = envelope.verify(trust).expect("signature verifies");
    Statement::from_payload(&payload).expect("statement")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_btf_types_the_verdict_and_is_named_in_it() {
    let (Ok(vmlinux), Ok(elf)) = (std::fs::read(VMLINUX), std::fs::read(tcprtt())) else {
        eprintln!("skipped: {VMLINUX} or the tcprtt sample is missing");
        return;
    };
    // A kernel without a `tcp_close` (renamed, or built without BTF for it) types nothing here.
    if !vmlinux.windows(11).any(|w| w == b"\0tcp_close\0") {
        eprintln!("skipped: {VMLINUX} names no tcp_close");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 21);
    let server = Server::start(&key, &tmp.path().join("data"), &[]);
    let mut client = server.client().await;
    let trust = server.trust().await;

    // Without the kernel's types the argument is untyped: refused, and no BTF is named.
    let plain = client
        .verify(request("tcprtt.o", elf.clone()))
        .await
        .expect("verify")
        .into_inner();
    assert_eq!(plain.programs[0].verdict, api::Verdict::Rejected as i32);
    assert_eq!(
        statement(&plain.programs[0], &trust)
            .predicate
            .options
            .kernel_btf,
        None
    );

    let with_btf = || api::VerifyRequest {
        kernel_btf: vmlinux.clone(),
        ..request("tcprtt.o", elf.clone())
    };
    let typed = client
        .verify(with_btf())
        .await
        .expect("verify")
        .into_inner();
    let p = &typed.programs[0];
    assert_eq!(p.verdict, api::Verdict::Accepted as i32, "{:?}", p.errors);
    assert!(!p.cached);
    let named = statement(p, &trust).predicate.options.kernel_btf;
    assert_eq!(named, Some(format!("sha256:{}", sha256_hex(&vmlinux))));
    // The same request again: the program cache answers, with the same signed verdict.
    let again = client
        .verify(with_btf())
        .await
        .expect("verify")
        .into_inner();
    assert!(again.programs[0].cached);
    assert_eq!(again.programs[0].envelope, p.envelope);

    // Not BTF, and too much of it.
    let junk = api::VerifyRequest {
        kernel_btf: b"not BTF".to_vec(),
        ..request("tcprtt.o", elf.clone())
    };
    let status = client.verify(junk).await.expect_err("junk BTF");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("kernel_btf"), "{status:?}");
    let huge = api::VerifyRequest {
        kernel_btf: vec![0u8; vouch_server::kernel_btf::MAX_KERNEL_BTF_BYTES + 1],
        ..request("tcprtt.o", elf.clone())
    };
    let status = client.verify(huge).await.expect_err("huge BTF");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    // The CLI: submit with --btf, then audit --reverify needs that very BTF.
    let out = tmp.path().join("bundles");
    let run = |args: &[&str]| Command::new(VOUCH).args(args).output().expect("vouch runs");
    let sample = tcprtt();
    let sample = sample.to_str().expect("utf8");
    let o = run(&[
        "submit",
        sample,
        "--server",
        &server.url(),
        "--out",
        out.to_str().expect("utf8"),
        "--btf",
        VMLINUX,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bundle = out.join("tcprtt_bpf_bpfel.tcp_close.vouch");
    let trust = format!("{}.pub", key.display());
    let audit = |extra: &[&str]| {
        let mut args = vec!["audit", bundle.to_str().expect("utf8"), "--trust", &trust];
        args.extend_from_slice(extra);
        run(&args)
    };
    let o = audit(&["--reverify", sample, "--btf", VMLINUX]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("kernel    BTF sha256:"));
    // Without the BTF the auditor is told which one to pass; with another, refused.
    let o = audit(&["--reverify", sample]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass that file with --btf"));
    let other = tmp.path().join("other.btf");
    std::fs::write(&other, b"another kernel").expect("write");
    let o = audit(&["--reverify", sample, "--btf", other.to_str().expect("utf8")]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    server.stop();
}
