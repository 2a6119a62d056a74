//! The periodic deletion of refresh families that ended or were revoked
//! longer than the retention ago. Every replica may run it: the delete is
//! idempotent, and a family is gone for all once one replica removed it.

use std::sync::{Arc, Weak};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::Tokens;

impl Tokens {
    /// Runs [`Tokens::delete_expired`] every `cleanup_interval` of the
    /// config until the `Tokens` is dropped.
    pub fn spawn_cleanup(self: &Arc<Self>) -> JoinHandle<()> {
        let interval = self.config().cleanup_interval;
        tokio::spawn(clean(Arc::downgrade(self), interval))
    }
}

async fn clean(tokens: Weak<Tokens>, interval: std::time::Duration) {
    // Pacing only; what counts as expired is decided on the Clock.
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let Some(tokens) = tokens.upgrade() else {
            return;
        };
        match tokens.delete_expired(tokens.config().retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted ended refresh-token families"),
            Err(error) => {
                tracing::warn!(%error, "refresh-token cleanup failed; retrying next interval")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;
    use latch_domain::{ports::RefreshTokenRepository, secret::sha256};

    use crate::{TokenConfig, testing::Harness};

    #[tokio::test]
    async fn ended_families_are_deleted_after_the_retention() {
        let h = Harness::with_config(TokenConfig {
            cleanup_interval: Duration::from_millis(20),
            retention: Duration::from_secs(3600),
            ..TokenConfig::default()
        })
        .await;
        let revoked = h.issue().await;
        let live = h.issue().await;
        h.tokens
            .revoke_refresh_token(&revoked.refresh_token)
            .await
            .unwrap();
        let repo = latch_store::sql::SqlRefreshTokens::new(h.storage.db().clone());
        let family_of = |token: String| {
            let repo = &repo;
            async move { repo.find_by_hash(&sha256(&token)).await.unwrap() }
        };
        assert!(family_of(revoked.refresh_token.clone()).await.is_some());

        let cleanup = h.tokens.spawn_cleanup();
        // Inside the retention: kept (for reuse detection and incidents).
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            family_of(revoked.refresh_token.clone()).await.is_some(),
            "kept during the retention"
        );

        h.clock.advance(TimeDelta::hours(2));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while family_of(revoked.refresh_token.clone()).await.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "not deleted within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            family_of(live.refresh_token).await.is_some(),
            "a live family stays"
        );
        cleanup.abort();
    }
}
