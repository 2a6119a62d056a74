//! What the refresh tests share: a refresh from the usual client, a first
//! pair and its successor, the stored row of a token, and the one check of
//! what reuse detection leaves behind.

use latch_domain::{
    Reason, Result,
    model::{RefreshFamily, RefreshToken, TokenPair},
    ports::SessionDirectory,
    secret::sha256,
};

use super::{Harness, client};
use crate::revoke::REASON_REUSED;

impl Harness {
    /// Refreshes `token` as [`client`] does.
    pub(crate) async fn refresh(&self, token: &str) -> Result<TokenPair> {
        self.tokens.refresh(token, &client()).await
    }

    /// Why refreshing `token` as [`client`] does is refused; panics when
    /// it is not.
    pub(crate) async fn refused(&self, token: &str) -> Reason {
        reason(self.refresh(token).await)
    }

    /// A first pair for a new signed-in user and its successor, with the
    /// first refresh token spent.
    pub(crate) async fn rotated(&self) -> Result<(TokenPair, TokenPair)> {
        let first = self.issue().await;
        let successor = self.refresh(&first.refresh_token).await?;
        Ok((first, successor))
    }

    /// The stored token and family of `token`, found by its hash.
    pub(crate) async fn stored(
        &self,
        token: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>> {
        self.deps()
            .refresh_tokens
            .find_by_hash(&sha256(token))
            .await
    }

    /// Asserts that presenting `first`'s spent token again (`duplicate` is
    /// what that answered) was caught as reuse: refused, its session
    /// revoked as reuse, and `successor` dead with the family, whoever
    /// holds it (the thief or the user).
    pub(crate) async fn assert_reuse_detected(
        &self,
        duplicate: Result<TokenPair>,
        first: &TokenPair,
        successor: &TokenPair,
    ) -> Result<()> {
        assert_eq!(reason(duplicate), Reason::RefreshTokenReused);
        assert_eq!(
            self.sessions.revocations(),
            vec![(first.session_id.clone(), REASON_REUSED.to_owned())]
        );
        assert!(self.sessions.validate(&first.session_id).await?.is_none());
        assert_eq!(
            self.refused(&successor.refresh_token).await,
            Reason::TokenInvalid
        );
        Ok(())
    }

    /// Rows in `table`, on either backend.
    pub(crate) async fn count_rows(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};

        let conn = self.storage.db().connection();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// Why a call that should have been refused was.
pub(crate) fn reason<T: std::fmt::Debug>(result: Result<T>) -> Reason {
    result
        .expect_err("the call should have been refused")
        .reason()
}
