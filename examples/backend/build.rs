//! Compiles the example's own API (`proto/whoami.proto`) with protox (no
//! system `protoc`), as `bench/` does.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/whoami.proto");
    println!("cargo:rerun-if-changed=build.rs");
    let fds = protox::compile(["proto/whoami.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
