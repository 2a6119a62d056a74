//! Private signing keys at rest: [`latch_domain::seal`] with the key id as
//! associated data, so a ciphertext moved to another row does not decrypt.

use latch_domain::{Error, Result};

pub(super) fn seal(key: &[u8; 32], kid: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    latch_domain::seal::seal(key, kid.as_bytes(), plaintext)
}

/// Fails when the stored key was sealed under another encryption key: the
/// start must stop with that message rather than mint a new signing key.
pub(super) fn open(key: &[u8; 32], kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
    latch_domain::seal::open(key, kid.as_bytes(), sealed).ok_or_else(|| {
        Error::internal_msg(format!(
            "signing key {kid} does not decrypt: is the configured key encryption key the one it was stored with?"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_kid() -> Result<()> {
        let key = [7u8; 32];
        let sealed = seal(&key, "kid-1", b"private key")?;
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(open(&key, "kid-1", &sealed)?, b"private key");
        assert!(open(&[8u8; 32], "kid-1", &sealed).is_err());
        assert!(open(&key, "kid-2", &sealed).is_err());
        assert!(open(&key, "kid-1", &sealed[..5]).is_err());
        Ok(())
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() -> Result<()> {
        let key = [7u8; 32];
        assert_ne!(seal(&key, "k", b"x")?, seal(&key, "k", b"x")?);
        Ok(())
    }
}
