//! sea-orm entities, one per table, mirroring `latch-migrations`. They stay
//! inside this crate: repositories convert them to domain models.

// The derives generate and expect `pub` items; the module itself is private.
#![allow(unreachable_pub)]

pub(crate) mod auth_providers;
pub(crate) mod login_history;
pub(crate) mod outbox;
pub(crate) mod passkey_credentials;
pub(crate) mod password_reset_tokens;
pub(crate) mod permissions;
pub(crate) mod profiles;
pub(crate) mod recovery_codes;
pub(crate) mod refresh_token_families;
pub(crate) mod refresh_tokens;
pub(crate) mod role_permissions;
pub(crate) mod roles;
pub(crate) mod session_revocations;
pub(crate) mod sessions;
pub(crate) mod signing_keys;
pub(crate) mod user_roles;
pub(crate) mod users;
