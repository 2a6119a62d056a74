//! The periodic deletion of sessions that ended (revoked, past their
//! absolute end, or idle too long) longer than the retention ago, in
//! bounded batches. Every replica may run it: the delete is idempotent, and
//! a session is gone for all once one replica removed it. Keeping ended
//! sessions a while leaves GetSession and incident work something to read;
//! deleting them keeps ListSessions and RevokeAllSessions bounded. The
//! same run prunes the revocation list ([`crate::revocation_list`]).

use std::sync::{Arc, Weak};

use latch_domain::Result;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{Sessions, config::chrono_duration};

/// Sessions deleted per statement.
pub(crate) const DELETE_BATCH: u64 = 1_000;

impl Sessions {
    /// Deletes, a batch at a time, the sessions that ended more than the
    /// configured retention ago; returns how many.
    pub async fn delete_ended(&self) -> Result<u64> {
        let ended_before = self.deps.clock.now() - chrono_duration(self.config.retention);
        // Idle-ended: last active before the idle timeout ran out.
        let idle_before = ended_before - self.idle_ttl;
        let mut deleted = 0;
        loop {
            let batch = self
                .deps
                .repo
                .delete_ended(ended_before, idle_before, DELETE_BATCH)
                .await?;
            deleted += batch;
            if batch < DELETE_BATCH {
                return Ok(deleted);
            }
            // Let other work at the database between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Runs [`Sessions::delete_ended`] every `cleanup_interval` of the
    /// config until the `Sessions` is dropped.
    pub fn spawn_cleanup(self: &Arc<Self>) -> JoinHandle<()> {
        let interval = self.config.cleanup_interval;
        tokio::spawn(clean(Arc::downgrade(self), interval))
    }
}

async fn clean(sessions: Weak<Sessions>, interval: std::time::Duration) {
    // Pacing only; what counts as ended is decided on the Clock.
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let Some(sessions) = sessions.upgrade() else {
            return;
        };
        match sessions.delete_ended().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted ended sessions"),
            Err(error) => {
                tracing::warn!(%error, "session cleanup failed; retrying next interval")
            }
        }
        // Revocation-list entries no token needs any more.
        if let Err(error) = sessions.prune_revocations().await {
            tracing::warn!(%error, "revocation list cleanup failed; retrying next interval");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;
    use latch_domain::{Result, UserId, ports::SessionRepository};

    use crate::{
        SessionConfig,
        testing::{Harness, browser_client},
    };

    #[tokio::test]
    async fn ended_sessions_are_deleted_after_the_retention() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica_with(SessionConfig {
            retention: Duration::from_secs(3600),
            cleanup_interval: Duration::from_millis(20),
            idle_ttl: Duration::from_secs(7 * 86_400),
            ..SessionConfig::default()
        });
        let user = UserId::new();
        let revoked = sessions.open(user, &browser_client()).await?;
        let idle = sessions.open(user, &browser_client()).await?;
        h.clock.advance(TimeDelta::days(6));
        let active = sessions.open(user, &browser_client()).await?;
        sessions.revoke_one(&revoked.id, "logout").await?;

        let cleanup = sessions.spawn_cleanup();
        // Inside the retention: kept.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            h.repo.get(&revoked.id).await?.is_some(),
            "kept during the retention"
        );

        // The revoked one's retention has passed; the idle one ends at day 7
        // and is kept an hour more; the active one stays.
        h.clock
            .advance(TimeDelta::hours(1) + TimeDelta::minutes(30));
        eventually_gone(&h, &revoked.id).await?;
        assert!(
            h.repo.get(&idle.id).await?.is_some(),
            "idle, but not for long enough"
        );
        h.clock
            .advance(TimeDelta::hours(23) + TimeDelta::minutes(31));
        eventually_gone(&h, &idle.id).await?;
        assert!(
            h.repo.get(&active.id).await?.is_some(),
            "a live session stays"
        );
        cleanup.abort();

        // Validating a deleted session: unknown, not valid.
        assert_eq!(
            latch_domain::ports::SessionDirectory::validate(&*sessions, &revoked.id).await?,
            None
        );
        Ok(())
    }

    #[tokio::test]
    async fn many_ended_sessions_go_in_batches_in_one_run() -> Result<()> {
        let h = Harness::new().await;
        let sessions = h.replica_with(SessionConfig {
            retention: Duration::from_secs(60),
            ..SessionConfig::default()
        });
        let user = UserId::new();
        let total = super::DELETE_BATCH + 3;
        for _ in 0..total {
            let mut session = latch_testkit::conformance::sessions::new_session(user, 0);
            session.created_at = h.clock_now();
            session.last_active_at = h.clock_now();
            session.expires_at = h.clock_now() + TimeDelta::days(30);
            h.repo.create(&session, &[]).await?;
        }
        assert_eq!(
            u64::from(sessions.revoke_many(user, None, "admin").await?),
            total
        );
        h.clock.advance(TimeDelta::minutes(2));
        assert_eq!(sessions.delete_ended().await?, total);
        assert_eq!(sessions.delete_ended().await?, 0, "idempotent");
        Ok(())
    }

    async fn eventually_gone(h: &Harness, id: &latch_domain::SessionId) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while h.repo.get(id).await?.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "not deleted within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}
