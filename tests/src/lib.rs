//! End-to-end tests of Vouch over real processes: `vouchd` started on 127.0.0.1 with a random
//! port, talked to over real gRPC (see `tests/`). The binary under test is
//! `src/bin/vouchd_under_test.rs`, the same entry point as `vouchd`.
