//! The signed verdict.
//!
//! A verdict is an in-toto Statement v1 ([`statement`]) serialised as canonical JSON
//! ([`canonical`]) and wrapped in a DSSE envelope ([`dsse`]) signed with Ed25519 over the DSSE
//! pre-authentication encoding. Keys are PEM files in the standard PKCS#8 / SubjectPublicKeyInfo
//! forms ([`keys`]), so `openssl pkey` reads them; a key id is the hex of the first 8 bytes of
//! the sha256 of the raw 32-byte public key.
//!
//! Anyone holding the public key can check a verdict offline: nothing here talks to the server.

pub mod canonical;
pub mod dsse;
pub mod keys;
pub mod statement;
pub mod time;

pub use dsse::{Envelope, EnvelopeError, Signature, pae};
pub use keys::{KeyError, KeyPair, PublicKey, TrustStore, key_id};
pub use statement::{
    ErrorInfo, ImageInfo, MapBinding, MapTemplate, OptionsInfo, ProgramInfo, SourceInfo, Statement,
    Subject, VerdictPredicate, VerifierInfo,
};

use sha2::{Digest, Sha256};

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// sha256 of bytes, as lower-case hex (the form in-toto digests use).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
