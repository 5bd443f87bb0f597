//! One test per refusal of the thin driver's checks, on bundles built with fixed keys.

use super::*;
use crate::envelope::keys::tests::rfc8032_key;
use crate::envelope::statement::tests::sample_predicate;
use crate::envelope::{KeyPair, Statement};

const NOW: i64 = 1_735_732_800; // 2025-01-01T12:00:00Z, inside the sample's validity
const HOST: &str = "x86_64-sysv";
const IMAGE: &[u8] = b"\x48\xc7\xc0\x2a\x00\x00\x00\xc3";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    trust: TrustStore,
}

fn statement(verdict: &str, image: Option<&[u8]>) -> Statement {
    Statement::new(
        "ab".repeat(32),
        image.map(|b| (sha256_hex(b), HOST)),
        sample_predicate(verdict),
    )
}

fn signed(statement: &Statement, key: &KeyPair) -> Vec<u8> {
    Envelope::sign(crate::VERDICT_PAYLOAD_TYPE, &statement.to_payload(), key)
        .to_json()
        .into_bytes()
}

fn fixture(statement: &Statement, image: Option<&[u8]>) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp
        .path()
        .join(bundle_dir_name("xdp_pass.bpf.o", "xdp_pass"));
    let key = rfc8032_key();
    write_bundle(&dir, &signed(statement, &key), image).expect("write");
    Fixture {
        _tmp: tmp,
        dir,
        trust: TrustStore::new(vec![key.public.clone()]),
    }
}

fn good() -> Fixture {
    fixture(&statement("accepted", Some(IMAGE)), Some(IMAGE))
}

fn refusal(f: &Fixture) -> RefusalReason {
    verify_bundle(&f.dir, &f.trust, NOW, HOST).expect_err("refused")
}

#[test]
fn a_good_bundle_verifies_and_binds() {
    let f = good();
    let v = verify_bundle(&f.dir, &f.trust, NOW, HOST).expect("verifies");
    assert_eq!(v.image, IMAGE);
    assert_eq!(v.key_id, rfc8032_key().id());
    let maps = v.statement.predicate.maps.clone();
    v.check_bindings(&maps, &[1, 1]).expect("same bindings");
    assert_eq!(
        bundle_dir_name("dir/xdp_pass.bpf.o", "f"),
        "xdp_pass.bpf.f.vouch"
    );
}

#[test]
fn flipped_payload_or_signature_byte_is_refused() {
    let f = good();
    let text = std::fs::read(f.dir.join(ENVELOPE_FILE)).expect("read");
    let env = Envelope::from_json(&text).expect("parses");
    let payload = env.payload_unverified().expect("b64");
    for i in [0, payload.len() / 2, payload.len() - 1] {
        let mut p = payload.clone();
        p[i] ^= 0x01;
        let mut e = env.clone();
        e.payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &p);
        std::fs::write(f.dir.join(ENVELOPE_FILE), e.to_json()).expect("write");
        assert!(matches!(
            refusal(&f),
            RefusalReason::Envelope(EnvelopeError::BadSignature(_))
        ));
    }
    let mut e = env.clone();
    let mut sig = e.signatures[0].sig.clone().into_bytes();
    sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
    e.signatures[0].sig = String::from_utf8(sig).expect("ascii");
    std::fs::write(f.dir.join(ENVELOPE_FILE), e.to_json()).expect("write");
    assert!(matches!(
        refusal(&f),
        RefusalReason::Envelope(EnvelopeError::BadSignature(_))
    ));
    std::fs::write(f.dir.join(ENVELOPE_FILE), b"{not json").expect("write");
    assert!(matches!(
        refusal(&f),
        RefusalReason::Envelope(EnvelopeError::Malformed(_))
    ));
}

#[test]
fn untrusted_or_rotated_out_key_is_refused() {
    let f = good();
    let other = KeyPair::from_seed([9; 32]);
    let trust = TrustStore::new(vec![other.public.clone()]);
    let e = verify_bundle(&f.dir, &trust, NOW, HOST).expect_err("refused");
    assert!(matches!(
        e,
        RefusalReason::Envelope(EnvelopeError::UntrustedKey(_))
    ));
    assert!(e.to_string().contains(rfc8032_key().id()));
}

#[test]
fn expired_and_future_verdicts_are_refused() {
    let f = good();
    let e = verify_bundle(&f.dir, &f.trust, NOW + 7 * 86_400, HOST).expect_err("expired");
    assert!(matches!(e, RefusalReason::Expired { .. }), "{e}");
    let e = verify_bundle(&f.dir, &f.trust, NOW - 86_400, HOST).expect_err("future");
    assert!(matches!(e, RefusalReason::NotYetValid { .. }), "{e}");
    let mut s = statement("accepted", Some(IMAGE));
    s.predicate.expires_at = "next week".into();
    let f = fixture(&s, Some(IMAGE));
    assert!(matches!(refusal(&f), RefusalReason::NotAVerdict(_)));
}

#[test]
fn rejected_verdict_is_refused_with_its_reason() {
    let mut s = statement("rejected", None);
    s.predicate.errors.push(crate::envelope::ErrorInfo {
        pc: 3,
        kind: "memory".into(),
        message: "packet access past data_end".into(),
        source: None,
    });
    let f = fixture(&s, None);
    let e = refusal(&f);
    assert!(matches!(e, RefusalReason::NotAccepted { .. }));
    assert!(e.to_string().contains("pc 3: packet access"), "{e}");
    // `audit` still reads it: the signature is fine.
    inspect_bundle(&f.dir, &f.trust, NOW).expect("a valid rejected verdict");
}

#[test]
fn image_problems_are_refused() {
    // Flipped image byte.
    let f = good();
    let mut image = IMAGE.to_vec();
    image[0] ^= 1;
    std::fs::write(f.dir.join(IMAGE_FILE), &image).expect("write");
    assert!(matches!(
        refusal(&f),
        RefusalReason::ImageDigestMismatch { .. }
    ));
    // Image removed.
    std::fs::remove_file(f.dir.join(IMAGE_FILE)).expect("rm");
    assert_eq!(refusal(&f), RefusalReason::ImageMissing);
    // An image the verdict does not vouch for.
    let f = fixture(&statement("accepted", None), Some(IMAGE));
    assert_eq!(refusal(&f), RefusalReason::UnvouchedImage);
    // No image at all (the JIT not wired, or no target requested).
    let f = fixture(&statement("accepted", None), None);
    assert_eq!(refusal(&f), RefusalReason::NoImageInVerdict);
    inspect_bundle(&f.dir, &f.trust, NOW).expect("still a valid verdict");
}

#[test]
fn wrong_target_is_refused() {
    let f = good();
    let e = verify_bundle(&f.dir, &f.trust, NOW, "aarch64-aapcs").expect_err("refused");
    assert!(matches!(e, RefusalReason::TargetMismatch { .. }));
}

#[test]
fn swapped_bundles_are_refused() {
    let f = good();
    let swapped = f.dir.with_file_name("xdp_pass.bpf.other_prog.vouch");
    std::fs::rename(&f.dir, &swapped).expect("rename");
    let e = verify_bundle(&swapped, &f.trust, NOW, HOST).expect_err("refused");
    assert!(matches!(e, RefusalReason::WrongFolder { .. }), "{e}");
}

#[test]
fn other_bindings_are_refused() {
    let f = good();
    let v = verify_bundle(&f.dir, &f.trust, NOW, HOST).expect("verifies");
    let mut maps = v.statement.predicate.maps.clone();
    maps[0].value_size = 4096;
    assert!(matches!(
        v.check_bindings(&maps, &[1]),
        Err(RefusalReason::BindingsMismatch { what: "maps", .. })
    ));
    let maps = v.statement.predicate.maps.clone();
    assert!(matches!(
        v.check_bindings(&maps, &[1, 6]),
        Err(RefusalReason::BindingsMismatch {
            what: "helpers",
            ..
        })
    ));
    assert!(v.check_bindings(&[], &[1]).is_err());
}

#[test]
fn other_payload_types_are_refused() {
    let s = statement("accepted", Some(IMAGE));
    let f = good();
    let e = Envelope::sign("text/plain", &s.to_payload(), &rfc8032_key());
    std::fs::write(f.dir.join(ENVELOPE_FILE), e.to_json()).expect("write");
    assert!(matches!(refusal(&f), RefusalReason::NotAVerdict(_)));
    std::fs::remove_file(f.dir.join(ENVELOPE_FILE)).expect("rm");
    assert!(matches!(refusal(&f), RefusalReason::Unreadable { .. }));
}
