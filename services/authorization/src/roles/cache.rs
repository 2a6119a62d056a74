//! The roles (with their permissions) of users recently asked about,
//! private to this process: every `Check`, `ListUserRoles`,
//! `ListUserPermissions` and admin check of the service is derived from one
//! entry per user.
//!
//! An entry is served only while the listener is subscribed to
//! `authz:changed` and `user:deleted`, which drop it when any replica
//! changes the user's assignments or a role the user holds, and for at most
//! `LATCH_AUTHZ_CACHE_TTL`, which bounds what a lost event can leave stale.
//! This replica's own writes drop their user's entry at once.

use std::sync::Arc;

use latch_domain::{
    Result, RoleId, UserId,
    events::{AuthzScope, Channel, Event},
    ports::EventBus,
};
use latch_runtime::{
    authz_cache::{AuthzCacheConfig, AuthzChange},
    follow::{self, Follower},
    ttl_cache::TtlCache,
};
use tokio::task::JoinHandle;

use super::{RoleWithPermissions, Roles, sort_dedup};

/// Users whose roles are kept at most (a few roles of a few dozen
/// permission names each).
const USERS: usize = 10_000;

/// What every read of a user's authorization is derived from.
pub(super) type Held = Arc<[RoleWithPermissions]>;

/// The per-process cache of [`Roles`]; see the module docs.
pub struct RoleCache {
    bus: Arc<dyn EventBus>,
    held: TtlCache<UserId, Held>,
}

impl RoleCache {
    /// An inactive cache: nothing is served until
    /// [`Self::spawn_listener`] has subscribed.
    pub fn new(bus: Arc<dyn EventBus>, config: AuthzCacheConfig) -> Arc<Self> {
        Arc::new(Self {
            bus,
            held: TtlCache::new(config.ttl, USERS),
        })
    }

    /// Follows `authz:changed` and `user:deleted` for as long as this cache
    /// lives: when the subscription is lost, everything is dropped and
    /// nothing is served until subscribed again.
    pub fn spawn_listener(self: &Arc<Self>) -> JoinHandle<()> {
        follow::spawn_all(self, &[Channel::AuthzChanged, Channel::UserDeleted])
    }

    #[cfg(test)]
    pub(crate) fn is_active(&self) -> bool {
        self.held.is_active()
    }

    fn forget(&self, change: AuthzChange<'_>) {
        match change {
            AuthzChange::User(user) | AuthzChange::Deleted(user) => self.held.invalidate(&user),
            // Names are immutable: an entry holds the role exactly when
            // the user does.
            AuthzChange::Role(role) => self
                .held
                .invalidate_where(|_, held| held.iter().any(|r| r.role.name == role)),
            AuthzChange::Status(_) => {}
        }
    }
}

impl Follower for RoleCache {
    fn bus(&self) -> &dyn EventBus {
        self.bus.as_ref()
    }

    fn subscribed(&self) {
        self.held.set_active(true);
    }

    fn event(&self, event: &Event) {
        if let Some(change) = AuthzChange::of(event) {
            self.forget(change);
        }
    }

    fn lost(&self) {
        // Changes may be missed from here on.
        self.held.set_active(false);
    }
}

impl Roles {
    /// The user's roles sorted by name, each with its permissions sorted:
    /// from the cache when there is one and it holds the user, else from
    /// the store (and kept).
    pub(super) async fn held(&self, user: UserId) -> Result<Held> {
        match &self.cache {
            Some(cache) => {
                cache
                    .held
                    .get_or_load(user, self.clock.as_ref(), || self.load(user))
                    .await
            }
            None => self.load(user).await,
        }
    }

    /// Drops this process's copy of the user, right after a write.
    pub(super) fn forget(&self, user: UserId) {
        if let Some(cache) = &self.cache {
            cache.held.invalidate(&user);
        }
    }

    /// Drops this process's copies that a committed change of `scope`
    /// voids, right after the write.
    pub(crate) fn forget_scope(&self, scope: &AuthzScope) {
        if let Some(cache) = &self.cache {
            cache.forget(match scope {
                AuthzScope::User(user) => AuthzChange::User(*user),
                AuthzScope::Role(role) => AuthzChange::Role(role),
            });
        }
    }

    /// Two queries: the user's roles, then every grant of those roles.
    async fn load(&self, user: UserId) -> Result<Held> {
        let mut roles = self.repo.roles_of_user(user).await?;
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let ids: Vec<RoleId> = roles.iter().map(|r| r.id).collect();
        let grants = self.repo.grants_of_roles(&ids).await?;
        Ok(roles
            .into_iter()
            .map(|role| {
                let mut permissions: Vec<String> = grants
                    .iter()
                    .filter(|(id, _)| *id == role.id)
                    .map(|(_, permission)| permission.clone())
                    .collect();
                sort_dedup(&mut permissions);
                RoleWithPermissions { role, permissions }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
