//! Test helpers for Latch: a migrated database per test (SQLite, or a
//! PostgreSQL database cloned from a migrated template), a Redis key prefix
//! per test, and one conformance suite per port that every adapter of that
//! port must pass.
//!
//! Environment: `LATCH_TEST_DATABASE_URL` (a `postgres://` URL of a server
//! where the test user may create databases) and `LATCH_TEST_REDIS_URL`.
//! When one is set, its server must answer: an unreachable server fails
//! the test rather than skipping it.

// A test kit reports failure the way tests do: by panicking, with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
mod database;
mod redis;

pub use database::TestDatabase;
pub use redis::TestRedis;

/// The variable naming the PostgreSQL server for tests.
pub const DATABASE_URL_VAR: &str = "LATCH_TEST_DATABASE_URL";
/// The variable naming the Redis server for tests.
pub const REDIS_URL_VAR: &str = "LATCH_TEST_REDIS_URL";

/// The value of an environment variable when set and not blank.
fn env_url(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
