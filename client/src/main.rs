//! `vouch`; everything is in the library (see `lib.rs`).

/// The analysis clones and drops abstract states on every CFG edge (small, short-lived
/// allocations by the million); mimalloc's thread-local free lists serve them much faster
/// than glibc's malloc (measured in README.md, "Speed").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vouch_client::main()
}
