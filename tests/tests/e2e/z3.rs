//! Option `z3` over the network (feature `z3` of this package: vouchd and vouch built with the
//! SMT refinement). A false alarm is discharged and the program accepted, signed and compiled;
//! the statement says so and lists the discharge, which an auditor re-checks; a real bug gets
//! a confirmed counterexample in the answer.

use crate::harness::{Server, object, request, write_key};
use std::process::Command;
use vouch_proto::api;
use vouch_proto::envelope::{Envelope, Statement, TrustStore};
use vouch_verifier::analysis::MapInfo;
use vouch_verifier::isa::asm::assemble;

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch-under-test");

/// `(x & 15) - (x - (x & 0xf0)) + 1` is 1 for every packet byte `x`; the abstract domains
/// only know it lies in [-254, 256], so `--strict-div` warns the divisor may be zero. Z3
/// proves it never is.
const BITWISE: &str = "
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 1
    jgt %r4, %r3, out
    ldxb %r5, [%r2+0]
    mov %r6, %r5
    and %r6, 0xf0
    mov %r7, %r5
    sub %r7, %r6
    mov %r8, %r5
    and %r8, 15
    sub %r8, %r7
    add %r8, 1
    mov %r0, 100
    div %r0, %r8
    exit
out:
    mov %r0, 2
    exit
";

fn statement(r: &api::ProgramResult, trust: &TrustStore) -> Statement {
    let envelope = Envelope::from_json(&r.envelope).expect("envelope");
    let (payload, _) = envelope.verify(trust).expect("signature verifies");
    Statement::from_payload(&payload).expect("statement")
}

fn options(z3: bool) -> Option<api::Options> {
    Some(api::Options {
        strict_div: true,
        z3,
        ..api::Options::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn z3_discharges_signs_and_confirms_over_the_network() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 33);
    let server = Server::start(&key, &tmp.path().join("data"), &[]);
    let mut client = server.client().await;
    let trust = server.trust().await;
    let map = MapInfo {
        name: "unused".into(),
        map_type: 2,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        read_only: false,
        frozen: None,
        inner: None,
    };
    let elf = vouch_client::stress_elf::object(&assemble(BITWISE).expect("asm"), "bitwise", &map);

    // Without z3 the alarm stands; the statement names no z3.
    let plain = client
        .verify(api::VerifyRequest {
            options: options(false),
            ..request("bitwise.o", elf.clone())
        })
        .await
        .expect("verify")
        .into_inner();
    let p = &plain.programs[0];
    assert_eq!(p.verdict, api::Verdict::Rejected as i32, "{:?}", p.errors);
    assert!(p.discharged.is_empty() && p.errors.iter().all(|e| e.smt.is_none()));
    assert!(!statement(p, &trust).predicate.options.z3);

    // With z3: discharged, accepted, compiled, and the signed statement lists the discharge.
    let refined = client
        .verify(api::VerifyRequest {
            options: options(true),
            ..request("bitwise.o", elf.clone())
        })
        .await
        .expect("verify")
        .into_inner();
    let p = &refined.programs[0];
    assert_eq!(p.verdict, api::Verdict::Accepted as i32, "{:?}", p.errors);
    assert!(
        !p.cached,
        "a z3 verdict is not the plain verdict's cache entry"
    );
    assert_eq!(p.discharged.len(), 1);
    assert_eq!(p.discharged[0].query_sha256.len(), 64);
    assert!(!p.image.is_empty());
    let s = statement(p, &trust);
    assert!(s.predicate.options.z3);
    assert_eq!(s.predicate.discharged.len(), 1);
    assert_eq!(
        s.predicate.discharged[0].query_sha256,
        p.discharged[0].query_sha256
    );

    // A real bug: the answer carries the confirmed counterexample.
    let bug = client
        .verify(api::VerifyRequest {
            options: options(true),
            ..request("bug.o", object("bug_null_deref.bpf.o"))
        })
        .await
        .expect("verify")
        .into_inner();
    let p = &bug.programs[0];
    assert_eq!(p.verdict, api::Verdict::Rejected as i32);
    let smt = p.errors[0].smt.as_ref().expect("smt status");
    assert_eq!(smt.status, "confirmed", "{smt:?}");
    assert!(!smt.counterexample.is_empty());

    // The CLI: submit --z3, then an auditor re-verifies the discharge.
    let file = tmp.path().join("bitwise.o");
    std::fs::write(&file, &elf).expect("write");
    let out = tmp.path().join("bundles");
    let run = |args: &[&str]| Command::new(VOUCH).args(args).output().expect("vouch runs");
    let file = file.to_str().expect("utf8");
    let o = run(&[
        "submit",
        file,
        "--server",
        &server.url(),
        "--out",
        out.to_str().expect("utf8"),
        "--strict-div",
        "--z3",
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["programs"][0]["discharged"], 1, "{json}");
    let bundle = out.join("bitwise.bitwise.vouch");
    let trust = format!("{}.pub", key.display());
    let o = run(&[
        "audit",
        bundle.to_str().expect("utf8"),
        "--trust",
        &trust,
        "--reverify",
        file,
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 discharged"), "{stdout}");
    assert!(
        stdout.contains("same digest and verdict (accepted)"),
        "{stdout}"
    );
    server.stop();
}
