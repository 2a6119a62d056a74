//! Logout: revoking the caller's own session.

use latch_domain::{Result, SessionId};

use crate::Identity;

impl Identity {
    /// Revokes the session the caller's access token names. The session
    /// service drops it from the caches and revokes its refresh-token
    /// family, so both tokens stop working at once. Idempotent.
    pub async fn logout(&self, session: &SessionId) -> Result<()> {
        self.deps.sessions.revoke(session, "logout").await?;
        Ok(())
    }
}
