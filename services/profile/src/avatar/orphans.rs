//! The cleanup of avatar objects no profile names: those of deleted users
//! (their profile row is gone) and those a failed delete left behind (the
//! profile names another key, or none). Only objects older than
//! `LATCH_AVATAR_ORPHAN_GRACE` are taken, so an upload between writing its
//! object and committing it is never touched. Every replica runs it: a
//! delete of what is already gone is no error, so runs may overlap.
//! Counted on `latch.cleanup.removed{job="avatars"}`.

use std::{collections::HashSet, sync::Arc};

use futures::StreamExt as _;
use latch_domain::{Error, Result, UserId};
use object_store::{ObjectStoreExt as _, path::Path};
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::{
    Avatars,
    store::{self, PREFIX},
};

/// The cleanup's job name on `latch.cleanup.removed`.
pub const JOB: &str = "avatars";
/// Objects judged per database query.
const BATCH: usize = 500;

impl Avatars {
    /// Removes every object under `avatars/` that no profile names and
    /// that is older than the grace period; returns how many. Objects are
    /// judged [`BATCH`] at a time (one query for their users' keys).
    pub async fn remove_orphans(&self) -> Result<u64> {
        let grace =
            chrono::Duration::from_std(self.config.orphan_grace).map_err(Error::internal)?;
        let cutoff = self.clock.now() - grace;
        let mut listing = self.store.list(Some(&Path::from(PREFIX)));
        let mut batch = Vec::with_capacity(BATCH);
        let mut removed = 0;
        let outcome = loop {
            match listing.next().await {
                Some(Ok(meta)) => {
                    if meta.last_modified < cutoff
                        && let Some(user) = store::owner(&meta.location)
                    {
                        batch.push((user, meta.location));
                    }
                    if batch.len() >= BATCH {
                        match self.sweep(&mut batch).await {
                            Ok(n) => removed += n,
                            Err(error) => break Err(error),
                        }
                    }
                }
                Some(Err(error)) => break Err(store::store_err(error)),
                None => break self.sweep(&mut batch).await.map(|n| removed += n),
            }
        };
        if removed > 0 {
            tracing::info!(
                job = JOB,
                removed,
                "cleanup removed avatar objects no profile names"
            );
        }
        outcome.map(|()| removed)
    }

    /// Deletes the objects of `batch` their user's profile does not name;
    /// empties the batch and returns how many went.
    async fn sweep(&self, batch: &mut Vec<(UserId, Path)>) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let users: Vec<UserId> = batch
            .iter()
            .map(|(user, _)| *user)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let named = self.repo.avatar_keys(&users).await?;
        let mut removed = 0;
        for (user, location) in batch.drain(..) {
            let in_use = named
                .get(&user)
                .and_then(Option::as_deref)
                .is_some_and(|key| key == location.as_ref());
            if in_use {
                continue;
            }
            match self.store.delete(&location).await {
                Ok(()) => removed += 1,
                // Another replica was first.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(%error, key = %location, "orphaned avatar not deleted; next run retries");
                }
            }
        }
        self.counter.removed(JOB, removed);
        Ok(removed)
    }

    /// Runs [`Avatars::remove_orphans`] every `LATCH_AVATAR_CLEANUP_INTERVAL`
    /// (the first run at once); a failed run is logged and retried at the
    /// next interval.
    pub fn spawn_cleanup(self: &Arc<Self>) -> JoinHandle<()> {
        let avatars = self.clone();
        tokio::spawn(async move {
            // Pacing only; what is old enough is decided on the Clock.
            let mut ticks = tokio::time::interval(avatars.config.cleanup_interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(error) = avatars.remove_orphans().await {
                    tracing::warn!(%error, job = JOB, "avatar cleanup failed; retrying next interval");
                }
            }
        })
    }
}
