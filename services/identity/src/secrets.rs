//! The keys identity holds: the encryption key (sealed mail and SMS in the
//! outbox, TOTP secrets at rest) and the key codes are stored under.

use latch_domain::secret::{Secret, hmac_sha256};

/// Identity's keys, from `LATCH_ENCRYPTION_KEY`.
#[derive(Debug, Clone)]
pub struct IdentitySecrets {
    /// AES-256-GCM key of everything identity encrypts at rest.
    pub encryption_key: Secret<[u8; 32]>,
    /// HMAC key under which verification codes are stored, so a copy of
    /// Redis does not give the codes (six digits fall to a plain hash).
    pub code_key: Secret<[u8; 32]>,
}

impl IdentitySecrets {
    /// The label the code key is derived under.
    const CODE_KEY_LABEL: &'static [u8] = b"latch code key";

    /// The secrets from the encryption key: the code key is
    /// HMAC-SHA-256(encryption key, "latch code key"), one more setting
    /// spared while staying apart from the key it comes from.
    pub fn derive(encryption_key: Secret<[u8; 32]>) -> Self {
        let code_key = Secret::new(hmac_sha256(encryption_key.expose(), Self::CODE_KEY_LABEL));
        Self {
            encryption_key,
            code_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_key_is_derived_and_differs_from_the_encryption_key() {
        let a = IdentitySecrets::derive(Secret::new([1; 32]));
        let b = IdentitySecrets::derive(Secret::new([1; 32]));
        let c = IdentitySecrets::derive(Secret::new([2; 32]));
        assert_eq!(a.code_key, b.code_key);
        assert_ne!(a.code_key, c.code_key);
        assert_ne!(a.code_key.expose(), a.encryption_key.expose());
        assert_eq!(
            *a.code_key.expose(),
            hmac_sha256(&[1; 32], b"latch code key")
        );
    }
}
