//! The token service's part of deleting a user (identity's DeleteUser,
//! through its outbox): every refresh-token family of the user is deleted
//! with its tokens, in bounded batches, so no token of theirs is ever
//! refreshed or introspected again. Run again, it finds nothing left.

use async_trait::async_trait;
use latch_domain::{Result, UserId, ports::UserDataEraser};

use crate::Tokens;

/// Families deleted per transaction.
const DELETE_BATCH: u64 = 500;

impl Tokens {
    /// Deletes every family of `user` with its tokens; returns how many
    /// families.
    pub async fn delete_user_tokens(&self, user: UserId) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let batch = self
                .deps
                .refresh_tokens
                .delete_for_user(user, DELETE_BATCH)
                .await?;
            deleted += batch;
            if batch < DELETE_BATCH {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl UserDataEraser for Tokens {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        self.delete_user_tokens(user).await
    }
}

#[cfg(test)]
mod tests {
    use latch_domain::{Reason, Result};

    use crate::testing::{Harness, client};

    #[tokio::test]
    async fn a_deleted_users_tokens_refresh_no_more() -> Result<()> {
        let h = Harness::new().await;
        let tokens = h.start().await?;
        let (user, session) = h.signed_in();
        let first = tokens.issue_tokens(user, &session, &client()).await?;
        let (other, other_session) = h.signed_in();
        let others = tokens
            .issue_tokens(other, &other_session, &client())
            .await?;

        assert_eq!(tokens.delete_user_tokens(user).await?, 1);
        let err = tokens
            .refresh(&first.refresh_token, &client())
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::TokenInvalid);
        assert_eq!(tokens.delete_user_tokens(user).await?, 0, "idempotent");
        tokens.refresh(&others.refresh_token, &client()).await?;
        Ok(())
    }
}
