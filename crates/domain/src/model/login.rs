use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UserId;

/// One sign-in attempt against a known user, kept in login history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEvent {
    pub id: Uuid,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `password`, `password+totp`, `password+recovery_code`, later
    /// `passkey`, `oidc:<provider>`.
    pub method: String,
    pub success: bool,
    pub failure_reason: Option<String>,
    /// The device fingerprint (a hash of browser family, operating system
    /// and network prefix; see identity's `new_device`), so a later sign-in
    /// can tell a device used lately from a new one. `None` when unknown.
    pub device: Option<String>,
}

/// Where a page of a user's login history resumes: after this attempt, in
/// the order newest first (`at`, then `id`, descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl LoginCursor {
    /// The cursor that resumes after `event`.
    pub fn after(event: &LoginEvent) -> Self {
        Self {
            at: event.at,
            id: event.id,
        }
    }
}
