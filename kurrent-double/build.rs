//! Compiles `proto/streams.proto` with protox (a protobuf compiler in Rust, so no `protoc` is
//! needed) and generates the tonic server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/streams.proto");
    let descriptors = protox::compile(["proto/streams.proto"], ["proto"])?;
    tonic_build::configure()
        .build_client(false)
        .build_server(true)
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
