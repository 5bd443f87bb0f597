//! `vouch check` as users and CI run it: exit codes, the JSON and SARIF shapes, invariants.

use std::path::Path;
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
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn exit_codes_follow_the_verdict() {
    assert_eq!(vouch(&["check", &corpus("xdp_drop_icmp.bpf.o")]).0, Some(0));
    assert_eq!(
        vouch(&["check", &corpus("bug_null_deref.bpf.o")]).0,
        Some(1)
    );
    assert_eq!(vouch(&["check", "/nonexistent.o"]).0, Some(2));
    assert_eq!(
        vouch(&[
            "check",
            "--function",
            "nope",
            &corpus("xdp_drop_icmp.bpf.o")
        ])
        .0,
        Some(2)
    );
}

#[test]
fn json_report_names_the_error_and_its_source_line() {
    let (code, json, _) = vouch(&[
        "check",
        "--format",
        "json",
        &corpus("bug_packet_oob_short_check.bpf.o"),
    ]);
    assert_eq!(code, Some(1));
    let p = &json["programs"][0];
    assert_eq!(p["verdict"], "rejected");
    assert_eq!(p["program_type"], "xdp");
    let e = &p["errors"][0];
    assert_eq!(e["kind"], "memory");
    assert!(e["pc"].as_u64().is_some());
    assert!(
        e["source"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("ip->protocol")),
        "{e}"
    );
    assert!(json["error"].is_null());
}

#[test]
fn sarif_is_version_2_1_0_with_results() {
    let (_, json, _) = vouch(&[
        "check",
        "--format",
        "sarif",
        &corpus("bug_null_deref.bpf.o"),
    ]);
    assert_eq!(json["version"], "2.1.0");
    let results = json["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    assert_eq!(results[0]["ruleId"], "null");
    assert!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .is_some()
    );
}

#[test]
fn invariants_show_packet_relations() {
    let (code, _, text) = vouch(&[
        "check",
        "--print-invariants",
        &corpus("xdp_drop_icmp.bpf.o"),
    ]);
    assert_eq!(code, Some(0));
    assert!(text.contains("r2 = packet_size"), "{text}");
    let (_, json, _) = vouch(&[
        "check",
        "--print-invariants",
        "--format",
        "json",
        &corpus("xdp_drop_icmp.bpf.o"),
    ]);
    assert!(
        json["programs"][0]["invariants"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
}

#[test]
fn interval_domain_is_selectable_and_weaker() {
    // No packet access: bounds are enough.
    let (code, json, _) = vouch(&[
        "check",
        "--domain",
        "interval",
        "--format",
        "json",
        &corpus("tp_execve.bpf.o"),
    ]);
    assert_eq!(code, Some(0), "{json}");
    // A packet check needs the relation data + 14 <= data_end, which only the zone keeps.
    assert_eq!(
        vouch(&[
            "check",
            "--domain",
            "interval",
            &corpus("xdp_drop_icmp.bpf.o")
        ])
        .0,
        Some(1)
    );
    assert_eq!(
        vouch(&["check", "--domain", "zone", &corpus("xdp_drop_icmp.bpf.o")]).0,
        Some(0)
    );
}

#[test]
fn stress_program_is_verified() {
    let (code, _, text) = vouch(&["bench", "--stress", "20"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("| 20 | 424 |"), "{text}");
    assert!(text.contains("accepted"), "{text}");
}

/// With the running kernel's BTF, cilium/ebpf's tcprtt example (`fentry/tcp_close(struct sock
/// *sk)` passing `sk` to `bpf_skc_to_tcp_sock`) is accepted; without it the argument is untyped
/// and the helper refuses it. Skipped where the kernel exposes no BTF or the sample set is absent.
#[test]
fn kernel_btf_types_fentry_arguments() {
    let vmlinux = "/sys/kernel/btf/vmlinux";
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples/cilium-examples/tcprtt_bpf_bpfel.o")
        .display()
        .to_string();
    if std::fs::metadata(vmlinux).is_err() || std::fs::metadata(&sample).is_err() {
        eprintln!("skipped: {vmlinux} or {sample} is missing");
        return;
    }
    // A kernel without a `tcp_close` (renamed, or built without BTF for it) types nothing here.
    let names_tcp_close =
        std::fs::read(vmlinux).is_ok_and(|b| b.windows(11).any(|w| w == b"\0tcp_close\0"));
    if !names_tcp_close {
        eprintln!("skipped: {vmlinux} names no tcp_close");
        return;
    }
    let (code, json, _) = vouch(&["check", "--format", "json", &sample]);
    assert_eq!(code, Some(1), "{json}");
    assert!(
        json["programs"][0]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bpf_skc_to_tcp_sock")),
        "{json}"
    );
    let (code, json, _) = vouch(&["check", "--btf", vmlinux, "--format", "json", &sample]);
    assert_eq!(code, Some(0), "{json}");
    // A malformed BTF file is a usage error naming the file.
    let bad = std::env::temp_dir().join(format!("vouch-bad-btf-{}", std::process::id()));
    std::fs::write(&bad, b"not BTF").expect("write");
    let out = Command::new(VOUCH)
        .args(["check", "--btf"])
        .arg(&bad)
        .arg(&sample)
        .output()
        .expect("vouch runs");
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid BTF"));
}
