//! The outbox's own cleanup, run beside the worker by every binary that
//! runs one (so by every replica; the deletes are idempotent):
//!
//! - done rows are deleted once they finished longer ago than
//!   `LATCH_OUTBOX_RETENTION` (default 7 days): long enough to look up
//!   what was sent about a user or session after a complaint;
//! - dead rows (given up, with their last error) are kept longer,
//!   `LATCH_OUTBOX_DEAD_RETENTION` (default 30 days), since they are what
//!   an incident is about;
//! - pending rows are never deleted, however old.
//!
//! Each in batches of [`crate::cleanup::DEFAULT_BATCH`] rows per statement,
//! counted on `latch.cleanup.removed` as `outbox_done` and `outbox_dead`.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, Error, Result,
    ports::{OutboxRepository, OutboxStatus},
};
use latch_store::sql::SqlOutbox;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    binary::Context,
    cleanup::{DEFAULT_BATCH, in_batches},
    config::{ConfigSource, duration_in},
    metrics::CleanupCounter,
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// How long finished rows stay, and how often the purge looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPurgeConfig {
    /// `LATCH_OUTBOX_RETENTION`: done rows, 7 days; 1 hour to 1 year.
    pub done_retention: Duration,
    /// `LATCH_OUTBOX_DEAD_RETENTION`: dead rows, 30 days; 1 day to 10 years.
    pub dead_retention: Duration,
    /// `LATCH_OUTBOX_PURGE_INTERVAL`: 1 hour; 1 second to 1 day.
    pub interval: Duration,
    /// Rows per statement. Not a setting: tests make it small.
    pub batch: u64,
}

impl Default for OutboxPurgeConfig {
    fn default() -> Self {
        Self {
            done_retention: 7 * DAY,
            dead_retention: 30 * DAY,
            interval: HOUR,
            batch: DEFAULT_BATCH,
        }
    }
}

impl OutboxPurgeConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            done_retention: duration_in(
                source,
                "LATCH_OUTBOX_RETENTION",
                d.done_retention,
                HOUR..=365 * DAY,
            )?,
            dead_retention: duration_in(
                source,
                "LATCH_OUTBOX_DEAD_RETENTION",
                d.dead_retention,
                DAY..=3650 * DAY,
            )?,
            interval: duration_in(
                source,
                "LATCH_OUTBOX_PURGE_INTERVAL",
                d.interval,
                Duration::from_secs(1)..=DAY,
            )?,
            batch: d.batch,
        })
    }
}

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub done: u64,
    pub dead: u64,
}

/// Deletes finished outbox rows past their retention.
pub struct OutboxPurge {
    repo: Arc<dyn OutboxRepository>,
    clock: Arc<dyn Clock>,
    config: OutboxPurgeConfig,
    counter: CleanupCounter,
}

impl OutboxPurge {
    pub fn new(
        repo: Arc<dyn OutboxRepository>,
        clock: Arc<dyn Clock>,
        config: OutboxPurgeConfig,
        counter: CleanupCounter,
    ) -> Arc<Self> {
        Arc::new(Self {
            repo,
            clock,
            config,
            counter,
        })
    }

    /// Deletes, a batch per statement, the rows in `status` (done or dead)
    /// that finished longer than its retention ago; returns how many.
    pub async fn purge(&self, status: OutboxStatus) -> Result<u64> {
        let (retention, job) = match status {
            OutboxStatus::Done => (self.config.done_retention, "outbox_done"),
            OutboxStatus::Dead => (self.config.dead_retention, "outbox_dead"),
            OutboxStatus::Pending => return Ok(0),
        };
        let retention = chrono::Duration::from_std(retention).map_err(Error::internal)?;
        let before = self.clock.now() - retention;
        in_batches(job, self.config.batch, &self.counter, |limit| {
            self.repo.purge_finished(status, before, limit)
        })
        .await
    }

    /// One run of both; a failure of one is logged and the other runs.
    pub async fn run_once(&self) -> Purged {
        let mut purged = Purged::default();
        match self.purge(OutboxStatus::Done).await {
            Ok(rows) => purged.done = rows,
            Err(error) => {
                tracing::warn!(%error, "outbox purge of done rows failed; retrying next interval")
            }
        }
        match self.purge(OutboxStatus::Dead).await {
            Ok(rows) => purged.dead = rows,
            Err(error) => {
                tracing::warn!(%error, "outbox purge of dead rows failed; retrying next interval")
            }
        }
        purged
    }

    /// A binary's purge of its database's outbox, with the settings of
    /// its source, counting on the global meter provider; started.
    pub fn spawn_for(ctx: &Context) -> Result<JoinHandle<()>> {
        let purge = Self::new(
            Arc::new(SqlOutbox::new(ctx.infra.db.clone())),
            ctx.clock.clone(),
            OutboxPurgeConfig::from_source(ctx.source.as_ref())?,
            CleanupCounter::global(),
        );
        Ok(purge.spawn())
    }

    /// Runs [`OutboxPurge::run_once`] every interval for as long as the
    /// process (like the worker, it owns its job).
    pub fn spawn(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            // Pacing only; what is old enough is decided on the Clock.
            let mut ticks = tokio::time::interval(self.config.interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                self.run_once().await;
            }
        })
    }
}

#[cfg(test)]
mod tests;
