//! End to end over a real `vouchd` on loopback: corpus verdicts, tampering, malformed input,
//! limits, load, restart. See `harness.rs` for the process and client.

mod driver;
mod grpc;
mod harness;
mod kernel_btf;
#[cfg(feature = "z3")]
mod z3;

use harness::{Server, object, request, write_key};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use vouch_proto::api::{self, ProgramResult};
use vouch_proto::bundle::{
    RefusalReason, bundle_dir_name, inspect_bundle, verify_bundle, write_bundle,
};
use vouch_proto::envelope::time::now_unix;
use vouch_proto::envelope::{Envelope, EnvelopeError, Statement, TrustStore};

#[derive(serde::Deserialize)]
struct Manifest {
    program: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    object: String,
    section: String,
    function: String,
    expected: String,
}

/// Checks one result's envelope against the trust store and the result's own fields.
fn check_result(file: &str, r: &ProgramResult, trust: &TrustStore) -> Statement {
    let envelope = Envelope::from_json(&r.envelope).expect("envelope parses");
    let (payload, key_id) = envelope.verify(trust).expect("signature verifies");
    assert_eq!(key_id, r.key_id);
    let s = Statement::from_payload(&payload).expect("statement");
    assert_eq!(
        s.name(),
        Statement::program_name(file, &r.section, &r.function)
    );
    assert_eq!(
        Some(r.program_digest.trim_start_matches("sha256:")),
        s.program_digest()
    );
    let verdict = if r.verdict == api::Verdict::Accepted as i32 {
        "accepted"
    } else {
        "rejected"
    };
    assert_eq!(s.predicate.verdict, verdict);
    assert_eq!(s.predicate.errors.len(), r.errors.len());
    // Accepted programs carry an image whose digest the statement binds, unless the response
    // says why not; rejected ones never do.
    if verdict == "accepted" && r.no_image_reason.is_empty() {
        assert!(
            !r.image.is_empty(),
            "{}: accepted without an image",
            r.function
        );
        assert_eq!(
            s.image_digest(),
            Some(vouch_proto::envelope::sha256_hex(&r.image).as_str())
        );
    } else {
        assert!(r.image.is_empty() && s.image_digest().is_none());
    }
    s
}

/// The image a result carries, for `write_bundle`.
fn image_of(r: &ProgramResult) -> Option<&[u8]> {
    (!r.image.is_empty()).then_some(&r.image[..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_program_gets_its_expected_signed_verdict() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 1);
    let server = Server::start(&key, &tmp.path().join("data"), &[]);
    let trust = server.trust().await;
    let mut client = server.client().await;
    let text = std::fs::read_to_string(harness::corpus().join("manifest.toml")).expect("manifest");
    let manifest: Manifest = toml::from_str(&text).expect("manifest parses");
    let mut by_object: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &manifest.program {
        by_object.entry(&e.object).or_default().push(e);
    }
    let mut checked = 0;
    for (path, entries) in by_object {
        let file = Path::new(path).file_name().expect("name").to_string_lossy();
        let bytes = std::fs::read(harness::corpus().join(path)).expect("object");
        let response = client
            .verify(request(&file, bytes))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into_inner();
        for e in entries {
            let r = response
                .programs
                .iter()
                .find(|r| r.section == e.section && r.function == e.function)
                .unwrap_or_else(|| panic!("{path}: no result for {}/{}", e.section, e.function));
            let s = check_result(&file, r, &trust);
            let expected = if e.expected == "accept" {
                "accepted"
            } else {
                "rejected"
            };
            assert_eq!(s.predicate.verdict, expected, "{path} {}", e.function);
            // The bundle a host would receive checks out offline.
            let dir = tmp
                .path()
                .join("bundles")
                .join(bundle_dir_name(&file, &r.function));
            write_bundle(&dir, &r.envelope, image_of(r)).expect("bundle");
            inspect_bundle(&dir, &trust, now_unix()).expect("authentic bundle");
            checked += 1;
        }
    }
    assert!(checked >= 70, "{checked} programs checked");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_swapped_untrusted_rotated_and_expired_verdicts_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let (old_key, _) = write_key(tmp.path(), "old", 2);
    let server = Server::start(&old_key, &data, &[]);
    let old_trust = server.trust().await;
    let mut client = server.client().await;
    let response = client
        .verify(request("multi_prog.bpf.o", object("multi_prog.bpf.o")))
        .await
        .expect("verify")
        .into_inner();
    assert!(response.programs.len() >= 2, "two programs to swap");
    let bundles = tmp.path().join("bundles");
    let dirs: Vec<_> = response
        .programs
        .iter()
        .map(|r| {
            let dir = bundles.join(bundle_dir_name("multi_prog.bpf.o", &r.function));
            write_bundle(&dir, &r.envelope, image_of(r)).expect("bundle");
            dir
        })
        .collect();
    let now = now_unix();
    let inspect = |dir: &Path, trust: &TrustStore| inspect_bundle(dir, trust, now);
    inspect(&dirs[0], &old_trust).expect("authentic");

    // Flip one byte of the payload, then one of the signature.
    let original = std::fs::read(dirs[0].join("envelope.json")).expect("read");
    let envelope = Envelope::from_json(&original).expect("parses");
    let mut payload = envelope.payload_unverified().expect("payload");
    let at = payload.len() / 3;
    payload[at] ^= 0x20;
    let mut flipped = envelope.clone();
    flipped.payload = base64_encode(&payload);
    std::fs::write(dirs[0].join("envelope.json"), flipped.to_json()).expect("write");
    let e = inspect(&dirs[0], &old_trust).expect_err("flipped payload");
    assert!(
        matches!(e, RefusalReason::Envelope(EnvelopeError::BadSignature(_))),
        "{e}"
    );
    assert!(e.to_string().contains("altered"), "{e}");
    let mut raw = original.clone();
    let sig_at = String::from_utf8_lossy(&raw)
        .find("\"sig\":\"")
        .expect("sig")
        + 10;
    raw[sig_at] = if raw[sig_at] == b'A' { b'B' } else { b'A' };
    std::fs::write(dirs[0].join("envelope.json"), &raw).expect("write");
    let e = inspect(&dirs[0], &old_trust).expect_err("flipped signature");
    assert!(
        matches!(e, RefusalReason::Envelope(EnvelopeError::BadSignature(_))),
        "{e}"
    );
    std::fs::write(dirs[0].join("envelope.json"), &original).expect("restore");

    // Swap the envelopes of two programs.
    let other = std::fs::read(dirs[1].join("envelope.json")).expect("read");
    std::fs::write(dirs[0].join("envelope.json"), &other).expect("swap");
    let e = inspect(&dirs[0], &old_trust).expect_err("swapped");
    assert!(matches!(e, RefusalReason::WrongFolder { .. }), "{e}");
    std::fs::write(dirs[0].join("envelope.json"), &original).expect("restore");

    // Untouched, the bundle passes every check the thin driver makes (or is a rejection).
    match verify_bundle(
        &dirs[0],
        &old_trust,
        now,
        vouch_proto::JIT_TARGET_X86_64_SYSV,
    ) {
        Ok(b) => assert!(!b.image.is_empty()),
        Err(e) => assert!(matches!(e, RefusalReason::NotAccepted { .. }), "{e}"),
    }

    // Untrusted key.
    let stranger = TrustStore::new(vec![
        vouch_proto::envelope::KeyPair::from_seed([99; 32])
            .public
            .clone(),
    ]);
    let e = inspect(&dirs[0], &stranger).expect_err("untrusted");
    assert!(
        matches!(e, RefusalReason::Envelope(EnvelopeError::UntrustedKey(_))),
        "{e}"
    );

    // Expired: a day past a 1-second validity.
    server.stop();
    let (new_key, new_pair) = write_key(tmp.path(), "new", 3);
    let short = Server::start(&new_key, &tmp.path().join("short"), &["--verdict-ttl", "1"]);
    let r = short
        .client()
        .await
        .verify(request(
            "xdp_drop_icmp.bpf.o",
            object("xdp_drop_icmp.bpf.o"),
        ))
        .await
        .expect("verify")
        .into_inner();
    let dir = bundles.join(bundle_dir_name(
        "xdp_drop_icmp.bpf.o",
        &r.programs[0].function,
    ));
    write_bundle(&dir, &r.programs[0].envelope, image_of(&r.programs[0])).expect("bundle");
    let short_trust = short.trust().await;
    let e = inspect_bundle(&dir, &short_trust, now_unix() + 2).expect_err("expired");
    assert!(matches!(e, RefusalReason::Expired { .. }), "{e}");
    short.stop();

    // Rotation: the new key signs, the old one is listed as previous; a host that trusts
    // only the new key refuses verdicts signed by the rotated-out key.
    let old_public = old_key.with_extension("pub");
    let old_public = if old_public.exists() {
        old_public
    } else {
        vouch_proto::envelope::keys::public_path_of(&old_key)
    };
    let rotated = Server::start(
        &new_key,
        &data,
        &["--previous-key", old_public.to_str().expect("utf8")],
    );
    let keys = rotated
        .client()
        .await
        .get_keys(api::GetKeysRequest {})
        .await
        .expect("keys")
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 2);
    assert!(keys[0].current && keys[0].key_id == new_pair.id());
    assert!(!keys[1].current);
    let new_only = TrustStore::new(vec![new_pair.public.clone()]);
    let e = inspect(&dirs[0], &new_only).expect_err("rotated out");
    assert!(
        matches!(e, RefusalReason::Envelope(EnvelopeError::UntrustedKey(_))),
        "{e}"
    );
    // The cached verdict comes back re-signed by the new key.
    let again = rotated
        .client()
        .await
        .verify(request("multi_prog.bpf.o", object("multi_prog.bpf.o")))
        .await
        .expect("verify")
        .into_inner();
    for r in &again.programs {
        assert!(r.cached, "served from the cache");
        assert_eq!(r.key_id, new_pair.id());
        check_result("multi_prog.bpf.o", r, &new_only);
    }
    rotated.stop();
}

fn base64_encode(bytes: &[u8]) -> String {
    // A tiny encoder so the test does not depend on the one it checks.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_status_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 4);
    let server = Server::start(
        &key,
        &tmp.path().join("data"),
        &["--max-elf-bytes", "100000", "--metrics", "127.0.0.1:0"],
    );
    let mut client = server.client().await;
    let good = object("xdp_drop_icmp.bpf.o");
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut bad_magic = good.clone();
    bad_magic[1] = b'X';
    for (what, bytes) in [
        ("empty", vec![]),
        ("garbage", b"this is not an ELF object at all".to_vec()),
        ("bad magic", bad_magic),
        ("truncated", truncated),
    ] {
        let status = client
            .verify(request("bad.o", bytes))
            .await
            .expect_err(what);
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{what}: {status:?}"
        );
        assert!(
            status.message().contains("ELF"),
            "{what}: {}",
            status.message()
        );
    }
    let status = client
        .verify(request("big.o", vec![0; 100_001]))
        .await
        .expect_err("too big");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let mut r = request("x.o", good.clone());
    r.jit_target = "riscv64".into();
    let status = client.verify(r).await.expect_err("target");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut r = request("x.o", good.clone());
    r.function = Some("no_such_function".into());
    let status = client.verify(r).await.expect_err("selection");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // A server built without the z3 feature refuses the option by name (e2e/z3.rs tests the
    // server built with it).
    if !vouch_server::smt::AVAILABLE {
        let mut r = request("x.o", good.clone());
        r.options = Some(api::Options {
            z3: true,
            ..api::Options::default()
        });
        let status = client.verify(r).await.expect_err("z3");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), vouch_server::service::Z3_UNAVAILABLE);
        assert!(status.message().contains("without the `z3` feature"));
    }
    // Still serving.
    let ok = client
        .verify(request("xdp_drop_icmp.bpf.o", good))
        .await
        .expect("a good request after bad ones")
        .into_inner();
    assert_eq!(ok.programs.len(), 1);
    // Health service says SERVING for the verifier.
    let channel = tonic::transport::Channel::from_shared(server.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "vouch.v1.Verifier".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Metrics count what happened.
    let metrics = http_get(server.metrics.as_deref().expect("metrics address")).await;
    assert!(
        metrics.contains("vouch_requests_total{method=\"Verify\",code=\"InvalidArgument\"} 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vouch_requests_total{method=\"Verify\",code=\"ResourceExhausted\"} 1")
    );
    assert!(metrics.contains("vouch_verdicts_total{verdict=\"accepted\"} 1"));
    server.stop();

    // A deadline no verification can meet (this object takes tens of milliseconds).
    let slow = Server::start(&key, &tmp.path().join("slow"), &["--deadline", "0.000001"]);
    let status = slow
        .client()
        .await
        .verify(request("bpf_loop_cb.bpf.o", object("bpf_loop_cb.bpf.o")))
        .await
        .expect_err("deadline");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("server's"), "{status:?}");
    slow.stop();
}

pub(crate) async fn http_get(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_clients_twenty_requests_each_nothing_lost() {
    const CLIENTS: usize = 100;
    const REQUESTS: usize = 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 5);
    let data = tmp.path().join("data");
    let server = Server::start(&key, &data, &[]);
    let trust = std::sync::Arc::new(server.trust().await);
    let objects = [
        "xdp_drop_icmp.bpf.o",
        "bug_null_deref.bpf.o",
        "multi_prog.bpf.o",
        "tc_mark.bpf.o",
    ];
    let mut tasks = vec![];
    for c in 0..CLIENTS {
        let name = objects[c % objects.len()];
        let bytes = object(name);
        let mut client = server.client().await;
        let trust = trust.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = vec![];
            let mut checked = HashSet::new();
            for _ in 0..REQUESTS {
                let r = client
                    .verify(request(name, bytes.clone()))
                    .await
                    .expect("no request may fail")
                    .into_inner();
                assert!(!r.programs.is_empty());
                for p in &r.programs {
                    // Every answer is checked; a signature once per distinct envelope.
                    if checked.insert(p.envelope.clone()) {
                        check_result(name, p, &trust);
                    } else {
                        assert!(p.verdict != 0 && p.cached && p.audit_seq > 0);
                    }
                    seqs.push(p.audit_seq);
                }
            }
            seqs
        }));
    }
    let mut seqs = vec![];
    for t in tasks {
        seqs.extend(t.await.expect("client task"));
    }
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "every verdict has its own audit record"
    );
    server.stop();
    let chain = vouch_server::audit::verify_chain(&data.join("audit.jsonl")).expect("chain");
    assert_eq!(chain.records as usize, seqs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_cache_and_the_audit_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 6);
    let data = tmp.path().join("data");
    let server = Server::start(&key, &data, &[]);
    let first = server
        .client()
        .await
        .verify(request("tc_mark.bpf.o", object("tc_mark.bpf.o")))
        .await
        .expect("verify")
        .into_inner();
    assert!(first.programs.iter().all(|p| !p.cached));
    server.stop();
    let before = vouch_server::audit::verify_chain(&data.join("audit.jsonl")).expect("chain");
    assert_eq!(before.records as usize, first.programs.len());

    let server = Server::start(&key, &data, &[]);
    let second = server
        .client()
        .await
        .verify(request("tc_mark.bpf.o", object("tc_mark.bpf.o")))
        .await
        .expect("verify")
        .into_inner();
    for (a, b) in first.programs.iter().zip(&second.programs) {
        assert!(b.cached, "answered from the persisted cache");
        assert_eq!(a.envelope, b.envelope, "the same signed verdict");
        assert!(b.audit_seq > before.last_seq, "the audit log continues");
    }
    server.stop();
    let after = vouch_server::audit::verify_chain(&data.join("audit.jsonl")).expect("chain");
    assert_eq!(after.records, before.records + second.programs.len() as u64);
}

/// SIGTERM the moment the server says it listens must still be a graceful, zero-exit shutdown:
/// the handlers are registered before the listening line, not when the server first polls them.
/// Several rounds, because the window this guards against was a few milliseconds wide.
#[test]
fn sigterm_right_after_the_listening_line_is_graceful() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 9);
    for round in 0..5 {
        let data = tmp.path().join(format!("data{round}"));
        Server::start(&key, &data, &[]).stop();
    }
}
