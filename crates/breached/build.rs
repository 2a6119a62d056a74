//! Turns `data/top-100000.txt.gz` into a binary fuse filter at compile
//! time: `OUT_DIR/descriptor.bin` (the filter's seed and shape, 20 bytes)
//! and `OUT_DIR/fingerprints.bin` (32-bit fingerprints in the target's
//! byte order, read in place at run time), and `OUT_DIR/list.rs` with the
//! list's counts. The list itself never reaches the binary.

use std::{env, fs, io::Read, path::PathBuf};

use xorf::{BinaryFuse32, DmaSerializable};

#[path = "src/key.rs"]
mod key;

const LIST: &str = "data/top-100000.txt.gz";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed={LIST}");
    println!("cargo::rerun-if-changed=src/key.rs");
    let mut text = String::new();
    flate2::read::GzDecoder::new(fs::File::open(LIST)?).read_to_string(&mut text)?;
    let lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    let mut keys: Vec<u64> = lines.iter().map(|line| key::of(line)).collect();
    // Folding case makes some entries equal; a fuse filter wants each key once.
    keys.sort_unstable();
    keys.dedup();
    let filter = BinaryFuse32::try_from(&keys)?;

    let mut descriptor = vec![0u8; BinaryFuse32::DESCRIPTOR_LEN];
    filter.dma_copy_descriptor_to(&mut descriptor);
    let big_endian = env::var("CARGO_CFG_TARGET_ENDIAN")? == "big";
    let fingerprints: Vec<u8> = filter
        .fingerprints
        .iter()
        .flat_map(|f| {
            if big_endian {
                f.to_be_bytes()
            } else {
                f.to_le_bytes()
            }
        })
        .collect();

    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("descriptor.bin"), descriptor)?;
    fs::write(out.join("fingerprints.bin"), fingerprints)?;
    fs::write(
        out.join("list.rs"),
        format!(
            "/// Passwords in the shipped list (its lines).\n\
             pub const LISTED: usize = {};\n\
             /// Distinct passwords once case is folded: the filter's keys.\n\
             pub const DISTINCT: usize = {};\n",
            lines.len(),
            keys.len()
        ),
    )?;
    Ok(())
}
