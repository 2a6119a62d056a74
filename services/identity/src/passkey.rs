//! Passkeys: the WebAuthn ceremonies (webauthn-rs), over the
//! [`PasskeyRepository`](latch_domain::ports::PasskeyRepository) port.
//!
//! - [`registration`]: StartPasskeyRegistration returns creation options
//!   (the user's passkeys excluded, user verification required, a resident
//!   key preferred) and keeps the ceremony under
//!   `passkey_registration:{userId}`; FinishPasskeyRegistration verifies
//!   the attestation and stores the credential.
//! - [`login`]: StartPasskeyLogin returns request options for an email's
//!   passkeys (or look-alike ones for an unknown email, see [`decoy`]) or,
//!   without an email, for any discoverable credential, and keeps the
//!   ceremony under `passkey_auth:{sha256(loginId)}`; FinishPasskeyLogin
//!   verifies the assertion and signs in through `sign_in`, history
//!   method `passkey`.
//! - [`second_factor`]: a passkey as the second step of a password (or
//!   OpenID Connect) sign-in, its ceremony kept in the login attempt.
//! - [`assertion`]: what every accepted assertion goes through: the clone
//!   mark, the counter, the recorded use.
//!
//! Ceremony records are sealed JSON in the flow state (`flow_record`),
//! taken (read-and-delete) by the finish, so a challenge answers once;
//! each is good for [`CEREMONY_TTL`] and kept [`EXPIRED_KEPT`] longer only
//! to tell `TOKEN_EXPIRED` from `TOKEN_INVALID`. The domain and the store
//! never see a webauthn-rs type: a credential's state is the serialised
//! `Passkey`, opaque JSON.

mod assertion;
mod decoy;
mod login;
mod registration;
pub(crate) mod second_factor;
pub mod settings;

use chrono::Duration;
use latch_domain::{Error, Reason, Result, model::PasskeyCredential, secret};
use serde::{Serialize, de::DeserializeOwned};
use webauthn_rs::prelude::{Passkey, WebauthnError};

pub use login::{PasskeyLogin, PasskeyLoginStart};
pub use registration::{PasskeyRegistered, PasskeyRegistrationStart};
pub use settings::PasskeySettings;

/// What `login_history.method` says for a passkey sign-in.
pub(crate) const METHOD_PASSKEY: &str = "passkey";
/// How long a ceremony may take (webauthn-rs asks authenticators for the
/// same five minutes).
const CEREMONY_TTL: Duration = Duration::minutes(5);
/// How long a record is kept past its end, to say why it is refused.
const EXPIRED_KEPT: Duration = Duration::minutes(5);
/// Random bytes of a registration or login id (256 bits).
const CEREMONY_ID_BYTES: usize = 32;
/// Longer than any id Latch hands out: not worth a lookup.
const CEREMONY_ID_MAX_LEN: usize = 128;
/// The most passkeys one user may have: each ceremony lists them all
/// (excluded at registration, allowed at sign-in), as does ListPasskeys.
pub(crate) const USER_PASSKEYS: u64 = 50;
/// Far more than a browser's attestation or assertion JSON (a few KiB).
const JSON_MAX_LEN: usize = 64 * 1024;

/// A ceremony id: `(the id for the caller, the digest a record keeps)`.
fn new_ceremony_id() -> Result<(String, String)> {
    let id = secret::random_token(CEREMONY_ID_BYTES)?;
    let digest = hex::encode(secret::sha256(&id));
    Ok((id, digest))
}

/// The digest of an id a caller sent, or `None` when it cannot be one.
fn ceremony_digest(raw: &str) -> Option<String> {
    let id = raw.trim();
    (!id.is_empty() && id.len() <= CEREMONY_ID_MAX_LEN).then(|| hex::encode(secret::sha256(id)))
}

/// The browser's JSON (`PublicKeyCredential`), refused as bad input naming
/// `field` when it is not that shape.
fn parse_json<T: DeserializeOwned>(field: &str, raw: &str) -> Result<T> {
    if raw.trim().is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    if raw.len() > JSON_MAX_LEN {
        return Err(Error::invalid_field(field, "is too long"));
    }
    serde_json::from_str(raw).map_err(|_| {
        Error::invalid_field(
            field,
            "is not a WebAuthn PublicKeyCredential JSON (base64url fields)",
        )
    })
}

/// Options as the JSON a browser's WebAuthn call takes.
fn options_json<T: Serialize>(options: &T) -> Result<serde_json::Value> {
    serde_json::to_value(options).map_err(Error::internal)
}

fn to_string(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

/// The webauthn-rs credential a stored passkey holds.
fn stored_passkey(credential: &PasskeyCredential) -> Result<Passkey> {
    serde_json::from_str(&credential.state).map_err(|e| {
        tracing::error!(passkey = %credential.id, error = %e, "a stored passkey does not load");
        Error::internal(e)
    })
}

fn passkey_state(passkey: &Passkey) -> Result<String> {
    serde_json::to_string(passkey).map_err(Error::internal)
}

/// An attestation or assertion that does not verify (signature, origin,
/// RP id, challenge, user verification, unknown credential, another
/// user's credential). The library's own error is logged, not sent.
fn passkey_invalid(why: Option<&WebauthnError>) -> Error {
    if let Some(why) = why {
        tracing::debug!(error = %why, "passkey refused");
    }
    Error::new(
        Reason::PasskeyInvalid,
        "the passkey did not verify; try again",
    )
}

fn clone_suspected() -> Error {
    Error::new(
        Reason::PasskeyCloneSuspected,
        "this passkey may have been copied and is refused; sign in another way and remove it",
    )
}

fn ceremony_unknown() -> Error {
    Error::new(
        Reason::TokenInvalid,
        "unknown or used ceremony; start again",
    )
}

fn ceremony_expired() -> Error {
    Error::new(
        Reason::TokenExpired,
        "the ceremony took too long; start again",
    )
}

#[cfg(test)]
mod tests;
