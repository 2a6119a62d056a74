//! Encryption of private keys at rest: AES-256-GCM with a random 96-bit
//! nonce, stored as nonce || ciphertext. The key id is the associated data,
//! so a ciphertext moved to another row does not decrypt.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use latch_domain::{Error, Result, secret::random_bytes};

const NONCE_LEN: usize = 12;

pub(super) fn seal(key: &[u8; 32], kid: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = random_bytes(NONCE_LEN)?
        .try_into()
        .map_err(|_| Error::internal_msg("os randomness returned a short nonce"))?;
    let payload = Payload {
        msg: plaintext,
        aad: kid.as_bytes(),
    };
    let ciphertext = Aes256Gcm::new(&(*key).into())
        .encrypt(&Nonce::from(nonce), payload)
        .map_err(|_| Error::internal_msg("encrypting a signing key failed"))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Fails when the stored key was sealed under another encryption key: the
/// start must stop with that message rather than mint a new signing key.
pub(super) fn open(key: &[u8; 32], kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
    let refuse = || {
        Error::internal_msg(format!(
            "signing key {kid} does not decrypt: is the configured key encryption key the one it was stored with?"
        ))
    };
    let Some((nonce, ciphertext)) = sealed.split_first_chunk::<NONCE_LEN>() else {
        return Err(refuse());
    };
    let payload = Payload {
        msg: ciphertext,
        aad: kid.as_bytes(),
    };
    Aes256Gcm::new(&(*key).into())
        .decrypt(&Nonce::from(*nonce), payload)
        .map_err(|_| refuse())
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
