//! `vouch plugin` driven as a separate process, exactly as a bpf_conformance runner drives it:
//! the memory argument first (hex bytes, each followed by two spaces, possibly empty), the options
//! as one argument, the program as hex bytes on stdin, r0 in hex on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use vouch_verifier::conformance::TestCase;

const VOUCH: &str = env!("CARGO_BIN_EXE_vouch");

/// The runner's byte encoding: `"%02x  "` per byte.
fn runner_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}  ")).collect()
}

fn plugin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(VOUCH)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vouch starts");
    // A plugin that rejects its arguments exits before reading stdin; the write then fails with
    // a broken pipe, which is not the plugin's fault, so it is ignored.
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("vouch exits")
}

fn suite() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    vouch_verifier::conformance::data_files(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
}

/// Runs every file through the plugin with `engine` (`--interpret` or `--jit`).
fn suite_through_the_plugin(engine: &str) {
    let files = suite();
    assert_eq!(files.len(), 313);
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let case = TestCase::parse(&text).expect("parses");
        let program = runner_hex(&case.program_bytes().expect("assembles"));
        // The runner passes the memory argument even when empty; the README's shape omits it.
        let memory = runner_hex(&case.mem);
        let out = if case.has_mem {
            plugin(&["plugin", &memory, engine], &program)
        } else {
            plugin(&["plugin", engine], &program)
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got = u64::from_str_radix(stdout.trim(), 16).ok();
        if !out.status.success() || got != case.result {
            failures.push(format!(
                "{}: exit {:?}, stdout `{}`, stderr `{}`, expected {:?}",
                path.display(),
                out.status.code(),
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim(),
                case.result.map(|r| format!("{r:x}"))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{engine}: {} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn all_313_conformance_files_pass_through_the_plugin() {
    suite_through_the_plugin("--interpret");
}

#[test]
fn all_313_conformance_files_pass_through_the_plugin_jit() {
    suite_through_the_plugin("--jit");
}

#[test]
fn runner_argument_shapes() {
    // mov r0, 0x2a; exit
    let prog = "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00";
    // `vouch` as the plugin path, options naming the subcommand.
    let out = plugin(&["", "plugin --interpret"], prog);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2a");
    // `vouch` as the plugin path with only the memory argument.
    let out = plugin(&["01  02  ", "--interpret"], prog);
    assert!(out.status.success(), "{out:?}");
    // Memory as one run of hex digits, r0 = first byte of memory.
    let out = plugin(
        &["plugin", "ff01"],
        "71 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ff");
}

#[test]
fn bad_input_exits_nonzero_with_a_message() {
    let exit = "95 00 00 00 00 00 00 00";
    let cases: &[(&[&str], &str, &str)] = &[
        (&["plugin"], "zz 00", "not a hex byte"),
        (&["plugin"], "b7 0", "odd number of hex digits"),
        (&["plugin"], "", "program is empty"),
        (&["plugin"], "b7 00 00 00", "not a multiple of 8"),
        (
            &["plugin"],
            "b7 0b 00 00 2a 00 00 00 95 00 00 00 00 00 00 00",
            "register r11",
        ),
        (&["plugin"], "ff 00 00 00 00 00 00 00", "unknown opcode"),
        (
            &["plugin"],
            "05 00 05 00 00 00 00 00",
            "outside the program",
        ),
        (
            &["plugin"],
            "18 01 00 00 00 00 00 00",
            "second instruction slot",
        ),
        (&["plugin", "0g"], exit, "memory argument"),
        (&["plugin", "--bogus"], exit, "unknown plugin option"),
        (
            &["plugin", "--jit"],
            "85 00 00 00 63 00 00 00 95 00 00 00 00 00 00 00",
            "helper 99",
        ),
        (
            &["plugin"],
            "71 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00",
            "not in any memory region",
        ),
        (
            &["plugin", "--max-steps=10"],
            "05 00 ff ff 00 00 00 00",
            "budget",
        ),
    ];
    for (args, stdin, message) in cases {
        let out = plugin(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} {stdin}: expected failure, got {out:?}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} {stdin}: printed a result on failure"
        );
        assert!(
            stderr.contains(message),
            "{args:?} {stdin}: stderr `{stderr}` lacks `{message}`"
        );
    }
}
