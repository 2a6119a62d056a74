//! [`RateLimiter`]: GCRA, checked to the millisecond on a moved clock
//! (every adapter, Redis's included, reads time from the services' clock),
//! keys apart, client addresses bucketed, and the last slot given once
//! under a race.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    ManualClock, Reason,
    ports::{Rate, RateLimiter, ip_bucket},
};

use super::race;

pub async fn run(limiter: Arc<dyn RateLimiter>, clock: ManualClock) {
    gcra_to_the_millisecond(&*limiter, &clock).await;
    burst_apart_from_the_average(&*limiter).await;
    keys_are_apart_and_addresses_bucketed(&*limiter).await;
    the_last_slot_goes_once(limiter.clone()).await;
    the_shorthand_is_gcra_too(&*limiter, &clock).await;
}

/// A fresh key: a name no other run of the suite (on a shared Redis) has.
fn key(what: &str) -> String {
    format!("{what}:{}", uuid::Uuid::new_v4().simple())
}

fn advance(clock: &ManualClock, by: Duration) {
    clock.advance(chrono::Duration::from_std(by).expect("a small duration"));
}

#[track_caller]
fn refused_for(result: latch_domain::Result<()>, wait: Duration) {
    match result {
        Err(err) => {
            assert_eq!(err.reason(), Reason::RateLimited, "{err:?}");
            assert_eq!(err.retry_after(), Some(wait), "{err:?}");
        }
        Ok(()) => panic!("expected RATE_LIMITED for {wait:?}, got Ok"),
    }
}

async fn gcra_to_the_millisecond(limiter: &dyn RateLimiter, clock: &ManualClock) {
    // Three a minute: one every 20 s, three at once.
    let rate = Rate::per(3, Duration::from_secs(60));
    let k = key("login");
    for hit in 1..=3 {
        limiter
            .acquire(&k, rate)
            .await
            .unwrap_or_else(|e| panic!("hit {hit} of the burst: {e:?}"));
    }
    refused_for(limiter.acquire(&k, rate).await, Duration::from_secs(20));
    // A refusal counts nothing: retrying early does not push the wait on.
    advance(clock, Duration::from_millis(7_500));
    refused_for(
        limiter.acquire(&k, rate).await,
        Duration::from_millis(12_500),
    );
    refused_for(
        limiter.acquire(&k, rate).await,
        Duration::from_millis(12_500),
    );
    advance(clock, Duration::from_millis(12_500));
    limiter
        .acquire(&k, rate)
        .await
        .expect("one slot dripped back");
    refused_for(limiter.acquire(&k, rate).await, Duration::from_secs(20));
    // Idle for a whole period, the whole burst is back, and no more.
    advance(clock, Duration::from_secs(60));
    for _ in 0..3 {
        limiter.acquire(&k, rate).await.expect("the burst again");
    }
    refused_for(limiter.acquire(&k, rate).await, Duration::from_secs(20));
}

async fn burst_apart_from_the_average(limiter: &dyn RateLimiter) {
    let rate = Rate::per(1, Duration::from_secs(3600)).with_burst(2);
    let k = key("burst");
    limiter.acquire(&k, rate).await.expect("first of the burst");
    limiter
        .acquire(&k, rate)
        .await
        .expect("second of the burst");
    refused_for(limiter.acquire(&k, rate).await, Duration::from_secs(3600));
}

async fn keys_are_apart_and_addresses_bucketed(limiter: &dyn RateLimiter) {
    let rate = Rate::per(1, Duration::from_secs(3600));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let bucket = |ip: &str| format!("sign_in:{run}:ip:{}", ip_bucket(ip).expect("an address"));
    limiter
        .acquire(&bucket("2001:db8:7:1::1"), rate)
        .await
        .expect("first address of a /64");
    // Another address of the same /64 is the same client.
    let same = limiter
        .acquire(&bucket("2001:db8:7:1:ffff:ffff:ffff:fffe"), rate)
        .await
        .expect_err("the same /64");
    assert_eq!(same.reason(), Reason::RateLimited);
    limiter
        .acquire(&bucket("2001:db8:7:2::1"), rate)
        .await
        .expect("the next /64 counts apart");
    limiter
        .acquire(&bucket("203.0.113.1"), rate)
        .await
        .expect("an IPv4 address");
    limiter
        .acquire(&bucket("203.0.113.2"), rate)
        .await
        .expect("IPv4 addresses count apart");
    assert!(
        limiter
            .acquire(&bucket("::ffff:203.0.113.1"), rate)
            .await
            .is_err(),
        "an IPv4-mapped address is its IPv4"
    );
    // Another key with a generous rate is untouched by all this.
    let other = key("signup");
    for _ in 0..10 {
        limiter
            .acquire(&other, Rate::per(1_000, Duration::from_secs(1)))
            .await
            .expect("another key");
    }
}

async fn the_last_slot_goes_once(limiter: Arc<dyn RateLimiter>) {
    let rate = Rate::per(10, Duration::from_secs(3600));
    let k = key("race");
    let results = race(40, |_| {
        let (limiter, k) = (limiter.clone(), k.clone());
        async move { limiter.acquire(&k, rate).await }
    })
    .await;
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 10, "exactly the burst passes a race of 40");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.reason() == Reason::RateLimited)
    );
}

async fn the_shorthand_is_gcra_too(limiter: &dyn RateLimiter, clock: &ManualClock) {
    let k = key("reset");
    limiter
        .hit(&k, 1, Duration::from_secs(60))
        .await
        .expect("the only hit");
    refused_for(
        limiter.hit(&k, 1, Duration::from_secs(60)).await,
        Duration::from_secs(60),
    );
    advance(clock, Duration::from_secs(60));
    limiter
        .hit(&k, 1, Duration::from_secs(60))
        .await
        .expect("a minute later");
}
