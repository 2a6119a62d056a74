//! External identities: a user's account at an OpenID Connect provider
//! (`auth_providers`), known by the configured provider's name and the
//! provider's subject. Provider tokens are never kept.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UserId;

/// One provider account linked to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub id: Uuid,
    pub user_id: UserId,
    /// The configured provider's name (`google`, `corp`); one name stands
    /// for one issuer, so (provider, subject) is the issuer's identity.
    pub provider: String,
    /// The provider's `sub` claim: stable for the user at that issuer.
    pub subject: String,
    /// The email the provider reported when linked, if any.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What unlinking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Unlinked,
    /// No identity with that id belongs to the user.
    NotFound,
    /// Nothing removed: it is the user's last way to sign in (no password
    /// and no other identity).
    LastSignInMethod,
}
