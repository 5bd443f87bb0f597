//! The JIT image: what the verification machine ships to hosts, and its byte format.
//!
//! Format (all integers little-endian), version [`FORMAT_VERSION`]:
//!
//! ```text
//! magic "VJIT"  u16 format_version  u8 len + target (ASCII)
//! u32 entry_offset  u32 stack_size
//! u32 ctx_size  u32 n + n × (u32 offset, u32 size)            ctx pointer fields
//! u32 n + n × i32                                            helper ids, by slot
//! u32 n + n × (u32 index, u32 type, u32 key_size, u32 value_size, u32 max_entries,
//!              u8 flags (bit 0: lddw of a value of this map), u8 len + name (UTF-8))
//! u32 n + n × u32                                            callback entry thunks (code offsets)
//! u32 len + code
//! ```
//!
//! [`Image::from_bytes`] is strict: wrong magic, unknown version, a count or length past the
//! limits, a name that is not UTF-8, an entry or thunk outside the code, unknown flag bits or trailing bytes
//! are each an [`ImageError`]; nothing panics and nothing allocates more than the input's size
//! allows. `from_bytes(to_bytes(i)) == i` and `to_bytes(from_bytes(b)) == b` for every valid `b`.

use thiserror::Error;

/// The format this code writes and reads.
/// Version 2 added the callback thunks (`bpf_loop` & co.).
pub const FORMAT_VERSION: u16 = 2;
/// The only target so far: x86-64, System V calling convention.
pub const TARGET_X86_64_SYSV: &str = "x86_64-sysv";
const MAGIC: &[u8; 4] = b"VJIT";
/// Largest program the JIT compiles (Linux's limit for privileged programs).
pub const MAX_INSNS: usize = 1_000_000;
/// Largest code section accepted (far above what [`MAX_INSNS`] instructions compile to).
pub const MAX_CODE: usize = 256 << 20;
/// Most helper slots, map slots and ctx fields an image may list.
pub const MAX_SLOTS: usize = 4096;
/// Longest stack an image may ask for (8 frames of 512 bytes is what it needs).
pub const MAX_STACK: u32 = 1 << 20;

/// A context pointer field the code rewrites (see [`crate::jit::exec::Env::ctx_values`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CtxField {
    pub offset: u32,
    pub size: u32,
}

/// A map the code refers to with `lddw`: its index in the object's map table, and its identity,
/// so a host can check that what it binds is what was verified.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapSlot {
    pub index: u32,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// The code takes the address of the map's value (`lddw src=2/6`, global data): the host
    /// must bind [`crate::jit::exec::Env::map_values`] for this slot.
    pub value_ref: bool,
    pub name: String,
}

/// A compiled program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Image {
    pub format_version: u16,
    /// [`TARGET_X86_64_SYSV`].
    pub target: String,
    /// Offset of the entry function in `code`.
    pub entry_offset: u32,
    /// Bytes of BPF stack the code needs (all frames): one 512-byte frame for a program without
    /// local calls, [`crate::jit::exec::MAX_FRAMES`] frames otherwise. The host zeroes this much
    /// for every run, and local calls may not go deeper than it.
    pub stack_size: u32,
    /// Size of the context the ctx-field check covers (0: no check).
    pub ctx_size: u32,
    /// Context pointer fields, by slot of `Env::ctx_values`.
    pub ctx_fields: Vec<CtxField>,
    /// Helper ids, by slot of `Env::helpers`.
    pub helpers: Vec<i32>,
    /// Maps, by slot of `Env::maps` / `Env::map_values`.
    pub map_slots: Vec<MapSlot>,
    /// Offsets in `code` of the entry thunks of the functions `lddw src=4` refers to, one per
    /// function, in the order of their first `lddw`: a host calls back only these (see
    /// [`crate::jit::exec`]), so a helper handed any other number cannot make it jump there.
    pub callbacks: Vec<u32>,
    pub code: Vec<u8>,
}

/// Why bytes are not an image.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ImageError {
    #[error("not a JIT image (bad magic)")]
    BadMagic,
    #[error("image format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u16),
    #[error("image truncated at byte {0}")]
    Truncated(usize),
    #[error("{what}: {n} exceeds the limit of {max}")]
    TooLarge {
        what: &'static str,
        n: u64,
        max: u64,
    },
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("entry offset {entry} is outside the {len}-byte code")]
    Entry { entry: u32, len: usize },
    #[error("callback thunk offset {offset} is outside the {len}-byte code")]
    Callback { offset: u32, len: usize },
    #[error("map slot {0}: unknown flag bits")]
    Flags(usize),
    #[error("{0} trailing bytes after the image")]
    Trailing(usize),
    #[error("{what} is too long to encode")]
    Unencodable { what: &'static str },
}

impl Image {
    /// The image's bytes (deterministic). Fails only for images no compiler makes (a name over
    /// 255 bytes, more than [`MAX_SLOTS`] entries).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ImageError> {
        let mut out = Vec::with_capacity(64 + self.code.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        put_str(&mut out, &self.target, "target")?;
        out.extend_from_slice(&self.entry_offset.to_le_bytes());
        out.extend_from_slice(&self.stack_size.to_le_bytes());
        out.extend_from_slice(&self.ctx_size.to_le_bytes());
        put_count(&mut out, self.ctx_fields.len(), MAX_SLOTS, "ctx fields")?;
        for f in &self.ctx_fields {
            out.extend_from_slice(&f.offset.to_le_bytes());
            out.extend_from_slice(&f.size.to_le_bytes());
        }
        put_count(&mut out, self.helpers.len(), MAX_SLOTS, "helpers")?;
        for h in &self.helpers {
            out.extend_from_slice(&h.to_le_bytes());
        }
        put_count(&mut out, self.map_slots.len(), MAX_SLOTS, "map slots")?;
        for m in &self.map_slots {
            for v in [m.index, m.map_type, m.key_size, m.value_size, m.max_entries] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.push(u8::from(m.value_ref));
            put_str(&mut out, &m.name, "map name")?;
        }
        put_count(&mut out, self.callbacks.len(), MAX_SLOTS, "callbacks")?;
        for c in &self.callbacks {
            out.extend_from_slice(&c.to_le_bytes());
        }
        put_count(&mut out, self.code.len(), MAX_CODE, "code")?;
        out.extend_from_slice(&self.code);
        Ok(out)
    }

    /// Parses and validates an image (see the module comment for what is checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, ImageError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(ImageError::BadMagic);
        }
        let format_version = u16::from_le_bytes(r.array()?);
        if format_version != FORMAT_VERSION {
            return Err(ImageError::Version(format_version));
        }
        let target = r.str("target")?;
        let entry_offset = r.u32()?;
        let stack_size = r.u32()?;
        if stack_size > MAX_STACK {
            return Err(ImageError::TooLarge {
                what: "stack size",
                n: u64::from(stack_size),
                max: u64::from(MAX_STACK),
            });
        }
        let ctx_size = r.u32()?;
        let n = r.count(MAX_SLOTS, 8, "ctx fields")?;
        let mut ctx_fields = Vec::with_capacity(n);
        for _ in 0..n {
            ctx_fields.push(CtxField {
                offset: r.u32()?,
                size: r.u32()?,
            });
        }
        let n = r.count(MAX_SLOTS, 4, "helpers")?;
        let mut helpers = Vec::with_capacity(n);
        for _ in 0..n {
            helpers.push(i32::from_le_bytes(r.array()?));
        }
        let n = r.count(MAX_SLOTS, 22, "map slots")?;
        let mut map_slots = Vec::with_capacity(n);
        for i in 0..n {
            let (index, map_type, key_size, value_size, max_entries) =
                (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?);
            let flags = r.take(1)?[0];
            if flags & !1 != 0 {
                return Err(ImageError::Flags(i));
            }
            map_slots.push(MapSlot {
                index,
                map_type,
                key_size,
                value_size,
                max_entries,
                value_ref: flags & 1 != 0,
                name: r.str("map name")?,
            });
        }
        let n = r.count(MAX_SLOTS, 4, "callbacks")?;
        let mut callbacks = Vec::with_capacity(n);
        for _ in 0..n {
            callbacks.push(r.u32()?);
        }
        let n = r.count(MAX_CODE, 1, "code")?;
        let code = r.take(n)?.to_vec();
        if entry_offset as usize >= code.len() {
            return Err(ImageError::Entry {
                entry: entry_offset,
                len: code.len(),
            });
        }
        if let Some(&offset) = callbacks.iter().find(|&&c| c as usize >= code.len()) {
            return Err(ImageError::Callback {
                offset,
                len: code.len(),
            });
        }
        if r.pos != bytes.len() {
            return Err(ImageError::Trailing(bytes.len() - r.pos));
        }
        Ok(Image {
            format_version,
            target,
            entry_offset,
            stack_size,
            ctx_size,
            ctx_fields,
            helpers,
            map_slots,
            callbacks,
            code,
        })
    }
}

fn put_count(
    out: &mut Vec<u8>,
    n: usize,
    max: usize,
    what: &'static str,
) -> Result<(), ImageError> {
    if n > max {
        return Err(ImageError::TooLarge {
            what,
            n: n as u64,
            max: max as u64,
        });
    }
    out.extend_from_slice(&(n as u32).to_le_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), ImageError> {
    let n = u8::try_from(s.len()).map_err(|_| ImageError::Unencodable { what })?;
    out.push(n);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ImageError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(ImageError::Truncated(self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A count of items of at least `item_size` bytes each: bounded by `max` and by what is left,
    /// so a hostile count cannot make us allocate.
    fn count(
        &mut self,
        max: usize,
        item_size: usize,
        what: &'static str,
    ) -> Result<usize, ImageError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        if n > max {
            return Err(ImageError::TooLarge {
                what,
                n: n as u64,
                max: max as u64,
            });
        }
        if n.saturating_mul(item_size) > self.bytes.len() - self.pos {
            return Err(ImageError::Truncated(at));
        }
        Ok(n)
    }

    fn str(&mut self, what: &'static str) -> Result<String, ImageError> {
        let n = usize::from(self.take(1)?[0]);
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| ImageError::Utf8(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Image {
        Image {
            format_version: FORMAT_VERSION,
            target: TARGET_X86_64_SYSV.into(),
            entry_offset: 0,
            stack_size: 4096,
            ctx_size: 24,
            ctx_fields: vec![CtxField { offset: 0, size: 4 }],
            helpers: vec![1, 12],
            map_slots: vec![MapSlot {
                index: 0,
                map_type: 1,
                key_size: 4,
                value_size: 8,
                max_entries: 16,
                value_ref: false,
                name: "counts".into(),
            }],
            callbacks: vec![0],
            code: vec![0xc3],
        }
    }

    #[test]
    fn round_trips() {
        let i = sample();
        let b = i.to_bytes().expect("encodes");
        assert_eq!(Image::from_bytes(&b), Ok(i));
    }

    #[test]
    fn every_truncation_and_extension_is_an_error() {
        let b = sample().to_bytes().expect("encodes");
        for n in 0..b.len() {
            assert!(Image::from_bytes(&b[..n]).is_err(), "prefix {n}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(Image::from_bytes(&longer), Err(ImageError::Trailing(1)));
    }

    #[test]
    fn hostile_headers_are_errors() {
        let b = sample().to_bytes().expect("encodes");
        let mut v = b.clone();
        v[4] = 9;
        assert_eq!(Image::from_bytes(&v), Err(ImageError::Version(9)));
        let mut v = b.clone();
        v[0] = b'X';
        assert_eq!(Image::from_bytes(&v), Err(ImageError::BadMagic));
        // A huge helper count after the ctx fields.
        let at = 4 + 2 + 1 + TARGET_X86_64_SYSV.len() + 12 + 4 + 8;
        let mut v = b.clone();
        v[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Image::from_bytes(&v),
            Err(ImageError::TooLarge { .. })
        ));
        // Random bytes never panic.
        let mut rng = crate::runtime::Rng::new(7);
        for _ in 0..2000 {
            let mut v = b.clone();
            let i = rng.below(v.len() as u64) as usize;
            v[i] = rng.next_u64() as u8;
            let _ = Image::from_bytes(&v);
        }
    }
}
