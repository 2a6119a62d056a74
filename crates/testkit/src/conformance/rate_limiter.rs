//! [`RateLimiter`]: `limit` hits per window, then RATE_LIMITED with the time
//! left, per key.

use std::sync::Arc;

use latch_domain::{Reason, ports::RateLimiter};

use super::Time;

pub async fn run(limiter: Arc<dyn RateLimiter>, time: Time) {
    let key = format!("login:{}", uuid::Uuid::new_v4().simple());
    let window = Time::SHORT_TTL;
    for hit in 1..=3 {
        limiter
            .hit(&key, 3, window)
            .await
            .unwrap_or_else(|e| panic!("hit {hit} of 3 is allowed: {e:?}"));
    }
    let refused = limiter.hit(&key, 3, window).await.expect_err("the 4th hit");
    assert_eq!(refused.reason(), Reason::RateLimited);
    let retry_after = refused.retry_after().expect("a retry-after");
    assert!(
        !retry_after.is_zero() && retry_after <= window,
        "{retry_after:?}"
    );
    // Still refused while the window lasts, whatever the caller retries.
    assert!(limiter.hit(&key, 3, window).await.is_err());

    // Other keys count on their own.
    let other = format!("login:{}", uuid::Uuid::new_v4().simple());
    limiter.hit(&other, 3, window).await.expect("another key");
    limiter
        .hit(&other, 1_000, window)
        .await
        .expect("another key");

    // A new window starts once the old one ends.
    time.pass_beyond_short_ttl().await;
    limiter.hit(&key, 3, window).await.expect("a new window");

    let single = format!("reset:{}", uuid::Uuid::new_v4().simple());
    limiter.hit(&single, 1, window).await.expect("the only hit");
    assert!(limiter.hit(&single, 1, window).await.is_err());
}
