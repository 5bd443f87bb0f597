//! Bounds-checked reads of fixed-width integers from an untrusted blob in either byte order.
//!
//! BTF is written in the byte order of the target that produced it; the magic number tells which.
//! Every read returns `None` past the end instead of panicking, so callers turn a short blob into
//! an error that names what was being read.

/// A blob together with the byte order its integers are written in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bytes<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl<'a> Bytes<'a> {
    /// Reads the byte order from the magic number at the start of `bytes`: `None` if there are
    /// fewer than two bytes or the magic is wrong in both orders.
    pub(crate) fn with_magic(bytes: &'a [u8]) -> Option<Bytes<'a>> {
        match bytes.get(..2)? {
            [0x9f, 0xeb] => Some(Bytes {
                bytes,
                big_endian: false,
            }),
            [0xeb, 0x9f] => Some(Bytes {
                bytes,
                big_endian: true,
            }),
            _ => None,
        }
    }

    /// Same byte order, different bytes.
    pub(crate) fn with_same_order(self, bytes: &'a [u8]) -> Bytes<'a> {
        Bytes {
            bytes,
            big_endian: self.big_endian,
        }
    }

    pub(crate) fn is_big_endian(self) -> bool {
        self.big_endian
    }

    pub(crate) fn len(self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn slice(self, start: usize, len: usize) -> Option<&'a [u8]> {
        self.bytes.get(start..start.checked_add(len)?)
    }

    pub(crate) fn u8(self, off: usize) -> Option<u8> {
        self.bytes.get(off).copied()
    }

    pub(crate) fn u32(self, off: usize) -> Option<u32> {
        let b: [u8; 4] = self.slice(off, 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The blob as whole 32-bit words (a trailing partial word is left out). Decoding a large
    /// section word by word from a `Vec<u32>` is several times faster in debug builds than
    /// bounds-checking every read of the bytes.
    pub(crate) fn words(self) -> Vec<u32> {
        self.bytes
            .chunks_exact(4)
            .map(|c| {
                // `chunks_exact(4)` yields exactly 4 bytes.
                let b = [c[0], c[1], c[2], c[3]];
                if self.big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            })
            .collect()
    }
}
