//! A Redis with a key prefix of its own, per test.

use latch_store::redis::Redis;

use crate::{REDIS_URL_VAR, backend_url};

/// Redis for tests, from `LATCH_TEST_REDIS_URL`.
pub struct TestRedis;

impl TestRedis {
    /// A connected [`Redis`] whose keys and channels start with
    /// `test:{uuid}:`, so parallel tests never meet; `None` when
    /// `LATCH_TEST_REDIS_URL` is unset. Panics when it is set but the
    /// server does not answer, and when it is unset but
    /// `LATCH_TEST_REQUIRE_BACKENDS` is set.
    pub async fn from_env() -> Option<Redis> {
        let url = Self::url()?;
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        match Redis::connect(&url, &prefix).await {
            Ok(redis) => Some(redis),
            Err(err) => panic!("{REDIS_URL_VAR} is set but Redis does not answer: {err}"),
        }
    }

    /// The URL from `LATCH_TEST_REDIS_URL` (the event bus opens its own
    /// subscriber connections with it); as [`Self::from_env`] when unset.
    pub fn url() -> Option<String> {
        backend_url(REDIS_URL_VAR)
    }
}
