//! Roles over a freshly migrated SQLite database (roles seeded), an outbox
//! worker delivering its events onto a bus that keeps what was published
//! and can be made to fail, and identity's directory of users standing in
//! as a set.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, ManualClock, Result, UserId,
    events::{AuthzScope, Channel, Event, EventPayload},
    model::UserStatus,
    ports::{EventBus, EventStream, UserDirectory},
};
use latch_runtime::outbox::{DeliverEvent, OutboxConfig, OutboxWorker};
use latch_store::{
    memory::MemoryEventBus,
    sql::{SqlOutbox, SqlRoles},
};
use latch_testkit::TestDatabase;

use crate::Roles;

pub(crate) struct Harness {
    pub(crate) roles: Arc<Roles>,
    pub(crate) repo: Arc<SqlRoles>,
    pub(crate) bus: Arc<RecordingBus>,
    pub(crate) users: Arc<Users>,
    pub(crate) clock: ManualClock,
    /// Every binary's worker, run at will: the only way events leave.
    worker: OutboxWorker,
    _db: TestDatabase,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let db = TestDatabase::new().await;
        let repo = Arc::new(SqlRoles::new(db.db().clone()));
        let clock = ManualClock::starting_now();
        let clock_port: Arc<dyn Clock> = Arc::new(clock.clone());
        let bus = Arc::new(RecordingBus::default());
        let worker = OutboxWorker::new(
            Arc::new(SqlOutbox::new(db.db().clone())),
            clock_port.clone(),
            OutboxConfig::default(),
            vec![DeliverEvent::new(bus.clone())],
        )
        .expect("one handler per kind");
        Harness {
            roles: Roles::new(repo.clone(), clock_port),
            repo,
            bus,
            users: Arc::new(Users::default()),
            clock,
            worker,
            _db: db,
        }
    }

    /// The scopes of the `authz:changed` events delivered since the last
    /// call, in order: the worker first runs every outbox row due now, as
    /// every binary's does a few milliseconds after a commit.
    pub(crate) async fn take_authz(&self) -> Vec<AuthzScope> {
        self.worker.drain().await.expect("the outbox is readable");
        self.bus.take_authz()
    }
}

/// Identity as the authorization service sees it: every user exists but
/// those marked gone (never signed up, or deleted).
#[derive(Default)]
pub(crate) struct Users {
    gone: Mutex<HashSet<UserId>>,
}

impl Users {
    pub(crate) fn gone(&self, user: UserId) {
        self.gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user);
    }
}

#[async_trait]
impl UserDirectory for Users {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        let gone = self
            .gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&user);
        Ok((!gone).then_some(UserStatus::Active))
    }
}

/// A real in-process bus that also keeps every event published through it;
/// while `failing`, publishing fails as a bus that is down does.
#[derive(Default)]
pub(crate) struct RecordingBus {
    inner: MemoryEventBus,
    published: Mutex<Vec<Event>>,
    failing: AtomicBool,
}

impl RecordingBus {
    /// The scopes of the `authz:changed` events published since the last
    /// call, in order.
    fn take_authz(&self) -> Vec<AuthzScope> {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published
            .drain(..)
            .filter_map(|event| match event.payload {
                EventPayload::AuthzChanged { scope } => Some(scope),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, event: &Event) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("bus down")));
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        self.inner.publish(event).await
    }

    async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
        self.inner.subscribe(channel).await
    }
}
