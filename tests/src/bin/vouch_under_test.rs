//! `vouch`, exactly (the same library entry point as `client/src/main.rs`), built inside this
//! package so the end-to-end tests always run a fresh binary.

fn main() -> std::process::ExitCode {
    vouch_client::main()
}
