//! Kernel BTFs that requests carry (`VerifyRequest.kernel_btf`): parsed once per distinct blob.
//!
//! A fleet runs a handful of kernels, and each host sends its own `/sys/kernel/btf/vmlinux`
//! (about 5 MiB) with every request that needs it. Parsing one takes tens of milliseconds, so
//! the last few distinct blobs are kept parsed, found by their sha256 (which every statement
//! names anyway).

use std::sync::{Arc, Mutex};
use vouch_verifier::elf::btf::Btf;

/// Largest kernel BTF a request may carry (a distribution kernel's is 5-7 MiB).
pub const MAX_KERNEL_BTF_BYTES: usize = 32 << 20;

/// Parsed blobs kept: enough for the kernels of one fleet's rolling upgrade.
const KEEP: usize = 4;

/// How statements name a kernel BTF: `sha256:<hex>` of its bytes. `vouch audit --reverify`
/// compares a local file's against it.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", vouch_proto::envelope::sha256_hex(bytes))
}

/// A kernel BTF ready for the loader, and the digest statements name (`sha256:<hex>`).
#[derive(Clone)]
pub struct KernelBtf {
    pub digest: String,
    pub btf: Arc<Btf>,
}

#[derive(Default)]
pub struct KernelBtfs {
    /// By [`digest`], most recently used first.
    parsed: Mutex<Vec<(String, Arc<Btf>)>>,
}

impl KernelBtfs {
    /// The parsed BTF of `bytes`, from the cache or parsed now; `Err` says why it is not BTF.
    pub fn get(&self, bytes: &[u8]) -> Result<KernelBtf, String> {
        let name = digest(bytes);
        let lock = || self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut parsed = lock();
            if let Some(i) = parsed.iter().position(|(d, _)| *d == name) {
                let hit = parsed.remove(i);
                let btf = hit.1.clone();
                parsed.insert(0, hit);
                return Ok(KernelBtf { digest: name, btf });
            }
        }
        // Parsed outside the lock: other requests go on meanwhile.
        let btf =
            Arc::new(Btf::parse(bytes).map_err(|e| format!("kernel_btf is not valid BTF: {e}"))?);
        let mut parsed = lock();
        if !parsed.iter().any(|(d, _)| *d == name) {
            parsed.insert(0, (name.clone(), btf.clone()));
            parsed.truncate(KEEP);
        }
        Ok(KernelBtf { digest: name, btf })
    }

    pub fn len(&self) -> usize {
        self.parsed.lock().map_or(0, |p| p.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid BTF: a header and one `int`.
    fn blob(bits: u8) -> Vec<u8> {
        let mut b = vec![];
        b.extend_from_slice(&0xeb9fu16.to_le_bytes());
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&24u32.to_le_bytes()); // header length
        b.extend_from_slice(&0u32.to_le_bytes()); // type offset
        b.extend_from_slice(&16u32.to_le_bytes()); // type length
        b.extend_from_slice(&16u32.to_le_bytes()); // string offset
        b.extend_from_slice(&5u32.to_le_bytes()); // string length
        b.extend_from_slice(&1u32.to_le_bytes()); // name "int"
        b.extend_from_slice(&(1u32 << 24).to_le_bytes()); // INT
        b.extend_from_slice(&4u32.to_le_bytes()); // size
        b.extend_from_slice(&((1u32 << 24) | u32::from(bits)).to_le_bytes());
        b.extend_from_slice(b"\0int\0");
        b
    }

    #[test]
    fn blobs_are_parsed_once_and_bounded() {
        let cache = KernelBtfs::default();
        let a = cache.get(&blob(32)).expect("valid");
        assert!(a.digest.starts_with("sha256:") && a.digest.len() == 7 + 64);
        let again = cache.get(&blob(32)).expect("valid");
        assert!(Arc::ptr_eq(&a.btf, &again.btf), "served from the cache");
        for bits in 1..=8 {
            cache.get(&blob(bits)).expect("valid");
        }
        assert_eq!(cache.len(), KEEP);
        let err = cache.get(b"not BTF").err().expect("refused");
        assert!(err.contains("kernel_btf is not valid BTF"), "{err}");
    }
}
