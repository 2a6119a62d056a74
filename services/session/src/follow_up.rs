//! The session service's outbox work: the refresh-token families of a
//! revoked session are revoked by the token service, retried until it
//! answers. The row is written in the transaction that revokes the session
//! ([`on_revoked`], with the `session:revoked` event); this binary's
//! outbox worker runs [`RevokeFamilies`] on it.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Result, SessionId,
    events::{Event, EventPayload},
    model::Session,
    ports::{NewOutboxMessage, OutboxHandler, OutboxMessage, TokenRevoker},
};
use serde::{Deserialize, Serialize};

/// Revoke the refresh-token families of a revoked session.
pub const REVOKE_FAMILIES: &str = "session.revoke_families";

#[derive(Debug, Serialize, Deserialize)]
struct RevokeFamiliesPayload {
    session_id: String,
    reason: String,
}

/// The row that follows the revocation of `session`, keyed by its id.
pub(crate) fn revoke_families(session: &Session) -> Result<Vec<NewOutboxMessage>> {
    let payload = RevokeFamiliesPayload {
        session_id: session.id.to_string(),
        reason: session.revoked_reason.clone().unwrap_or_default(),
    };
    let at = session.revoked_at.unwrap_or(session.last_active_at);
    Ok(vec![NewOutboxMessage::new(
        REVOKE_FAMILIES,
        session.id.as_str(),
        &payload,
        at,
    )?])
}

/// What a revocation writes with the session it revoked: the revocation
/// of its refresh-token families and its `session:revoked` event.
pub(crate) fn on_revoked(session: &Session) -> Result<Vec<NewOutboxMessage>> {
    let mut rows = revoke_families(session)?;
    let revoked = Event::new(
        session.revoked_at.unwrap_or(session.last_active_at),
        EventPayload::SessionRevoked {
            session_id: session.id.clone(),
            user_id: session.user_id,
            reason: session.revoked_reason.clone().unwrap_or_default(),
        },
    );
    rows.push(revoked.to_outbox()?);
    Ok(rows)
}

/// Runs [`REVOKE_FAMILIES`] rows through the token service (in process in
/// latchd, over gRPC in the session binary). Idempotent: families already
/// revoked stay as they are.
pub struct RevokeFamilies {
    tokens: Arc<dyn TokenRevoker>,
}

impl RevokeFamilies {
    pub fn new(tokens: Arc<dyn TokenRevoker>) -> Arc<Self> {
        Arc::new(Self { tokens })
    }
}

#[async_trait]
impl OutboxHandler for RevokeFamilies {
    fn kind(&self) -> &'static str {
        REVOKE_FAMILIES
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        let payload: RevokeFamiliesPayload = message.decode()?;
        let session = SessionId::parse("payload.session_id", &payload.session_id)?;
        let revoked = self
            .tokens
            .revoke_session_families(&session, &payload.reason)
            .await?;
        tracing::debug!(revoked, "revoked the refresh families of a revoked session");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use latch_domain::{
        Reason, Result, UserId,
        ports::{OutboxHandler, OutboxStatus},
    };

    use super::*;
    use crate::testing::{FakeTokens, Harness, browser_client};

    #[tokio::test]
    async fn the_row_names_the_session_and_the_reason() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        sessions.revoke_one(&session.id, "logout").await?;

        let rows = h.outbox.find_by_key(session.id.as_str()).await?;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, REVOKE_FAMILIES);
        assert_eq!(rows[0].status, OutboxStatus::Pending);
        assert_eq!(rows[0].created_at, h.clock_now());

        let tokens = Arc::new(FakeTokens::default());
        RevokeFamilies::new(tokens.clone()).handle(&rows[0]).await?;
        assert_eq!(
            tokens.revoked(),
            vec![(session.id.clone(), "logout".to_owned())]
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_payload_that_is_not_a_session_is_refused_for_good() -> Result<()> {
        let h = Harness::new().await;
        let session = h.replica().open(UserId::new(), &browser_client()).await?;
        let mut row = {
            let sessions = h.replica();
            sessions.revoke_one(&session.id, "logout").await?;
            h.outbox.find_by_key(session.id.as_str()).await?.remove(0)
        };
        row.payload = serde_json::json!({ "session_id": "../etc", "reason": "x" });
        let err = RevokeFamilies::new(Arc::new(FakeTokens::default()))
            .handle(&row)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        row.payload = serde_json::json!({ "nothing": true });
        let err = RevokeFamilies::new(Arc::new(FakeTokens::default()))
            .handle(&row)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        Ok(())
    }
}
