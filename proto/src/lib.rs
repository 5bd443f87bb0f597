//! `vouch-proto`: what crosses the wire between `vouchd`, `vouch` and the hosts.
//!
//! It will hold the gRPC API (`vouch.proto`, package `vouch.v1`, service `Verifier`) and the
//! signed verdict: an in-toto Statement inside a DSSE envelope, signed with Ed25519 over the DSSE
//! pre-authentication encoding. It deliberately knows nothing of the verifier's internals: a host
//! that only checks verdicts links this crate and nothing else.
//!
//! Status: the API and the envelope arrive with the remote-verification issue; until then this crate
//! only fixes the names shared by the server and the client.

/// Protocol package name of the gRPC API, shared by server and client so they cannot drift apart.
pub const API_PACKAGE: &str = "vouch.v1";

/// DSSE payload type of a signed verdict (an in-toto Statement v1).
pub const VERDICT_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
