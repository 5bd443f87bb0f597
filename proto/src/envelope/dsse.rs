//! DSSE (Dead Simple Signing Envelope, v1): the signature covers the pre-authentication
//! encoding (PAE) of the payload type and the payload bytes, never a re-serialisation, so the
//! verifier checks exactly the bytes it will then parse.
//!
//! JSON form: `{"payload": base64, "payloadType": "...", "signatures": [{"keyid", "sig"}]}`
//! (standard base64 with padding, as the DSSE spec and cosign use).

use super::keys::{KeyPair, TrustStore};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signature as EdSignature;
use serde::{Deserialize, Serialize};

/// Largest envelope accepted for parsing: verdicts are a few KiB even with many errors.
pub const MAX_ENVELOPE_BYTES: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// base64 of the payload bytes.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON of a DSSE envelope: {0}")]
    Malformed(String),
    #[error("envelope is {0} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("payload is not valid base64: {0}")]
    Payload(String),
    #[error("envelope has no signatures")]
    Unsigned,
    #[error("signed by key(s) {0} that are not trusted")]
    UntrustedKey(String),
    #[error(
        "signature by trusted key {0} does not verify: the payload or the signature was altered"
    )]
    BadSignature(String),
}

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` with one key.
    pub fn sign(payload_type: &str, payload: &[u8], key: &KeyPair) -> Envelope {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: B64.encode(payload),
            signatures: vec![Signature {
                keyid: key.id().to_owned(),
                sig: B64.encode(sig),
            }],
        }
    }

    /// The envelope as canonical JSON (what `envelope.json` holds and the wire carries).
    pub fn to_json(&self) -> String {
        // Only strings and arrays of them: canonicalisation cannot fail.
        super::canonical::to_canonical(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// The payload bytes, unverified (for display of what a refused envelope claims).
    pub fn payload_unverified(&self) -> Result<Vec<u8>, EnvelopeError> {
        B64.decode(self.payload.as_bytes())
            .map_err(|e| EnvelopeError::Payload(e.to_string()))
    }

    /// Checks that some signature verifies (strictly: no malleable encodings) under a trusted
    /// key; returns the payload and the id of the key that signed it. Signatures by unknown
    /// keys are skipped; a signature by a trusted key that fails is reported as tampering.
    pub fn verify(&self, trust: &TrustStore) -> Result<(Vec<u8>, String), EnvelopeError> {
        let payload = self.payload_unverified()?;
        if self.signatures.is_empty() {
            return Err(EnvelopeError::Unsigned);
        }
        let message = pae(&self.payload_type, &payload);
        let mut failed: Option<String> = None;
        for s in &self.signatures {
            let candidates: Vec<_> = if s.keyid.is_empty() {
                trust.keys().iter().collect()
            } else {
                trust.by_id(&s.keyid).collect()
            };
            if candidates.is_empty() {
                continue;
            }
            let sig = B64
                .decode(s.sig.as_bytes())
                .ok()
                .and_then(|b| <[u8; 64]>::try_from(b).ok())
                .map(|b| EdSignature::from_bytes(&b));
            for key in candidates {
                match &sig {
                    Some(sig) if key.key.verify_strict(&message, sig).is_ok() => {
                        return Ok((payload, key.id.clone()));
                    }
                    _ => failed = Some(key.id.clone()),
                }
            }
        }
        Err(match failed {
            Some(id) => EnvelopeError::BadSignature(id),
            None => EnvelopeError::UntrustedKey(
                self.signatures
                    .iter()
                    .map(|s| {
                        if s.keyid.is_empty() {
                            "(no key id)".to_owned()
                        } else {
                            s.keyid.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::keys::tests::rfc8032_key;
    use crate::envelope::keys::{KeyPair, TrustStore};

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE spec's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn golden_envelope() {
        let key = rfc8032_key();
        let env = Envelope::sign("application/vnd.in-toto+json", b"{\"a\":1}", &key);
        // Ed25519 is deterministic: fixed key + fixed bytes = fixed envelope.
        assert_eq!(
            env.to_json(),
            r#"{"payload":"eyJhIjoxfQ==","payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"KEYID","sig":"SIG"}]}"#
                .replace("KEYID", key.id())
                .replace("SIG", &env.signatures[0].sig)
        );
        assert_eq!(env.signatures[0].sig, GOLDEN_SIG);
        let trust = TrustStore::new(vec![key.public.clone()]);
        let (payload, id) = env.verify(&trust).expect("verifies");
        assert_eq!(payload, b"{\"a\":1}");
        assert_eq!(id, key.id());
        let back = Envelope::from_json(env.to_json().as_bytes()).expect("parses");
        assert_eq!(back, env);
    }

    /// Cross-checked with `openssl pkeyutl -sign -rawin` over the same PAE bytes.
    const GOLDEN_SIG: &str =
        "2vm7+xQozuwQMzcpZqpkk3CNNMr4n41e04XjYo1vYPNQFgq2hBkLZDWb4fTGsF1PlrUcxFI9S26u3Ee8aYvfBQ==";

    #[test]
    fn tampering_is_refused() {
        let key = rfc8032_key();
        let trust = TrustStore::new(vec![key.public.clone()]);
        let env = Envelope::sign("t", b"payload bytes", &key);
        // Every byte of the payload and of the signature matters.
        let payload = env.payload_unverified().expect("b64");
        for i in 0..payload.len() {
            let mut p = payload.clone();
            p[i] ^= 1;
            let mut e = env.clone();
            e.payload = B64.encode(&p);
            assert_eq!(
                e.verify(&trust),
                Err(EnvelopeError::BadSignature(key.id().to_owned()))
            );
        }
        let sig = B64.decode(&env.signatures[0].sig).expect("b64");
        for i in 0..sig.len() {
            let mut s = sig.clone();
            s[i] ^= 0x80;
            let mut e = env.clone();
            e.signatures[0].sig = B64.encode(&s);
            assert!(matches!(
                e.verify(&trust),
                Err(EnvelopeError::BadSignature(_))
            ));
        }
        // The payload type is signed too.
        let mut e = env.clone();
        e.payload_type = "u".into();
        assert!(matches!(
            e.verify(&trust),
            Err(EnvelopeError::BadSignature(_))
        ));
        // Another key is not trusted; a forged key id does not help.
        let other = KeyPair::from_seed([7; 32]);
        let forged = Envelope::sign("t", b"payload bytes", &other);
        assert!(matches!(
            forged.verify(&trust),
            Err(EnvelopeError::UntrustedKey(_))
        ));
        let mut forged_id = forged.clone();
        forged_id.signatures[0].keyid = key.id().to_owned();
        assert!(matches!(
            forged_id.verify(&trust),
            Err(EnvelopeError::BadSignature(_))
        ));
        let mut unsigned = env.clone();
        unsigned.signatures.clear();
        assert_eq!(unsigned.verify(&trust), Err(EnvelopeError::Unsigned));
        assert!(Envelope::from_json(b"{\"payload\": 1}").is_err());
    }
}
