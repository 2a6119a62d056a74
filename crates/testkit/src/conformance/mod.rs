//! One suite per port: every adapter of a port runs the same assertions,
//! so the in-memory, SQLite, PostgreSQL and Redis implementations cannot
//! drift apart. A suite panics on the first broken promise.
//!
//! Repository suites expect a database of their own (a fresh
//! [`crate::TestDatabase`]): some assert on whole-table results.

pub mod cleanup;
pub mod erasure;
pub mod event_bus;
pub mod external_identities;
pub mod flow_state;
pub mod lockout;
pub mod login_history;
pub mod login_history_pages;
pub mod outbox;
pub mod passkeys;
pub mod password_resets;
pub mod profiles;
pub mod rate_limiter;
pub mod refresh_tokens;
pub mod role_admin;
pub mod roles;
pub mod second_factors;
pub mod session_cache;
pub mod sessions;
pub mod signing_keys;
pub mod user_admin;
pub mod user_changes;
pub mod users;

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use latch_domain::{Clock, ManualClock, Reason, Result};

/// How a suite lets time pass for adapters with TTLs: by moving the clock
/// the adapter was built with, or, for Redis, which keeps its own time, by
/// waiting.
#[derive(Clone)]
pub enum Time {
    /// The adapter measures TTLs on this clock.
    Manual(ManualClock),
    /// The adapter measures TTLs on a clock of its own (Redis).
    Real,
}

impl Time {
    /// A TTL short enough to wait out in a test (the real-time case), with
    /// [`Time::pass_beyond_short_ttl`] past it.
    pub const SHORT_TTL: Duration = Duration::from_millis(300);

    /// Lets more than [`Time::SHORT_TTL`] pass.
    pub async fn pass_beyond_short_ttl(&self) {
        self.pass(Self::SHORT_TTL + Duration::from_millis(150))
            .await;
    }

    pub async fn pass(&self, by: Duration) {
        match self {
            Time::Manual(clock) => {
                clock.advance(chrono::Duration::from_std(by).expect("a small duration"));
            }
            Time::Real => tokio::time::sleep(by).await,
        }
    }
}

/// Now, to the microsecond, as the services' clock gives it.
pub(crate) fn now() -> DateTime<Utc> {
    ManualClock::starting_now().now()
}

/// Asserts that `result` failed with `reason`.
#[track_caller]
pub(crate) fn assert_reason<T: std::fmt::Debug>(result: Result<T>, reason: Reason) {
    match result {
        Err(err) => assert_eq!(err.reason(), reason, "{err:?}"),
        Ok(value) => panic!("expected {reason:?}, got Ok({value:?})"),
    }
}

/// Runs `n` copies of a task at once and returns their results.
pub(crate) async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}

/// A unique, lowercased email.
pub(crate) fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}
