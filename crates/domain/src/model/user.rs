use chrono::{DateTime, Utc};

use crate::{Error, Result, UserId};

/// Whether a user may sign in. Sign-up creates a user `Pending` and
/// activates it once the profile and default role exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    Pending,
    Active,
    Suspended,
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deactivated => "deactivated",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "pending" => Ok(Self::Pending),
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deactivated" => Ok(Self::Deactivated),
            other => Err(Error::internal_msg(format!(
                "unknown user status {other:?}"
            ))),
        }
    }
}

/// A user as identity keeps it: identity and sign-in columns only; names
/// live in the profile, roles in authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lowercased; unique.
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub status: UserStatus,
    /// PHC string (argon2id); `None` for users who sign in only by OIDC or passkey.
    pub password_hash: Option<String>,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// What sign-up writes.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: String,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
}

/// Where a page of users resumes: after this one, in the order newest
/// first (`created_at`, then `id`, descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCursor {
    pub created_at: DateTime<Utc>,
    pub id: UserId,
}

impl UserCursor {
    /// The cursor that resumes after `user`.
    pub fn after(user: &User) -> Self {
        Self {
            created_at: user.created_at,
            id: user.id,
        }
    }
}

/// One page of users for an administrator, newest first. Deleted users
/// (tombstones) are never listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Only users with this status.
    pub status: Option<UserStatus>,
    /// Only users whose (lowercased) email starts with this, taken
    /// literally (`%` and `_` are no wildcards).
    pub email_prefix: Option<String>,
    /// Only users created at or after this.
    pub created_from: Option<DateTime<Utc>>,
    /// Only users created before this.
    pub created_before: Option<DateTime<Utc>>,
    pub after: Option<UserCursor>,
    pub limit: u64,
}

/// What an administrator's status change found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// No such user, or a deleted one.
    NotFound,
    /// A sign-up still running (or abandoned): not an account yet, left alone.
    Pending,
    /// The user had this status already; nothing was written.
    Unchanged,
    /// The status was written, with the follow-up, in one transaction.
    Changed,
}

/// What marking a user deleted found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tombstoning {
    /// No such user (never was, or purged after the retention).
    NotFound,
    /// Marked deleted now, with the follow-up, in one transaction.
    Marked,
    /// Deleted already (at this time); the follow-up was written again.
    AlreadyDeleted(DateTime<Utc>),
}
