//! `vouchd`: the verification service. Everything lives in the library (`vouch_server`), so
//! the end-to-end tests and the client's tests run exactly this entry point.

fn main() -> std::process::ExitCode {
    vouch_server::cli::main()
}
