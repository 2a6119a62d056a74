//! [`FailureCounter`]: the backoff after the threshold (1 s, 2 s, 4 s …
//! capped), the seed used only when nothing is held, take-backs, clears,
//! and the threshold held under a race; [`FailureRecords`]: the durable
//! copy, where a late write of an older failure changes nothing.

use std::{sync::Arc, time::Duration};

use latch_domain::{
    Clock, ManualClock, Reason, Result, UserId,
    ports::{FailureCounter, FailureRecords, Failures, Lockout, UserRepository},
};

use super::{race, users::new_user};

/// A short cap, so the whole doubling fits in a test.
const LOCKOUT: Lockout = Lockout {
    threshold: 3,
    max_delay: Duration::from_secs(8),
};

pub async fn run(counter: Arc<dyn FailureCounter>, clock: ManualClock) {
    waits_double_past_the_threshold(&*counter, &clock).await;
    the_seed_counts_only_when_nothing_is_held(&*counter, &clock).await;
    a_take_back_returns_one_failure(&*counter, &clock).await;
    a_clear_forgets_and_outlives_the_seed(&*counter).await;
    the_threshold_holds_under_a_race(counter.clone()).await;
}

fn key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn advance(clock: &ManualClock, by: Duration) {
    clock.advance(chrono::Duration::from_std(by).expect("a small duration"));
}

#[track_caller]
fn throttled_for<T: std::fmt::Debug>(result: Result<T>, wait: Duration) {
    match result {
        Err(err) => {
            assert_eq!(err.reason(), Reason::LoginThrottled, "{err:?}");
            assert_eq!(err.retry_after(), Some(wait), "{err:?}");
        }
        Ok(value) => panic!("expected LOGIN_THROTTLED for {wait:?}, got {value:?}"),
    }
}

async fn begin(counter: &dyn FailureCounter, key: &str) -> Result<Failures> {
    counter.begin(key, &LOCKOUT, Failures::default()).await
}

async fn waits_double_past_the_threshold(counter: &dyn FailureCounter, clock: &ManualClock) {
    let k = key();
    for n in 1..=2 {
        let failures = begin(counter, &k).await.expect("under the threshold");
        assert_eq!(failures.count, n);
        assert_eq!(failures.locked_until, Some(clock.now()), "no wait yet");
    }
    let third = begin(counter, &k).await.expect("the threshold-th attempt");
    assert_eq!(third.count, 3);
    assert_eq!(
        third.locked_until,
        Some(clock.now() + chrono::Duration::seconds(1))
    );
    for wait in [1, 2, 4, 8, 8] {
        let wait = Duration::from_secs(wait);
        throttled_for(begin(counter, &k).await, wait);
        // A refused attempt counts nothing and moves no wait.
        advance(clock, wait / 2);
        throttled_for(begin(counter, &k).await, wait - wait / 2);
        advance(clock, wait - wait / 2);
        begin(counter, &k).await.expect("the wait is over");
    }
}

async fn the_seed_counts_only_when_nothing_is_held(
    counter: &dyn FailureCounter,
    clock: &ManualClock,
) {
    let k = key();
    let seed = Failures {
        count: 4,
        locked_until: Some(clock.now() - chrono::Duration::seconds(1)),
    };
    let failures = counter.begin(&k, &LOCKOUT, seed).await.expect("seeded");
    assert_eq!(failures.count, 5, "counted on from the durable copy");
    throttled_for(
        counter.begin(&k, &LOCKOUT, seed).await,
        Duration::from_secs(4),
    );
    // A seed still waiting is refused at once.
    let waiting = Failures {
        count: 6,
        locked_until: Some(clock.now() + chrono::Duration::seconds(30)),
    };
    throttled_for(
        counter.begin(&key(), &LOCKOUT, waiting).await,
        Duration::from_secs(30),
    );
}

async fn a_take_back_returns_one_failure(counter: &dyn FailureCounter, clock: &ManualClock) {
    let k = key();
    counter.take_back(&k).await.expect("nothing held");
    for _ in 0..3 {
        begin(counter, &k).await.expect("counted");
    }
    // The third was a right password after all: one fewer, no wait.
    counter.take_back(&k).await.expect("take back");
    let again = begin(counter, &k)
        .await
        .expect("no wait after the take-back");
    assert_eq!(again.count, 3);
    // Past the threshold too, the wait a right proof set is lifted (the
    // person goes on to the second factor at once); the count stays.
    advance(clock, Duration::from_secs(1));
    begin(counter, &k).await.expect("fourth");
    counter.take_back(&k).await.expect("take back");
    let fourth = begin(counter, &k)
        .await
        .expect("no wait after the take-back");
    assert_eq!(fourth.count, 4);
    throttled_for(begin(counter, &k).await, Duration::from_secs(2));
}

async fn a_clear_forgets_and_outlives_the_seed(counter: &dyn FailureCounter) {
    let k = key();
    for _ in 0..3 {
        begin(counter, &k).await.expect("counted");
    }
    counter.clear(&k).await.expect("clear");
    // A durable copy written late must not bring the failures back.
    let stale = Failures {
        count: 9,
        locked_until: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
    };
    let after = counter.begin(&k, &LOCKOUT, stale).await.expect("cleared");
    assert_eq!(after.count, 1);
    counter.clear(&key()).await.expect("clearing nothing");
}

async fn the_threshold_holds_under_a_race(counter: Arc<dyn FailureCounter>) {
    let k = key();
    let results = race(20, |_| {
        let (counter, k) = (counter.clone(), k.clone());
        async move { counter.begin(&k, &LOCKOUT, Failures::default()).await }
    })
    .await;
    let counted: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|f| f.count))
        .collect();
    assert_eq!(
        counted.len(),
        3,
        "exactly the threshold passes: {counted:?}"
    );
    let mut sorted = counted.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3], "each attempt counted once");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.reason() == Reason::LoginThrottled)
    );
}

/// The durable copy of `users`.
pub async fn run_records(users: Arc<dyn UserRepository>, records: Arc<dyn FailureRecords>) {
    let user = new_user();
    users.create(&user).await.expect("create user");
    let now = super::now();
    assert_eq!(
        records.failures(user.id).await.expect("read"),
        Failures::default()
    );
    assert_eq!(
        records
            .failures(UserId::new())
            .await
            .expect("an unknown user"),
        Failures::default()
    );

    let second = Failures {
        count: 2,
        locked_until: Some(now),
    };
    let sixth = Failures {
        count: 6,
        locked_until: Some(now + chrono::Duration::seconds(2)),
    };
    records
        .record_failures(user.id, sixth)
        .await
        .expect("write");
    assert_eq!(records.failures(user.id).await.expect("read"), sixth);
    // An older failure's write, landing late, changes nothing.
    records
        .record_failures(user.id, second)
        .await
        .expect("write");
    assert_eq!(records.failures(user.id).await.expect("read"), sixth);

    records.clear_failures(user.id).await.expect("clear");
    assert_eq!(
        records.failures(user.id).await.expect("read"),
        Failures::default()
    );
    records
        .record_failures(user.id, second)
        .await
        .expect("write");
    assert_eq!(records.failures(user.id).await.expect("read"), second);
    records
        .record_failures(UserId::new(), second)
        .await
        .expect("an unknown user writes nothing");
}
