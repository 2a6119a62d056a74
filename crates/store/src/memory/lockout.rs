//! Failed sign-in counters in memory: the embedded default's, and the
//! per-process fallback of the Redis ones.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Result,
    ports::{FailureCounter, Failures, Lockout, login_throttled},
};

use super::expiring::ExpiringMap;

/// One [`Failures`] per key, each step under the map's lock; a key is
/// dropped [`Lockout::FORGET_AFTER`] after its wait ended, like the Redis
/// hash's TTL.
pub struct MemoryFailureCounter {
    counters: ExpiringMap<String, Failures>,
}

impl MemoryFailureCounter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            counters: ExpiringMap::new(clock),
        }
    }
}

#[async_trait]
impl FailureCounter for MemoryFailureCounter {
    async fn begin(&self, key: &str, lockout: &Lockout, seed: Failures) -> Result<Failures> {
        self.counters.with(key, |mut e| {
            let now = e.now();
            let prior = e.get(key).map_or(seed, |(held, _)| *held);
            if let Some(until) = prior.locked_until.filter(|until| *until > now) {
                return Err(login_throttled(now, until));
            }
            let next = lockout.after_failure(prior, now);
            let until = next.locked_until.unwrap_or(now);
            e.insert(key.to_owned(), next, lockout.keep_for(now, until));
            Ok(next)
        })
    }

    async fn take_back(&self, key: &str) -> Result<()> {
        self.counters.with(key, |mut e| {
            let now = e.now();
            if let Some((held, _)) = e.get_mut(key) {
                *held = held.taken_back(now);
            }
            Ok(())
        })
    }

    async fn clear(&self, key: &str) -> Result<()> {
        self.counters.with(key, |mut e| {
            let now = e.now();
            let none = Failures {
                count: 0,
                locked_until: Some(now),
            };
            e.insert(key.to_owned(), none, Lockout::FORGET_AFTER);
            Ok(())
        })
    }
}
