//! Redis down: the rate limiter and the failed sign-in counters fall back
//! to per-process ones with the same limits, say so once at warn, and go
//! back to Redis when it answers again. Against a private `redis-server`
//! the test kills and restarts (never the shared one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test panics

use std::{sync::Arc, time::Duration};

use deadpool_redis::redis;
use latch_domain::{
    ManualClock, Reason,
    ports::{FailureCounter, Failures, Lockout, Rate, RateLimiter},
};
use latch_store::redis::{PROBE_EVERY, RedisFailureCounter, RedisRateLimiter};
use latch_testkit::{LogCapture, PrivateRedis, REDIS_URL_VAR, backend_url};

const PREFIX: &str = "test:fallback:";

/// Whether the private server holds `key` (under the prefix).
async fn server_holds(server: &PrivateRedis, key: &str) -> bool {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("EXISTS")
        .arg(format!("{PREFIX}{key}"))
        .query_async::<bool>(&mut conn)
        .await
        .unwrap()
}

async fn burst_of_two(limiter: &dyn RateLimiter, key: &str, rate: Rate) {
    limiter.acquire(key, rate).await.expect("first");
    limiter.acquire(key, rate).await.expect("second");
    let refused = limiter.acquire(key, rate).await.expect_err("third");
    assert_eq!(refused.reason(), Reason::RateLimited, "{refused:?}");
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1800)));
}

// One thread: the log capture sees what the test's own tasks log.
#[tokio::test(flavor = "current_thread")]
async fn the_limits_hold_in_memory_while_redis_is_down_and_return_to_it() {
    if backend_url(REDIS_URL_VAR).is_none() {
        return;
    }
    let Some(mut server) = PrivateRedis::start() else {
        return;
    };
    let redis = server.connect(PREFIX, Duration::from_millis(300)).await;
    let clock = ManualClock::starting_now();
    let limiter = RedisRateLimiter::new(redis.clone(), Arc::new(clock.clone()));
    let counter = RedisFailureCounter::new(redis, Arc::new(clock.clone()));
    let rate = Rate::per(2, Duration::from_secs(3600));
    let lockout = Lockout::default();

    burst_of_two(&limiter, "sign_in:ip:203.0.113.7", rate).await;
    assert!(server_holds(&server, "ratelimit:sign_in:ip:203.0.113.7").await);
    counter
        .begin("account", &lockout, Failures::default())
        .await
        .expect("counted on Redis");
    assert!(server_holds(&server, "login_failures:account").await);

    let logs = LogCapture::default();
    let _guard = logs.install();
    server.kill();

    // Sign-in keeps working, and the same limits hold on this replica.
    burst_of_two(&limiter, "sign_in:ip:203.0.113.7", rate).await;
    burst_of_two(&limiter, "sign_up:ip:203.0.113.7", rate).await;
    let seed = Failures {
        count: 4,
        locked_until: Some(chrono::Utc::now() - chrono::Duration::seconds(5)),
    };
    let counted = counter
        .begin("account", &lockout, seed)
        .await
        .expect("counted in memory");
    assert_eq!(counted.count, 5, "the durable copy carries the count over");
    let throttled = counter
        .begin("account", &lockout, seed)
        .await
        .expect_err("the backoff holds in memory");
    assert_eq!(throttled.reason(), Reason::LoginThrottled);

    let text = logs.text();
    let switches: Vec<&str> = text.lines().filter(|l| l.contains("falls back")).collect();
    assert_eq!(switches.len(), 2, "once per adapter: {text}");
    assert!(switches.iter().all(|l| l.contains("WARN")), "{text}");
    assert!(switches[0].contains("rate limiter"), "{text}");

    server.restart();
    let _ = server.connect(PREFIX, Duration::from_millis(300)).await;
    tokio::time::sleep(PROBE_EVERY + Duration::from_millis(200)).await;

    // Back on Redis: the next hit lands on the (fresh) server.
    limiter
        .acquire("sign_in:ip:198.51.100.1", rate)
        .await
        .expect("on Redis again");
    assert!(server_holds(&server, "ratelimit:sign_in:ip:198.51.100.1").await);
    burst_of_two(&limiter, "sign_in:ip:198.51.100.2", rate).await;
    counter
        .begin("other", &lockout, Failures::default())
        .await
        .expect("on Redis again");
    assert!(server_holds(&server, "login_failures:other").await);
    let text = logs.text();
    assert_eq!(
        text.lines().filter(|l| l.contains("falls back")).count(),
        2,
        "no new switch: {text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("answers again")).count(),
        2,
        "{text}"
    );
}
