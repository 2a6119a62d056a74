//! Identity's periodic cleanup, run by every replica (each step is
//! idempotent, and what one replica removed is gone for all):
//!
//! - login history older than `LATCH_LOGIN_HISTORY_RETENTION` (default
//!   90 days) is deleted, [`HISTORY_BATCH`] rows per statement;
//! - a deleted user's tombstone older than `LATCH_DELETED_USER_RETENTION`
//!   (default 30 days) is swept from every sibling once more (a sign-in
//!   racing the deletion may have left a session behind) and then purged,
//!   with anything still hanging off it. A tombstone whose sweep fails
//!   stays for the next run: its id must stay known until nothing is left.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, Error, Result,
    ports::{LoginHistoryRepository, UserAdminRepository},
};
use latch_runtime::config::{ConfigSource, duration_in};
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::deletion::steps::UserErasers;

/// Login-history rows deleted per statement.
pub(crate) const HISTORY_BATCH: u64 = 1_000;
/// Tombstones read per round.
const PURGE_BATCH: u64 = 100;
const DAY: Duration = Duration::from_secs(86_400);

/// How long identity keeps what it cleans up, and how often it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupConfig {
    /// `LATCH_LOGIN_HISTORY_RETENTION`: 90 days; 1 day to 10 years.
    pub history_retention: Duration,
    /// `LATCH_DELETED_USER_RETENTION`: 30 days; 1 hour to 1 year.
    pub deleted_user_retention: Duration,
    /// `LATCH_IDENTITY_CLEANUP_INTERVAL`: 1 hour; 1 second to 1 day.
    pub interval: Duration,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            history_retention: 90 * DAY,
            deleted_user_retention: 30 * DAY,
            interval: Duration::from_secs(3600),
        }
    }
}

impl CleanupConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            history_retention: duration_in(
                source,
                "LATCH_LOGIN_HISTORY_RETENTION",
                d.history_retention,
                DAY..=3650 * DAY,
            )?,
            deleted_user_retention: duration_in(
                source,
                "LATCH_DELETED_USER_RETENTION",
                d.deleted_user_retention,
                Duration::from_secs(3600)..=365 * DAY,
            )?,
            interval: duration_in(
                source,
                "LATCH_IDENTITY_CLEANUP_INTERVAL",
                d.interval,
                Duration::from_secs(1)..=DAY,
            )?,
        })
    }
}

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub history_rows: u64,
    pub users_purged: u64,
}

/// The cleanup job over identity's tables and, for the final sweep of a
/// deleted user, the siblings.
pub struct IdentityCleanup {
    admin: Arc<dyn UserAdminRepository>,
    history: Arc<dyn LoginHistoryRepository>,
    erasers: UserErasers,
    clock: Arc<dyn Clock>,
    config: CleanupConfig,
}

impl IdentityCleanup {
    pub fn new(
        admin: Arc<dyn UserAdminRepository>,
        history: Arc<dyn LoginHistoryRepository>,
        erasers: UserErasers,
        clock: Arc<dyn Clock>,
        config: CleanupConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            admin,
            history,
            erasers,
            clock,
            config,
        })
    }

    fn cutoff(&self, retention: Duration) -> Result<chrono::DateTime<chrono::Utc>> {
        let retention = chrono::Duration::from_std(retention).map_err(Error::internal)?;
        Ok(self.clock.now() - retention)
    }

    /// Deletes, a batch per statement, the login history older than the
    /// retention; returns how many rows.
    pub async fn delete_old_history(&self) -> Result<u64> {
        let before = self.cutoff(self.config.history_retention)?;
        let mut deleted = 0;
        loop {
            let batch = self.history.delete_before(before, HISTORY_BATCH).await?;
            deleted += batch;
            if batch < HISTORY_BATCH {
                return Ok(deleted);
            }
            // Let other work at the database between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Sweeps and purges the tombstones older than the retention; returns
    /// how many were purged. Stops at the first batch with a failed sweep
    /// (those tombstones wait for the next run) and returns its error.
    pub async fn purge_deleted_users(&self) -> Result<u64> {
        let before = self.cutoff(self.config.deleted_user_retention)?;
        let mut purged = 0;
        loop {
            let due = self.admin.deleted_before(before, PURGE_BATCH).await?;
            let mut failed = Ok(());
            for user in &due {
                match self.erasers.erase_everywhere(*user).await {
                    Ok(_) => {
                        if self.admin.purge(*user).await? {
                            purged += 1;
                            tracing::info!(%user, "deleted user's tombstone purged");
                        }
                    }
                    Err(error) => failed = failed.and(Err(error)),
                }
            }
            failed?;
            if (due.len() as u64) < PURGE_BATCH {
                return Ok(purged);
            }
        }
    }

    /// One run of both; each step's failure is logged and the other runs.
    pub async fn run_once(&self) -> Cleaned {
        let mut cleaned = Cleaned::default();
        match self.delete_old_history().await {
            Ok(rows) => cleaned.history_rows = rows,
            Err(error) => {
                tracing::warn!(%error, "login-history cleanup failed; retrying next interval")
            }
        }
        match self.purge_deleted_users().await {
            Ok(users) => cleaned.users_purged = users,
            Err(error) => {
                tracing::warn!(%error, "purging deleted users failed; retrying next interval")
            }
        }
        cleaned
    }

    /// Runs [`IdentityCleanup::run_once`] every interval for as long as
    /// the process (like the outbox worker, it owns its job).
    pub fn spawn(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(clean(self))
    }
}

async fn clean(job: Arc<IdentityCleanup>) {
    // Pacing only; what is old enough is decided on the Clock.
    let mut ticks = tokio::time::interval(job.config.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let cleaned = job.run_once().await;
        if cleaned != Cleaned::default() {
            tracing::info!(
                history_rows = cleaned.history_rows,
                users_purged = cleaned.users_purged,
                "identity cleanup"
            );
        }
    }
}

#[cfg(test)]
mod tests;
