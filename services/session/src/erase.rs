//! The session service's part of deleting a user (identity's DeleteUser,
//! through its outbox): every live session is revoked first, as
//! RevokeAllSessions does (caches tombstoned, `session:revoked` announced,
//! refresh families revoked through the outbox), then every row of the
//! user is deleted in bounded batches. Run again, it finds nothing left.

use async_trait::async_trait;
use latch_domain::{Result, UserId, ports::UserDataEraser};

use crate::{Sessions, cleanup::DELETE_BATCH};

/// The revocation reason of a deleted user's sessions.
pub const ACCOUNT_DELETED: &str = "account_deleted";

impl Sessions {
    /// Revokes, then deletes, every session of `user`; returns how many
    /// were revoked and how many rows were deleted.
    pub async fn erase_user_sessions(&self, user: UserId) -> Result<(u32, u64)> {
        // Revoked before deleted: a replica holding a session as valid
        // drops it on the event, and the shared cache holds a tombstone
        // until after the row is gone, so it is never valid again.
        let revoked = self.revoke_many(user, None, ACCOUNT_DELETED).await?;
        let mut deleted = 0;
        loop {
            let batch = self.deps.repo.delete_for_user(user, DELETE_BATCH).await?;
            deleted += batch;
            if batch < DELETE_BATCH {
                return Ok((revoked, deleted));
            }
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl UserDataEraser for Sessions {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        self.erase_user_sessions(user)
            .await
            .map(|(_, deleted)| deleted)
    }
}

#[cfg(test)]
mod tests {
    use latch_domain::{
        Result, UserId,
        events::{Channel, EventPayload},
        ports::{SessionDirectory as _, SessionRepository as _},
    };

    use super::ACCOUNT_DELETED;
    use crate::testing::{Harness, browser_client};

    #[tokio::test]
    async fn every_session_is_revoked_then_deleted_and_again_is_nothing() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let other = UserId::new();
        let live = sessions.open(user, &browser_client()).await?;
        let ended = sessions.open(user, &browser_client()).await?;
        sessions.revoke_one(&ended.id, "logout").await?;
        let kept = sessions.open(other, &browser_client()).await?;
        // Cached as valid before the deletion.
        assert!(sessions.validate(&live.id).await?.is_some());
        // The events so far (the "logout") go out first.
        h.drain_outbox().await;
        let mut revoked = h.bus.subscribe(Channel::SessionRevoked).await?;

        assert_eq!(sessions.erase_user_sessions(user).await?, (1, 2));
        assert_eq!(sessions.validate(&live.id).await?, None);
        assert_eq!(h.repo.get(&live.id).await?, None);
        assert_eq!(h.repo.get(&ended.id).await?, None);
        h.drain_outbox().await;
        let event = futures::StreamExt::next(&mut revoked).await;
        assert!(matches!(
            event.map(|e| e.payload),
            Some(EventPayload::SessionRevoked { reason, .. }) if reason == ACCOUNT_DELETED
        ));
        // The families of the live one are revoked through the outbox.
        let rows = h.outbox.find_by_key(live.id.as_str()).await?;
        assert_eq!(rows.len(), 1);

        assert_eq!(sessions.erase_user_sessions(user).await?, (0, 0));
        assert!(sessions.validate(&kept.id).await?.is_some());
        Ok(())
    }
}
