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
    DischargedInfo, ErrorInfo, ImageInfo, MapBinding, MapTemplate, OptionsInfo, ProgramInfo,
    SourceInfo, Statement, Subject, VerdictPredicate, VerifierInfo,
};

use sha2::{Digest, Sha256};

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut s);
    s
}

/// Appends the lower-case hex of bytes.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// sha256 of bytes, as lower-case hex (the form in-toto digests use).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
