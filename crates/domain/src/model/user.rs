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
