//! Compiles the Latch contract (`proto/` at the workspace root) with protox
//! (no system `protoc`), keeps the encoded descriptor set for gRPC server
//! reflection and generates the prost messages and tonic clients/servers.

use std::path::{Path, PathBuf};
use std::{env, fs, io};

use protox::prost::Message as _;

const PROTO_ROOT: &str = "../../proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    collect_protos(Path::new(PROTO_ROOT), &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {PROTO_ROOT}").into());
    }

    let fds = protox::compile(&files, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("latch_descriptor.bin"), fds.encode_to_vec())?;

    // Well-known types (Timestamp, FieldMask, Struct, ...) map to
    // `::prost_types`, prost-build's default.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs not built yet answer UNIMPLEMENTED without hand-written stubs.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}

/// Every `.proto` file under `dir`, recursively; each directory is also
/// registered with cargo so that added files trigger a rebuild.
fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            out.push(path);
        }
    }
    Ok(())
}
