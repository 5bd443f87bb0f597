//! `vouchd`: the verification service. Everything lives in the library (`vouch_server`), so
//! the end-to-end tests and the client's tests run exactly this entry point.

/// Verification allocates and frees abstract states by the million; mimalloc serves them
/// faster than glibc's malloc (see README.md, "Speed"), and keeps per-thread heaps for the
/// worker pool.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vouch_server::cli::main()
}
