//! Tests of the scalar domain: soundness against `interp::alu` (property tests, `soundness.rs`)
//! and precision on the patterns the verifier relies on (tables, `precision.rs`).
//!
//! Property tests run 1,000 cases each in debug builds and 50,000 in release builds
//! (`cargo test --release -p vouch-verifier domain::scalar`); `PROPTEST_CASES` overrides both.

mod precision;
mod soundness;
mod strategies;

use proptest::prelude::ProptestConfig;

fn config() -> ProptestConfig {
    // XorShift: ChaCha, the default, dominates the run time of an unoptimised test build.
    let mut config = ProptestConfig {
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = if cfg!(debug_assertions) { 1000 } else { 50_000 };
    }
    config
}
