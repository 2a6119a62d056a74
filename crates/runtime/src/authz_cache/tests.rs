use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration as StdDuration,
};

use async_trait::async_trait;
use chrono::Duration;
use futures::StreamExt;
use latch_domain::{
    Clock, ManualClock, Result, UserId,
    events::{AuthzScope, Channel, Event, EventPayload},
    model::UserStatus,
    ports::{EventBus, EventStream, RoleDirectory, UserDirectory},
};
use tokio::sync::mpsc;

use super::*;
use crate::{config::MapSource, follow::Follower};

/// The authorization and identity services as their clients see them:
/// roles with permissions and a status per user, counting every read.
#[derive(Default)]
struct Source {
    roles: Mutex<HashMap<UserId, Vec<(&'static str, &'static str)>>>,
    statuses: Mutex<HashMap<UserId, UserStatus>>,
    reads: AtomicUsize,
}

impl Source {
    fn grant(&self, user: UserId, role: &'static str, permission: &'static str) {
        self.held()
            .entry(user)
            .or_default()
            .push((role, permission));
    }

    fn revoke_all(&self, user: UserId) {
        self.held().remove(&user);
    }

    fn set_status(&self, user: UserId, status: UserStatus) {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user, status);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn held(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<(&'static str, &'static str)>>> {
        self.roles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl RoleDirectory for Source {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let held = self.held();
        let mut names: Vec<String> = held
            .get(&user)
            .into_iter()
            .flatten()
            .map(|(role, _)| (*role).to_owned())
            .collect();
        names.dedup();
        Ok(names)
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let held = self.held();
        Ok(held
            .get(&user)
            .is_some_and(|grants| grants.iter().any(|(_, p)| *p == permission)))
    }

    /// Any role name stands for ADMIN here.
    async fn assign(&self, user: UserId, _role: &str) -> Result<bool> {
        self.grant(user, "ADMIN", "users.read");
        Ok(true)
    }

    async fn unassign(&self, user: UserId, _role: &str) -> Result<bool> {
        self.revoke_all(user);
        Ok(true)
    }
}

#[async_trait]
impl UserDirectory for Source {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .copied())
    }
}

/// A bus whose subscriptions a test can end, like a dropped connection.
#[derive(Default)]
struct DroppingBus {
    subscribers: Mutex<Vec<(Channel, mpsc::UnboundedSender<Event>)>>,
    subscriptions: AtomicUsize,
}

impl DroppingBus {
    fn drop_connections(&self) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[async_trait]
impl EventBus for DroppingBus {
    async fn publish(&self, event: &Event) -> Result<()> {
        let subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (channel, subscriber) in subscribers.iter() {
            if *channel == event.channel() {
                let _ = subscriber.send(event.clone());
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: Channel) -> Result<EventStream> {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((channel, sender));
        self.subscriptions.fetch_add(1, Ordering::SeqCst);
        Ok(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed())
    }
}

struct Harness {
    source: Arc<Source>,
    bus: Arc<DroppingBus>,
    clock: ManualClock,
    cache: Arc<AuthzCache>,
    roles: Arc<CachedRoles>,
    users: Arc<CachedUsers>,
}

impl Harness {
    /// A cache as a listener leaves it once subscribed.
    fn new() -> Self {
        let h = Self::unsubscribed();
        h.cache.subscribed();
        h
    }

    fn unsubscribed() -> Self {
        let source = Arc::new(Source::default());
        let bus = Arc::new(DroppingBus::default());
        let clock = ManualClock::starting_now();
        let cache = AuthzCache::new(
            bus.clone(),
            Arc::new(clock.clone()),
            AuthzCacheConfig::default(),
        );
        Self {
            roles: cache.roles(source.clone()),
            users: cache.users(source.clone()),
            source,
            bus,
            clock,
            cache,
        }
    }

    fn event(&self, payload: EventPayload) -> Event {
        Event::new(self.clock.now(), payload)
    }

    /// Past the settle window that follows an invalidation.
    fn settle(&self) {
        self.clock.advance(Duration::seconds(1));
    }

    /// Every read the decorators answer, once.
    async fn read_all(&self, user: UserId) -> Result<(Vec<String>, bool, Option<UserStatus>)> {
        Ok((
            self.roles.role_names(user).await?,
            self.roles.has_permission(user, "users.read").await?,
            self.users.status(user).await?,
        ))
    }
}

fn admin(h: &Harness) -> UserId {
    let user = UserId::new();
    h.source.grant(user, "ADMIN", "users.read");
    h.source.set_status(user, UserStatus::Active);
    user
}

#[tokio::test]
async fn repeated_reads_are_served_from_the_cache() -> Result<()> {
    let h = Harness::new();
    let user = admin(&h);
    let first = h.read_all(user).await?;
    assert_eq!(
        first,
        (vec!["ADMIN".to_owned()], true, Some(UserStatus::Active))
    );
    assert_eq!(h.source.reads(), 3);

    // Changed behind the cache's back (no event): the copy stands.
    h.source.revoke_all(user);
    assert_eq!(h.read_all(user).await?, first);
    assert_eq!(h.source.reads(), 3);
    Ok(())
}

#[tokio::test]
async fn an_assignment_change_drops_that_users_roles_only() -> Result<()> {
    let h = Harness::new();
    let user = admin(&h);
    let other = admin(&h);
    h.read_all(user).await?;
    h.read_all(other).await?;
    h.source.revoke_all(user);
    h.source.revoke_all(other);

    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::User(user),
    }));
    let (names, allowed, status) = h.read_all(user).await?;
    assert!(names.is_empty() && !allowed, "the revocation shows");
    assert_eq!(status, Some(UserStatus::Active), "a status is no role");
    assert!(h.roles.has_permission(other, "users.read").await?);
    Ok(())
}

#[tokio::test]
async fn a_role_change_drops_its_holders_and_every_decision() -> Result<()> {
    let h = Harness::new();
    let holder = admin(&h);
    let bystander = UserId::new();
    h.source.grant(bystander, "USER", "profile.read");
    h.read_all(holder).await?;
    h.read_all(bystander).await?;
    let before = h.source.reads();

    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::Role("ADMIN".to_owned()),
    }));
    h.settle();
    h.roles.role_names(holder).await?;
    h.roles.has_permission(holder, "users.read").await?;
    h.roles.has_permission(bystander, "users.read").await?;
    assert_eq!(
        h.source.reads(),
        before + 3,
        "holder and decisions read again"
    );
    h.roles.role_names(bystander).await?;
    assert_eq!(h.source.reads(), before + 3, "a non-holder's roles stand");
    Ok(())
}

#[tokio::test]
async fn a_deleted_user_is_forgotten_entirely() -> Result<()> {
    let h = Harness::new();
    let user = admin(&h);
    h.read_all(user).await?;
    h.source.revoke_all(user);
    h.source.statuses.lock().unwrap().clear();

    h.cache
        .event(&h.event(EventPayload::UserDeleted { user_id: user }));
    assert_eq!(h.read_all(user).await?, (vec![], false, None));
    Ok(())
}

#[tokio::test]
async fn only_a_status_change_drops_the_cached_status() -> Result<()> {
    let h = Harness::new();
    let user = admin(&h);
    h.read_all(user).await?;
    h.source.set_status(user, UserStatus::Suspended);

    h.cache.event(&h.event(EventPayload::UserUpdated {
        user_id: user,
        changed_fields: vec!["first_name".to_owned()],
    }));
    assert_eq!(h.users.status(user).await?, Some(UserStatus::Active));

    h.cache.event(&h.event(EventPayload::UserUpdated {
        user_id: user,
        changed_fields: vec!["status".to_owned()],
    }));
    assert_eq!(h.users.status(user).await?, Some(UserStatus::Suspended));
    assert!(h.roles.has_permission(user, "users.read").await?);
    Ok(())
}

#[tokio::test]
async fn entries_expire_on_the_clock() -> Result<()> {
    let h = Harness::new();
    let user = admin(&h);
    h.read_all(user).await?;
    h.source.revoke_all(user);
    h.source.set_status(user, UserStatus::Deactivated);

    h.clock.advance(Duration::seconds(29));
    assert!(h.roles.has_permission(user, "users.read").await?);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(
        h.read_all(user).await?,
        (vec![], false, Some(UserStatus::Deactivated))
    );
    Ok(())
}

#[tokio::test]
async fn what_is_read_of_a_user_right_after_a_change_is_not_kept() -> Result<()> {
    let h = Harness::new();
    let (user, other) = (admin(&h), admin(&h));
    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::User(user),
    }));
    // The authorization service may not have dropped its copy yet.
    h.roles.has_permission(user, "users.read").await?;
    h.roles.has_permission(user, "users.read").await?;
    assert_eq!(h.source.reads(), 2);
    // Nobody else waits.
    h.roles.has_permission(other, "users.read").await?;
    h.roles.has_permission(other, "users.read").await?;
    assert_eq!(h.source.reads(), 3);
    h.settle();
    h.roles.has_permission(user, "users.read").await?;
    h.roles.has_permission(user, "users.read").await?;
    assert_eq!(h.source.reads(), 4);

    // After a role changed, every user waits.
    h.cache.event(&h.event(EventPayload::AuthzChanged {
        scope: AuthzScope::Role("ADMIN".to_owned()),
    }));
    h.roles.has_permission(other, "users.read").await?;
    h.roles.has_permission(other, "users.read").await?;
    assert_eq!(h.source.reads(), 6);
    Ok(())
}

#[tokio::test]
async fn own_assignments_drop_the_local_copy_at_once() -> Result<()> {
    let h = Harness::new();
    let user = UserId::new();
    assert!(!h.roles.has_permission(user, "users.read").await?);
    h.roles.assign(user, "ADMIN").await?;
    h.settle();
    assert!(h.roles.has_permission(user, "users.read").await?);
    h.roles.unassign(user, "ADMIN").await?;
    assert!(!h.roles.has_permission(user, "users.read").await?);
    Ok(())
}

#[tokio::test]
async fn a_zero_ttl_caches_nothing() -> Result<()> {
    let h = Harness::unsubscribed();
    let cache = AuthzCache::new(
        h.bus.clone(),
        Arc::new(h.clock.clone()),
        AuthzCacheConfig {
            ttl: StdDuration::ZERO,
        },
    );
    cache.subscribed();
    let roles = cache.roles(h.source.clone());
    let user = admin(&h);
    roles.role_names(user).await?;
    roles.role_names(user).await?;
    assert_eq!(h.source.reads(), 2);
    Ok(())
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let waited = tokio::time::timeout(StdDuration::from_secs(5), async {
        while !done().await {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what} never happened");
}

/// Through the follow loop: the three channels are followed, and a lost
/// subscription clears and disables the cache until subscribed again.
#[tokio::test]
async fn the_listener_follows_every_channel_and_a_gap_disables_the_cache() -> Result<()> {
    let h = Harness::unsubscribed();
    let user = admin(&h);
    h.read_all(user).await?;
    h.read_all(user).await?;
    assert_eq!(h.source.reads(), 6, "nothing is served before subscribing");

    let listener = h.cache.spawn_listener();
    until("subscribed", async || h.cache.is_active()).await;
    assert_eq!(h.bus.subscriptions.load(Ordering::SeqCst), 3);
    for payload in [
        EventPayload::AuthzChanged {
            scope: AuthzScope::User(user),
        },
        EventPayload::UserDeleted { user_id: user },
        EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec!["status".to_owned()],
        },
    ] {
        h.settle();
        h.read_all(user).await?;
        let cached = h.source.reads();
        h.read_all(user).await?;
        assert_eq!(h.source.reads(), cached, "served from the cache");
        h.bus.publish(&h.event(payload.clone())).await?;
        until(&format!("{payload:?} dropped something"), async || {
            h.read_all(user).await.is_ok() && h.source.reads() > cached
        })
        .await;
    }

    h.settle();
    h.read_all(user).await?;
    h.source.revoke_all(user);
    h.bus.drop_connections();
    until("the cache turned off", async || !h.cache.is_active()).await;
    assert_eq!(
        h.roles.role_names(user).await?,
        Vec::<String>::new(),
        "what was held while events could be missed is dropped"
    );
    until("subscribed again", async || h.cache.is_active()).await;
    assert_eq!(h.bus.subscriptions.load(Ordering::SeqCst), 6);
    listener.abort();
    Ok(())
}

#[test]
fn the_ttl_setting_is_read_once_and_range_checked() -> Result<()> {
    assert_eq!(
        AuthzCacheConfig::from_source(&MapSource::new())?.ttl,
        DEFAULT_TTL
    );
    let off = MapSource::new().with(TTL_KEY, "0");
    assert_eq!(AuthzCacheConfig::from_source(&off)?.ttl, StdDuration::ZERO);
    let short = MapSource::new().with(TTL_KEY, "500ms");
    assert_eq!(
        AuthzCacheConfig::from_source(&short)?.ttl,
        StdDuration::from_millis(500)
    );
    for bad in ["121s", "1h", "soon"] {
        let source = MapSource::new().with(TTL_KEY, bad);
        let err = AuthzCacheConfig::from_source(&source).unwrap_err();
        assert!(format!("{err}").contains(TTL_KEY), "{bad}: {err}");
    }
    Ok(())
}

#[test]
fn events_are_read_as_what_they_void() {
    let user = UserId::new();
    let at = chrono::Utc::now();
    let of = |payload| AuthzChange::of(&Event::new(at, payload)).map(|c| format!("{c:?}"));
    assert_eq!(
        of(EventPayload::AuthzChanged {
            scope: AuthzScope::Role("ADMIN".to_owned())
        }),
        Some("Role(\"ADMIN\")".to_owned())
    );
    assert_eq!(
        of(EventPayload::UserUpdated {
            user_id: user,
            changed_fields: vec!["email".to_owned()],
        }),
        None
    );
    assert_eq!(
        of(EventPayload::UserCreated {
            user_id: user,
            email: "ada@example.com".to_owned(),
        }),
        None
    );
}
