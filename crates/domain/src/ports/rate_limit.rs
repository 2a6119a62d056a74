use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// Fixed-window counters under `ratelimit:{key}`.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit; fails with `RATE_LIMITED` (and the time until the
    /// window ends) once `limit` hits were counted in the window.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<()>;
}
