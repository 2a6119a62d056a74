//! A spent refresh token presented again: a duplicate inside the grace
//! window, from the user agent that made the rotation, gets the same
//! successor; anything else is reuse, which ends the family and the session.

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Reason, Result, client_fields,
    model::{ClientInfo, RefreshFamily, RefreshToken, TokenPair},
    secret::sha256,
};

use crate::{Tokens, follow_up, revoke, span};

impl Tokens {
    /// A spent token came back: the same successor again when this is a
    /// duplicate within the grace window, the chain has not moved on and
    /// the client has the user agent of the one that rotated it (the IP may
    /// differ: phones change networks); otherwise reuse. A token without a
    /// salt (stored before salts) has no recomputable successor: reuse.
    pub(super) async fn replay(
        &self,
        token: &str,
        spent: &RefreshToken,
        family: &RefreshFamily,
        spent_at: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let now = self.deps.clock.now();
        if now < spent_at + span(self.config.reuse_grace)
            && let Some(salt) = &spent.successor_salt
        {
            let successor_value = self.successor_of(salt, token);
            let successor = self
                .deps
                .refresh_tokens
                .find_by_hash(&sha256(&successor_value))
                .await?;
            if let Some((successor, _)) = successor
                && successor.spent_at.is_none()
                && successor.parent_id == Some(spent.id)
            {
                // The successor row keeps the rotating client's user agent,
                // bounded as stored; the duplicate's is bounded alike.
                if successor.user_agent == client_fields::user_agent(client.user_agent.as_deref()) {
                    self.require_live(family).await?;
                    tracing::debug!(family = %family.id, "answered a duplicate refresh with the same successor");
                    return self
                        .pair(family, successor_value, successor.expires_at)
                        .await;
                }
                tracing::info!(family = %family.id, "a duplicate refresh inside the grace window came from another user agent; treating it as reuse");
            }
        }
        self.revoke_for_reuse(family).await;
        Err(Error::new(
            Reason::RefreshTokenReused,
            "this refresh token was already used; the session has been ended",
        ))
    }

    /// Revokes the family and, in the same transaction, writes the outbox
    /// row that revokes its session ([`follow_up::REVOKE_SESSION`]), which
    /// this binary's worker retries until the session service answers.
    /// The session service is also asked at once, so that the session has
    /// usually ended when the caller hears of the reuse; the row then runs
    /// once more, changing nothing. The caller learns of the reuse whatever
    /// happens here; failures are logged (the family, revoked first,
    /// already stops every refresh).
    async fn revoke_for_reuse(&self, family: &RefreshFamily) {
        tracing::warn!(family = %family.id, user = %family.user_id, "refresh token reuse detected; revoking the family and its session");
        let now = self.deps.clock.now();
        let reason = revoke::REASON_REUSED;
        let follow_up = match follow_up::revoke_session(family, reason, now) {
            Ok(message) => vec![message],
            Err(err) => {
                tracing::error!(error = %err, family = %family.id, "the session revocation of a reused family cannot be queued");
                Vec::new()
            }
        };
        if let Err(err) = self
            .deps
            .refresh_tokens
            .revoke_family(family.id, now, reason, &follow_up)
            .await
        {
            tracing::error!(error = %err, family = %family.id, "revoking a reused family failed");
        }
        if let Err(err) = self.deps.sessions.revoke(&family.session_id, reason).await {
            tracing::warn!(error = %err, family = %family.id, "revoking the session of a reused family failed; the outbox retries it");
        }
    }
}
