//! Deleting a user, as a saga that survives a crash at any point and can
//! be run again.
//!
//! 1. One transaction marks the user deleted (the tombstone: personal
//!    columns cleared, identity's own dependent rows deleted) and queues
//!    one outbox row per sibling ([`steps`]): the user's sessions
//!    (revoked, then deleted), refresh-token families, role assignments
//!    and profile. From that commit on, sign-in, refresh, GetUser and
//!    every flow find no such user.
//!    `user:deleted` is written in that transaction too, by the call that
//!    marks the user (a run again announces nothing new).
//! 2. Right after, the sessions are revoked at once (the queued row does
//!    it again, idempotently).
//! 3. The worker runs each row until its sibling answers; every handler is
//!    idempotent, so a row that ran halfway before a crash simply runs
//!    again.
//! 4. After `LATCH_DELETED_USER_RETENTION` the cleanup job sweeps every
//!    sibling once more (a sign-in that raced the deletion may have left a
//!    session) and purges the tombstone (`cleanup`).
//!
//! DeleteUser for a user whose tombstone is still there answers OK and
//! queues the siblings' parts again: an operator can finish a saga whose
//! rows were given up (dead) by running it once more.

pub(crate) mod steps;

use latch_domain::{Error, Result, UserId, model::Tombstoning};

use crate::{Identity, user_events};

/// The revocation reason of a deleted user's sessions.
pub const ACCOUNT_DELETED: &str = "account_deleted";

impl Identity {
    /// Deletes `user` (see the module). Errors: `NOT_FOUND` for a user
    /// that never existed or whose tombstone is purged; `UNAVAILABLE` when
    /// the database is down (nothing is written then).
    pub async fn delete_user(&self, user: UserId) -> Result<()> {
        let now = self.deps.clock.now();
        let follow_up = steps::erase_everywhere(user, now)?;
        let deleted = user_events::user_deleted(user, now)?;
        match self
            .deps
            .user_admin
            .tombstone(user, now, &follow_up, &[deleted])
            .await?
        {
            Tombstoning::NotFound => return Err(Error::not_found("user")),
            Tombstoning::Marked => tracing::info!(%user, "user deleted"),
            Tombstoning::AlreadyDeleted(at) => {
                tracing::info!(%user, deleted_at = %at, "user deletion run again");
            }
        }
        // The rows are queued: what follows only makes it take effect
        // sooner, so a failure is logged, not returned.
        if let Err(error) = self.revoke_user_sessions(user, ACCOUNT_DELETED).await {
            tracing::warn!(%user, %error, "sessions of a deleted user left to the outbox");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
