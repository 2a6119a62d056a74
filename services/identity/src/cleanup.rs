//! Identity's periodic cleanup, run by every replica (each step is
//! idempotent, and what one replica removed is gone for all); every
//! deleting step goes [`CleanupConfig::batch`] rows per statement and is
//! counted on `latch.cleanup.removed` under its job:
//!
//! - `login_history`: attempts older than `LATCH_LOGIN_HISTORY_RETENTION`
//!   (default 90 days);
//! - `password_reset_tokens`: tokens that expired, used or not, longer ago
//!   than `LATCH_SPENT_TOKEN_RETENTION` (default 1 day; until then a link
//!   followed again gets "already used" or "expired" rather than "not
//!   valid"); a used token ends at its expiry (15 minutes) like any other;
//! - `recovery_codes`: codes spent longer ago than the same retention
//!   (unused codes stay until TOTP is turned off or the set replaced);
//! - `deleted_users`: a deleted user's tombstone older than
//!   `LATCH_DELETED_USER_RETENTION` (default 30 days) is swept from every
//!   sibling once more (a sign-in racing the deletion may have left a
//!   session behind) and then purged, with anything still hanging off it.
//!   A tombstone whose sweep fails stays for the next run: its id must
//!   stay known until nothing is left.
//!
//! The rest of identity's expiring state needs no job: the Redis flow
//! state (email and phone verification, email change, sign-in attempts,
//! OAuth and passkey ceremonies) and the lockout counters carry a TTL and
//! expire by themselves, and their in-memory stand-in sweeps what expired.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, Error, Result,
    ports::{
        LoginHistoryRepository, PasswordResetRepository, SecondFactorRepository,
        UserAdminRepository,
    },
};
use latch_runtime::{
    cleanup::{DEFAULT_BATCH, in_batches},
    config::{ConfigSource, duration_in},
    metrics::CleanupCounter,
};
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::deletion::steps::UserErasers;

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
    /// `LATCH_SPENT_TOKEN_RETENTION`: how long expired reset tokens and
    /// spent recovery codes stay, 1 day; 1 minute to 30 days.
    pub spent_token_retention: Duration,
    /// `LATCH_IDENTITY_CLEANUP_INTERVAL`: 1 hour; 1 second to 1 day.
    pub interval: Duration,
    /// Rows deleted per statement. Not a setting: tests make it small.
    pub batch: u64,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            history_retention: 90 * DAY,
            deleted_user_retention: 30 * DAY,
            spent_token_retention: DAY,
            interval: Duration::from_secs(3600),
            batch: DEFAULT_BATCH,
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
            spent_token_retention: duration_in(
                source,
                "LATCH_SPENT_TOKEN_RETENTION",
                d.spent_token_retention,
                Duration::from_secs(60)..=30 * DAY,
            )?,
            interval: duration_in(
                source,
                "LATCH_IDENTITY_CLEANUP_INTERVAL",
                d.interval,
                Duration::from_secs(1)..=DAY,
            )?,
            batch: d.batch,
        })
    }
}

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub history_rows: u64,
    pub reset_tokens: u64,
    pub recovery_codes: u64,
    pub users_purged: u64,
}

/// The tables identity's cleanup deletes from.
#[derive(Clone)]
pub struct CleanupStores {
    pub admin: Arc<dyn UserAdminRepository>,
    pub history: Arc<dyn LoginHistoryRepository>,
    pub resets: Arc<dyn PasswordResetRepository>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
}

/// The cleanup job over identity's tables and, for the final sweep of a
/// deleted user, the siblings.
pub struct IdentityCleanup {
    stores: CleanupStores,
    erasers: UserErasers,
    clock: Arc<dyn Clock>,
    config: CleanupConfig,
    counter: CleanupCounter,
}

impl IdentityCleanup {
    pub fn new(
        stores: CleanupStores,
        erasers: UserErasers,
        clock: Arc<dyn Clock>,
        config: CleanupConfig,
        counter: CleanupCounter,
    ) -> Arc<Self> {
        Arc::new(Self {
            stores,
            erasers,
            clock,
            config,
            counter,
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
        in_batches("login_history", self.config.batch, &self.counter, |limit| {
            self.stores.history.delete_before(before, limit)
        })
        .await
    }

    /// Deletes, a batch per statement, the reset tokens that expired
    /// (used or not) longer than the retention ago; returns how many.
    pub async fn delete_expired_reset_tokens(&self) -> Result<u64> {
        let before = self.cutoff(self.config.spent_token_retention)?;
        in_batches(
            "password_reset_tokens",
            self.config.batch,
            &self.counter,
            |limit| self.stores.resets.delete_expired(before, limit),
        )
        .await
    }

    /// Deletes, a batch per statement, the recovery codes spent longer
    /// than the retention ago; returns how many.
    pub async fn delete_spent_recovery_codes(&self) -> Result<u64> {
        let before = self.cutoff(self.config.spent_token_retention)?;
        in_batches(
            "recovery_codes",
            self.config.batch,
            &self.counter,
            |limit| {
                self.stores
                    .second_factors
                    .delete_spent_recovery_codes(before, limit)
            },
        )
        .await
    }

    /// Sweeps and purges the tombstones older than the retention; returns
    /// how many were purged. Stops at the first batch with a failed sweep
    /// (those tombstones wait for the next run) and returns its error.
    pub async fn purge_deleted_users(&self) -> Result<u64> {
        let before = self.cutoff(self.config.deleted_user_retention)?;
        let mut purged = 0;
        loop {
            let due = self
                .stores
                .admin
                .deleted_before(before, PURGE_BATCH)
                .await?;
            let mut failed = Ok(());
            for user in &due {
                match self.erasers.erase_everywhere(*user).await {
                    Ok(_) => {
                        if self.stores.admin.purge(*user).await? {
                            purged += 1;
                            self.counter.removed("deleted_users", 1);
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

    /// One run of every step; a step's failure is logged and the others
    /// run. Each step logs what it removed.
    pub async fn run_once(&self) -> Cleaned {
        Cleaned {
            history_rows: logged("login history", self.delete_old_history().await),
            reset_tokens: logged(
                "password reset tokens",
                self.delete_expired_reset_tokens().await,
            ),
            recovery_codes: logged("recovery codes", self.delete_spent_recovery_codes().await),
            users_purged: logged("deleted users", self.purge_deleted_users().await),
        }
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
        job.run_once().await;
    }
}

/// The count of a step that went, 0 after a warning for one that failed.
fn logged(step: &'static str, outcome: Result<u64>) -> u64 {
    outcome.unwrap_or_else(|error| {
        tracing::warn!(%error, step, "identity cleanup step failed; retrying next interval");
        0
    })
}

#[cfg(test)]
mod tests;
