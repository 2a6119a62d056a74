//! The cleanup deletes of [`PasswordResetRepository`],
//! [`SecondFactorRepository`] and [`OutboxRepository`]: at most `limit`
//! rows a call (exactly `limit` while more are due, so a caller knows to
//! call again), only rows strictly before the cutoff, never a live token,
//! an unused code or a pending row. Expects a database of its own: the
//! deletes reach every user's rows.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeDelta, Utc};
use latch_domain::{
    UserId,
    ports::{
        OutboxRepository, OutboxStatus, PasswordResetRepository, SecondFactorRepository,
        UserRepository,
    },
    secret,
};

use super::{now, outbox::message, password_resets::new_token, users::new_user};

pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub resets: Arc<dyn PasswordResetRepository>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
    pub outbox: Arc<dyn OutboxRepository>,
}

pub async fn run(stores: Stores) {
    let start = now();
    reset_tokens(&stores, start).await;
    recovery_codes(&stores, start).await;
    outbox(&*stores.outbox, start).await;
}

async fn user(users: &dyn UserRepository) -> UserId {
    let new = new_user();
    users.create(&new).await.expect("create");
    new.id
}

/// Deletes with `delete` until nothing is left, asserting each call took
/// `limit` but the last; returns the total.
async fn drain<F, Fut>(limit: u64, mut delete: F) -> u64
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = latch_domain::Result<u64>>,
{
    let mut total = 0;
    loop {
        let rows = delete(limit).await.expect("delete");
        assert!(rows <= limit, "{rows} rows for a limit of {limit}");
        total += rows;
        if rows < limit {
            assert_eq!(delete(limit).await.expect("delete again"), 0);
            return total;
        }
    }
}

async fn reset_tokens(s: &Stores, start: DateTime<Utc>) {
    // Five tokens (one user each: a new token voids the user's others)
    // ending at start - 1h + 15 min, one of them used.
    let mut old = Vec::new();
    for _ in 0..5 {
        let token = new_token(user(&*s.users).await, start - Duration::hours(1));
        s.resets.issue(&token, &[]).await.expect("issue");
        old.push(token);
    }
    assert!(
        s.resets
            .redeem(&old[0], start - Duration::minutes(59), "$argon2id$x", &[])
            .await
            .expect("redeem")
    );
    let live = new_token(user(&*s.users).await, start);
    s.resets.issue(&live, &[]).await.expect("issue live");
    let ended = old[0].expires_at;

    // Strictly before: a token ending at the cutoff stays.
    assert_eq!(s.resets.delete_expired(ended, 100).await.expect("at"), 0);
    assert_eq!(s.resets.delete_expired(ended, 0).await.expect("none"), 0);
    let cutoff = ended + Duration::seconds(1);
    assert_eq!(drain(2, |n| s.resets.delete_expired(cutoff, n)).await, 5);
    for token in &old {
        assert_eq!(
            s.resets
                .find_by_hash(&token.token_hash)
                .await
                .expect("find"),
            None
        );
    }
    assert_eq!(
        s.resets.find_by_hash(&live.token_hash).await.expect("find"),
        Some(live)
    );
}

fn codes(count: usize) -> Vec<[u8; 32]> {
    (0..count)
        .map(|_| secret::sha256(&secret::random_token(16).expect("randomness")))
        .collect()
}

async fn recovery_codes(s: &Stores, start: DateTime<Utc>) {
    let sf = &*s.second_factors;
    let holder = user(&*s.users).await;
    let codes = codes(6);
    assert!(
        sf.enable_totp(holder, b"sealed", 1, &codes, start - Duration::days(1), &[])
            .await
            .expect("enable")
    );
    let spent_at = start - Duration::hours(2);
    for code in &codes[..5] {
        assert!(
            sf.use_recovery_code(holder, code, spent_at)
                .await
                .expect("use")
        );
    }

    assert_eq!(
        sf.delete_spent_recovery_codes(spent_at, 100)
            .await
            .expect("at"),
        0
    );
    let cutoff = spent_at + Duration::seconds(1);
    assert_eq!(
        drain(2, |n| sf.delete_spent_recovery_codes(cutoff, n)).await,
        5
    );
    // The unused code is left, and still works.
    assert_eq!(sf.recovery_codes_left(holder).await.expect("left"), 1);
    assert!(
        sf.use_recovery_code(holder, &codes[5], start)
            .await
            .expect("use last")
    );
}

async fn outbox(outbox: &dyn OutboxRepository, start: DateTime<Utc>) {
    let kind = format!(
        "test{}.purge",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = start - Duration::days(10);
    // One key per row: a claim may hold back later rows of a key.
    let rows: Vec<_> = (0..7)
        .map(|i| message(&kind, &format!("{kind}-{i}"), created))
        .collect();
    outbox.enqueue(&rows).await.expect("enqueue");
    let finished = start - Duration::days(5);
    let claimed = outbox
        .claim(&[kind.as_str()], finished, TimeDelta::minutes(1), 6)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 6);
    // Four done, two dead, one still pending.
    for row in &claimed[..4] {
        assert!(outbox.complete(row, finished).await.expect("complete"));
    }
    for row in &claimed[4..] {
        assert!(outbox.bury(row, finished, "gave up").await.expect("bury"));
    }
    let left = || async {
        let mut left = Vec::new();
        for i in 0..7 {
            left.extend(
                outbox
                    .find_by_key(&format!("{kind}-{i}"))
                    .await
                    .expect("rows")
                    .into_iter()
                    .map(|row| row.status),
            );
        }
        left
    };

    let cutoff = finished + Duration::seconds(1);
    assert_eq!(
        outbox
            .purge_finished(OutboxStatus::Done, finished, 100)
            .await
            .expect("at"),
        0,
        "strictly before"
    );
    assert_eq!(
        outbox
            .purge_finished(OutboxStatus::Pending, start + Duration::days(1), 100)
            .await
            .expect("pending"),
        0,
        "pending rows are never purged"
    );
    assert_eq!(
        drain(3, |n| outbox.purge_finished(OutboxStatus::Done, cutoff, n)).await,
        4
    );
    let mut statuses = left().await;
    statuses.sort_by_key(|status| status.as_str());
    assert_eq!(
        statuses,
        [
            OutboxStatus::Dead,
            OutboxStatus::Dead,
            OutboxStatus::Pending
        ]
    );
    assert_eq!(
        drain(1, |n| outbox.purge_finished(OutboxStatus::Dead, cutoff, n)).await,
        2
    );
    assert_eq!(left().await, [OutboxStatus::Pending]);
}
