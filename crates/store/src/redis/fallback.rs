//! While Redis is down, the rate limiter and the failure counters fall
//! back to per-process ones with the same limits: sign-in keeps working,
//! and abuse stays bounded per replica. The switch is logged once, at
//! warn, each way; Redis is tried again at most once per
//! [`PROBE_EVERY`] (by one request, the others stay in memory meanwhile),
//! and used again as soon as it answers.

use std::{
    future::Future,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use latch_domain::{Error, Reason, Result};

/// How often a replica on its fallback tries Redis again.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Which of Redis or memory serves the next call, and the switch's logs.
pub(crate) struct Fallback {
    /// What falls back, for the log lines ("rate limiter").
    what: &'static str,
    degraded: AtomicBool,
    /// While degraded: when Redis may be tried again.
    next_probe: Mutex<Instant>,
}

impl Fallback {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            degraded: AtomicBool::new(false),
            next_probe: Mutex::new(Instant::now()),
        }
    }

    /// `on_redis`, unless Redis is down (it answers `UNAVAILABLE` now, or
    /// did lately and no probe is due): then `in_memory`.
    pub(crate) async fn run<T, R, M, F>(&self, on_redis: R, in_memory: M) -> Result<T>
    where
        R: Future<Output = Result<T>>,
        M: FnOnce() -> F,
        F: Future<Output = Result<T>>,
    {
        if !self.redis_due() {
            return in_memory().await;
        }
        match on_redis.await {
            Err(err) if err.is(Reason::Unavailable) => {
                self.went_down(&err);
                in_memory().await
            }
            // Any other answer came from Redis: it is up.
            answered => {
                self.came_back();
                answered
            }
        }
    }

    /// Whether this call goes to Redis: always while it is up; while it
    /// is down, one call per [`PROBE_EVERY`].
    fn redis_due(&self) -> bool {
        if !self.degraded.load(Ordering::Acquire) {
            return true;
        }
        let mut next = self
            .next_probe
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + PROBE_EVERY;
        true
    }

    fn went_down(&self, err: &Error) {
        *self
            .next_probe
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now() + PROBE_EVERY;
        if !self.degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %err,
                "Redis is unreachable: the {} falls back to a per-process one with the same \
                 limits on this replica while Redis is down",
                self.what
            );
        }
    }

    fn came_back(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            tracing::warn!("Redis answers again: the {} uses it again", self.what);
        }
    }
}
