use std::time::Duration as StdDuration;

use chrono::Duration;
use latch_domain::{
    Clock as _, ManualClock, RoleId, UserId,
    events::{AuthzScope, EventPayload},
    model::{builtin, permission},
    ports::{RoleDirectory as _, RoleRepository as _, UserDataEraser as _},
};
use latch_store::{memory::MemoryEventBus, sql::SqlRoles};
use latch_testkit::TestDatabase;

use super::*;

struct Harness {
    roles: Arc<Roles>,
    cache: Arc<RoleCache>,
    /// The tables, written behind the cache's back (as another replica
    /// does).
    repo: Arc<SqlRoles>,
    bus: Arc<MemoryEventBus>,
    clock: ManualClock,
    _db: TestDatabase,
}

impl Harness {
    /// Roles whose cache is on, as the listener leaves it once subscribed.
    async fn new() -> Self {
        let h = Self::unsubscribed().await;
        h.cache.subscribed();
        h
    }

    async fn unsubscribed() -> Self {
        let db = TestDatabase::new().await;
        let repo = Arc::new(SqlRoles::new(db.db().clone()));
        let bus = Arc::new(MemoryEventBus::new());
        let clock = ManualClock::starting_now();
        let cache = RoleCache::new(bus.clone(), AuthzCacheConfig::default());
        Self {
            roles: Roles::with_cache(repo.clone(), Arc::new(clock.clone()), cache.clone()),
            cache,
            repo,
            bus,
            clock,
            _db: db,
        }
    }

    async fn role_id(&self, name: &str) -> RoleId {
        self.repo.find_role(name).await.unwrap().unwrap().id
    }

    /// Takes `role` from `user` in the tables only, as another replica
    /// would before its event arrives.
    async fn unassign_elsewhere(&self, user: UserId, role: &str) {
        assert!(
            self.repo
                .unassign(user, self.role_id(role).await, &[])
                .await
                .unwrap()
        );
    }

    fn event(&self, payload: EventPayload) -> Event {
        Event::new(self.clock.now(), payload)
    }

    async fn may_read_users(&self, user: UserId) -> bool {
        self.roles
            .has_permission(user, permission::USERS_READ)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn every_read_is_served_from_one_entry() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.unassign_elsewhere(user, builtin::ADMIN).await;

    // No event yet: every read still answers from the copy.
    assert!(h.may_read_users(user).await);
    assert!(h.roles.check(user, permission::USERS_READ).await?.allowed);
    assert_eq!(h.roles.role_names(user).await?, ["ADMIN"]);
    assert_eq!(h.roles.user_roles(user).await?.len(), 1);
    assert!(
        h.roles
            .user_permissions(user)
            .await?
            .iter()
            .any(|p| p == permission::USERS_READ)
    );
    Ok(())
}

#[tokio::test]
async fn an_assignment_event_drops_that_user_only() -> Result<()> {
    let h = Harness::new().await;
    let (user, other) = (UserId::new(), UserId::new());
    for u in [user, other] {
        h.roles.assign(u, builtin::ADMIN).await?;
        assert!(h.may_read_users(u).await);
        h.unassign_elsewhere(u, builtin::ADMIN).await;
    }
    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::User(user),
    }));
    assert!(!h.may_read_users(user).await);
    assert!(h.may_read_users(other).await, "another user's copy stands");
    Ok(())
}

#[tokio::test]
async fn a_role_event_drops_the_holders_of_that_role() -> Result<()> {
    let h = Harness::new().await;
    let (admin, plain) = (UserId::new(), UserId::new());
    h.roles.assign(admin, builtin::ADMIN).await?;
    h.roles.assign(plain, builtin::USER).await?;
    assert!(h.may_read_users(admin).await);
    assert_eq!(h.roles.role_names(plain).await?, ["USER"]);
    h.unassign_elsewhere(admin, builtin::ADMIN).await;
    h.unassign_elsewhere(plain, builtin::USER).await;

    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::Role(builtin::ADMIN.to_owned()),
    }));
    assert!(!h.may_read_users(admin).await, "a holder is read again");
    assert_eq!(
        h.roles.role_names(plain).await?,
        ["USER"],
        "a non-holder's copy stands"
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_user_is_dropped() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.unassign_elsewhere(user, builtin::ADMIN).await;

    h.cache
        .event(&h.event(EventPayload::UserDeleted { user_id: user }));
    assert!(!h.may_read_users(user).await);
    Ok(())
}

#[tokio::test]
async fn own_writes_show_at_once() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    assert!(!h.may_read_users(user).await);
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.roles.unassign(user, builtin::ADMIN).await?;
    assert!(!h.may_read_users(user).await);
    h.roles.assign(user, builtin::SUPERADMIN).await?;
    assert!(h.roles.is_superadmin(user).await?);
    h.roles.erase_user(user).await?;
    assert!(!h.roles.is_superadmin(user).await?);
    Ok(())
}

#[tokio::test]
async fn own_role_changes_show_at_once() -> Result<()> {
    let h = Harness::new().await;
    let (holder, bystander) = (UserId::new(), UserId::new());
    h.roles
        .create_role(
            crate::Actor::Machine,
            "AUDITOR".to_owned(),
            None,
            vec![permission::USERS_READ.to_owned()],
        )
        .await?;
    h.roles.assign(holder, "AUDITOR").await?;
    h.roles.assign(bystander, builtin::USER).await?;
    assert!(h.may_read_users(holder).await);
    assert_eq!(h.roles.role_names(bystander).await?, ["USER"]);
    h.unassign_elsewhere(bystander, builtin::USER).await;

    // No listener runs: only the write itself can drop the copy.
    h.roles
        .revoke_permission(crate::Actor::Machine, "AUDITOR", permission::USERS_READ)
        .await?;
    assert!(!h.may_read_users(holder).await);
    assert_eq!(
        h.roles.role_names(bystander).await?,
        ["USER"],
        "a non-holder's copy stands"
    );
    Ok(())
}

#[tokio::test]
async fn an_entry_lives_at_most_the_ttl() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.unassign_elsewhere(user, builtin::ADMIN).await;

    h.clock.advance(Duration::seconds(29));
    assert!(h.may_read_users(user).await);
    h.clock.advance(Duration::seconds(1));
    assert!(!h.may_read_users(user).await);
    Ok(())
}

#[tokio::test]
async fn a_lost_subscription_clears_and_disables_the_cache() -> Result<()> {
    let h = Harness::new().await;
    let user = UserId::new();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);

    h.cache.lost();
    h.unassign_elsewhere(user, builtin::ADMIN).await;
    assert!(!h.may_read_users(user).await, "cleared");
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.unassign_elsewhere(user, builtin::ADMIN).await;
    assert!(!h.may_read_users(user).await, "nothing kept while off");

    h.cache.subscribed();
    h.roles.assign(user, builtin::ADMIN).await?;
    assert!(h.may_read_users(user).await);
    h.unassign_elsewhere(user, builtin::ADMIN).await;
    assert!(h.may_read_users(user).await, "served again once subscribed");
    Ok(())
}

/// Through the bus: the listener follows both channels.
#[tokio::test]
async fn the_listener_drops_entries_on_published_events() -> Result<()> {
    let h = Harness::unsubscribed().await;
    let listener = h.cache.spawn_listener();
    let subscribed = tokio::time::timeout(StdDuration::from_secs(5), async {
        while !h.cache.is_active() {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    })
    .await;
    assert!(subscribed.is_ok(), "never subscribed");

    for payload in [
        EventPayload::AuthzChanged {
            scope: AuthzScope::User(UserId::new()),
        },
        EventPayload::UserDeleted {
            user_id: UserId::new(),
        },
    ] {
        let user = match &payload {
            EventPayload::AuthzChanged {
                scope: AuthzScope::User(user),
            }
            | EventPayload::UserDeleted { user_id: user } => *user,
            _ => unreachable!(),
        };
        // Behind the cache's back: Roles would announce its own write.
        let admin = h.role_id(builtin::ADMIN).await;
        assert!(h.repo.assign(user, admin, h.clock.now(), &[]).await?);
        assert!(h.may_read_users(user).await);
        h.unassign_elsewhere(user, builtin::ADMIN).await;
        assert!(h.may_read_users(user).await, "cached");
        latch_domain::ports::EventBus::publish(h.bus.as_ref(), &h.event(payload)).await?;
        let dropped = tokio::time::timeout(StdDuration::from_secs(5), async {
            while h.may_read_users(user).await {
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }
        })
        .await;
        assert!(dropped.is_ok(), "the event never dropped the entry");
    }
    listener.abort();
    Ok(())
}
