//! Leased rate-limit tokens: the server layer checks every public call, and
//! a shared-store round trip per call would double the cost of the
//! cheapest RPCs (ValidateAccessToken). So a replica takes a key's tokens
//! from the shared limiter a few at a time, in one atomic step, and hands
//! them out from memory.
//!
//! A lease is charged in full before any of it is used, so the limit is
//! never exceeded: at worst a replica holds up to `lease - 1` tokens a
//! client has not used yet, and refuses that client that much earlier
//! elsewhere. Leases are at most 1/16 of the burst (at most 64), so a rate
//! with a burst under 32 is checked in the shared store on every call.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use latch_domain::{
    Error, Reason, Result,
    ports::{Rate, RateLimiter},
};

/// Keys remembered at once; an evicted key only loses its unused tokens.
const KEYS: usize = 65_536;
const MAX_LEASE: u32 = 64;

pub(crate) struct LeasedLimiter {
    shared: Arc<dyn RateLimiter>,
    unused: quick_cache::sync::Cache<String, Arc<AtomicU32>>,
}

impl LeasedLimiter {
    pub(crate) fn new(shared: Arc<dyn RateLimiter>) -> Self {
        Self {
            shared,
            unused: quick_cache::sync::Cache::new(KEYS),
        }
    }

    /// How many tokens one trip to the shared limiter takes for `rate`.
    pub(crate) fn lease_size(rate: Rate) -> u32 {
        (rate.burst() / 16).clamp(1, MAX_LEASE).min(rate.count())
    }

    /// One token of `key` at `rate`, from a lease when one is held; errors
    /// as [`RateLimiter::acquire`].
    pub(crate) async fn acquire(&self, key: &str, rate: Rate) -> Result<()> {
        let lease = Self::lease_size(rate);
        if lease == 1 {
            return self.shared.acquire(key, rate).await;
        }
        let unused = self
            .unused
            .get_or_insert_with(key, || Ok::<_, std::convert::Infallible>(Arc::default()))
            .unwrap_or_default();
        if take_one(&unused) {
            return Ok(());
        }
        // `lease` tokens at once: the same capacity, each step `lease`
        // intervals long, so the shared store charges them together.
        let leased =
            Rate::per(rate.count() / lease, rate.period()).with_burst(rate.burst() / lease);
        match self.shared.acquire(key, leased).await {
            Ok(()) => {
                unused.fetch_add(lease - 1, Ordering::AcqRel);
                Ok(())
            }
            Err(refused) => {
                // A single token conforms `lease - 1` intervals before a
                // whole lease does: past that, the client is over the
                // limit, and the wait is known without another trip.
                let early = Duration::from_micros(rate.interval_micros()) * (lease - 1);
                match refused.retry_after() {
                    Some(wait) if wait > early => Err(Error::new(
                        Reason::RateLimited,
                        "too many requests; retry later",
                    )
                    .with_retry_after(wait - early)),
                    // Near the limit: go one by one.
                    _ => self.shared.acquire(key, rate).await,
                }
            }
        }
    }
}

fn take_one(unused: &AtomicU32) -> bool {
    unused
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use latch_domain::{ManualClock, Reason};
    use latch_store::memory::MemoryRateLimiter;

    use super::*;

    /// Counts the trips to the shared limiter.
    struct Counting {
        inner: MemoryRateLimiter,
        trips: AtomicU32,
    }

    #[async_trait::async_trait]
    impl RateLimiter for Counting {
        async fn acquire(&self, key: &str, rate: Rate) -> Result<()> {
            self.trips.fetch_add(1, Ordering::SeqCst);
            self.inner.acquire(key, rate).await
        }
    }

    #[tokio::test]
    async fn leases_save_trips_and_never_let_more_through_than_the_rate() {
        let clock = ManualClock::starting_now();
        let shared = Arc::new(Counting {
            inner: MemoryRateLimiter::new(Arc::new(clock.clone())),
            trips: AtomicU32::new(0),
        });
        let limiter = LeasedLimiter::new(shared.clone());
        let rate = Rate::per(3200, Duration::from_secs(60));
        assert_eq!(LeasedLimiter::lease_size(rate), 64);

        let mut passed = 0;
        for _ in 0..3200 {
            if limiter
                .acquire("token_check:ip:10.0.0.1", rate)
                .await
                .is_ok()
            {
                passed += 1;
            }
        }
        let trips = shared.trips.load(Ordering::SeqCst);
        assert!(trips <= 3200 / 64 + 2, "a trip per lease: {trips}");
        for _ in 0..800 {
            if limiter
                .acquire("token_check:ip:10.0.0.1", rate)
                .await
                .is_ok()
            {
                passed += 1;
            }
        }
        assert!(passed <= 3200, "never more than the burst: {passed}");
        assert!(passed >= 3200 - 64, "at most one lease short: {passed}");
        let refused_trips = shared.trips.load(Ordering::SeqCst) - trips;
        assert!(
            refused_trips <= 800 + 64,
            "one trip per refusal: {refused_trips}"
        );

        // Another key is its own bucket; a refusal says when to retry.
        assert!(
            limiter
                .acquire("token_check:ip:10.0.0.2", rate)
                .await
                .is_ok()
        );
        let err = limiter
            .acquire("token_check:ip:10.0.0.1", rate)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::RateLimited);
        assert!(err.retry_after().is_some());
    }

    #[tokio::test]
    async fn small_bursts_are_checked_in_the_shared_store_every_time() {
        let clock = ManualClock::starting_now();
        let shared = Arc::new(Counting {
            inner: MemoryRateLimiter::new(Arc::new(clock)),
            trips: AtomicU32::new(0),
        });
        let limiter = LeasedLimiter::new(shared.clone());
        let rate = Rate::per(20, Duration::from_secs(3600));
        assert_eq!(LeasedLimiter::lease_size(rate), 1);
        for _ in 0..25 {
            let _ = limiter.acquire("sign_up:ip:10.0.0.1", rate).await;
        }
        assert_eq!(shared.trips.load(Ordering::SeqCst), 25);
    }
}
