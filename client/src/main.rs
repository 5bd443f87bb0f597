//! `vouch`; everything is in the library (see `lib.rs`).

fn main() -> std::process::ExitCode {
    vouch_client::main()
}
