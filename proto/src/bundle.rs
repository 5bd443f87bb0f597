//! Bundles: what a host receives for one program, and the checks before it runs anything.
//!
//! A bundle is a folder `<object stem>.<function>.vouch/` holding `envelope.json` (the DSSE
//! envelope, canonical JSON) and, for accepted programs compiled for a target, `image.bin` (the
//! JIT image whose sha256 the statement binds).
//!
//! [`inspect_bundle`] makes the checks every reader makes (`vouch audit`): signature under a
//! trusted key, a Vouch statement, not expired, image present exactly when the statement names
//! one and with the digest it names, folder name matching the program. [`verify_bundle`] adds
//! what the thin driver needs before running: verdict accepted, an image, for this host's target.
//! [`VerifiedBundle::check_bindings`] is the last step, once the driver knows which maps and
//! helpers the image will be bound to.

use crate::envelope::time::parse_rfc3339;
use crate::envelope::{Envelope, EnvelopeError, MapBinding, Statement, TrustStore, sha256_hex};
use std::path::{Path, PathBuf};

pub const ENVELOPE_FILE: &str = "envelope.json";
pub const IMAGE_FILE: &str = "image.bin";
/// Largest image read: the JIT emits at most a few bytes per instruction of a 1M-instruction
/// program.
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;
/// Clock skew tolerated between the server that issued a verdict and the host.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Why a bundle is refused. Every variant says what was checked and what was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefusalReason {
    #[error("cannot read {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("the signed payload is not a Vouch verdict: {0}")]
    NotAVerdict(String),
    #[error("verdict expired at {expires_at} (now {now})")]
    Expired { expires_at: String, now: String },
    #[error("verdict issued at {issued_at}, in the future (now {now}): check the clocks")]
    NotYetValid { issued_at: String, now: String },
    #[error(
        "bundle folder `{found}` does not hold the verdict for `{expected}` (swapped bundles?)"
    )]
    WrongFolder { found: String, expected: String },
    #[error("verdict is `{verdict}`, not accepted{}", first_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NotAccepted {
        verdict: String,
        first_error: Option<String>,
    },
    #[error("the verdict vouches for no JIT image (verified without a JIT target)")]
    NoImageInVerdict,
    #[error("the verdict names an image but the bundle has no {IMAGE_FILE}")]
    ImageMissing,
    #[error("the bundle has an {IMAGE_FILE} the verdict does not vouch for")]
    UnvouchedImage,
    #[error("{IMAGE_FILE} has sha256 {found}, the verdict vouches for {expected}")]
    ImageDigestMismatch { expected: String, found: String },
    #[error("the image is for target `{bundle}`, this host runs `{host}`")]
    TargetMismatch { bundle: String, host: String },
    #[error(
        "the image binds {what} different from the verified ones: verified {verified}, bound {bound}"
    )]
    BindingsMismatch {
        what: &'static str,
        verified: String,
        bound: String,
    },
}

/// A bundle whose signature, statement, expiry and image digest checked out.
#[derive(Clone, Debug)]
pub struct InspectedBundle {
    pub statement: Statement,
    pub envelope: Envelope,
    /// Id of the trusted key that signed it.
    pub key_id: String,
    pub image: Option<Vec<u8>>,
}

/// A bundle the thin driver may run: accepted, with an image for this host's target.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    pub statement: Statement,
    pub key_id: String,
    pub image: Vec<u8>,
}

/// `<object stem>.<function>.vouch`: the folder name of a program's bundle.
pub fn bundle_dir_name(file: &str, function: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.{function}.vouch")
}

/// Writes a bundle folder (creating it; replacing files already there).
pub fn write_bundle(dir: &Path, envelope_json: &[u8], image: Option<&[u8]>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(ENVELOPE_FILE), envelope_json)?;
    let image_path = dir.join(IMAGE_FILE);
    match image {
        Some(bytes) => std::fs::write(image_path, bytes)?,
        None => {
            if image_path.exists() {
                std::fs::remove_file(image_path)?;
            }
        }
    }
    Ok(())
}

fn read_limited(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, RefusalReason> {
    let unreadable = |message: String| RefusalReason::Unreadable {
        path: path.to_owned(),
        message,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
        Ok(m) if m.len() > limit => {
            return Err(unreadable(format!(
                "{} bytes, over the {limit}-byte limit",
                m.len()
            )));
        }
        Ok(_) => {}
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| unreadable(e.to_string()))
}

/// The checks every reader of a bundle makes; see the module documentation.
pub fn inspect_bundle(
    dir: &Path,
    trust: &TrustStore,
    now_unix: i64,
) -> Result<InspectedBundle, RefusalReason> {
    let envelope_path = dir.join(ENVELOPE_FILE);
    let bytes = read_limited(
        &envelope_path,
        crate::envelope::dsse::MAX_ENVELOPE_BYTES as u64,
    )?
    .ok_or_else(|| RefusalReason::Unreadable {
        path: envelope_path.clone(),
        message: "no such file".into(),
    })?;
    let envelope = Envelope::from_json(&bytes)?;
    let (payload, key_id) = envelope.verify(trust)?;
    if envelope.payload_type != crate::VERDICT_PAYLOAD_TYPE {
        return Err(RefusalReason::NotAVerdict(format!(
            "payload type `{}`",
            envelope.payload_type
        )));
    }
    let statement = Statement::from_payload(&payload).map_err(RefusalReason::NotAVerdict)?;
    let p = &statement.predicate;
    if statement.program_digest().is_none() {
        return Err(RefusalReason::NotAVerdict(
            "no program subject with a sha256 digest".into(),
        ));
    }
    let now = crate::envelope::time::format_rfc3339(now_unix);
    let bad_time = |what: &str, s: &str| RefusalReason::NotAVerdict(format!("bad {what} `{s}`"));
    let issued = parse_rfc3339(&p.issued_at).ok_or_else(|| bad_time("issuedAt", &p.issued_at))?;
    let expires =
        parse_rfc3339(&p.expires_at).ok_or_else(|| bad_time("expiresAt", &p.expires_at))?;
    if now_unix >= expires {
        return Err(RefusalReason::Expired {
            expires_at: p.expires_at.clone(),
            now,
        });
    }
    if issued > now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(RefusalReason::NotYetValid {
            issued_at: p.issued_at.clone(),
            now,
        });
    }
    // A bundle folder named like one (`*.vouch`) must be the one of its program, so bundles
    // swapped between programs are caught even without an image.
    if let Some(found) = dir.file_name().map(|n| n.to_string_lossy().into_owned())
        && found.ends_with(".vouch")
    {
        let expected = bundle_dir_name(&p.program.file, &p.program.function);
        if found != expected {
            return Err(RefusalReason::WrongFolder { found, expected });
        }
    }
    let image = read_limited(&dir.join(IMAGE_FILE), MAX_IMAGE_BYTES)?;
    match (statement.image_digest(), &image) {
        (None, None) => {}
        (None, Some(_)) => return Err(RefusalReason::UnvouchedImage),
        (Some(_), None) => return Err(RefusalReason::ImageMissing),
        (Some(expected), Some(bytes)) => {
            let found = sha256_hex(bytes);
            if found != expected {
                return Err(RefusalReason::ImageDigestMismatch {
                    expected: expected.to_owned(),
                    found,
                });
            }
        }
    }
    if p.image.is_some() && statement.image_digest().is_none() {
        return Err(RefusalReason::NotAVerdict(
            "predicate names an image but no subject carries its digest".into(),
        ));
    }
    Ok(InspectedBundle {
        statement,
        envelope,
        key_id,
        image,
    })
}

/// Everything the thin driver checks before it may run a bundle's image, except the bindings
/// (see [`VerifiedBundle::check_bindings`]): [`inspect_bundle`], then the verdict is accepted,
/// the verdict vouches for an image, and its target is `host_target`.
pub fn verify_bundle(
    dir: &Path,
    trust: &TrustStore,
    now_unix: i64,
    host_target: &str,
) -> Result<VerifiedBundle, RefusalReason> {
    let inspected = inspect_bundle(dir, trust, now_unix)?;
    let p = &inspected.statement.predicate;
    if p.verdict != "accepted" {
        return Err(RefusalReason::NotAccepted {
            verdict: p.verdict.clone(),
            first_error: p
                .errors
                .first()
                .map(|e| format!("pc {}: {}", e.pc, e.message)),
        });
    }
    let target = match &p.image {
        Some(i) => &i.target,
        None => return Err(RefusalReason::NoImageInVerdict),
    };
    if target != host_target {
        return Err(RefusalReason::TargetMismatch {
            bundle: target.clone(),
            host: host_target.to_owned(),
        });
    }
    let image = inspected.image.ok_or(RefusalReason::ImageMissing)?;
    Ok(VerifiedBundle {
        statement: inspected.statement,
        key_id: inspected.key_id,
        image,
    })
}

impl VerifiedBundle {
    /// Confirms that the maps the driver creates for the image (by `lddw` index) and the helper
    /// ids the image's helper table names are exactly the verified ones. The driver calls this
    /// with what it read from the image header, after [`verify_bundle`] and before running.
    pub fn check_bindings(
        &self,
        maps: &[MapBinding],
        helpers: &[i64],
    ) -> Result<(), RefusalReason> {
        let p = &self.statement.predicate;
        if maps != p.maps.as_slice() {
            let show = |m: &[MapBinding]| {
                m.iter()
                    .map(|b| {
                        format!(
                            "{}:{}(type {}, key {}, value {}, max {}, flags {:#x})",
                            b.index,
                            b.name,
                            b.map_type,
                            b.key_size,
                            b.value_size,
                            b.max_entries,
                            b.flags
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(RefusalReason::BindingsMismatch {
                what: "maps",
                verified: show(&p.maps),
                bound: show(maps),
            });
        }
        let mut bound = helpers.to_vec();
        bound.sort_unstable();
        bound.dedup();
        if bound != p.helpers {
            return Err(RefusalReason::BindingsMismatch {
                what: "helpers",
                verified: format!("{:?}", p.helpers),
                bound: format!("{bound:?}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
