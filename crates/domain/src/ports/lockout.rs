//! Lockout with backoff: failed sign-in attempts counted per account in
//! one atomic step, so replicas sharing Redis see one count.
//!
//! An attempt is counted *before* its password or code is checked, and a
//! right one takes its count back ([`FailureCounter::take_back`]) or, when
//! it signs in, forgets them all ([`FailureCounter::clear`]): that way
//! parallel attempts cannot all slip past the threshold while their
//! hashes are being checked, and still only failures stay counted. After
//! [`Lockout::threshold`] failures each further attempt waits, 1 s, 2 s,
//! 4 s … up to [`Lockout::max_delay`]: never a permanent lock, so an
//! attacker cannot lock a victim out for good.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Error, Reason, Result, UserId};

/// An account's failed attempts since its last sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: u32,
    /// When the next attempt may be made; set by every failure (to the
    /// failure's own time while under the threshold), so it also dates the
    /// last one. `None`: no failure remembered.
    pub locked_until: Option<DateTime<Utc>>,
}

impl Failures {
    /// These failures with the advance count of a right proof taken back at
    /// `now`: one fewer, and the wait it set lifted (the attempt was let
    /// in, so no wait was due before it): a person who just typed the
    /// right password may go on to the second factor at once.
    pub fn taken_back(self, now: DateTime<Utc>) -> Failures {
        Failures {
            count: self.count.saturating_sub(1),
            locked_until: self.locked_until.map(|until| until.min(now)),
        }
    }

    /// These failures if still remembered at `now` (a quiet
    /// [`Lockout::FORGET_AFTER`] after the last wait ended forgets them),
    /// else none. What a counter starts from when it holds nothing.
    pub fn remembered_at(self, now: DateTime<Utc>) -> Failures {
        match self.locked_until {
            Some(until) if until + chrono_duration(Lockout::FORGET_AFTER) > now => self,
            _ => Failures::default(),
        }
    }
}

/// The backoff rule (`LATCH_LOCKOUT_THRESHOLD`, `LATCH_LOCKOUT_MAX_DELAY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failures that pass without a wait; the next waits [`Self::BASE_DELAY`].
    pub threshold: u32,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            threshold: 5,
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

impl Lockout {
    /// The first wait; each failure past the threshold doubles it.
    pub const BASE_DELAY: Duration = Duration::from_secs(1);
    /// Failures are forgotten this long after the last wait ended.
    pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

    /// The wait after the `count`-th failure: none below the threshold,
    /// then 1 s, 2 s, 4 s … capped at [`Self::max_delay`].
    pub fn delay_after(&self, count: u32) -> Duration {
        let Some(past) = count.checked_sub(self.threshold) else {
            return Duration::ZERO;
        };
        let doubled = 2u64
            .checked_pow(past)
            .and_then(|factor| Self::BASE_DELAY.as_secs().checked_mul(factor))
            .map_or(self.max_delay, Duration::from_secs);
        doubled.min(self.max_delay)
    }

    /// [`Failures`] after one more failure at `now`, from `prior`.
    pub fn after_failure(&self, prior: Failures, now: DateTime<Utc>) -> Failures {
        let count = prior.count.saturating_add(1);
        Failures {
            count,
            locked_until: Some(now + chrono_duration(self.delay_after(count))),
        }
    }

    /// How long a counter is kept after a failure whose wait ends at
    /// `locked_until`.
    pub fn keep_for(&self, now: DateTime<Utc>, locked_until: DateTime<Utc>) -> Duration {
        (locked_until - now).to_std().unwrap_or_default() + Self::FORGET_AFTER
    }
}

/// `LOGIN_THROTTLED` with the time until the next attempt may be made:
/// one shape for every address, known or not.
pub fn login_throttled(now: DateTime<Utc>, until: DateTime<Utc>) -> Error {
    let wait = (until - now).to_std().unwrap_or_default();
    // Rounded up to a whole millisecond: "retry in 0 ms" helps nobody.
    let wait = Duration::from_millis(u64::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(1));
    Error::new(
        Reason::LoginThrottled,
        "too many failed sign-in attempts; retry later",
    )
    .with_retry_after(wait.max(Duration::from_millis(1)))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The live counters, on Redis (or in memory for the embedded default),
/// one per account key (identity keys them by an HMAC of the address, so
/// an unknown address has one too and nothing is learnt from the answer).
#[async_trait]
pub trait FailureCounter: Send + Sync + 'static {
    /// One atomic step at the adapter's clock's now: while `key` waits,
    /// `LOGIN_THROTTLED` with the time left ([`login_throttled`]) and nothing
    /// counted; otherwise the attempt is counted as failed in advance and
    /// the new state returned. `seed` stands in when the counter holds
    /// nothing for `key` (Redis lost it, or the per-process fallback
    /// started): the durable copy, [`Failures::remembered_at`] now.
    async fn begin(&self, key: &str, lockout: &Lockout, seed: Failures) -> Result<Failures>;

    /// A right password or code: its advance count is taken back
    /// ([`Failures::taken_back`]). Nothing held, nothing done.
    async fn take_back(&self, key: &str) -> Result<()>;

    /// A sign-in or a password reset: every failure is forgotten. A
    /// record of none is kept (for [`Lockout::FORGET_AFTER`]) so a
    /// durable copy written late by a failure cannot come back as a seed.
    async fn clear(&self, key: &str) -> Result<()>;
}

/// The durable copy: `users.failed_login_count` and `users.locked_until`,
/// written on failure and success, read as the seed of a counter.
#[async_trait]
pub trait FailureRecords: Send + Sync + 'static {
    /// The user's copy; none for an unknown user.
    async fn failures(&self, user: UserId) -> Result<Failures>;

    /// Stores `failures` unless the copy already holds a larger count
    /// (failures recorded out of order by racing attempts).
    async fn record_failures(&self, user: UserId, failures: Failures) -> Result<()>;

    /// Forgets the user's failures.
    async fn clear_failures(&self, user: UserId) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_past_the_threshold_and_are_capped() {
        let lockout = Lockout::default();
        let waits: Vec<u64> = (1..=16).map(|n| lockout.delay_after(n).as_secs()).collect();
        assert_eq!(
            waits,
            [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        );
        assert_eq!(lockout.delay_after(u32::MAX), lockout.max_delay);
    }

    #[test]
    fn a_take_back_lifts_the_wait_it_set() {
        let lockout = Lockout::default();
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let fifth = lockout.after_failure(
            Failures {
                count: 4,
                locked_until: Some(now),
            },
            now,
        );
        assert_eq!(fifth.locked_until, Some(now + chrono::Duration::seconds(1)));
        let back = fifth.taken_back(now);
        assert_eq!((back.count, back.locked_until), (4, Some(now)));
        let many = Failures {
            count: 9,
            locked_until: Some(now + chrono::Duration::seconds(16)),
        };
        let back = many.taken_back(now);
        assert_eq!((back.count, back.locked_until), (8, Some(now)));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let old = Failures {
            count: 7,
            locked_until: Some(now - chrono::Duration::hours(25)),
        };
        assert_eq!(old.remembered_at(now), Failures::default());
        let recent = Failures {
            count: 7,
            locked_until: Some(now - chrono::Duration::hours(1)),
        };
        assert_eq!(recent.remembered_at(now), recent);
        assert_eq!(Failures::default().remembered_at(now), Failures::default());
    }

    #[test]
    fn a_throttled_answer_carries_the_wait() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let err = login_throttled(now, now + chrono::Duration::microseconds(1_500_400));
        assert_eq!(err.reason(), Reason::LoginThrottled);
        assert_eq!(err.retry_after(), Some(Duration::from_millis(1_501)));
    }
}
