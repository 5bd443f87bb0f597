//! The ELF loader on arbitrary bytes: it must return `Ok` or `Err`, never panic, hang or
//! allocate without bound. Everything a loaded program exposes is touched so that lazily
//! computed parts are exercised too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_verifier::elf::{LoadOptions, load};

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = load(data, &LoadOptions::default()) {
        for p in &object.programs {
            for pc in 0..p.slots.len() {
                let _ = p.line_at(pc);
            }
            let _ = p.insns.as_ref().map(|i| i.len());
        }
    }
});
