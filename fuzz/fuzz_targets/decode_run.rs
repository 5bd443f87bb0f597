//! Arbitrary bytes as a program: decoding must not panic, and a program that decodes must run in
//! the interpreter to an exit or a trap within its budget, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_verifier::conformance::run_interpreter;
use vouch_verifier::interp::Config;
use vouch_verifier::isa::decode_program;

fuzz_target!(|data: &[u8]| {
    let (mem, code) = data.split_at(data.len().min(64));
    if let Ok(prog) = decode_program(code) {
        let _ = run_interpreter(&prog, Some(mem.to_vec()), Config { max_steps: 10_000, max_frames: 8 });
    }
});
