//! gRPC-level behaviour of a real `vouchd`: the client's deadline.

use crate::harness::{Server, object, request, write_key};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch-under-test");

/// A generated program that takes long enough to verify to be cut short (`vouch bench
/// --stress N --emit-elf`).
fn stress_object(dir: &Path, segments: u32) -> Vec<u8> {
    let path = dir.join(format!("stress{segments}.o"));
    let out = Command::new(VOUCH)
        .args(["bench", "--stress", &segments.to_string(), "--emit-elf"])
        .arg(&path)
        .output()
        .expect("run vouch");
    assert!(out.status.success(), "{out:?}");
    std::fs::read(&path).expect("stress object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deadline_shorter_than_the_servers_is_the_deadline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 11);
    let server = Server::start(
        &key,
        &tmp.path().join("data"),
        &["--metrics", "127.0.0.1:0"],
    );
    let mut client = server.client().await;
    let elf = stress_object(tmp.path(), 300);
    // How long this build takes to verify it (a fresh name is never cached)...
    let started = Instant::now();
    client
        .verify(request("timed.o", elf.clone()))
        .await
        .expect("verify");
    let cold = started.elapsed();
    // ... and a client that gives it a quarter of that (the server's deadline is 30 s).
    let mut r = tonic::Request::new(request("cut.o", elf));
    r.set_timeout((cold / 4).max(Duration::from_millis(20)));
    let status = client.verify(r).await.expect_err("deadline");
    assert_eq!(
        status.code(),
        tonic::Code::DeadlineExceeded,
        "{status:?} (cold verification took {cold:?})"
    );
    assert!(status.message().contains("grpc-timeout"), "{status:?}");
    // A generous client deadline changes nothing; a cached answer is within any.
    let mut r = tonic::Request::new(request(
        "xdp_drop_icmp.bpf.o",
        object("xdp_drop_icmp.bpf.o"),
    ));
    r.set_timeout(Duration::from_secs(600));
    client.verify(r).await.expect("within the deadline");
    // The service answered (and counted) it, not tonic's own timer (CANCELLED).
    let metrics = crate::http_get(server.metrics.as_deref().expect("metrics address")).await;
    assert!(
        metrics.contains("vouch_requests_total{method=\"Verify\",code=\"DeadlineExceeded\"} 1"),
        "{metrics}"
    );
    server.stop();
}
