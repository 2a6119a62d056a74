//! The purge on the real outbox table: SQLite always, PostgreSQL too when
//! `LATCH_TEST_DATABASE_URL` is set. Rows are finished at chosen times on
//! a manual clock, then the purge runs with a batch far smaller than what
//! it must delete.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, TimeDelta, Utc};
use latch_domain::{
    Clock, ManualClock,
    ports::{NewOutboxMessage, OutboxRepository, OutboxStatus},
};
use latch_store::sql::SqlOutbox;
use latch_testkit::{MetricsSink, TestDatabase};

use super::*;
use crate::{
    config::MapSource,
    metrics::{CLEANUP_REMOVED, JOB},
};

async fn databases() -> Vec<TestDatabase> {
    let mut all = vec![TestDatabase::sqlite().await];
    all.extend(TestDatabase::postgres().await);
    all
}

/// How each test row ends.
#[derive(Clone, Copy)]
enum End {
    Done,
    Dead,
    /// Claimed, its lease running: still pending.
    Claimed,
    /// Never claimed.
    Waiting,
}

/// `count` rows of a kind of their own, each with its own key (a claim
/// may hold back later rows of a key), created long ago and ended `ago`
/// before `now` as `end` says; returns the kind.
async fn rows(
    outbox: &dyn OutboxRepository,
    now: DateTime<Utc>,
    count: usize,
    end: End,
    ago: Duration,
) -> String {
    let kind = format!("purge-{}", uuid::Uuid::new_v4().simple());
    let created = now - Duration::days(400);
    let messages: Vec<NewOutboxMessage> = (0..count)
        .map(|i| {
            NewOutboxMessage::new(
                &kind,
                &format!("{kind}-{i}"),
                &serde_json::json!({}),
                created,
            )
            .unwrap()
        })
        .collect();
    outbox.enqueue(&messages).await.unwrap();
    if matches!(end, End::Waiting) {
        return kind;
    }
    let at = now - ago;
    let claimed = outbox
        .claim(&[kind.as_str()], at, TimeDelta::days(1000), 1000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), count);
    for row in &claimed {
        let settled = match end {
            End::Done => outbox.complete(row, at).await.unwrap(),
            End::Dead => outbox.bury(row, at, "gave up").await.unwrap(),
            End::Claimed | End::Waiting => true,
        };
        assert!(settled);
    }
    kind
}

/// How many rows of `kind` (made by [`rows`]) are left.
async fn left(outbox: &dyn OutboxRepository, kind: &str) -> usize {
    let mut left = 0;
    for i in 0..100 {
        left += outbox
            .find_by_key(&format!("{kind}-{i}"))
            .await
            .unwrap()
            .len();
    }
    left
}

#[tokio::test]
async fn deletes_finished_rows_past_their_retention_in_batches_and_nothing_else() {
    for db in databases().await {
        let outbox: Arc<dyn OutboxRepository> = Arc::new(SqlOutbox::new(db.db().clone()));
        let clock = ManualClock::starting_now();
        let now = clock.now();
        let o = &*outbox;
        // Past the retention (7 days done, 30 days dead): more rows than
        // two batches of 3.
        let old_done = rows(o, now, 7, End::Done, Duration::days(8)).await;
        let old_dead = rows(o, now, 4, End::Dead, Duration::days(31)).await;
        // Within it, or never finished.
        let recent_done = rows(o, now, 2, End::Done, Duration::days(6)).await;
        let recent_dead = rows(o, now, 2, End::Dead, Duration::days(8)).await;
        let claimed = rows(o, now, 1, End::Claimed, Duration::days(300)).await;
        let waiting = rows(o, now, 2, End::Waiting, Duration::zero()).await;

        let sink = MetricsSink::new();
        let config = OutboxPurgeConfig {
            batch: 3,
            ..OutboxPurgeConfig::default()
        };
        let purge = OutboxPurge::new(
            outbox.clone(),
            Arc::new(clock.clone()),
            config,
            CleanupCounter::on(sink.meter()),
        );
        assert_eq!(purge.run_once().await, Purged { done: 7, dead: 4 });
        assert_eq!(purge.run_once().await, Purged::default(), "idempotent");

        for (key, count) in [
            (&old_done, 0),
            (&old_dead, 0),
            (&recent_done, 2),
            (&recent_dead, 2),
            (&claimed, 1),
            (&waiting, 2),
        ] {
            assert_eq!(left(o, key).await, count, "{key}");
        }
        assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "outbox_done"), 7);
        assert_eq!(sink.counter(CLEANUP_REMOVED, JOB, "outbox_dead"), 4);

        // Time passes: the recent ones go in their turn, the rest stays.
        clock.advance(Duration::days(2));
        assert_eq!(purge.run_once().await, Purged { done: 2, dead: 0 });
        clock.advance(Duration::days(22));
        assert_eq!(purge.run_once().await, Purged { done: 0, dead: 2 });
        assert_eq!(left(o, &claimed).await, 1);
        assert_eq!(left(o, &waiting).await, 2);
        assert_eq!(
            o.purge_finished(OutboxStatus::Pending, now + Duration::days(1000), 100)
                .await
                .unwrap(),
            0,
            "pending rows are never purged"
        );
    }
}

#[test]
fn settings_have_defaults_and_bounds() {
    let d = OutboxPurgeConfig::from_source(&MapSource::new()).unwrap();
    assert_eq!(d, OutboxPurgeConfig::default());
    assert_eq!(d.done_retention, StdDuration::from_secs(7 * 86_400));
    assert_eq!(d.dead_retention, StdDuration::from_secs(30 * 86_400));
    let set = OutboxPurgeConfig::from_source(
        &MapSource::new()
            .with("LATCH_OUTBOX_RETENTION", "2h")
            .with("LATCH_OUTBOX_DEAD_RETENTION", "90d")
            .with("LATCH_OUTBOX_PURGE_INTERVAL", "10m"),
    )
    .unwrap();
    assert_eq!(set.done_retention, StdDuration::from_secs(7_200));
    assert_eq!(set.dead_retention, StdDuration::from_secs(90 * 86_400));
    assert_eq!(set.interval, StdDuration::from_secs(600));
    for (key, value) in [
        ("LATCH_OUTBOX_RETENTION", "30m"),
        ("LATCH_OUTBOX_RETENTION", "366d"),
        ("LATCH_OUTBOX_DEAD_RETENTION", "23h"),
        ("LATCH_OUTBOX_DEAD_RETENTION", "3651d"),
        ("LATCH_OUTBOX_PURGE_INTERVAL", "0"),
        ("LATCH_OUTBOX_PURGE_INTERVAL", "2d"),
        ("LATCH_OUTBOX_PURGE_INTERVAL", "often"),
    ] {
        let err = OutboxPurgeConfig::from_source(&MapSource::new().with(key, value)).unwrap_err();
        assert!(err.to_string().contains(key), "{key}={value}: {err}");
    }
}
