//! `vouch run FILE.o`: verified first, then run on packets with the user-space runtime.

use std::path::{Path, PathBuf};
use std::process::Command;

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch");

fn corpus(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/build")
        .join(name)
        .display()
        .to_string()
}

fn vouch(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(VOUCH).args(args).output().expect("vouch runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), json, text)
}

/// An Ethernet + IPv4 packet of protocol `proto` with an 8-byte payload.
fn packet(proto: u8) -> Vec<u8> {
    let mut p = vec![0xff; 6];
    p.extend_from_slice(&[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00]);
    p.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    p.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
    p
}

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vouch-run-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file");
    path
}

fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![];
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for p in packets {
        for v in [0, 0, p.len() as u32, p.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn xdp_program_drops_icmp_and_passes_udp() {
    let icmp = temp("icmp.bin", &packet(1));
    let (code, json, text) = vouch(&[
        "run",
        &corpus("xdp_drop_icmp.bpf.o"),
        "--input",
        icmp.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(json["runs"][0]["action"], "XDP_DROP", "{text}");

    let trace = temp("trace.pcap", &pcap(&[packet(17), packet(1), vec![1, 2, 3]]));
    let (code, json, text) = vouch(&[
        "run",
        &corpus("xdp_drop_icmp.bpf.o"),
        "--pcap",
        trace.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let actions: Vec<&str> = json["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["XDP_PASS", "XDP_DROP", "XDP_PASS"], "{text}");
}

#[test]
fn map_effects_are_visible() {
    let trace = temp("two.pcap", &pcap(&[packet(17), packet(17), packet(6)]));
    let (code, json, text) = vouch(&[
        "run",
        &corpus("xdp_proto_count.bpf.o"),
        "--pcap",
        trace.to_str().expect("utf-8 path"),
        "--dump-maps",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let entries = json["maps"][0]["entries"].as_array().expect("map entries");
    // UDP (17) counted twice, TCP (6) once: the first 8 bytes of each value are the count.
    let count = |key: &str| {
        entries
            .iter()
            .find(|e| e["key"] == key)
            .and_then(|e| e["value"].as_str())
            .map(|v| v[..16].to_string())
    };
    assert_eq!(
        count("11000000").as_deref(),
        Some("0200000000000000"),
        "{text}"
    );
    assert_eq!(
        count("06000000").as_deref(),
        Some("0100000000000000"),
        "{text}"
    );
}

#[test]
fn unverified_programs_and_bad_inputs_are_refused() {
    let icmp = temp("icmp2.bin", &packet(1));
    let (code, _, text) = vouch(&[
        "run",
        &corpus("bug_null_deref.bpf.o"),
        "--input",
        icmp.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("refusing to run"), "{text}");
    // `--replay` runs it in the bounds-checked interpreter, where the bug traps; the JIT is
    // never offered for a rejected program.
    let (code, _, text) = vouch(&[
        "run",
        &corpus("bug_packet_oob_nocheck.bpf.o"),
        "--replay",
        "--input",
        icmp.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    let empty = temp("empty.bin", b"");
    let (code, _, text) = vouch(&[
        "run",
        &corpus("bug_packet_oob_nocheck.bpf.o"),
        "--replay",
        "--input",
        empty.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("REJECTED") && text.contains("stopped"),
        "{text}"
    );
    let (code, _, text) = vouch(&[
        "run",
        &corpus("bug_packet_oob_nocheck.bpf.o"),
        "--replay",
        "--jit",
    ]);
    assert_eq!(code, Some(2), "{text}");

    let garbage = temp("garbage.pcap", b"this is not a pcap file");
    let (code, _, text) = vouch(&[
        "run",
        &corpus("xdp_drop_icmp.bpf.o"),
        "--pcap",
        garbage.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("pcap"), "{text}");
}

/// A program with a `bpf_loop` callback runs in both engines, alike: the callback runs 64
/// times (the interpreter counts its instructions) and r0 is the same.
#[test]
fn callback_programs_run_in_both_engines() {
    let udp = temp("udp.bin", &packet(17));
    let mut r0 = vec![];
    for engine in ["--interpret", "--jit"] {
        let (code, json, text) = vouch(&[
            "run",
            &corpus("bpf_loop_cb.bpf.o"),
            "--section",
            "tc",
            "--input",
            udp.to_str().expect("utf-8 path"),
            engine,
            "--json",
        ]);
        assert_eq!(code, Some(0), "{text}");
        assert_eq!(json["runs"][0]["action"], "TC_ACT_OK", "{text}");
        if engine == "--interpret" {
            let steps = json["runs"][0]["instructions"].as_u64().unwrap_or(0);
            assert!(steps > 64 * 8, "the callback did not run 64 times: {text}");
        }
        r0.push(json["runs"][0]["r0"].clone());
    }
    assert_eq!(r0[0], r0[1]);
}
