//! A spent refresh token presented again: a duplicate inside the grace
//! window gets the same successor; anything else is reuse, which ends the
//! family and the session.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Reason, Result,
    model::{RefreshFamily, RefreshToken, TokenPair},
    secret::sha256,
};

use crate::{Tokens, revoke, span};

impl Tokens {
    /// A spent token came back: the same successor again when this is a
    /// duplicate within the grace window and the chain has not moved on,
    /// otherwise reuse.
    pub(super) async fn replay(
        &self,
        token: &str,
        spent: &RefreshToken,
        family: &RefreshFamily,
        spent_at: DateTime<Utc>,
    ) -> Result<TokenPair> {
        let now = self.deps.clock.now();
        if now < spent_at + span(self.config.reuse_grace) {
            let successor_value = self.successor_of(token);
            let successor = self
                .deps
                .refresh_tokens
                .find_by_hash(&sha256(&successor_value))
                .await?;
            if let Some((successor, _)) = successor
                && successor.spent_at.is_none()
                && successor.parent_id == Some(spent.id)
            {
                self.require_live(family).await?;
                tracing::debug!(family = %family.id, "answered a duplicate refresh with the same successor");
                return self
                    .pair(family, successor_value, successor.expires_at)
                    .await;
            }
        }
        self.revoke_for_reuse(family).await;
        Err(Error::new(
            Reason::RefreshTokenReused,
            "this refresh token was already used; the session has been ended",
        ))
    }

    /// Revokes the family and its session. The caller learns of the reuse
    /// whatever happens here; a failure is logged (the family, revoked
    /// first, already stops every refresh).
    async fn revoke_for_reuse(&self, family: &RefreshFamily) {
        tracing::warn!(family = %family.id, user = %family.user_id, "refresh token reuse detected; revoking the family and its session");
        let now = self.deps.clock.now();
        let reason = revoke::REASON_REUSED;
        if let Err(err) = self
            .deps
            .refresh_tokens
            .revoke_family(family.id, now, reason)
            .await
        {
            tracing::error!(error = %err, family = %family.id, "revoking a reused family failed");
        }
        if let Err(err) = self.deps.sessions.revoke(&family.session_id, reason).await {
            tracing::error!(error = %err, family = %family.id, "revoking the session of a reused family failed");
        }
    }
}
