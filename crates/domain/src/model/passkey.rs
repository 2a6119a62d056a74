//! Passkeys: WebAuthn credentials registered by users
//! (`passkey_credentials`). The store keeps what is queried as columns
//! (counter, backup flags, transports, AAGUID, the clone mark) and the
//! webauthn-rs credential state, which carries the public key, as an
//! opaque JSON document the domain never looks into.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UserId;

/// One registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub id: Uuid,
    pub user_id: UserId,
    /// The authenticator's credential id (raw bytes); unique across users.
    pub credential_id: Vec<u8>,
    /// Given by the user; 1-100 characters.
    pub name: String,
    /// The serialised webauthn-rs `Passkey` (public key, algorithm,
    /// counter, flags): what verifying an assertion needs.
    pub state: String,
    /// The signature counter last seen; 0 for authenticators that keep none.
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// As the browser reported them at registration (`usb`, `internal`, ...).
    pub transports: Vec<String>,
    pub aaguid: Option<Uuid>,
    /// Also asked after the password at Login, like TOTP.
    pub second_factor: bool,
    /// Set when an assertion came with a counter that did not increase:
    /// the authenticator may have been cloned. Assertions stay refused.
    pub clone_suspected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a successful assertion changes on its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The counter the assertion was checked against: the update applies
    /// only while the stored counter still equals it, so of two racing
    /// assertions with one counter value only one is recorded.
    pub previous_count: u32,
    pub sign_count: u32,
    pub backup_state: bool,
    /// The credential state after the assertion (webauthn-rs updates it).
    pub state: String,
    pub at: DateTime<Utc>,
}

/// What deleting a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRemoval {
    Removed,
    /// No passkey with that id belongs to the user.
    NotFound,
    /// Nothing removed: it is the user's last way to sign in (no password,
    /// no linked identity, no other passkey).
    LastSignInMethod,
}
