use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UserId;

/// A password-reset token as identity keeps it: only the SHA-256 of the
/// 256-bit token that was mailed, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordResetToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    /// Not accepted from this instant on.
    pub expires_at: DateTime<Utc>,
    /// Set once, by the reset that used it.
    pub used_at: Option<DateTime<Utc>>,
}
