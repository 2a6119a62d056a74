//! Revocation, in the order that keeps every cache honest: tombstone the
//! shared cache and mark the local one first (nothing can re-cache "valid"
//! after that), revoke the refresh-token families, record the revocation
//! with its reason, then announce it on `session:revoked` so every replica
//! drops what it holds.
//!
//! Every step is idempotent, so a caller that gets an error retries the
//! whole call. The token families go before the database row: if that
//! write fails, a retry still finds the session live and finishes the job.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use latch_domain::{
    Error, Result, SessionId, UserId,
    events::{Event, EventPayload},
    model::Session,
};

use crate::Sessions;

/// Longest reason kept with a revocation (the `revoked_reason` column);
/// longer ones are cut rather than refused, since a revocation must not fail
/// over its label.
pub(crate) const REASON_MAX: usize = 64;

impl Sessions {
    /// Revokes one session and its refresh-token families. True when this
    /// call revoked it; false when it was already revoked or is unknown.
    ///
    /// When the shared cache cannot take the tombstone, the revocation is
    /// still recorded and announced, then `UNAVAILABLE` is returned: a copy
    /// cached as valid may outlive it until the cache TTL, so the caller
    /// should retry.
    pub async fn revoke_one(&self, id: &SessionId, reason: &str) -> Result<bool> {
        let reason = &bounded_reason(reason);
        let now = self.deps.clock.now();
        let tombstoned = self.tombstone(id, now).await;
        self.deps.tokens.revoke_session_families(id, reason).await?;
        let revoked = self.deps.repo.revoke(id, now, reason).await?;
        if let Some(session) = &revoked {
            self.announce_revoked(session, reason, now).await;
        }
        tombstoned?;
        Ok(revoked.is_some())
    }

    /// Revokes every live session of `user` except `except`, with their
    /// refresh-token families; returns how many this call revoked. Errors
    /// as [`Sessions::revoke_one`].
    pub async fn revoke_many(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        let reason = &bounded_reason(reason);
        let now = self.deps.clock.now();
        let live = self.deps.repo.list_for_user(user, false).await?;
        let targets: HashSet<SessionId> = live
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(id) != except)
            .collect();

        let mut tombstoned = Ok(());
        for id in &targets {
            tombstoned = tombstoned.and(self.tombstone(id, now).await);
        }
        for id in &targets {
            self.deps.tokens.revoke_session_families(id, reason).await?;
        }
        let revoked = self
            .deps
            .repo
            .revoke_all_for_user(user, except, now, reason)
            .await?;

        // A session opened between the listing and the revocation was not
        // tombstoned in advance; close it now, late but before announcing.
        let mut late_tokens = Ok(());
        for session in revoked.iter().filter(|s| !targets.contains(&s.id)) {
            tombstoned = tombstoned.and(self.tombstone(&session.id, now).await);
            let families = self
                .deps
                .tokens
                .revoke_session_families(&session.id, reason)
                .await;
            late_tokens = late_tokens.and(families.map(drop));
        }
        for session in &revoked {
            self.announce_revoked(session, reason, now).await;
        }
        tombstoned?;
        late_tokens?;
        Ok(u32::try_from(revoked.len()).unwrap_or(u32::MAX))
    }

    /// Drops the local copy and writes the shared tombstone, which replaces
    /// a cached "valid" and blocks fills for the cache TTL.
    async fn tombstone(&self, id: &SessionId, now: DateTime<Utc>) -> Result<()> {
        self.local.mark_revoked(id, now);
        self.deps
            .cache
            .tombstone(id, self.config.cache_ttl)
            .await
            .map_err(|error| {
                tracing::error!(%error, "session cache unavailable; revocation tombstone not written");
                Error::new(
                    error.reason(),
                    "the session is revoked, but its cached copy may linger; retry",
                )
                .with_source(error)
            })
    }

    /// Publishes `session:revoked`; a failure is logged (delivery is at most
    /// once anyway, and the local caches expire on their own).
    async fn announce_revoked(&self, session: &Session, reason: &str, now: DateTime<Utc>) {
        let event = Event::new(
            now,
            EventPayload::SessionRevoked {
                session_id: session.id.clone(),
                user_id: session.user_id,
                reason: reason.to_owned(),
            },
        );
        if let Err(error) = self.deps.bus.publish(&event).await {
            tracing::warn!(%error, "session:revoked not published");
        }
    }
}

fn bounded_reason(reason: &str) -> String {
    reason.trim().chars().take(REASON_MAX).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;
    use latch_domain::{
        Reason, Result, UserId,
        events::{Channel, EventPayload},
        ports::{CachedSession, SessionCache, SessionDirectory, SessionRepository},
    };

    use crate::testing::{Harness, browser_client, next_event, start_listening};

    #[tokio::test]
    async fn revoke_records_the_reason_revokes_tokens_and_announces_it() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let session = sessions.open(user, &browser_client()).await?;
        let mut revoked_events = h.bus.subscribe(Channel::SessionRevoked).await?;

        assert!(sessions.revoke(&session.id, "logout").await?);

        let stored = h.repo.get(&session.id).await?.unwrap();
        assert_eq!(stored.revoked_at, Some(h.clock_now()));
        assert_eq!(stored.revoked_reason.as_deref(), Some("logout"));
        assert_eq!(
            h.tokens.revoked(),
            vec![(session.id.clone(), "logout".to_owned())]
        );
        let event = next_event(&mut revoked_events).await;
        assert_eq!(
            event.payload,
            EventPayload::SessionRevoked {
                session_id: session.id.clone(),
                user_id: user,
                reason: "logout".into()
            }
        );
        assert!(!sessions.revoke(&session.id, "logout").await?, "idempotent");
        assert_eq!(
            h.repo.get(&session.id).await?.unwrap().revoked_at,
            stored.revoked_at
        );
        Ok(())
    }

    #[tokio::test]
    async fn revoke_tombstones_a_cached_valid_copy() -> Result<()> {
        let h = Harness::new().await;
        let validator = h.replica();
        let revoker = h.replica();
        let session = validator.open(UserId::new(), &browser_client()).await?;
        assert!(validator.validate(&session.id).await?.is_some());
        assert!(matches!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Valid(_))
        ));

        revoker.revoke(&session.id, "logout").await?;

        assert_eq!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Revoked)
        );
        let reads = h.repo.gets();
        assert_eq!(validator.validate(&session.id).await?, None);
        assert_eq!(h.repo.gets(), reads, "the tombstone answered");
        Ok(())
    }

    #[tokio::test]
    async fn a_revoke_racing_a_validate_never_leaves_valid_cached() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.listening_replica().await;
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        // Let both caches forget the session, so validation goes to the database.
        h.clock.advance(Duration::minutes(6));
        assert_eq!(h.cache.get(&session.id).await?, None);

        h.repo.hold_next_get();
        let validating = tokio::spawn({
            let sessions = Arc::clone(&sessions);
            let id = session.id.clone();
            async move { sessions.validate(&id).await }
        });
        // The validation has read "valid" and not yet cached it.
        h.repo.read_done.notified().await;
        sessions.revoke(&session.id, "logout").await?;
        h.repo.release.notify_one();
        let raced = validating.await.map_err(latch_domain::Error::internal)??;
        // Read before the revocation, so it may say valid; nothing may keep it.
        assert_eq!(raced.map(|s| s.id), Some(session.id.clone()));

        assert_eq!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Revoked)
        );
        assert_eq!(sessions.validate(&session.id).await?, None);
        assert_eq!(h.replica().validate(&session.id).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn revoke_all_keeps_the_excepted_session() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let keep = sessions.open(user, &browser_client()).await?;
        let a = sessions.open(user, &browser_client()).await?;
        let b = sessions.open(user, &browser_client()).await?;
        let stranger = sessions.open(UserId::new(), &browser_client()).await?;
        let mut revoked_events = h.bus.subscribe(Channel::SessionRevoked).await?;

        let count = sessions
            .revoke_all(user, Some(&keep.id), "password_changed")
            .await?;

        assert_eq!(count, 2);
        assert!(sessions.validate(&keep.id).await?.is_some());
        assert!(sessions.validate(&stranger.id).await?.is_some());
        assert_eq!(sessions.validate(&a.id).await?, None);
        assert_eq!(sessions.validate(&b.id).await?, None);
        let mut tokens: Vec<_> = h.tokens.revoked().into_iter().map(|(id, _)| id).collect();
        tokens.sort();
        let mut expected = vec![a.id.clone(), b.id.clone()];
        expected.sort();
        assert_eq!(tokens, expected);
        let mut announced = Vec::new();
        for _ in 0..2 {
            if let EventPayload::SessionRevoked {
                session_id, reason, ..
            } = next_event(&mut revoked_events).await.payload
            {
                assert_eq!(reason, "password_changed");
                announced.push(session_id);
            }
        }
        announced.sort();
        assert_eq!(announced, expected);
        assert_eq!(sessions.revoke_all(user, Some(&keep.id), "again").await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn revoke_all_without_an_exception_revokes_everything() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.listening_replica().await;
        let user = UserId::new();
        let a = sessions.open(user, &browser_client()).await?;
        let b = sessions.open(user, &browser_client()).await?;
        assert!(sessions.validate(&a.id).await?.is_some());
        assert_eq!(sessions.revoke_all(user, None, "password_reset").await?, 2);
        assert_eq!(sessions.validate(&a.id).await?, None);
        assert_eq!(sessions.validate(&b.id).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn with_the_cache_down_revoke_still_revokes_but_says_so() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        h.cache.set_down(true);

        let err = sessions.revoke(&session.id, "logout").await.unwrap_err();
        assert!(err.is(Reason::Unavailable));
        assert!(h.repo.get(&session.id).await?.unwrap().revoked_at.is_some());
        assert_eq!(h.tokens.revoked().len(), 1);
        assert_eq!(sessions.validate(&session.id).await?, None);

        // The retry the error asks for writes the tombstone.
        h.cache.set_down(false);
        assert!(!sessions.revoke(&session.id, "logout").await?);
        assert_eq!(
            h.cache.get(&session.id).await?,
            Some(CachedSession::Revoked)
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_second_replica_drops_its_local_copy_when_the_first_revokes() -> Result<()> {
        let h = Harness::new().await;
        let first = h.listening_replica().await;
        let second = h.replica();
        let listener = start_listening(&second).await;
        let session = first.open(UserId::new(), &browser_client()).await?;
        assert!(second.validate(&session.id).await?.is_some());
        let now = h.clock_now();
        assert!(matches!(
            second.local.get(&session.id, now),
            Some(crate::local_cache::LocalHit::Valid(_))
        ));

        first.revoke(&session.id, "logout").await?;

        crate::testing::eventually(|| {
            second.local.get(&session.id, now) == Some(crate::local_cache::LocalHit::Revoked)
        })
        .await;
        assert_eq!(second.validate(&session.id).await?, None);
        listener.abort();
        Ok(())
    }
}
