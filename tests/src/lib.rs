//! End-to-end tests of Vouch over real processes: a `vouchd` started on loopback, `vouch submit`
//! and `vouch audit` against it, and the host driver running what came back.
//!
//! Status: the server does not exist yet, so this crate holds no tests; the plugin protocol is
//! tested end to end from the `vouch-client` crate (`client/tests/plugin_protocol.rs`), where
//! Cargo can hand the test the `vouch` binary's path.
