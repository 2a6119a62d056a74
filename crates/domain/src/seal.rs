//! Encryption at rest under `LATCH_ENCRYPTION_KEY`: AES-256-GCM with a
//! random 96-bit nonce, stored as nonce || ciphertext. The associated data
//! names what the value belongs to (a key id, a user id, an outbox row), so
//! a ciphertext moved to another row does not decrypt.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};

use crate::{Error, Result, secret::random_bytes};

const NONCE_LEN: usize = 12;

/// Encrypts `plaintext` bound to `aad`.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = random_bytes(NONCE_LEN)?
        .try_into()
        .map_err(|_| Error::internal_msg("os randomness returned a short nonce"))?;
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let ciphertext = Aes256Gcm::new(&(*key).into())
        .encrypt(&Nonce::from(nonce), payload)
        .map_err(|_| Error::internal_msg("encryption failed"))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Decrypts what [`seal`] made under the same key and `aad`; `None` for
/// anything else (another key, another row, a tampered value), so the
/// caller says what that means for it.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>()?;
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    Aes256Gcm::new(&(*key).into())
        .decrypt(&Nonce::from(*nonce), payload)
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_aad() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"kid-1", b"private key").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(open(&key, b"kid-1", &sealed).unwrap(), b"private key");
        assert!(open(&[8u8; 32], b"kid-1", &sealed).is_none());
        assert!(open(&key, b"kid-2", &sealed).is_none());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(open(&key, b"kid-1", &tampered).is_none());
        assert!(open(&key, b"kid-1", &sealed[..5]).is_none());
    }
}
