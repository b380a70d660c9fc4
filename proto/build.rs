//! Compiles `arrayq/v1/arrayq.proto` with the pure-Rust `protox` compiler (no
//! system `protoc` needed), generates the tonic client/server code, and writes
//! the encoded `FileDescriptorSet` to `$OUT_DIR/arrayq_v1_descriptor.bin` (see
//! `FILE_DESCRIPTOR_SET`).

use std::path::PathBuf;

use prost::Message;

const PROTO: &str = "arrayq/v1/arrayq.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed=build.rs");

    // Paths are relative to the package directory (cargo runs build scripts
    // there), so the file is registered as "arrayq/v1/arrayq.proto", the same
    // name `python -m grpc_tools.protoc -I proto ...` gives it.
    let fds = protox::compile([PROTO], ["."]).map_err(|e| format!("{e:?}"))?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("arrayq_v1_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    // Result data as `bytes::Bytes`: the server hands engine buffers to prost
    // without copying them into a `Vec<u8>` first, and the client's decoder
    // splits the payload off tonic's receive buffer instead of copying it out.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".arrayq.v1.DataBlock.data")
        .compile_fds(fds)?;
    Ok(())
}
