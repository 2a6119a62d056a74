//! Opening a session with its first tokens, shared by sign-up and login.

use latch_domain::{
    Result, UserId,
    model::{ClientInfo, Session, TokenPair},
};

use crate::Identity;

impl Identity {
    /// A new session and its first token pair. If the tokens cannot be
    /// issued, the session is revoked rather than left dangling.
    pub(crate) async fn open_session(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        self.start_session(user, client)
            .await
            .map(|(_, tokens)| tokens)
    }

    /// As [`Identity::open_session`], with the session as the session
    /// service recorded it (device, location).
    pub(crate) async fn start_session(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(Session, TokenPair)> {
        let session = self.deps.sessions.create(user, client).await?;
        match self.deps.tokens.issue(user, &session.id, client).await {
            Ok(tokens) => Ok((session, tokens)),
            Err(err) => {
                if let Err(error) = self.deps.sessions.revoke(&session.id, "issue_failed").await {
                    tracing::error!(%user, %error, "session left open after a failed issue");
                }
                Err(err)
            }
        }
    }
}
