//! [`RoleDirectory`] and [`UserDirectory`] decorators that serve repeated
//! reads from this process, for the binaries that reach the authorization
//! and identity services over gRPC (and latchd's token refresh, which reads
//! a user's status).
//!
//! One [`AuthzCache`] per process holds the answers and follows
//! `authz:changed`, `user:deleted` and `user:updated` as one subscription;
//! the decorators share it.

use std::{
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Clock, Result, UserId,
    events::{Channel, Event},
    model::UserStatus,
    ports::{EventBus, RoleDirectory, UserDirectory},
};
use tokio::task::JoinHandle;

use super::{AuthzCacheConfig, AuthzChange};
use crate::{
    config::ConfigSource,
    follow::{self, Follower},
    ttl_cache::TtlCache,
};

/// Users whose role names are kept at most, and decisions (user,
/// permission) kept at most.
const USERS: usize = 10_000;
const DECISIONS: usize = 50_000;

/// The authorization service caches too, and may get an event a moment
/// after this process: what is read of a user right after an invalidation
/// may still be its old copy, so it is not kept. Redis delivers an event to
/// every subscriber within milliseconds; this is the margin.
const SETTLE: Duration = Duration::from_secs(1);

/// The answers of the sibling services about users, private to this
/// process. Served only while subscribed to the events that void them.
pub struct AuthzCache {
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    role_names: TtlCache<UserId, Arc<[String]>>,
    decisions: TtlCache<(UserId, String), bool>,
    statuses: TtlCache<UserId, Option<UserStatus>>,
    /// Users whose roles changed lately, and until when nothing read of
    /// them is kept ([`SETTLE`]).
    settling: quick_cache::sync::Cache<UserId, DateTime<Utc>>,
    /// The same for every user, after a role changed.
    everyone_settling: Mutex<Option<DateTime<Utc>>>,
}

impl AuthzCache {
    /// An inactive cache: nothing is served until
    /// [`Self::spawn_listener`] has subscribed.
    pub fn new(
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        config: AuthzCacheConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            bus,
            clock,
            role_names: TtlCache::new(config.ttl, USERS),
            decisions: TtlCache::new(config.ttl, DECISIONS),
            statuses: TtlCache::new(config.ttl, USERS),
            settling: quick_cache::sync::Cache::new(USERS),
            everyone_settling: Mutex::new(None),
        })
    }

    /// A cache configured from `LATCH_AUTHZ_CACHE_TTL`, its listener
    /// started: what a binary puts in front of its sibling clients.
    pub fn start(
        source: &dyn ConfigSource,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>> {
        let cache = Self::new(bus, clock, AuthzCacheConfig::from_source(source)?);
        cache.spawn_listener();
        Ok(cache)
    }

    /// Follows the events that void cached answers, for as long as this
    /// cache lives (see [`crate::follow`]): when the subscription is lost,
    /// everything is dropped and nothing is served until subscribed again.
    pub fn spawn_listener(self: &Arc<Self>) -> JoinHandle<()> {
        follow::spawn_all(
            self,
            &[
                Channel::AuthzChanged,
                Channel::UserDeleted,
                Channel::UserUpdated,
            ],
        )
    }

    /// `inner`, with `role_names` and `has_permission` served from here.
    pub fn roles(self: &Arc<Self>, inner: Arc<dyn RoleDirectory>) -> Arc<CachedRoles> {
        Arc::new(CachedRoles {
            inner,
            cache: self.clone(),
        })
    }

    /// `inner`, with `status` served from here.
    pub fn users(self: &Arc<Self>, inner: Arc<dyn UserDirectory>) -> Arc<CachedUsers> {
        Arc::new(CachedUsers {
            inner,
            cache: self.clone(),
        })
    }

    #[cfg(test)]
    pub(super) fn is_active(&self) -> bool {
        self.role_names.is_active()
    }

    fn set_active(&self, active: bool) {
        self.role_names.set_active(active);
        self.decisions.set_active(active);
        self.statuses.set_active(active);
    }

    /// The user's roles changed.
    fn forget_roles(&self, user: UserId) {
        self.settling.insert(user, self.clock.now() + SETTLE);
        self.role_names.invalidate(&user);
        self.decisions
            .invalidate_where(|(holder, _), _| *holder == user);
    }

    /// What `role` grants changed, or it is gone.
    fn forget_role(&self, role: &str) {
        *self.everyone() = Some(self.clock.now() + SETTLE);
        self.role_names
            .invalidate_where(|_, names| names.iter().any(|n| n == role));
        // A decision does not say which role granted it.
        self.decisions.clear();
    }

    /// Whether what is read of `user` at `now` may be an authorization
    /// replica's copy from before a change this process has seen.
    fn settling(&self, user: UserId, now: DateTime<Utc>) -> bool {
        self.settling.get(&user).is_some_and(|until| now < until)
            || self.everyone().is_some_and(|until| now < until)
    }

    fn everyone(&self) -> MutexGuard<'_, Option<DateTime<Utc>>> {
        self.everyone_settling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `cache`'s value for `key` (about `user`), else `load`'s, kept unless
    /// `user` is settling. Errors are returned, never kept.
    async fn read<K, V, F, Fut>(
        &self,
        cache: &TtlCache<K, V>,
        key: K,
        user: UserId,
        load: F,
    ) -> Result<V>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let now = self.clock.now();
        if let Some(value) = cache.get(&key, now) {
            return Ok(value);
        }
        let fill = cache.begin(now);
        let value = load().await?;
        if !self.settling(user, now) {
            cache.keep(key, value.clone(), fill);
        }
        Ok(value)
    }
}

impl Follower for AuthzCache {
    fn bus(&self) -> &dyn EventBus {
        self.bus.as_ref()
    }

    fn subscribed(&self) {
        self.set_active(true);
    }

    fn event(&self, event: &Event) {
        match AuthzChange::of(event) {
            Some(AuthzChange::User(user)) => self.forget_roles(user),
            Some(AuthzChange::Role(role)) => self.forget_role(role),
            // A status is read from the database, written before the
            // event: no copy elsewhere to wait for.
            Some(AuthzChange::Status(user)) => self.statuses.invalidate(&user),
            Some(AuthzChange::Deleted(user)) => {
                self.forget_roles(user);
                self.statuses.invalidate(&user);
            }
            None => {}
        }
    }

    fn lost(&self) {
        // Changes may be missed from here on.
        self.set_active(false);
    }
}

/// A [`RoleDirectory`] whose reads are served from an [`AuthzCache`];
/// assignments go through and drop this process's copy at once.
pub struct CachedRoles {
    inner: Arc<dyn RoleDirectory>,
    cache: Arc<AuthzCache>,
}

#[async_trait]
impl RoleDirectory for CachedRoles {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        let cache = &self.cache;
        let names = cache
            .read(&cache.role_names, user, user, || async {
                Ok(Arc::from(self.inner.role_names(user).await?))
            })
            .await?;
        Ok(names.to_vec())
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        let cache = &self.cache;
        let key = (user, permission.to_owned());
        cache
            .read(&cache.decisions, key, user, || {
                self.inner.has_permission(user, permission)
            })
            .await
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        let assigned = self.inner.assign(user, role).await?;
        self.cache.forget_roles(user);
        Ok(assigned)
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        let unassigned = self.inner.unassign(user, role).await?;
        self.cache.forget_roles(user);
        Ok(unassigned)
    }
}

/// A [`UserDirectory`] whose `status` is served from an [`AuthzCache`].
pub struct CachedUsers {
    inner: Arc<dyn UserDirectory>,
    cache: Arc<AuthzCache>,
}

#[async_trait]
impl UserDirectory for CachedUsers {
    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        self.cache
            .statuses
            .get_or_load(user, self.cache.clock.as_ref(), || self.inner.status(user))
            .await
    }
}
