//! Revocation, in the order that makes the database the authority:
//!
//! 1. the row is revoked, and in the same transaction outbox rows ask for
//!    the session's refresh-token families to be revoked
//!    ([`follow_up::REVOKE_FAMILIES`]) and carry its `session:revoked`
//!    event;
//! 2. the shared cache gets a tombstone, which replaces a cached "valid"
//!    and blocks fills for the cache TTL, and the local cache a mark;
//! 3. the outbox worker, woken by the commit, delivers `session:revoked`
//!    (every replica drops its copy) and revokes the families, retrying
//!    with backoff until the token service or Redis answers.
//!
//! Nothing after step 1 can undo it: with the token service or Redis down,
//! the session is revoked and stays revoked once the cache TTL has passed.
//! Every step is idempotent, so a caller that gets an error retries the
//! whole call: the retry finds the row revoked (the first call's outbox row
//! stays until it is done; no second one is written) and writes the
//! tombstone again.

use chrono::{DateTime, Utc};
use latch_domain::{Error, Result, SessionId, UserId};

use crate::{Sessions, follow_up};

/// Longest reason kept with a revocation (the `revoked_reason` column);
/// longer ones are cut rather than refused, since a revocation must not fail
/// over its label.
pub(crate) const REASON_MAX: usize = 64;

/// Sessions revoked per statement by [`Sessions::revoke_many`], so one
/// user's thousands of sessions never make one huge transaction.
pub(crate) const REVOKE_BATCH: u64 = 500;

impl Sessions {
    /// Revokes one session, and through the outbox its refresh-token
    /// families. True when this call revoked it; false when it was already
    /// revoked or is unknown.
    ///
    /// When the shared cache cannot take the tombstone, the revocation is
    /// still recorded and announced, then `UNAVAILABLE` is returned: a copy
    /// cached as valid may outlive it until the cache TTL, so the caller
    /// should retry.
    pub async fn revoke_one(&self, id: &SessionId, reason: &str) -> Result<bool> {
        let reason = &bounded_reason(reason);
        let now = self.deps.clock.now();
        let revoked = self
            .deps
            .repo
            .revoke(id, now, reason, &follow_up::on_revoked)
            .await?;
        self.tombstone(id, now).await?;
        Ok(revoked.is_some())
    }

    /// Revokes every live session of `user` except `except`, a bounded
    /// batch per transaction, each with its outbox row; returns how many
    /// this call revoked. Errors as [`Sessions::revoke_one`]; a retry after
    /// an error goes on where the failed call stopped.
    pub async fn revoke_many(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        reason: &str,
    ) -> Result<u32> {
        let reason = &bounded_reason(reason);
        let now = self.deps.clock.now();
        let mut revoked: u32 = 0;
        let mut tombstoned = Ok(());
        loop {
            let batch = self
                .deps
                .repo
                .revoke_all_for_user(
                    user,
                    except,
                    now,
                    reason,
                    REVOKE_BATCH,
                    &follow_up::on_revoked,
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            for session in &batch {
                tombstoned = tombstoned.and(self.tombstone(&session.id, now).await);
            }
            revoked = revoked.saturating_add(u32::try_from(batch.len()).unwrap_or(u32::MAX));
        }
        tombstoned?;
        Ok(revoked)
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

    use latch_runtime::outbox::Outcome;

    use crate::{
        follow_up::REVOKE_FAMILIES,
        testing::{Harness, browser_client, next_event, start_listening},
    };

    #[tokio::test]
    async fn revoke_records_the_reason_revokes_tokens_and_announces_it() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let session = sessions.open(user, &browser_client()).await?;
        // Its `session:created`.
        assert_eq!(h.drain_outbox().await, vec![Outcome::Done]);
        let mut revoked_events = h.bus.subscribe(Channel::SessionRevoked).await?;

        assert!(sessions.revoke(&session.id, "logout").await?);

        let stored = h.repo.get(&session.id).await?.unwrap();
        assert_eq!(stored.revoked_at, Some(h.clock_now()));
        assert_eq!(stored.revoked_reason.as_deref(), Some("logout"));
        assert!(h.tokens.revoked().is_empty(), "the outbox's work");
        // The families' revocation and `session:revoked`.
        assert_eq!(h.drain_outbox().await, vec![Outcome::Done, Outcome::Done]);
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
        assert_eq!(
            h.outbox.find_by_key(session.id.as_str()).await?.len(),
            1,
            "one follow-up, from the call that revoked"
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
        h.drain_outbox().await;
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
        h.drain_outbox().await;
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
        // The worker delivers `session:revoked`.
        h.drain_outbox().await;

        crate::testing::eventually(|| {
            second.local.get(&session.id, now) == Some(crate::local_cache::LocalHit::Revoked)
        })
        .await;
        assert_eq!(second.validate(&session.id).await?, None);
        listener.abort();
        Ok(())
    }

    /// The issue this order fixes: with the token service down, the old
    /// order left the row live, the retry refused by the tombstone, and the
    /// session valid again once the tombstone expired.
    #[tokio::test]
    async fn with_the_token_service_down_the_session_is_revoked_and_stays_so() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.listening_replica().await;
        let session = sessions.open(UserId::new(), &browser_client()).await?;
        assert!(sessions.validate(&session.id).await?.is_some());
        assert_eq!(
            h.drain_outbox().await,
            vec![Outcome::Done],
            "session:created"
        );
        h.tokens.set_down(true);

        assert!(sessions.revoke(&session.id, "logout").await?);
        let outcomes = h.drain_outbox().await;
        // The families' row waits for the token service; the event goes.
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.contains(&Outcome::Retried) && outcomes.contains(&Outcome::Done));
        let pending = h.outbox.find_by_key(session.id.as_str()).await?.remove(0);
        assert_eq!(pending.kind, REVOKE_FAMILIES);
        assert_eq!(pending.attempts, 1);
        assert!(pending.last_error.is_some());

        // Past every cache's lifetime the database still says revoked, on
        // this replica and on a fresh one.
        h.clock.advance(Duration::minutes(10));
        assert_eq!(h.cache.get(&session.id).await?, None, "tombstone expired");
        assert_eq!(sessions.validate(&session.id).await?, None);
        assert_eq!(h.replica().validate(&session.id).await?, None);
        // A retry of the call succeeds and adds no second follow-up.
        assert!(!sessions.revoke(&session.id, "logout").await?);
        assert_eq!(h.outbox.find_by_key(session.id.as_str()).await?.len(), 1);

        // Back up: the next attempt delivers.
        h.tokens.set_down(false);
        assert_eq!(h.drain_outbox().await, vec![Outcome::Done]);
        assert_eq!(
            h.tokens.revoked(),
            vec![(session.id.clone(), "logout".to_owned())]
        );
        Ok(())
    }

    #[tokio::test]
    async fn revoke_all_writes_one_follow_up_per_revoked_session() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica();
        let user = UserId::new();
        let mut opened = Vec::new();
        for _ in 0..5 {
            opened.push(sessions.open(user, &browser_client()).await?);
        }
        assert_eq!(h.drain_outbox().await.len(), 5, "session:created each");
        h.tokens.set_down(true);
        assert_eq!(sessions.revoke_all(user, None, "admin").await?, 5);
        for session in &opened {
            assert_eq!(sessions.validate(&session.id).await?, None);
            assert_eq!(h.outbox.find_by_key(session.id.as_str()).await?.len(), 1);
        }
        h.tokens.set_down(false);
        h.clock.advance(Duration::minutes(1));
        // Five families' rows and five `session:revoked`.
        assert_eq!(h.drain_outbox().await.len(), 10);
        assert_eq!(h.tokens.revoked().len(), 5);
        Ok(())
    }
}
