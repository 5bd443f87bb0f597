//! Ed25519 keys, key ids and key files.
//!
//! **Key files** are standard PEM so other tools read them (`openssl pkey -in key -pubout`,
//! cosign's `--key` for public keys):
//! - private key: `-----BEGIN PRIVATE KEY-----`, PKCS#8 v1 (RFC 8410) holding the 32-byte seed;
//!   written with mode 0600, and refused when group or others may read it (as ssh does);
//! - public key: `-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo (RFC 8410).
//!
//! A public key file may hold several blocks (what `vouch keys` prints); text outside the blocks
//! (`# key id ...` comments) is ignored. The DER of Ed25519 keys is a fixed prefix followed by
//! the 32 key bytes, so it is written and read here without an ASN.1 library, and anything that
//! is not exactly that shape is refused.
//!
//! **Key id**: hex of the first 8 bytes of sha256(raw 32-byte public key); it is a hint in DSSE
//! signatures (`keyid`) and names keys in the audit log, never a substitute for the key itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// DER of a PKCS#8 v1 Ed25519 private key, up to the 32 seed bytes.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER of an Ed25519 SubjectPublicKeyInfo, up to the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PRIVATE_LABEL: &str = "PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";
/// Key files are small; anything larger is not one.
const MAX_KEY_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path}: private key is readable by group or others (mode {mode:o}); run chmod 600 on it"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
    #[error("no trusted keys: {0}")]
    NoKeys(String),
}

/// Key id of a public key: hex of the first 8 bytes of its sha256.
pub fn key_id(key: &VerifyingKey) -> String {
    super::hex(&Sha256::digest(key.as_bytes())[..8])
}

/// A public key with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub key: VerifyingKey,
    pub id: String,
}

impl PublicKey {
    pub fn new(key: VerifyingKey) -> PublicKey {
        PublicKey {
            id: key_id(&key),
            key,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<PublicKey> {
        let raw: [u8; 32] = bytes.try_into().ok()?;
        VerifyingKey::from_bytes(&raw).ok().map(PublicKey::new)
    }

    /// The SubjectPublicKeyInfo PEM block.
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.as_bytes());
        pem_block(PUBLIC_LABEL, &der)
    }
}

/// A signing key with its public half and id.
pub struct KeyPair {
    signing: SigningKey,
    pub public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "KeyPair({})", self.public.id)
    }
}

impl KeyPair {
    pub fn from_seed(seed: [u8; 32]) -> KeyPair {
        let signing = SigningKey::from_bytes(&seed);
        KeyPair {
            public: PublicKey::new(signing.verifying_key()),
            signing,
        }
    }

    /// A fresh key from the operating system's random numbers.
    pub fn generate() -> Result<KeyPair, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(KeyPair::from_seed(seed))
    }

    pub fn id(&self) -> &str {
        &self.public.id
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The PKCS#8 PEM block of the private key.
    pub fn to_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&self.signing.to_bytes());
        pem_block(PRIVATE_LABEL, &der)
    }

    /// Reads a private key file, refusing one that group or others can read.
    pub fn read(path: &Path) -> Result<KeyPair, KeyError> {
        let text = read_small(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| io(path, source))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_owned(),
                    mode: mode & 0o777,
                });
            }
        }
        let blocks = pem_blocks(&text).map_err(|m| format_err(path, m))?;
        let der = match blocks.as_slice() {
            [(label, der)] if label == PRIVATE_LABEL => der,
            _ => {
                return Err(format_err(
                    path,
                    "expected one `BEGIN PRIVATE KEY` block (a file written by `vouch keygen`)",
                ));
            }
        };
        let seed = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .ok_or_else(|| format_err(path, "not an Ed25519 PKCS#8 private key"))?;
        Ok(KeyPair::from_seed(seed))
    }

    /// Writes the private key to `path` (mode 0600) and the public key to `path.pub`; refuses
    /// to overwrite either.
    pub fn write(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let public_path = public_path_of(path);
        for p in [path, public_path.as_path()] {
            if p.exists() {
                return Err(KeyError::Exists { path: p.to_owned() });
            }
        }
        write_new(path, self.to_pem().as_bytes(), 0o600)?;
        write_new(&public_path, self.public.to_pem().as_bytes(), 0o644)?;
        Ok(public_path)
    }
}

/// `FILE.pub`.
pub fn public_path_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(|source| io(path, source))?;
    f.write_all(bytes).map_err(|source| io(path, source))?;
    f.sync_all().map_err(|source| io(path, source))
}

/// Reads the public keys of a file (any number of `PUBLIC KEY` blocks).
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let text = read_small(path)?;
    let blocks = pem_blocks(&text).map_err(|m| format_err(path, m))?;
    if blocks.is_empty() {
        return Err(format_err(path, "no `BEGIN PUBLIC KEY` block"));
    }
    blocks
        .iter()
        .map(|(label, der)| {
            if label == PRIVATE_LABEL {
                return Err(format_err(
                    path,
                    "this is a private key; trust the public key file (FILE.pub) instead",
                ));
            }
            if label != PUBLIC_LABEL {
                return Err(format_err(path, format!("unexpected PEM block `{label}`")));
            }
            der.strip_prefix(&SPKI_PREFIX[..])
                .and_then(PublicKey::from_bytes)
                .ok_or_else(|| format_err(path, "not an Ed25519 SubjectPublicKeyInfo"))
        })
        .collect()
}

/// The keys a host trusts: from public key files, or folders of them (`*.pub`, `*.pem`).
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    keys: Vec<PublicKey>,
}

impl TrustStore {
    pub fn new(keys: Vec<PublicKey>) -> TrustStore {
        let mut store = TrustStore::default();
        for k in keys {
            store.add(k);
        }
        store
    }

    pub fn add(&mut self, key: PublicKey) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Loads every path: a file of public keys, or a folder whose `*.pub` / `*.pem` files are.
    pub fn load(paths: &[PathBuf]) -> Result<TrustStore, KeyError> {
        let mut store = TrustStore::default();
        for path in paths {
            if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|source| io(path, source))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file() && p.extension().is_some_and(|x| x == "pub" || x == "pem")
                    })
                    .collect();
                files.sort();
                for file in files {
                    for k in read_public_keys(&file)? {
                        store.add(k);
                    }
                }
            } else {
                for k in read_public_keys(path)? {
                    store.add(k);
                }
            }
        }
        if store.keys.is_empty() {
            return Err(KeyError::NoKeys(format!(
                "no *.pub or *.pem files in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(store)
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn by_id(&self, id: &str) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().filter(move |k| k.id == id)
    }
}

fn read_small(path: &Path) -> Result<String, KeyError> {
    let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format_err(path, "too large to be a key file"));
    }
    std::fs::read_to_string(path).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn format_err(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::Format {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every PEM block of a text: (label, DER). Text outside blocks is ignored.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = vec![];
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if current.is_some() {
                return Err("a BEGIN line inside a PEM block".into());
            }
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let (begin, body) = current.take().ok_or("an END line outside a PEM block")?;
            if begin != label {
                return Err(format!("BEGIN {begin} closed by END {label}"));
            }
            let der = B64
                .decode(body.as_bytes())
                .map_err(|e| format!("bad base64 in PEM block: {e}"))?;
            blocks.push((begin, der));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if current.is_some() {
        return Err("unterminated PEM block".into());
    }
    Ok(blocks)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 8032 test 1: seed and public key.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    pub(crate) fn rfc8032_key() -> KeyPair {
        KeyPair::from_seed(unhex(SEED).try_into().expect("32 bytes"))
    }

    #[test]
    fn rfc8032_vector_and_key_id() {
        let k = rfc8032_key();
        assert_eq!(super::super::hex(k.public.key.as_bytes()), PUBLIC);
        // RFC 8032 test 1: the signature of the empty message.
        assert_eq!(
            super::super::hex(&k.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert_eq!(k.id(), &super::super::sha256_hex(&unhex(PUBLIC))[..16]);
    }

    #[test]
    fn pem_files_round_trip_with_openssl_compatible_der() {
        let k = rfc8032_key();
        // The same bytes `openssl genpkey -algorithm ed25519` would write for this seed.
        assert_eq!(
            k.to_pem(),
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n"
        );
        assert_eq!(
            k.public.to_pem(),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        let public = k.write(&path).expect("write");
        let back = KeyPair::read(&path).expect("read");
        assert_eq!(back.public, k.public);
        assert_eq!(
            read_public_keys(&public).expect("pub"),
            vec![k.public.clone()]
        );
        // Refuses to overwrite; refuses a private key as a trust anchor.
        assert!(matches!(k.write(&path), Err(KeyError::Exists { .. })));
        assert!(read_public_keys(&path).is_err());
        let store = TrustStore::load(&[dir.path().to_owned()]).expect("folder");
        assert_eq!(store.keys(), std::slice::from_ref(&k.public));
    }

    #[cfg(unix)]
    #[test]
    fn private_key_with_open_permissions_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        rfc8032_key().write(&path).expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            KeyPair::read(&path),
            Err(KeyError::Permissions { .. })
        ));
    }

    #[test]
    fn malformed_pem_is_refused() {
        for bad in [
            "-----BEGIN PUBLIC KEY-----\nMCowBQ\n",
            "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "no blocks at all",
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("k.pub");
            std::fs::write(&path, bad).expect("write");
            assert!(read_public_keys(&path).is_err(), "{bad}");
        }
    }
}
