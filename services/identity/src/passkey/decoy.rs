//! Request options for an email that has no passkey to offer (no account,
//! or an account without passkeys), shaped like a real one's so that
//! StartPasskeyLogin does not tell which emails have accounts.
//!
//! The credential ids come from webauthn-rs's fake-credential generator:
//! a CSPRNG seeded by an HMAC of the email under a key derived from the
//! code key (never sent, never stored), drawing how many credentials and
//! which kind (lengths of real authenticators' ids). The same email gets
//! the same ids every time, as a real account would; transports are the
//! ones that kind of authenticator reports. FinishPasskeyLogin answers any
//! assertion on such a ceremony `PASSKEY_INVALID`, as for a wrong key.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use latch_domain::{Error, Result, secret::hmac_sha256};
use serde_json::{Value, json};
use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};

use crate::Identity;

/// The label the decoy key is derived under from the code key.
const DECOY_KEY_LABEL: &[u8] = b"latch passkey decoys";
/// Draws before settling on one id: the distribution sometimes gives none
/// (accounts without passkeys), which a real answer never is here.
const DRAWS: u8 = 8;

impl Identity {
    /// The `allowCredentials` entries of `email`'s decoy options.
    pub(super) fn decoy_credentials(&self, email: &str) -> Result<Vec<Value>> {
        let key = hmac_sha256(self.deps.secrets.code_key.expose(), DECOY_KEY_LABEL);
        let generator = WebauthnFakeCredentialGenerator::<FakePasskeyDistribution>::new(&key)
            .map_err(Error::internal)?;
        let email = email.trim().to_lowercase();
        let mut ids = Vec::new();
        for draw in 0..DRAWS {
            let mut seed = email.as_bytes().to_vec();
            if draw > 0 {
                seed.extend_from_slice(&[0x1f, draw]);
            }
            ids = generator.generate(&seed).map_err(Error::internal)?;
            if !ids.is_empty() {
                break;
            }
        }
        if ids.is_empty() {
            ids.push(hmac_sha256(&key, email.as_bytes())[..16].to_vec());
        }
        Ok(ids.iter().map(|id| allowed(id)).collect())
    }
}

/// One `allowCredentials` entry as webauthn-rs writes a real one, with the
/// transports the kind of authenticator the id's length suggests reports
/// (a password manager reports none, and the key is then left out).
fn allowed(id: &[u8]) -> Value {
    let transports: &[&str] = match id.len() {
        // a phone's platform authenticator (Android, Apple)
        65 | 20 => &["hybrid", "internal"],
        // Windows Hello (TPM)
        32 => &["internal"],
        // a security key
        64 | 128 => &["nfc", "usb"],
        _ => &[],
    };
    let mut entry = json!({ "type": "public-key", "id": URL_SAFE_NO_PAD.encode(id) });
    if !transports.is_empty() {
        entry["transports"] = json!(transports);
    }
    entry
}
