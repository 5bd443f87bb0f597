//! `vouchd`: the verification service.
//!
//! It will receive ELF bytes over gRPC (`vouch.v1.Verifier`), verify them on a bounded blocking
//! pool, JIT-compile accepted programs and answer with a signed verdict plus the JIT image, keeping
//! a verdict cache and a hash-chained audit log in its data directory.
//!
//! Status: the service arrives with the remote-verification issue. Until then the binary exists so
//! that the workspace layout, packaging and CI are in place, and it says so instead of pretending.

fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "vouchd {}: the gRPC service is not built yet; use `vouch` locally (see README.md)",
        vouch_verifier::VERSION
    )
}
