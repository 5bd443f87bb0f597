//! gRPC-level behaviour of a real `vouchd`: the client's deadline, TLS (server certificate,
//! `vouch --tls-ca`, mutual TLS), and the health and reflection services.

use crate::harness::{Server, object, request, write_key};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use vouch_proto::api::verifier_client::VerifierClient;
use vouch_proto::api::{self, GetKeysRequest};

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
    let budget = (cold / 4).max(Duration::from_millis(20));
    let mut r = tonic::Request::new(request("cut.o", elf));
    r.set_timeout(budget);
    let status = client.verify(r).await.expect_err("deadline");
    // tonic's client enforces grpc-timeout itself and may give up (CANCELLED, "Timeout
    // expired") just before the server's DEADLINE_EXCEEDED arrives; either way the server
    // must have stopped waiting at the client's deadline, not its own 30 s.
    let answered = match status.code() {
        tonic::Code::DeadlineExceeded => {
            assert!(status.message().contains("grpc-timeout"), "{status:?}");
            true
        }
        tonic::Code::Cancelled => false,
        _ => panic!("{status:?} (cold verification took {cold:?})"),
    };
    // When the service's answer reached the client, the service counted it: without the
    // service's own deadline, tonic's server-side timer would have dropped the request
    // uncounted. (When the client gave up first, its RST_STREAM may drop the handler before it
    // answers, on a loaded machine: nothing to count then.)
    let metrics_addr = server.metrics.as_deref().expect("metrics address");
    let counted = "vouch_requests_total{method=\"Verify\",code=\"DeadlineExceeded\"} 1";
    let mut metrics = crate::http_get(metrics_addr).await;
    for _ in 0..50 {
        if metrics.contains(counted) || !answered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        metrics = crate::http_get(metrics_addr).await;
    }
    assert!(!answered || metrics.contains(counted), "{metrics}");
    // A generous client deadline changes nothing; a cached answer is within any.
    let mut r = tonic::Request::new(request(
        "xdp_drop_icmp.bpf.o",
        object("xdp_drop_icmp.bpf.o"),
    ));
    r.set_timeout(Duration::from_secs(600));
    client.verify(r).await.expect("within the deadline");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_load_checks_every_answer_and_each_gets_an_audit_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 14);
    let data = tmp.path().join("data");
    let server = Server::start(&key, &data, &[]);
    let obj = crate::harness::corpus().join("build/multi_prog.bpf.o");
    let mut records = 0;
    for (extra, client) in [
        (None, "h2 client"),
        (Some("--tonic-client"), "tonic client"),
    ] {
        let out = Command::new(VOUCH)
            .args(["load", "--server", &server.url(), "--concurrency", "8"])
            .args(["--connections", "2", "--requests", "100", "--cold", "1"])
            .args(extra)
            .arg(&obj)
            .output()
            .expect("vouch load");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            text.contains(&format!(
                "4 program(s); 100 requests from 8 clients over 2 connection(s) ({client})"
            )),
            "{text}"
        );
        assert!(text.contains("cached: "), "{text}");
        // Per program: one cold, one warm-up, 100 cached answers.
        records += 4 * (1 + 1 + 100);
    }
    server.stop();
    let chain = vouch_server::audit::verify_chain(&data.join("audit.jsonl")).expect("chain");
    assert_eq!(chain.records, records);
}

/// A CA, and server and client certificates it signed, as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A CA that signed nothing here.
    other_ca: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write pem");
        path
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        (cert, Issuer::new(params, key))
    };
    let (ca_cert, issuer) = ca("vouch test CA");
    let (other_ca, _) = ca("some other CA");
    let leaf = |names: &[&str]| {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(&["127.0.0.1", "localhost"]);
    let (client_cert, client_key) = leaf(&["vouch-test-client"]);
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert),
        server_key: write("server.key", server_key),
        client_cert: write("client.pem", client_cert),
        client_key: write("client.key", client_key),
        other_ca: write("other-ca.pem", other_ca.pem()),
    }
}

fn https(server: &Server) -> String {
    format!("https://{}", server.addr)
}

async fn tls_channel(
    server: &Server,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let read = |p: &Path| std::fs::read(p).expect("read pem");
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(read(cert), read(key)));
    }
    Channel::from_shared(https(server))
        .expect("url")
        .tls_config(tls)?
        .connect()
        .await
}

/// Whether a connection attempt, or else the first call on it, fails.
async fn refused(channel: Result<Channel, tonic::transport::Error>) -> bool {
    match channel {
        Ok(channel) => VerifierClient::new(channel)
            .get_keys(GetKeysRequest {})
            .await
            .is_err(),
        Err(_) => true,
    }
}

async fn next(answers: &mut tonic::Streaming<ServerReflectionResponse>) -> Option<MessageResponse> {
    answers.message().await.expect("stream")?.message_response
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A vouchd serving TLS with a fresh PKI (and demanding client certificates with `mutual`),
/// signing with the key of `seed`: the temporary directory holding everything, the PKI, the
/// data directory and the server.
fn start_tls(seed: u8, mutual: bool) -> (tempfile::TempDir, Pki, PathBuf, Server) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", seed);
    let pki = pki(tmp.path());
    let data = tmp.path().join("data");
    let mut args = vec![
        "--tls-cert",
        path_str(&pki.server_cert),
        "--tls-key",
        path_str(&pki.server_key),
    ];
    if mutual {
        args.extend(["--client-ca", path_str(&pki.ca)]);
    }
    let server = Server::start(&key, &data, &args);
    (tmp, pki, data, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_verify_health_and_reflection() {
    let (tmp, pki, data, server) = start_tls(12, false);
    let channel = tls_channel(&server, &pki.ca, None).await.expect("TLS");
    let mut client = VerifierClient::new(channel.clone());
    let answer = client
        .verify(request(
            "xdp_drop_icmp.bpf.o",
            object("xdp_drop_icmp.bpf.o"),
        ))
        .await
        .expect("verify over TLS")
        .into_inner();
    assert_eq!(answer.programs.len(), 1);
    assert_eq!(answer.programs[0].verdict, api::Verdict::Accepted as i32);
    assert!(
        !client
            .get_keys(GetKeysRequest {})
            .await
            .expect("keys")
            .into_inner()
            .keys
            .is_empty()
    );

    // Health, over the same TLS channel: the server as a whole and the verifier serve.
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "vouch.v1.Verifier"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // Reflection lists the services and describes ours.
    let mut reflection = ServerReflectionClient::new(channel);
    let ask = |request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = reflection
        .server_reflection_info(tonic::codegen::tokio_stream::iter([
            ask(MessageRequest::ListServices(String::new())),
            ask(MessageRequest::FileContainingSymbol(
                "vouch.v1.Verifier".into(),
            )),
        ]))
        .await
        .expect("reflection")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = next(&mut answers).await else {
        panic!("no service list");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "vouch.v1.Verifier",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) = next(&mut answers).await else {
        panic!("no descriptor");
    };
    let described = files
        .file_descriptor_proto
        .iter()
        .any(|f| f.windows(b"vouch.proto".len()).any(|w| w == b"vouch.proto"));
    assert!(described, "vouch.proto is described");

    // The `vouch` client over TLS: keys and submit with --tls-ca.
    let url = https(&server);
    let keys = Command::new(VOUCH)
        .args(["keys", "--server", &url, "--tls-ca", path_str(&pki.ca)])
        .output()
        .expect("vouch keys");
    assert!(keys.status.success(), "{keys:?}");
    assert!(String::from_utf8_lossy(&keys.stdout).contains("# key id"));
    let obj = crate::harness::corpus().join("build/tc_mark.bpf.o");
    let out = tmp.path().join("bundles");
    let submit = Command::new(VOUCH)
        .args(["submit", path_str(&obj), "--server", &url, "--tls-ca"])
        .arg(&pki.ca)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("vouch submit");
    assert!(submit.status.success(), "{submit:?}");
    assert!(std::fs::read_dir(&out).expect("bundles").count() > 0);
    // `vouch load` over TLS (tonic's channel: the lean client speaks plaintext only).
    let xdp = crate::harness::corpus().join("build/xdp_drop_icmp.bpf.o");
    let load = Command::new(VOUCH)
        .args(["load", "--server", &url, "--tls-ca", path_str(&pki.ca)])
        .args(["--concurrency", "4", "--requests", "20", "--cold", "1"])
        .arg(&xdp)
        .output()
        .expect("vouch load");
    assert!(load.status.success(), "{load:?}");
    assert!(String::from_utf8_lossy(&load.stdout).contains("(tonic client)"));

    // Refused: a CA that did not sign the server's certificate, and plaintext.
    assert!(
        refused(tls_channel(&server, &pki.other_ca, None).await).await,
        "an untrusted server certificate must fail"
    );
    let untrusted = Command::new(VOUCH)
        .args([
            "keys",
            "--server",
            &url,
            "--tls-ca",
            path_str(&pki.other_ca),
        ])
        .output()
        .expect("vouch keys");
    assert!(!untrusted.status.success(), "{untrusted:?}");
    let plain = Channel::from_shared(server.url())
        .expect("url")
        .connect()
        .await;
    assert!(refused(plain).await, "plaintext to a TLS server must fail");
    server.stop();
    let chain = vouch_server::audit::verify_chain(&data.join("audit.jsonl")).expect("chain");
    assert_eq!(
        chain.records,
        2 + 22,
        "one xdp_drop_icmp and one tc_mark verdict, then vouch load's 1 cold + 1 warm-up + 20"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_and_logs_it() {
    let (_tmp, pki, data, server) = start_tls(13, true);
    // Without a client certificate: the handshake or the first call fails.
    let anonymous = tls_channel(&server, &pki.ca, None).await;
    assert!(
        refused(anonymous).await,
        "a client without a certificate must be refused"
    );
    let channel = tls_channel(&server, &pki.ca, Some((&pki.client_cert, &pki.client_key)))
        .await
        .expect("mutual TLS");
    VerifierClient::new(channel)
        .verify(request(
            "xdp_drop_icmp.bpf.o",
            object("xdp_drop_icmp.bpf.o"),
        ))
        .await
        .expect("verify with a client certificate");
    // The `vouch` client with --tls-cert/--tls-key.
    let keys = Command::new(VOUCH)
        .args([
            "keys",
            "--server",
            &https(&server),
            "--tls-ca",
            path_str(&pki.ca),
        ])
        .args(["--tls-cert", path_str(&pki.client_cert)])
        .args(["--tls-key", path_str(&pki.client_key)])
        .output()
        .expect("vouch keys");
    assert!(keys.status.success(), "{keys:?}");
    server.stop();
    // The audit record names the client certificate by digest.
    let log = std::fs::read_to_string(data.join("audit.jsonl")).expect("audit log");
    assert!(log.contains(" cert=sha256:"), "{log}");
}
