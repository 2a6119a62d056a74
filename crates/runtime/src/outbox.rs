//! The outbox worker every binary runs: it claims due rows of the kinds it
//! has handlers for (so the token binary never takes a session row), runs
//! each handler under a timeout shorter than the lease, and settles the
//! row: done, due again after an exponential backoff, or dead (buried with
//! the last error) once the handler fails permanently or too often.
//!
//! Polling is the guarantee: a replica that dies holding rows delays them
//! by one lease. What is due when is judged on the [`Clock`] (tests move
//! it); the polling pace is tokio's.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use latch_domain::{
    Clock, Error, Kind, Result,
    ports::{OutboxHandler, OutboxMessage, OutboxRepository},
};
use tokio::task::JoinHandle;

use crate::config::{ConfigSource, duration_in, parse_in};

/// Rows claimed at once; they run concurrently.
const BATCH: u32 = 32;
/// How long a claimed row stays out of other workers' sight.
const LEASE: Duration = Duration::from_secs(60);
/// A handler still running after this is abandoned and its row retried:
/// well inside the lease, so no other worker has taken the row meanwhile.
const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between retries of a failing row.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Longest pause after the outbox itself (the database) failed.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);

/// How the worker paces itself (`LATCH_OUTBOX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Pause between claims when nothing was due
    /// (`LATCH_OUTBOX_POLL_INTERVAL`, default 500 ms, 10 ms to 1 min).
    pub poll_interval: Duration,
    /// Pause before the first retry of a failed row, doubling with each
    /// failure up to 5 minutes (`LATCH_OUTBOX_RETRY_BACKOFF`, default 1 s,
    /// 10 ms to 5 min).
    pub retry_backoff: Duration,
    /// Attempts before a row is buried (`LATCH_OUTBOX_MAX_ATTEMPTS`,
    /// default 50, about three and a half hours of retries; 1 to 1000).
    pub max_attempts: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            retry_backoff: Duration::from_secs(1),
            max_attempts: 50,
        }
    }
}

impl OutboxConfig {
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            poll_interval: duration_in(
                source,
                "LATCH_OUTBOX_POLL_INTERVAL",
                d.poll_interval,
                Duration::from_millis(10)..=Duration::from_secs(60),
            )?,
            retry_backoff: duration_in(
                source,
                "LATCH_OUTBOX_RETRY_BACKOFF",
                d.retry_backoff,
                Duration::from_millis(10)..=MAX_BACKOFF,
            )?,
            max_attempts: parse_in(
                source,
                "LATCH_OUTBOX_MAX_ATTEMPTS",
                d.max_attempts,
                1..=1000,
            )?,
        })
    }

    /// The pause after the `attempts`-th failure: the backoff, doubled per
    /// earlier failure, at most [`MAX_BACKOFF`].
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.retry_backoff
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF.max(self.retry_backoff))
    }
}

/// What became of one claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retried,
    Buried,
    /// The lease ran out before the row could be settled: another worker
    /// has it (or will).
    Lost,
}

/// Claims and runs outbox rows of the kinds of its handlers.
pub struct OutboxWorker {
    repo: Arc<dyn OutboxRepository>,
    clock: Arc<dyn Clock>,
    config: OutboxConfig,
    handlers: HashMap<&'static str, Arc<dyn OutboxHandler>>,
    kinds: Vec<&'static str>,
}

impl OutboxWorker {
    /// A worker for `handlers`, one per kind: a second handler of a kind
    /// is a wiring bug and stops the start.
    pub fn new(
        repo: Arc<dyn OutboxRepository>,
        clock: Arc<dyn Clock>,
        config: OutboxConfig,
        handlers: Vec<Arc<dyn OutboxHandler>>,
    ) -> Result<Self> {
        let mut by_kind = HashMap::new();
        for handler in handlers {
            let kind = handler.kind();
            if by_kind.insert(kind, handler).is_some() {
                return Err(Error::internal_msg(format!(
                    "two outbox handlers for the kind {kind}"
                )));
            }
        }
        let mut kinds: Vec<&'static str> = by_kind.keys().copied().collect();
        kinds.sort_unstable();
        Ok(Self {
            repo,
            clock,
            config,
            handlers: by_kind,
            kinds,
        })
    }

    /// The kinds this worker claims.
    pub fn kinds(&self) -> &[&'static str] {
        &self.kinds
    }

    /// Runs until the process ends: claims while rows are due, then waits
    /// the poll interval, or less when this process commits new rows.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        if self.kinds.is_empty() {
            return;
        }
        let mut error_pause = self.config.poll_interval;
        loop {
            match self.run_once().await {
                // More may be due at once: a full batch, or rows due soon.
                Ok(outcomes) if !outcomes.is_empty() => {
                    error_pause = self.config.poll_interval;
                    continue;
                }
                Ok(_) => error_pause = self.config.poll_interval,
                Err(error) => {
                    tracing::warn!(%error, "outbox claim failed; retrying");
                    tokio::time::sleep(error_pause).await;
                    error_pause = (error_pause * 2).min(MAX_ERROR_PAUSE);
                    continue;
                }
            }
            self.repo.wait_for_new(self.config.poll_interval).await;
        }
    }

    /// Claims one batch of due rows and runs it; returns what became of
    /// each row (empty when nothing was due).
    pub async fn run_once(&self) -> Result<Vec<Outcome>> {
        let lease = TimeDelta::from_std(LEASE).map_err(Error::internal)?;
        let claimed = self
            .repo
            .claim(&self.kinds, self.clock.now(), lease, BATCH)
            .await?;
        Ok(join_all(claimed.iter().map(|message| self.process(message))).await)
    }

    /// Runs batches until nothing is due (tests, and draining at will).
    pub async fn drain(&self) -> Result<Vec<Outcome>> {
        let mut all = Vec::new();
        loop {
            let outcomes = self.run_once().await?;
            if outcomes.is_empty() {
                return Ok(all);
            }
            all.extend(outcomes);
        }
    }

    async fn process(&self, message: &OutboxMessage) -> Outcome {
        let result = match self.handlers.get(message.kind.as_str()) {
            Some(handler) => {
                match tokio::time::timeout(HANDLER_TIMEOUT, handler.handle(message)).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::unavailable(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the outbox handler timed out",
                    ))),
                }
            }
            // Claimed only for the kinds handled here; a mismatch is a bug.
            None => Err(Error::internal_msg(format!(
                "no handler for the kind {}",
                message.kind
            ))),
        };
        let now = self.clock.now();
        let settled = match &result {
            Ok(()) => self
                .repo
                .complete(message, now)
                .await
                .map(|ok| (ok, Outcome::Done)),
            Err(error) if self.gives_up(message, error) => {
                // The key is left out of the log: it may be a session id.
                tracing::error!(
                    kind = %message.kind, id = %message.id, attempts = message.attempts, %error,
                    "outbox row buried: it will not be retried"
                );
                self.repo
                    .bury(message, now, &error.to_string())
                    .await
                    .map(|ok| (ok, Outcome::Buried))
            }
            Err(error) => {
                let pause = self.config.backoff(message.attempts);
                tracing::warn!(
                    kind = %message.kind, id = %message.id, attempts = message.attempts,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX), %error,
                    "outbox handler failed; retrying later"
                );
                self.repo
                    .retry(message, retry_at(now, pause), &error.to_string())
                    .await
                    .map(|ok| (ok, Outcome::Retried))
            }
        };
        match settled {
            Ok((true, outcome)) => outcome,
            Ok((false, _)) => Outcome::Lost,
            Err(error) => {
                // The lease runs out and the row runs again: handlers are
                // idempotent.
                tracing::warn!(kind = %message.kind, id = %message.id, %error, "outbox row not settled");
                Outcome::Lost
            }
        }
    }

    /// Permanent errors, and the last allowed attempt, bury the row.
    fn gives_up(&self, message: &OutboxMessage, error: &Error) -> bool {
        error.kind() == Kind::InvalidArgument || message.attempts >= self.config.max_attempts
    }
}

/// `now + pause`; the pause is at most [`MAX_BACKOFF`], so neither step
/// can fail but in theory.
fn retry_at(now: DateTime<Utc>, pause: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(pause)
        .ok()
        .and_then(|pause| now.checked_add_signed(pause))
        .unwrap_or(now)
}

mod deliver_event;
pub use deliver_event::DeliverEvent;

#[cfg(test)]
mod tests;
