//! Compiles `proto/vouch.proto` with protox (pure Rust, so no `protoc` on the machine) and
//! generates the prost messages and tonic client/server with tonic-prost-build. The encoded
//! descriptor set is written too, for gRPC server reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/vouch.proto");
    let fds = protox::compile(["vouch.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("vouch_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // The big byte fields are `bytes::Bytes`: a decoded ELF shares the receive buffer, and a
        // cached envelope or image is handed out by reference count rather than copied.
        .bytes(".vouch.v1.VerifyRequest.elf")
        .bytes(".vouch.v1.ProgramResult.envelope")
        .bytes(".vouch.v1.ProgramResult.image")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
