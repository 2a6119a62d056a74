//! Test doubles and a harness for the flow tests: wrappers that count
//! repository reads, pause a read to stage races and take the shared cache
//! down, a fake token service, and stand-ins for the store's memory
//! adapters.

use std::{
    collections::HashMap,
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
    events::{Channel, Event},
    model::{ClientInfo, Session},
    ports::{CachedSession, EventBus, EventStream, SessionCache, SessionRepository, TokenRevoker},
};
use tokio::{
    sync::{Notify, broadcast},
    task::JoinHandle,
};

use crate::{SessionConfig, SessionDeps, Sessions};

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
    pub(crate) clock: ManualClock,
    pub(crate) repo: Arc<CountingRepo>,
    pub(crate) cache: Arc<SwitchableCache>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) tokens: Arc<FakeTokens>,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        let clock = ManualClock::new(
            DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        );
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        Self {
            repo: Arc::new(CountingRepo::new(Arc::new(MemRepo::default()))),
            cache: Arc::new(SwitchableCache::new(Arc::new(MemCache::new(shared)))),
            bus: Arc::new(MemBus::new()),
            tokens: Arc::new(FakeTokens::default()),
            clock,
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
            tokens: self.tokens.clone(),
            clock: Arc::new(self.clock.clone()),
        }
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

/// Waits, yielding to the runtime, until `done` holds; fails the test
/// after a generous bound instead of hanging.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::task::yield_now().await;
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
    async fn create(&self, session: &Session) -> Result<()> {
        self.inner.create(session).await
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
    async fn list_for_user(&self, user: UserId, include_revoked: bool) -> Result<Vec<Session>> {
        self.inner.list_for_user(user, include_revoked).await
    }
    async fn touch(&self, id: &SessionId, at: DateTime<Utc>) -> Result<bool> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, at).await
    }
    async fn revoke(&self, id: &SessionId, at: DateTime<Utc>, reason: &str) -> Result<Option<Session>> {
        self.inner.revoke(id, at, reason).await
    }
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Session>> {
        self.inner.revoke_all_for_user(user, except, at, reason).await
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
            Err(Error::unavailable(std::io::Error::other("connection refused")))
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
/// asked to revoke.
#[derive(Default)]
pub(crate) struct FakeTokens {
    revoked: Mutex<Vec<(SessionId, String)>>,
}

impl FakeTokens {
    pub(crate) fn revoked(&self) -> Vec<(SessionId, String)> {
        self.revoked.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl TokenRevoker for FakeTokens {
    async fn revoke_session_families(&self, session: &SessionId, reason: &str) -> Result<u32> {
        if let Ok(mut revoked) = self.revoked.lock() {
            revoked.push((session.clone(), reason.to_owned()));
        }
        Ok(1)
    }
}

/// Stand-in for the store's session table.
#[derive(Default)]
pub(crate) struct MemRepo {
    rows: Mutex<HashMap<SessionId, Session>>,
}

impl MemRepo {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session>> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionRepository for MemRepo {
    async fn create(&self, session: &Session) -> Result<()> {
        self.rows().insert(session.id.clone(), session.clone());
        Ok(())
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>> {
        Ok(self.rows().get(id).cloned())
    }
    async fn list_for_user(&self, user: UserId, include_revoked: bool) -> Result<Vec<Session>> {
        let mut found: Vec<Session> = self
            .rows()
            .values()
            .filter(|s| s.user_id == user && (include_revoked || s.revoked_at.is_none()))
            .cloned()
            .collect();
        found.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(found)
    }
    async fn touch(&self, id: &SessionId, at: DateTime<Utc>) -> Result<bool> {
        Ok(self.rows().get_mut(id).map(|s| s.last_active_at = at).is_some())
    }
    async fn revoke(&self, id: &SessionId, at: DateTime<Utc>, reason: &str) -> Result<Option<Session>> {
        let mut rows = self.rows();
        let Some(session) = rows.get_mut(id).filter(|s| s.revoked_at.is_none()) else {
            return Ok(None);
        };
        session.revoked_at = Some(at);
        session.revoked_reason = Some(reason.to_owned());
        Ok(Some(session.clone()))
    }
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        except: Option<&SessionId>,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Session>> {
        let mut revoked = Vec::new();
        for session in self.rows().values_mut() {
            if session.user_id == user && session.revoked_at.is_none() && Some(&session.id) != except {
                session.revoked_at = Some(at);
                session.revoked_reason = Some(reason.to_owned());
                revoked.push(session.clone());
            }
        }
        Ok(revoked)
    }
}

/// Stand-in for the store's memory cache: SET NX fills, overwriting
/// tombstones, expiry on the clock.
pub(crate) struct MemCache {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<SessionId, (CachedSession, DateTime<Utc>)>>,
}

impl MemCache {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, (CachedSession, DateTime<Utc>)>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, (_, until)| *until > now);
        entries
    }

    fn until(&self, ttl: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(ttl).unwrap_or_default()
    }
}

#[async_trait]
impl SessionCache for MemCache {
    async fn get(&self, id: &SessionId) -> Result<Option<CachedSession>> {
        Ok(self.live().get(id).map(|(entry, _)| entry.clone()))
    }
    async fn fill(&self, session: &Session, ttl: Duration) -> Result<()> {
        let until = self.until(ttl);
        self.live()
            .entry(session.id.clone())
            .or_insert_with(|| (CachedSession::Valid(Box::new(session.clone())), until));
        Ok(())
    }
    async fn tombstone(&self, id: &SessionId, ttl: Duration) -> Result<()> {
        let until = self.until(ttl);
        self.live().insert(id.clone(), (CachedSession::Revoked, until));
        Ok(())
    }
}

/// Stand-in for the store's memory bus: a broadcast per process.
pub(crate) struct MemBus {
    sender: broadcast::Sender<Event>,
}

impl MemBus {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(64).0,
        }
    }
}

#[async_trait]
impl EventBus for MemBus {
    async fn publish(&self, event: &Event) -> Result<()> {
        // No subscriber is not an error: delivery is at most once.
        let _ = self.sender.send(event.clone());
        Ok(())
    }
    async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
        let receiver = self.sender.subscribe();
        Ok(futures::stream::unfold(receiver, move |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.channel() == channel => return Some((event, receiver)),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed())
    }
}
