//! Caching authorization reads: who holds which roles and permissions, and
//! a user's status, read on every admin check, `Check` and token refresh.
//!
//! One setting for every such cache (`LATCH_AUTHZ_CACHE_TTL`), one reading
//! of the events that void them ([`AuthzChange`]), and the decorators the
//! per-service binaries put in front of their sibling clients
//! ([`AuthzCache`]). The authorization service caches its own reads with
//! the same pieces.

mod directory;
#[cfg(test)]
mod tests;

use std::time::Duration;

use latch_domain::{
    Result, UserId,
    events::{AuthzScope, Event, EventPayload},
};

pub use directory::{AuthzCache, CachedRoles, CachedUsers};

use crate::config::{ConfigSource, duration_in};

/// The setting that bounds how long a cached authorization answer lives.
pub const TTL_KEY: &str = "LATCH_AUTHZ_CACHE_TTL";
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// A stale grant is access that should be gone: the backstop for a lost
/// event stays short.
pub const MAX_TTL: Duration = Duration::from_secs(120);

/// How the authorization caches of this process behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzCacheConfig {
    /// `LATCH_AUTHZ_CACHE_TTL`, 0 to 120 s, default 30 s; 0 turns the
    /// caches off. The most an answer is served after it was read, whatever
    /// events say.
    pub ttl: Duration,
}

impl Default for AuthzCacheConfig {
    fn default() -> Self {
        Self { ttl: DEFAULT_TTL }
    }
}

impl AuthzCacheConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        Ok(Self {
            ttl: duration_in(source, TTL_KEY, DEFAULT_TTL, Duration::ZERO..=MAX_TTL)?,
        })
    }
}

/// What an event voids in a cache of authorization reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzChange<'a> {
    /// The user's role assignments changed: their roles and permissions.
    User(UserId),
    /// The role's permissions (or description) changed, or it is gone:
    /// whatever was derived from it, for every holder.
    Role(&'a str),
    /// The user's status changed.
    Status(UserId),
    /// The user is deleted: everything about them.
    Deleted(UserId),
}

impl<'a> AuthzChange<'a> {
    /// What `event` voids; `None` for events that change no authorization
    /// read (e.g. a `user:updated` of names only).
    pub fn of(event: &'a Event) -> Option<Self> {
        match &event.payload {
            EventPayload::AuthzChanged { scope } => Some(match scope {
                AuthzScope::User(user) => Self::User(*user),
                AuthzScope::Role(role) => Self::Role(role),
            }),
            EventPayload::UserDeleted { user_id } => Some(Self::Deleted(*user_id)),
            EventPayload::UserUpdated {
                user_id,
                changed_fields,
            } if changed_fields.iter().any(|f| f == "status") => Some(Self::Status(*user_id)),
            _ => None,
        }
    }
}
