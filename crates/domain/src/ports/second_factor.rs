use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Result, UserId, model::TotpRecord, ports::NewOutboxMessage};

/// The second factor of identity's users: the TOTP columns of `users`
/// (`totp_enabled`, `totp_secret_encrypted`, `totp_last_step`) and the
/// single-use `recovery_codes`, kept only as SHA-256 hashes. Every change
/// that must hold together (TOTP on with its codes, off without them, a
/// new set for the old) is one transaction.
#[async_trait]
pub trait SecondFactorRepository: Send + Sync + 'static {
    /// The user's TOTP while it is on; `None` when it is off or the user
    /// does not exist.
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>>;

    /// Turns TOTP on with the sealed secret, `last_step` as already
    /// accepted (the code that confirmed it) and `recovery_codes` (hashes)
    /// as the only codes, writing `follow_up` (its `user:updated`) in the
    /// same transaction. False, writing nothing, when TOTP is already on
    /// or the user does not exist: of two racing enrolments one wins.
    async fn enable_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        last_step: i64,
        recovery_codes: &[[u8; 32]],
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;

    /// Turns TOTP off: the secret and last step cleared, every recovery
    /// code deleted, `follow_up` written, in one transaction. False,
    /// writing nothing, when it was off.
    async fn disable_totp(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;

    /// Records `step` as accepted if TOTP is on and `step` is later than
    /// the last accepted one, in one conditional write: of two callers
    /// presenting a code for the same step (two replicas), one gets true.
    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool>;

    /// Replaces every recovery code of the user with `recovery_codes`
    /// while TOTP is on, writing `follow_up` in the same transaction.
    /// False, writing nothing, when it is off.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        recovery_codes: &[[u8; 32]],
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool>;

    /// Spends the user's unused code with this hash. False when there is
    /// none (wrong, spent, another user's): of two racing uses one wins.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u64>;

    /// Deletes at most `limit` recovery codes (of any user) spent before
    /// `before`; unused codes stay. Returns how many: call again until it
    /// returns less than `limit`.
    async fn delete_spent_recovery_codes(&self, before: DateTime<Utc>, limit: u64) -> Result<u64>;
}
