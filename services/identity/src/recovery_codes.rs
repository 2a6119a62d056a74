//! Recovery codes: ten single-use codes handed out when TOTP is turned on
//! and on request, for the day the authenticator is lost. Each is 80
//! random bits written as 20 hex digits in groups of four
//! (`3f9a-0c41-…`); only the SHA-256 of its canonical form is stored (the
//! codes are random, so a fast hash is enough), one row per code, spent by
//! one conditional UPDATE.

use latch_domain::{
    Error, Reason, Result, UserId,
    secret::{self, Secret},
};

use crate::user_events::{field, user_updated};

use crate::Identity;

/// Codes in a set.
pub(crate) const CODES_PER_SET: usize = 10;
/// Random bytes per code (80 bits).
const CODE_BYTES: usize = 10;
const CODE_HEX_DIGITS: usize = CODE_BYTES * 2;

/// A new set of codes, as shown once to the user.
pub(crate) struct RecoveryCodes {
    pub(crate) codes: Vec<Secret<String>>,
    /// What is stored: the hash of each code, in the same order.
    pub(crate) hashes: Vec<[u8; 32]>,
}

impl RecoveryCodes {
    pub(crate) fn generate() -> Result<Self> {
        let mut codes = Vec::with_capacity(CODES_PER_SET);
        let mut hashes = Vec::with_capacity(CODES_PER_SET);
        for _ in 0..CODES_PER_SET {
            let digits = hex::encode(secret::random_bytes(CODE_BYTES)?);
            hashes.push(secret::sha256(&digits));
            let grouped: Vec<&str> = digits
                .as_bytes()
                .chunks(4)
                .filter_map(|group| std::str::from_utf8(group).ok())
                .collect();
            codes.push(Secret::new(grouped.join("-")));
        }
        Ok(Self { codes, hashes })
    }
}

/// The stored hash of a code as typed: dashes and spaces dropped, any
/// case; `INVALID_ARGUMENT` (naming `field`) when what is left is not 20
/// hex digits, which no code is.
pub(crate) fn hash_typed(field: &str, typed: &str) -> Result<[u8; 32]> {
    let canonical: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if canonical.len() != CODE_HEX_DIGITS || !canonical.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid_field(
            field,
            "a recovery code is 20 hex digits (dashes optional)",
        ));
    }
    Ok(secret::sha256(&canonical))
}

impl Identity {
    /// Replaces the user's recovery codes with a new set, shown once; the
    /// old ones stop working at once.
    ///
    /// Errors: `TOTP_NOT_ENABLED` when TOTP is off (codes exist only
    /// beside it).
    pub async fn regenerate_recovery_codes(&self, user: UserId) -> Result<Vec<Secret<String>>> {
        let set = RecoveryCodes::generate()?;
        let now = self.deps.clock.now();
        let updated = user_updated(user, &[field::RECOVERY_CODES], now)?;
        if !self
            .deps
            .second_factors
            .replace_recovery_codes(user, &set.hashes, now, &[updated])
            .await?
        {
            return Err(totp_not_enabled());
        }
        Ok(set.codes)
    }
}

pub(crate) fn totp_not_enabled() -> Error {
    Error::new(Reason::TotpNotEnabled, "two-step sign-in is not turned on")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_of_80_bits_stored_as_their_hash() -> Result<()> {
        let set = RecoveryCodes::generate()?;
        assert_eq!(set.codes.len(), CODES_PER_SET);
        let mut seen = std::collections::HashSet::new();
        for (code, hash) in set.codes.iter().zip(&set.hashes) {
            let code = code.expose();
            assert_eq!(code.len(), 24, "{code}: 20 digits and 4 dashes");
            assert!(seen.insert(code.clone()));
            assert_eq!(&hash_typed("c", code)?, hash);
            assert_ne!(hash.as_slice(), code.as_bytes());
        }
        Ok(())
    }

    #[test]
    fn typed_codes_forgive_case_dashes_and_spaces_but_nothing_else() -> Result<()> {
        let stored = secret::sha256("0123456789abcdef0123");
        assert_eq!(hash_typed("c", "0123-4567-89ab-cdef-0123")?, stored);
        assert_eq!(hash_typed("c", " 0123 4567 89AB CDEF 0123 ")?, stored);
        for bad in [
            "",
            "0123-4567",
            "0123456789abcdef012g",
            "0123456789abcdef01234",
        ] {
            let err = hash_typed("recovery_code", bad).unwrap_err();
            assert_eq!(err.reason(), Reason::InvalidArgument, "{bad}");
            assert_eq!(
                err.violation().map(|v| v.field.as_str()),
                Some("recovery_code")
            );
        }
        Ok(())
    }
}
