//! Fingerprints the migration sources, so that the PostgreSQL template
//! database is rebuilt when a migration changes, not only when one is added.

use std::{env, fs, path::Path};

const MIGRATIONS: &str = "../../migrations/src";

/// FNV-1a, 64 bits: stable across toolchains, unlike `DefaultHasher`.
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for byte in bytes {
        *hash ^= u64::from(*byte);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={MIGRATIONS}");
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR")?).join(MIGRATIONS);
    let mut files: Vec<_> = fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        if let Some(name) = file.file_name() {
            fnv1a(&mut hash, name.as_encoded_bytes());
        }
        fnv1a(&mut hash, &fs::read(&file)?);
    }
    println!("cargo:rustc-env=LATCH_MIGRATIONS_FINGERPRINT={hash:016x}");
    Ok(())
}
