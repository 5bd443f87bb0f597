//! The header shared by `.BTF` and `.BTF.ext` (magic, version, flags, header length) and the
//! bounds checks of the parts it points to.

use super::bytes::Bytes;
use super::error::BtfError;

/// The common 8-byte prefix of both headers, validated.
pub(crate) struct CommonHeader<'a> {
    pub bytes: Bytes<'a>,
    pub hdr_len: u32,
}

/// Checks magic, version 1, flags 0 and `min_len <= hdr_len <= len`.
pub(crate) fn read_common_header<'a>(
    raw: &'a [u8],
    section: &'static str,
    min_len: usize,
) -> Result<CommonHeader<'a>, BtfError> {
    let truncated = BtfError::TruncatedHeader {
        section,
        len: raw.len(),
        need: min_len,
    };
    let bytes = match Bytes::with_magic(raw) {
        Some(bytes) => bytes,
        None => {
            return Err(match raw.get(..2) {
                Some(&[a, b]) => BtfError::BadMagic {
                    section,
                    found: [a, b],
                },
                _ => truncated,
            });
        }
    };
    if raw.len() < min_len {
        return Err(truncated);
    }
    let version = bytes.u8(2).ok_or(truncated.clone())?;
    if version != 1 {
        return Err(BtfError::UnsupportedVersion { section, version });
    }
    let flags = bytes.u8(3).ok_or(truncated.clone())?;
    if flags != 0 {
        return Err(BtfError::BadHeader {
            section,
            reason: format!("flags are {flags:#04x}, expected 0"),
        });
    }
    let hdr_len = bytes.u32(4).ok_or(truncated)?;
    if (hdr_len as usize) < min_len || hdr_len as usize > raw.len() {
        return Err(BtfError::BadHeader {
            section,
            reason: format!(
                "header length {hdr_len} is outside {min_len}..={} (the section size)",
                raw.len()
            ),
        });
    }
    Ok(CommonHeader { bytes, hdr_len })
}

/// The bytes of one part (`off`, `len` relative to the end of the header), checked to lie inside
/// the section.
pub(crate) fn part<'a>(
    header: &CommonHeader<'a>,
    section: &'static str,
    part: &'static str,
    off: u32,
    len: u32,
) -> Result<&'a [u8], BtfError> {
    let start = u64::from(header.hdr_len) + u64::from(off);
    let out_of_bounds = || BtfError::PartOutOfBounds {
        section,
        part,
        off,
        len,
        hdr_len: header.hdr_len,
        total: header.bytes.len(),
    };
    let start = usize::try_from(start).map_err(|_| out_of_bounds())?;
    header
        .bytes
        .slice(start, len as usize)
        .ok_or_else(out_of_bounds)
}

/// Reads the `index`-th u32 after the 8-byte common prefix.
pub(crate) fn header_word(
    header: &CommonHeader<'_>,
    section: &'static str,
    index: usize,
) -> Result<u32, BtfError> {
    let off = 8 + 4 * index;
    header.bytes.u32(off).ok_or(BtfError::TruncatedHeader {
        section,
        len: header.bytes.len(),
        need: off + 4,
    })
}
