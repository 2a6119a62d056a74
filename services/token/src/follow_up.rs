//! The token service's outbox work: when reuse detection revokes a family,
//! the session behind it must end too, even if the session service is down
//! at that moment. The row is written in the transaction that revokes the
//! family ([`revoke_session`]); this binary's outbox worker runs
//! [`RevokeSession`] on it until the session service answers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Reason, Result, SessionId,
    model::RefreshFamily,
    ports::{NewOutboxMessage, OutboxHandler, OutboxMessage, SessionDirectory},
};
use serde::{Deserialize, Serialize};

/// Revoke the session of a family revoked for reuse.
pub const REVOKE_SESSION: &str = "token.revoke_session";

#[derive(Debug, Serialize, Deserialize)]
struct RevokeSessionPayload {
    session_id: String,
    reason: String,
}

/// The row that ends `family`'s session, keyed by the session id.
pub(crate) fn revoke_session(
    family: &RefreshFamily,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<NewOutboxMessage> {
    let payload = RevokeSessionPayload {
        session_id: family.session_id.to_string(),
        reason: reason.to_owned(),
    };
    NewOutboxMessage::new(REVOKE_SESSION, family.session_id.as_str(), &payload, at)
}

/// Runs [`REVOKE_SESSION`] rows through the session service (in process in
/// latchd, over gRPC in the token binary). Idempotent: revoking a revoked
/// session changes nothing, and one already deleted (after its retention)
/// has nothing left to revoke.
pub struct RevokeSession {
    sessions: Arc<dyn SessionDirectory>,
}

impl RevokeSession {
    pub fn new(sessions: Arc<dyn SessionDirectory>) -> Arc<Self> {
        Arc::new(Self { sessions })
    }
}

#[async_trait]
impl OutboxHandler for RevokeSession {
    fn kind(&self) -> &'static str {
        REVOKE_SESSION
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        let payload: RevokeSessionPayload = message.decode()?;
        let session = SessionId::parse("payload.session_id", &payload.session_id)?;
        match self.sessions.revoke(&session, &payload.reason).await {
            Ok(_) => Ok(()),
            Err(err) if err.is(Reason::NotFound) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use latch_domain::{Error, Reason, Result, model::ClientInfo, ports::OutboxStatus};

    use super::*;
    use crate::testing::Harness;

    /// A session service that has forgotten every session.
    struct Forgetful;

    #[async_trait]
    impl SessionDirectory for Forgetful {
        async fn create(
            &self,
            _user: latch_domain::UserId,
            _client: &ClientInfo,
        ) -> Result<latch_domain::model::Session> {
            Err(Error::internal_msg("unused"))
        }
        async fn validate(&self, _id: &SessionId) -> Result<Option<latch_domain::model::Session>> {
            Ok(None)
        }
        async fn touch(&self, _id: &SessionId) -> Result<()> {
            Err(Error::not_found("session"))
        }
        async fn revoke(&self, _id: &SessionId, _reason: &str) -> Result<bool> {
            Err(Error::not_found("session"))
        }
        async fn revoke_all(
            &self,
            _user: latch_domain::UserId,
            _except: Option<&SessionId>,
            _reason: &str,
        ) -> Result<u32> {
            Ok(0)
        }
    }

    fn row(payload: serde_json::Value) -> OutboxMessage {
        OutboxMessage {
            id: latch_domain::ports::OutboxId::new(),
            kind: REVOKE_SESSION.to_owned(),
            key: String::new(),
            payload,
            status: OutboxStatus::Pending,
            attempts: 1,
            created_at: DateTime::<Utc>::default(),
            available_at: DateTime::<Utc>::default(),
            lease: None,
            last_error: None,
            finished_at: None,
        }
    }

    #[tokio::test]
    async fn the_handler_revokes_the_session_once_and_for_all() -> Result<()> {
        let h = Harness::new().await;
        let (_, session) = h.signed_in();
        let family = RefreshFamily {
            id: latch_domain::FamilyId::new(),
            user_id: latch_domain::UserId::new(),
            session_id: session.clone(),
            created_at: h.clock_now(),
            expires_at: h.clock_now(),
            revoked_at: None,
            revoked_reason: None,
        };
        let message = revoke_session(&family, "refresh_token_reused", h.clock_now())?;
        assert_eq!(message.key, session.as_str());
        let stored = row(message.payload);
        let handler = RevokeSession::new(h.sessions.clone());
        handler.handle(&stored).await?;
        handler.handle(&stored).await?;
        assert_eq!(
            h.sessions.revocations(),
            vec![
                (session.clone(), "refresh_token_reused".to_owned()),
                (session, "refresh_token_reused".to_owned())
            ]
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_session_already_deleted_is_done_and_a_bad_payload_is_permanent() -> Result<()> {
        let handler = RevokeSession::new(Arc::new(Forgetful));
        let id = SessionId::generate()?;
        handler
            .handle(&row(
                serde_json::json!({ "session_id": id.as_str(), "reason": "r" }),
            ))
            .await?;
        let err = handler
            .handle(&row(serde_json::json!({ "session": 1 })))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        Ok(())
    }

    /// A session service that refuses while down, in front of the fake.
    struct Flaky {
        inner: Arc<dyn SessionDirectory>,
        down: std::sync::atomic::AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<()> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::unavailable(std::io::Error::other(
                    "session service: connection refused",
                )));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl SessionDirectory for Flaky {
        async fn create(
            &self,
            user: latch_domain::UserId,
            client: &ClientInfo,
        ) -> Result<latch_domain::model::Session> {
            self.inner.create(user, client).await
        }
        async fn validate(&self, id: &SessionId) -> Result<Option<latch_domain::model::Session>> {
            self.inner.validate(id).await
        }
        async fn touch(&self, id: &SessionId) -> Result<()> {
            self.check()?;
            self.inner.touch(id).await
        }
        async fn revoke(&self, id: &SessionId, reason: &str) -> Result<bool> {
            self.check()?;
            self.inner.revoke(id, reason).await
        }
        async fn revoke_all(
            &self,
            user: latch_domain::UserId,
            except: Option<&SessionId>,
            reason: &str,
        ) -> Result<u32> {
            self.check()?;
            self.inner.revoke_all(user, except, reason).await
        }
    }

    /// Reuse detected while the session service is down: the family is
    /// revoked at once, and the session once the service is back, through
    /// the outbox row written with the family's revocation.
    #[tokio::test]
    async fn reuse_with_the_session_service_down_ends_the_session_later() -> Result<()> {
        use latch_runtime::outbox::{OutboxConfig, OutboxWorker, Outcome};
        use latch_store::sql::SqlOutbox;

        let h = Harness::new().await;
        let flaky = Arc::new(Flaky {
            inner: h.sessions.clone(),
            down: std::sync::atomic::AtomicBool::new(false),
        });
        let tokens = crate::Tokens::start(
            crate::TokenDeps {
                sessions: flaky.clone(),
                ..h.deps()
            },
            h.config.clone(),
            h.secrets.clone(),
        )
        .await?;
        let (user, session) = h.signed_in();
        let client = crate::testing::client();
        let first = tokens.issue_tokens(user, &session, &client).await?;
        tokens.refresh(&first.refresh_token, &client).await?;
        h.advance(
            chrono::TimeDelta::from_std(h.config.reuse_grace).unwrap_or_default()
                + chrono::TimeDelta::seconds(1),
        );

        flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = tokens
            .refresh(&first.refresh_token, &client)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::RefreshTokenReused);
        assert!(
            h.sessions.validate(&session).await?.is_some(),
            "the session service was down"
        );
        let outbox = Arc::new(SqlOutbox::new(h.storage.db().clone()));
        let rows =
            latch_domain::ports::OutboxRepository::find_by_key(&*outbox, session.as_str()).await?;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, REVOKE_SESSION);

        let worker = OutboxWorker::new(
            outbox,
            Arc::new(h.clock.clone()),
            OutboxConfig::default(),
            vec![RevokeSession::new(flaky.clone())],
        )?;
        assert_eq!(worker.run_once().await?, vec![Outcome::Retried]);
        flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
        h.advance(chrono::TimeDelta::seconds(1));
        assert_eq!(worker.run_once().await?, vec![Outcome::Done]);
        assert_eq!(h.sessions.validate(&session).await?, None);
        Ok(())
    }
}
