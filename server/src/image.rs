//! The one place that produces a JIT image.

use vouch_verifier::elf::{MapDef, Program};

/// JIT targets a request may name.
pub const SUPPORTED_TARGETS: &[&str] = &[vouch_proto::JIT_TARGET_X86_64_SYSV];

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("JIT target `{0}` is not supported (supported: x86_64-sysv)")]
    UnknownTarget(String),
}

/// Compiles an accepted program for `target` and returns the image bytes whose sha256 the
/// statement binds (`Image::to_bytes()`), or `None` when there is no image to offer.
///
/// Wired to `vouch_verifier::jit` when it lands: today it returns `Ok(None)` for every program,
/// and everything downstream (statement without an image subject, bundle without `image.bin`,
/// the driver's "no image" refusal) works with that. The integration is:
///
/// ```ignore
/// let image = vouch_verifier::jit::compile(program, maps)?;
/// Ok(Some(image.to_bytes()))
/// ```
///
/// It must be deterministic (same program, same bytes) so cached verdicts stay valid, and it is
/// only called for accepted programs, on the blocking pool.
pub fn jit_image(
    program: &Program,
    maps: &[MapDef],
    target: &str,
) -> Result<Option<Vec<u8>>, ImageError> {
    if !SUPPORTED_TARGETS.contains(&target) {
        return Err(ImageError::UnknownTarget(target.to_owned()));
    }
    let _ = (program, maps);
    Ok(None)
}
