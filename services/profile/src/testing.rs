//! Profiles (and Roles, for admin checks) over a freshly migrated SQLite
//! database, with an in-memory event bus and a manual clock.

use std::sync::Arc;

use latch_authorization::Roles;
use latch_domain::{Clock, ManualClock};
use latch_runtime::outbox::{DeliverEvent, OutboxConfig, OutboxWorker, Outcome};
use latch_store::{
    memory::MemoryEventBus,
    sql::{SqlOutbox, SqlProfiles, SqlRoles},
};
use latch_testkit::TestDatabase;

use crate::Profiles;

pub(crate) struct Harness {
    pub(crate) profiles: Arc<Profiles>,
    pub(crate) roles: Arc<Roles>,
    pub(crate) bus: Arc<MemoryEventBus>,
    pub(crate) clock: ManualClock,
    _db: TestDatabase,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let db = TestDatabase::new().await;
        let clock = ManualClock::starting_now();
        let clock_port: Arc<dyn Clock> = Arc::new(clock.clone());
        let bus = Arc::new(MemoryEventBus::new());
        Harness {
            profiles: Profiles::new(
                Arc::new(SqlProfiles::new(db.db().clone())),
                bus.clone(),
                clock_port.clone(),
                Profiles::DEFAULT_CACHE_TTL,
            ),
            roles: Roles::new(Arc::new(SqlRoles::new(db.db().clone())), clock_port),
            bus,
            clock,
            _db: db,
        }
    }

    pub(crate) fn db(&self) -> &latch_store::Database {
        self._db.db()
    }

    /// Runs what is due in the outbox now (events delivered on the bus, as
    /// every binary's worker does); what became of each row.
    pub(crate) async fn drain_outbox(&self) -> Vec<Outcome> {
        OutboxWorker::new(
            Arc::new(SqlOutbox::new(self.db().clone())),
            Arc::new(self.clock.clone()),
            OutboxConfig::default(),
            vec![DeliverEvent::new(self.bus.clone())],
        )
        .unwrap_or_else(|e| panic!("outbox worker: {e}"))
        .drain()
        .await
        .unwrap_or_else(|e| panic!("outbox: {e}"))
    }

    /// Another replica on the same database and bus, following
    /// `user:updated`; returned once its cache is on.
    pub(crate) async fn listening_replica(&self) -> Arc<Profiles> {
        let replica = Profiles::new(
            Arc::new(SqlProfiles::new(self.db().clone())),
            self.bus.clone(),
            Arc::new(self.clock.clone()),
            Profiles::DEFAULT_CACHE_TTL,
        );
        replica.spawn_update_listener();
        while !replica.cache.is_active() {
            tokio::task::yield_now().await;
        }
        replica
    }
}
