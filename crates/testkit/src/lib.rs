//! Test helpers for Latch: a migrated database per test (SQLite, or a
//! PostgreSQL database cloned from a migrated template), a Redis key prefix
//! per test, one conformance suite per port that every adapter of that
//! port must pass, and real peers for what Latch sends: an SMTP server
//! ([`SmtpSink`]) and an HTTP listener for the SMS webhook ([`WebhookSink`]);
//! a software WebAuthn authenticator ([`passkey::Authenticator`]); and
//! MaxMind DB files for GeoIP tests ([`mmdb::MmdbWriter`]).
//!
//! Environment: `LATCH_TEST_DATABASE_URL` (a `postgres://` URL of a server
//! where the test user may create databases) and `LATCH_TEST_REDIS_URL`.
//! When one is set, its server must answer: an unreachable server fails
//! the test rather than skipping it. When one is unset, the tests that need
//! it skip, unless `LATCH_TEST_REQUIRE_BACKENDS` is set (CI sets it): then
//! they fail, so a CI that lost its variables cannot pass on half a suite.

// A test kit reports failure the way tests do: by panicking, with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
mod database;
pub mod images;
mod logs;
mod mail;
mod metrics;
pub mod mmdb;
pub mod moto;
pub mod passkey;
mod private_redis;
mod redis;
mod smtp_sink;
mod webhook_sink;

pub use database::TestDatabase;
pub use logs::LogCapture;
pub use mail::ReceivedMail;
pub use metrics::MetricsSink;
pub use private_redis::PrivateRedis;
pub use redis::TestRedis;
pub use smtp_sink::SmtpSink;
pub use webhook_sink::{ReceivedRequest, WebhookSink};

/// The variable naming the PostgreSQL server for tests.
pub const DATABASE_URL_VAR: &str = "LATCH_TEST_DATABASE_URL";
/// The variable naming the Redis server for tests.
pub const REDIS_URL_VAR: &str = "LATCH_TEST_REDIS_URL";

/// Set (to anything but `0`, `false` or `no`): a missing backend URL fails
/// the test instead of skipping it.
pub const REQUIRE_BACKENDS_VAR: &str = "LATCH_TEST_REQUIRE_BACKENDS";

/// The URL in `var` when set; `None` (skip) when unset, unless
/// [`REQUIRE_BACKENDS_VAR`] is set: then it panics, naming the variable.
pub fn backend_url(var: &str) -> Option<String> {
    let read = |name: &str| std::env::var(name).ok();
    decide_backend(var, read(var), read(REQUIRE_BACKENDS_VAR)).unwrap_or_else(|msg| panic!("{msg}"))
}

/// Whether [`REQUIRE_BACKENDS_VAR`] asks for every backend test to run
/// (for a test that needs more than a URL, e.g. a `redis-server` binary).
pub fn backends_required() -> bool {
    is_set(std::env::var(REQUIRE_BACKENDS_VAR).ok())
}

fn is_set(flag: Option<String>) -> bool {
    flag.is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "false" | "no")
    })
}

/// Whether a test runs on the backend `var` names, from the values of
/// `var` and of [`REQUIRE_BACKENDS_VAR`]: `Ok(Some(url))` to run,
/// `Ok(None)` to skip, `Err(message)` when a skip is not allowed. Pure, so
/// it is tested without touching the process environment.
pub fn decide_backend(
    var: &str,
    url: Option<String>,
    require: Option<String>,
) -> Result<Option<String>, String> {
    if let Some(url) = url.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        return Ok(Some(url));
    }
    if is_set(require) {
        return Err(format!(
            "{var} is unset but {REQUIRE_BACKENDS_VAR} is set: this run must not skip the \
             PostgreSQL + Redis tests; set {DATABASE_URL_VAR} and {REDIS_URL_VAR}"
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn a_set_url_runs_the_tests() {
        for require in [None, some("1")] {
            assert_eq!(
                decide_backend(REDIS_URL_VAR, some(" redis://h:6379 "), require),
                Ok(some("redis://h:6379"))
            );
        }
    }

    #[test]
    fn a_missing_url_skips_unless_backends_are_required() {
        for url in [None, some(""), some("  ")] {
            for require in [None, some(""), some("0"), some("false"), some("NO")] {
                assert_eq!(
                    decide_backend(DATABASE_URL_VAR, url.clone(), require),
                    Ok(None)
                );
            }
            for require in [some("1"), some("true"), some("yes")] {
                let err = decide_backend(DATABASE_URL_VAR, url.clone(), require).unwrap_err();
                assert!(err.contains(DATABASE_URL_VAR), "{err}");
                assert!(err.contains(REQUIRE_BACKENDS_VAR), "{err}");
            }
        }
    }
}
