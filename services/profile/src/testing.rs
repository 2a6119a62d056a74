//! Profiles (and Roles, for admin checks) over a freshly migrated SQLite
//! database, with an in-memory event bus and a manual clock.

use std::sync::Arc;

use latch_authorization::Roles;
use latch_domain::{Clock, ManualClock};
use latch_store::{
    memory::MemoryEventBus,
    sql::{SqlProfiles, SqlRoles},
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
            roles: Roles::new(
                Arc::new(SqlRoles::new(db.db().clone())),
                bus.clone(),
                clock_port,
            ),
            bus,
            clock,
            _db: db,
        }
    }

    pub(crate) fn db(&self) -> &latch_store::Database {
        self._db.db()
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
