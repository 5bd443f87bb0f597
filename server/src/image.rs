//! The one place that produces a JIT image.

use vouch_verifier::elf::{Object, Program};

/// JIT targets a request may name.
pub const SUPPORTED_TARGETS: &[&str] = &[vouch_proto::JIT_TARGET_X86_64_SYSV];

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("JIT target `{0}` is not supported (supported: x86_64-sysv)")]
    UnknownTarget(String),
}

/// What the JIT made of an accepted program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Jitted {
    /// `Image::to_bytes()`: the bytes whose sha256 the statement binds.
    Image(Vec<u8>),
    /// No image, and why (for `ProgramResult::no_image_reason`).
    Unavailable(String),
}

/// Compiles an accepted program for `target`.
///
/// **Decision**: a program the JIT cannot compile (a BTF variable, a kfunc, which the verifier
/// rejects anyway: `JitError::Unsupported`) keeps its verdict. The verdict is about the program's
/// safety, which the verifier proved; the image is an extra that some hosts use. So it is
/// `Unavailable(reason)`: the statement gets no image subject, the response says why, and the
/// thin driver refuses the bundle ("vouches for no JIT image"). Failing the request instead
/// would hide a valid verdict from every client. The same holds for a `.text` subprogram
/// judged in its callers' context: it was never verified as an entry point, so it gets no
/// image to be run as one.
///
/// Deterministic (same program, same bytes; see the tests), so cached verdicts stay valid.
/// Only called for accepted programs, on the blocking pool.
pub fn jit_image(object: &Object, program: &Program, target: &str) -> Result<Jitted, ImageError> {
    if !SUPPORTED_TARGETS.contains(&target) {
        return Err(ImageError::UnknownTarget(target.to_owned()));
    }
    if is_subprogram(object, program) {
        return Ok(Jitted::Unavailable(
            "a .text subprogram is verified in its callers' context, not as an entry point".into(),
        ));
    }
    let insns = match &program.insns {
        Ok(insns) => insns,
        Err(e) => return Ok(Jitted::Unavailable(format!("cannot decode: {e}"))),
    };
    let table = vouch_verifier::analysis::map_table(&object.maps);
    let image = match vouch_verifier::jit::compile(insns, &table, Some(program.program_type)) {
        Ok(image) => image,
        Err(e) => return Ok(Jitted::Unavailable(format!("JIT: {e}"))),
    };
    Ok(match image.to_bytes() {
        Ok(bytes) => Jitted::Image(bytes),
        Err(e) => Jitted::Unavailable(format!("JIT image: {e}")),
    })
}

/// A `.text` function that another program of the object links in (as `verify_program` decides).
fn is_subprogram(object: &Object, program: &Program) -> bool {
    program.section == ".text"
        && object.programs.iter().any(|q| {
            q.functions
                .iter()
                .skip(1)
                .any(|f| f.section == program.section && f.name == program.function)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier::elf::{LoadOptions, load};

    fn corpus(name: &str) -> Object {
        let path = format!("{}/../corpus/build/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).expect("corpus object");
        load(&bytes, &LoadOptions::default()).expect("loads")
    }

    const X86: &str = vouch_proto::JIT_TARGET_X86_64_SYSV;

    #[test]
    fn images_are_deterministic() {
        for name in [
            "xdp_drop_icmp.bpf.o",
            "globals.bpf.o",
            "xdp_proto_count.bpf.o",
            // Callbacks: lddw src=4 is RIP-relative to a thunk, no address in the bytes.
            "bpf_loop_cb.bpf.o",
            "for_each_flows.bpf.o",
        ] {
            let a = corpus(name);
            let b = corpus(name);
            let entry = |o: &Object| o.programs.iter().position(|p| p.section != ".text");
            let (ea, eb) = (entry(&a).expect("entry"), entry(&b).expect("entry"));
            let ia = jit_image(&a, &a.programs[ea], X86).expect("target");
            let ib = jit_image(&b, &b.programs[eb], X86).expect("target");
            assert!(
                matches!(&ia, Jitted::Image(bytes) if !bytes.is_empty()),
                "{name}: {ia:?}"
            );
            assert_eq!(ia, ib, "{name}: two compilations differ");
        }
    }

    #[test]
    fn subprograms_get_a_reason_not_an_error() {
        let object = corpus("bpf_loop_cb.bpf.o");
        let sub = object
            .programs
            .iter()
            .find(|p| is_subprogram(&object, p))
            .expect("the callback is a .text subprogram");
        match jit_image(&object, sub, X86).expect("target") {
            Jitted::Unavailable(why) => assert!(why.contains("subprogram"), "{why}"),
            Jitted::Image(_) => panic!("a subprogram is not an entry point"),
        }
        assert!(jit_image(&object, sub, "arm64").is_err());
    }
}
