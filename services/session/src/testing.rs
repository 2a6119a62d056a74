//! A harness for the flow tests on the store's adapters (a migrated test
//! database with its outbox, the memory cache and bus), with wrappers that
//! count repository reads, pause a read to stage races and take the shared
//! cache down, and a fake token service that can be down (another service,
//! so a fake is the right peer) behind a real outbox worker.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use latch_domain::{
    Clock, Error, ManualClock, Result, SessionId, UserId,
    events::Event,
    model::SessionQuery,
    model::{ClientInfo, RevocationCursor, Session, SessionRevocation},
    ports::{
        CachedSession, EventBus, EventStream, FollowUp, NewOutboxMessage, OutboxRepository,
        SessionCache, SessionRepository, TokenRevoker,
    },
};
use latch_runtime::outbox::{DeliverEvent, OutboxConfig, OutboxWorker, Outcome};
use latch_store::{
    memory::{MemoryEventBus, MemorySessionCache},
    sql::{SqlOutbox, SqlSessions},
};
use latch_testkit::TestDatabase;
use tokio::{sync::Notify, task::JoinHandle};

use crate::{SessionConfig, SessionDeps, Sessions, follow_up::RevokeFamilies};

pub(crate) const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

pub(crate) fn browser_client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.7".into()),
        user_agent: Some(CHROME_MAC.into()),
    }
}

/// Every port of one deployment; each [`Harness::replica`] shares them, as
/// replicas share the database, Redis and the bus.
pub(crate) struct Harness {
    /// Kept alive for the test: dropping it removes the database.
    _db: TestDatabase,
    pub(crate) clock: ManualClock,
    pub(crate) repo: Arc<CountingRepo>,
    pub(crate) cache: Arc<SwitchableCache>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) tokens: Arc<FakeTokens>,
    pub(crate) outbox: Arc<dyn OutboxRepository>,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        let clock =
            ManualClock::new(DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let db = TestDatabase::new().await;
        Self {
            repo: Arc::new(CountingRepo::new(Arc::new(SqlSessions::new(
                db.db().clone(),
            )))),
            cache: Arc::new(SwitchableCache::new(Arc::new(MemorySessionCache::new(
                shared,
            )))),
            bus: Arc::new(MemoryEventBus::new()),
            tokens: Arc::new(FakeTokens::default()),
            outbox: Arc::new(SqlOutbox::new(db.db().clone())),
            clock,
            _db: db,
        }
    }

    pub(crate) fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn deps(&self) -> SessionDeps {
        SessionDeps {
            repo: self.repo.clone(),
            cache: self.cache.clone(),
            bus: self.bus.clone(),
            clock: Arc::new(self.clock.clone()),
            geoip: None,
        }
    }

    /// This deployment's outbox worker, with the session service's
    /// handlers on the fake token service and event delivery on the bus.
    pub(crate) fn outbox_worker(&self) -> OutboxWorker {
        OutboxWorker::new(
            self.outbox.clone(),
            Arc::new(self.clock.clone()),
            OutboxConfig::default(),
            vec![
                RevokeFamilies::new(self.tokens.clone()),
                DeliverEvent::new(self.bus.clone()),
            ],
        )
        .unwrap_or_else(|e| panic!("outbox worker: {e}"))
    }

    /// Runs what is due in the outbox now; what became of each row.
    pub(crate) async fn drain_outbox(&self) -> Vec<Outcome> {
        self.outbox_worker()
            .drain()
            .await
            .unwrap_or_else(|e| panic!("outbox: {e}"))
    }

    /// A `Sessions` with the default configuration, without a listener (so
    /// its local cache stays off).
    pub(crate) fn replica(&self) -> Arc<Sessions> {
        self.replica_with(SessionConfig::default())
    }

    pub(crate) fn replica_with(&self, config: SessionConfig) -> Arc<Sessions> {
        Sessions::new(self.deps(), config)
    }

    /// A default `Sessions` whose revocation listener is subscribed, so its
    /// local cache is in use.
    pub(crate) async fn listening_replica(&self) -> Arc<Sessions> {
        let sessions = self.replica();
        start_listening(&sessions).await;
        sessions
    }
}

/// Starts the revocation listener and waits until it has subscribed.
pub(crate) async fn start_listening(sessions: &Arc<Sessions>) -> JoinHandle<()> {
    let handle = sessions.spawn_revocation_listener();
    eventually(|| sessions.local.is_active()).await;
    handle
}

/// Polls until `done` holds (another task has to act first); fails the
/// test after a generous bound instead of hanging.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "condition never came true");
}

/// The next event on `stream`, or a test failure.
pub(crate) async fn next_event(stream: &mut EventStream) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(event)) => event,
        other => panic!("no event arrived: {other:?}"),
    }
}

/// Counts reads and can hold one read, after it has read, until released.
pub(crate) struct CountingRepo {
    inner: Arc<dyn SessionRepository>,
    gets: AtomicUsize,
    touches: AtomicUsize,
    hold_next_get: AtomicBool,
    pub(crate) read_done: Notify,
    pub(crate) release: Notify,
}

impl CountingRepo {
    pub(crate) fn new(inner: Arc<dyn SessionRepository>) -> Self {
        Self {
            inner,
            gets: AtomicUsize::new(0),
            touches: AtomicUsize::new(0),
            hold_next_get: AtomicBool::new(false),
            read_done: Notify::new(),
            release: Notify::new(),
        }
    }

    pub(crate) fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    pub(crate) fn touches(&self) -> usize {
        self.touches.load(Ordering::SeqCst)
    }

    /// The next `get` signals `read_done` after reading, then waits for
    /// `release` before returning what it read.
    pub(crate) fn hold_next_get(&self) {
        self.hold_next_get.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionRepository for CountingRepo {
    async fn create(&self, session: &Session, follow_up: &[NewOutboxMessage]) -> Result<()> {
        self.inner.create(session, follow_up).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let found = self.inner.get(id).await;
        if self.hold_next_get.swap(false, Ordering::SeqCst) {
            self.read_done.notify_one();
            self.release.notified().await;
        }
        found
    }
    async fn list_for_user(&self, user: UserId, query: &SessionQuery) -> Result<Vec<Session>> {
        self.inner.list_for_user(user, query).await
    }
    async fn touch(&self, id: &SessionId, at: DateTime<Utc>) -> Result<bool> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, at).await
    }
    async fn revoke(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
        reason: &str,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Option<Session>> {
        self.inner.revoke(id, at, reason, follow_up).await
    }
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
        limit: u64,
        follow_up: FollowUp<'_, Session>,
    ) -> Result<Vec<Session>> {
        self.inner
            .revoke_all_for_user(user, except, at, reason, limit, follow_up)
            .await
    }
    async fn delete_ended(
        &self,
        ended_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        self.inner
            .delete_ended(ended_before, idle_before, limit)
            .await
    }
    async fn delete_for_user(&self, user: UserId, limit: u64) -> Result<u64> {
        self.inner.delete_for_user(user, limit).await
    }
    async fn list_revocations(
        &self,
        since: DateTime<Utc>,
        after: Option<&RevocationCursor>,
        limit: u64,
    ) -> Result<Vec<SessionRevocation>> {
        self.inner.list_revocations(since, after, limit).await
    }
    async fn delete_revocations(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        self.inner.delete_revocations(before, limit).await
    }
}

/// The shared cache, which a test can take down like a Redis outage.
pub(crate) struct SwitchableCache {
    inner: Arc<dyn SessionCache>,
    down: AtomicBool,
}

impl SwitchableCache {
    pub(crate) fn new(inner: Arc<dyn SessionCache>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::unavailable(std::io::Error::other(
                "connection refused",
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SessionCache for SwitchableCache {
    async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn fill(&self, session: &Session, ttl: Duration) -> Result<()> {
        self.check()?;
        self.inner.fill(session, ttl).await
    }
    async fn tombstone(&self, id: &SessionId, ttl: Duration) -> Result<()> {
        self.check()?;
        self.inner.tombstone(id, ttl).await
    }
}

/// The token service as the session service sees it: records what it was
/// asked to revoke, and refuses while down.
#[derive(Default)]
pub(crate) struct FakeTokens {
    revoked: Mutex<Vec<(SessionId, String)>>,
    down: AtomicBool,
}

impl FakeTokens {
    pub(crate) fn revoked(&self) -> Vec<(SessionId, String)> {
        self.revoked.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl TokenRevoker for FakeTokens {
    async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u32> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other(
                "token service: connection refused",
            )));
        }
        if let Ok(mut revoked) = self.revoked.lock() {
            revoked.push((session.clone(), reason.to_owned()));
        }
        Ok(1)
    }
}
