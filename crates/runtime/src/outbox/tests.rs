//! The worker on the real outbox table: SQLite always, PostgreSQL too when
//! `LATCH_TEST_DATABASE_URL` is set. Time is a manual clock, so backoff is
//! checked by moving it, not by waiting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU32, Ordering},
};

use async_trait::async_trait;
use chrono::TimeDelta;
use latch_domain::{
    Clock, Error, ManualClock, Result,
    ports::{
        NewOutboxMessage, OutboxHandler, OutboxId, OutboxMessage, OutboxRepository, OutboxStatus,
    },
};
use latch_store::sql::SqlOutbox;
use latch_testkit::TestDatabase;

use super::*;
use crate::config::MapSource;

/// Fails its first `failures` calls with `error`, then succeeds; records
/// every call.
struct Recorder {
    kind: &'static str,
    failures: AtomicU32,
    error: fn() -> Error,
    calls: Mutex<Vec<OutboxId>>,
}

impl Recorder {
    fn new(kind: &'static str, failures: u32, error: fn() -> Error) -> Arc<Self> {
        Arc::new(Self {
            kind,
            failures: AtomicU32::new(failures),
            error,
            calls: Mutex::default(),
        })
    }

    fn succeeding(kind: &'static str) -> Arc<Self> {
        Self::new(kind, 0, unavailable)
    }

    fn calls(&self) -> Vec<OutboxId> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl OutboxHandler for Recorder {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn handle(&self, message: &OutboxMessage) -> Result<()> {
        self.calls.lock().unwrap().push(message.id);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing { Err((self.error)()) } else { Ok(()) }
    }
}

fn unavailable() -> Error {
    Error::unavailable(std::io::Error::other("token service: connection refused"))
}

fn malformed() -> Error {
    Error::invalid_field("payload", "not a session id")
}

/// The databases to run on: SQLite, and PostgreSQL when configured.
async fn databases() -> Vec<TestDatabase> {
    let mut all = vec![TestDatabase::sqlite().await];
    all.extend(TestDatabase::postgres().await);
    all
}

struct Setup {
    outbox: Arc<dyn OutboxRepository>,
    clock: ManualClock,
}

impl Setup {
    fn new(db: &TestDatabase) -> Self {
        Self {
            outbox: Arc::new(SqlOutbox::new(db.db().clone())),
            clock: ManualClock::starting_now(),
        }
    }

    fn worker(&self, config: OutboxConfig, handlers: Vec<Arc<dyn OutboxHandler>>) -> OutboxWorker {
        OutboxWorker::new(
            self.outbox.clone(),
            Arc::new(self.clock.clone()),
            config,
            handlers,
        )
        .unwrap()
    }

    async fn enqueue(&self, kind: &str, key: &str) -> OutboxId {
        let message =
            NewOutboxMessage::new(kind, key, &serde_json::json!({}), self.clock.now()).unwrap();
        self.outbox
            .enqueue(std::slice::from_ref(&message))
            .await
            .unwrap();
        message.id
    }

    async fn row(&self, key: &str) -> OutboxMessage {
        self.outbox.find_by_key(key).await.unwrap().remove(0)
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(TimeDelta::from_std(by).unwrap());
    }
}

#[tokio::test]
async fn a_handled_row_is_done_and_runs_once() {
    for db in databases().await {
        let s = Setup::new(&db);
        let handler = Recorder::succeeding("test.ok");
        let worker = s.worker(OutboxConfig::default(), vec![handler.clone()]);
        let id = s.enqueue("test.ok", "ok-1").await;

        assert_eq!(worker.run_once().await.unwrap(), vec![Outcome::Done]);
        assert_eq!(handler.calls(), vec![id]);
        let row = s.row("ok-1").await;
        assert_eq!(row.status, OutboxStatus::Done);
        assert_eq!(row.finished_at, Some(s.clock.now()));

        s.advance(Duration::from_secs(3600));
        assert!(worker.run_once().await.unwrap().is_empty());
        assert_eq!(handler.calls().len(), 1);
    }
}

#[tokio::test]
async fn failures_are_retried_with_a_doubling_backoff() {
    for db in databases().await {
        let s = Setup::new(&db);
        let handler = Recorder::new("test.flaky", 3, unavailable);
        let worker = s.worker(OutboxConfig::default(), vec![handler.clone()]);
        s.enqueue("test.flaky", "flaky-1").await;

        // Fails at once, then after 1 s, 2 s, 4 s would be next: each retry
        // is due exactly one backoff after the failure, not before.
        for (attempt, pause) in [(1u32, 1u64), (2, 2), (3, 4)] {
            assert_eq!(worker.run_once().await.unwrap(), vec![Outcome::Retried]);
            let row = s.row("flaky-1").await;
            assert_eq!(row.status, OutboxStatus::Pending);
            assert_eq!(row.attempts, attempt);
            assert!(
                row.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("connection refused")),
                "{row:?}"
            );
            assert_eq!(
                row.available_at,
                s.clock.now() + TimeDelta::seconds(pause as i64)
            );
            s.advance(Duration::from_millis(pause * 1000 - 1));
            assert!(worker.run_once().await.unwrap().is_empty(), "not yet due");
            s.advance(Duration::from_millis(1));
        }
        assert_eq!(worker.run_once().await.unwrap(), vec![Outcome::Done]);
        assert_eq!(s.row("flaky-1").await.status, OutboxStatus::Done);
        assert_eq!(handler.calls().len(), 4);
    }
}

#[tokio::test]
async fn a_row_is_buried_after_the_last_attempt_with_its_error() {
    for db in databases().await {
        let s = Setup::new(&db);
        let handler = Recorder::new("test.down", u32::MAX, unavailable);
        let config = OutboxConfig {
            max_attempts: 3,
            ..OutboxConfig::default()
        };
        let worker = s.worker(config, vec![handler.clone()]);
        s.enqueue("test.down", "down-1").await;

        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.extend(worker.run_once().await.unwrap());
            s.advance(Duration::from_secs(3600));
        }
        assert_eq!(
            outcomes,
            vec![Outcome::Retried, Outcome::Retried, Outcome::Buried]
        );
        let row = s.row("down-1").await;
        assert_eq!(row.status, OutboxStatus::Dead);
        assert_eq!(row.attempts, 3);
        assert!(
            row.last_error
                .as_deref()
                .is_some_and(|e| e.contains("connection refused"))
        );
        s.advance(Duration::from_secs(86_400));
        assert!(worker.run_once().await.unwrap().is_empty(), "never again");
        assert_eq!(handler.calls().len(), 3);
    }
}

#[tokio::test]
async fn a_permanent_error_buries_the_row_at_once() {
    for db in databases().await {
        let s = Setup::new(&db);
        let handler = Recorder::new("test.poison", 1, malformed);
        let worker = s.worker(OutboxConfig::default(), vec![handler.clone()]);
        s.enqueue("test.poison", "poison-1").await;
        assert_eq!(worker.run_once().await.unwrap(), vec![Outcome::Buried]);
        let row = s.row("poison-1").await;
        assert_eq!(row.status, OutboxStatus::Dead);
        assert!(row.last_error.is_some_and(|e| e.contains("payload")));
    }
}

#[tokio::test]
async fn a_worker_claims_only_the_kinds_it_handles() {
    for db in databases().await {
        let s = Setup::new(&db);
        let session_kind = Recorder::succeeding("session.test");
        let token_kind = Recorder::succeeding("token.test");
        let token_worker = s.worker(OutboxConfig::default(), vec![token_kind.clone()]);
        let session_worker = s.worker(OutboxConfig::default(), vec![session_kind.clone()]);
        s.enqueue("session.test", "kinds-s").await;
        s.enqueue("token.test", "kinds-t").await;

        assert_eq!(token_worker.kinds(), ["token.test"]);
        assert_eq!(token_worker.drain().await.unwrap(), vec![Outcome::Done]);
        assert_eq!(s.row("kinds-s").await.status, OutboxStatus::Pending);
        assert!(session_kind.calls().is_empty());
        assert_eq!(session_worker.drain().await.unwrap(), vec![Outcome::Done]);
        assert_eq!(token_kind.calls().len(), 1);
        assert_eq!(session_kind.calls().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_run_each_row_once() {
    for db in databases().await {
        let s = Setup::new(&db);
        let handler = Recorder::succeeding("test.shared");
        let replicas: Vec<Arc<OutboxWorker>> = (0..2)
            .map(|_| Arc::new(s.worker(OutboxConfig::default(), vec![handler.clone()])))
            .collect();
        let mut ids = Vec::new();
        for i in 0..80 {
            ids.push(s.enqueue("test.shared", &format!("shared-{i}")).await);
        }
        let drains = replicas.iter().map(|worker| {
            let worker = worker.clone();
            tokio::spawn(async move { worker.drain().await })
        });
        let mut done = 0;
        for drained in join_all(drains).await {
            let outcomes = drained.unwrap().unwrap();
            assert!(outcomes.iter().all(|o| *o == Outcome::Done));
            done += outcomes.len();
        }
        assert_eq!(done, 80);
        let mut calls = handler.calls();
        calls.sort();
        ids.sort();
        assert_eq!(calls, ids, "every row once, none twice");
    }
}

#[tokio::test]
async fn a_spawned_worker_polls_until_the_work_is_done() {
    let db = TestDatabase::sqlite().await;
    let s = Setup::new(&db);
    let handler = Recorder::succeeding("test.polled");
    let config = OutboxConfig {
        poll_interval: Duration::from_millis(10),
        ..OutboxConfig::default()
    };
    let task = s.worker(config, vec![handler.clone()]).spawn();
    // Written after the worker started: only polling finds it.
    let id = s.enqueue("test.polled", "polled-1").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while handler.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("handled within 10 s");
    assert_eq!(handler.calls(), vec![id]);
    task.abort();
}

#[tokio::test]
async fn two_handlers_of_one_kind_are_a_wiring_bug() {
    let db = TestDatabase::sqlite().await;
    let s = Setup::new(&db);
    let result = OutboxWorker::new(
        s.outbox.clone(),
        Arc::new(s.clock.clone()),
        OutboxConfig::default(),
        vec![
            Recorder::succeeding("test.twice"),
            Recorder::succeeding("test.twice"),
        ],
    );
    assert!(result.is_err());
}

#[test]
fn the_backoff_doubles_up_to_five_minutes() {
    let config = OutboxConfig::default();
    let secs: Vec<u64> = (1..=12).map(|n| config.backoff(n).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    assert_eq!(config.backoff(u32::MAX), Duration::from_secs(300));
}

#[test]
fn settings_have_bounds() -> Result<()> {
    assert_eq!(
        OutboxConfig::from_source(&MapSource::new())?,
        OutboxConfig::default()
    );
    let source = MapSource::new()
        .with("LATCH_OUTBOX_POLL_INTERVAL", "200ms")
        .with("LATCH_OUTBOX_RETRY_BACKOFF", "2s")
        .with("LATCH_OUTBOX_MAX_ATTEMPTS", "5");
    assert_eq!(
        OutboxConfig::from_source(&source)?,
        OutboxConfig {
            poll_interval: Duration::from_millis(200),
            retry_backoff: Duration::from_secs(2),
            max_attempts: 5,
        }
    );
    for (key, value) in [
        ("LATCH_OUTBOX_POLL_INTERVAL", "0"),
        ("LATCH_OUTBOX_POLL_INTERVAL", "2m"),
        ("LATCH_OUTBOX_RETRY_BACKOFF", "1h"),
        ("LATCH_OUTBOX_MAX_ATTEMPTS", "0"),
        ("LATCH_OUTBOX_MAX_ATTEMPTS", "many"),
    ] {
        let err = OutboxConfig::from_source(&MapSource::new().with(key, value)).unwrap_err();
        assert!(format!("{err}").contains(key), "{key}={value}: {err}");
    }
    Ok(())
}
