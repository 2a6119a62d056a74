//! The one mapping from a password to a filter key, compiled into both the
//! build script (which keys the list) and the library (which keys what a
//! user typed), so the two can never disagree.

use sha2::{Digest, Sha256};

/// Case is folded: cracking tools try every capitalisation of a listed
/// password first, so `Dragon123` is as known as `dragon123`. The key is
/// the first 64 bits of the SHA-256 of the folded text: uniform, so the
/// filter's false-positive rate is the one it promises, and no two of the
/// list's entries share one (a 2^-64 chance per pair).
pub(crate) fn of(password: &str) -> u64 {
    let digest = Sha256::digest(password.to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}
