//! The thin driver end to end: `vouch submit` to a real `vouchd`, then `vouch run BUNDLE
//! --trust KEYS` on packets, and every way a bundle must be refused. All through the `vouch`
//! binary, as a host would use it.

use crate::harness::{self, Server, write_key};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch-under-test");

fn vouch(args: &[&str]) -> Output {
    Command::new(VOUCH)
        .args(args)
        .output()
        .expect("run vouch-under-test")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Ethernet + IPv4 header with `protocol`, then 8 bytes of payload.
fn ipv4_packet(protocol: u8) -> Vec<u8> {
    let mut p = vec![0u8; 14 + 20 + 8];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[16..18].copy_from_slice(&28u16.to_be_bytes());
    p[22] = 64;
    p[23] = protocol;
    p[26..30].copy_from_slice(&[10, 0, 0, 1]);
    p[30..34].copy_from_slice(&[10, 0, 0, 2]);
    p
}

/// `vouch submit OBJECT --server URL --out DIR`; returns the exit code.
fn submit(server: &Server, object: &str, out: &Path) -> Option<i32> {
    let path = harness::corpus().join("build").join(object);
    let o = vouch(&[
        "submit",
        path.to_str().expect("utf8"),
        "--server",
        &server.url(),
        "--out",
        out.to_str().expect("utf8"),
    ]);
    o.status.code()
}

/// `vouch run BUNDLE --trust KEY --input PACKET --json [--dump-maps]` → (exit code, JSON or
/// stderr).
fn run_bundle(bundle: &Path, trust: &Path, packet: &Path, dump: bool) -> (Option<i32>, String) {
    let mut args = vec![
        "run",
        bundle.to_str().expect("utf8"),
        "--trust",
        trust.to_str().expect("utf8"),
        "--input",
        packet.to_str().expect("utf8"),
        "--json",
    ];
    if dump {
        args.push("--dump-maps");
    }
    let o = vouch(&args);
    let out = if o.status.success() {
        String::from_utf8_lossy(&o.stdout).into_owned()
    } else {
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    (o.status.code(), out)
}

fn action(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).expect("json output");
    v["runs"][0]["action"].as_str().unwrap_or("none").to_owned()
}

/// The runs' r0 values and the maps, what must agree between the driver and a local run.
fn effects(json: &str) -> (Vec<u64>, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_str(json).expect("json output");
    let r0 = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["r0"].as_u64().expect("r0"))
        .collect();
    (r0, v["maps"].clone())
}

struct Setup {
    _tmp: tempfile::TempDir,
    bundles: PathBuf,
    trusted: PathBuf,
    icmp: PathBuf,
    udp: PathBuf,
}

#[test]
fn driver_runs_signed_images_and_refuses_everything_else() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, _) = write_key(tmp.path(), "key", 7);
    let server = Server::start(&key, &tmp.path().join("data"), &[]);
    let s = Setup {
        bundles: tmp.path().join("bundles"),
        trusted: tmp.path().join("trusted.pub"),
        icmp: tmp.path().join("icmp.bin"),
        udp: tmp.path().join("udp.bin"),
        _tmp: tmp,
    };
    let keys = vouch(&["keys", "--server", &server.url()]);
    assert!(keys.status.success(), "{}", text(&keys));
    std::fs::write(&s.trusted, &keys.stdout).expect("trusted.pub");
    std::fs::write(&s.icmp, ipv4_packet(1)).expect("packet");
    std::fs::write(&s.udp, ipv4_packet(17)).expect("packet");
    for object in [
        "xdp_drop_icmp.bpf.o",
        "globals.bpf.o",
        "xdp_proto_count.bpf.o",
    ] {
        assert_eq!(submit(&server, object, &s.bundles), Some(0), "{object}");
    }
    assert_eq!(
        submit(&server, "bug_packet_oob_short_check.bpf.o", &s.bundles),
        Some(1)
    );
    server.stop();
    let bundle = |name: &str| s.bundles.join(name);
    let drop_icmp = bundle("xdp_drop_icmp.bpf.xdp_drop_icmp.vouch");

    // The signed image does what the program says.
    let (code, out) = run_bundle(&drop_icmp, &s.trusted, &s.icmp, false);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(action(&out), "XDP_DROP");
    let (code, out) = run_bundle(&drop_icmp, &s.trusted, &s.udp, false);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(action(&out), "XDP_PASS");

    // Maps created from the signed definitions (global data with its initial contents, a
    // per-CPU array) behave as in a local run of the object: same r0, same map contents.
    for (object, function) in [
        ("globals.bpf.o", "xdp_globals"),
        ("xdp_proto_count.bpf.o", "xdp_proto_count"),
    ] {
        let stem = object.trim_end_matches(".o"); // `x.bpf`, as `vouch submit` names it
        let b = bundle(&format!("{stem}.{function}.vouch"));
        let (code, remote) = run_bundle(&b, &s.trusted, &s.udp, true);
        assert_eq!(code, Some(0), "{object}: {remote}");
        let local = vouch(&[
            "run",
            harness::corpus()
                .join("build")
                .join(object)
                .to_str()
                .expect("utf8"),
            "--jit",
            "--input",
            s.udp.to_str().expect("utf8"),
            "--json",
            "--dump-maps",
        ]);
        assert!(local.status.success(), "{}", text(&local));
        assert_eq!(
            effects(&remote),
            effects(&String::from_utf8_lossy(&local.stdout)),
            "{object}: driver and local run differ"
        );
    }

    let refused = |dir: &Path, trust: &Path, what: &str, needle: &str| {
        let (code, err) = run_bundle(dir, trust, &s.icmp, false);
        assert_eq!(code, Some(1), "{what}: {err}");
        assert!(
            err.contains("REFUSED") && err.contains(needle),
            "{what}: `{needle}` not in: {err}"
        );
    };

    // One flipped byte of the image.
    let image = drop_icmp.join("image.bin");
    let original = std::fs::read(&image).expect("image");
    let mut flipped = original.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    std::fs::write(&image, &flipped).expect("write");
    refused(&drop_icmp, &s.trusted, "flipped image byte", "sha256");
    // Another program's (valid, signed) image.
    let other = bundle("globals.bpf.xdp_globals.vouch").join("image.bin");
    std::fs::copy(&other, &image).expect("swap");
    refused(&drop_icmp, &s.trusted, "swapped image", "sha256");
    std::fs::write(&image, &original).expect("restore");
    // No image at all.
    std::fs::remove_file(&image).expect("remove");
    refused(&drop_icmp, &s.trusted, "missing image", "image.bin");
    std::fs::write(&image, &original).expect("restore");

    // A key the host does not trust.
    let (_, stranger) = write_key(s.bundles.parent().expect("tmp"), "stranger", 8);
    let stranger_pub = s.bundles.parent().expect("tmp").join("stranger.pub");
    std::fs::write(&stranger_pub, stranger.public.to_pem()).expect("pub");
    refused(&drop_icmp, &stranger_pub, "untrusted key", "trusted");

    // A rejected program's bundle: authentic, but not to be run.
    let rejected = bundle("bug_packet_oob_short_check.bpf.bug_packet_oob_short_check.vouch");
    refused(&rejected, &s.trusted, "rejected verdict", "not accepted");

    // Restored, it runs again.
    let (code, out) = run_bundle(&drop_icmp, &s.trusted, &s.icmp, false);
    assert_eq!(code, Some(0), "{out}");
}
