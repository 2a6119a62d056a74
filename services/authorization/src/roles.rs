//! Role and permission queries and role assignment.

mod cache;

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result, UserId,
    events::{AuthzScope, Event, EventPayload},
    model::{Role, builtin},
    ports::{NewOutboxMessage, RoleDirectory, RoleRepository, UserDataEraser},
};

pub use cache::RoleCache;

/// A role together with the names of the permissions it grants, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleWithPermissions {
    pub role: Role,
    pub permissions: Vec<String>,
}

/// The answer to "may this user do that", with the reason when it may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why not; `None` when allowed.
    pub reason: Option<String>,
}

/// RBAC over the `roles`, `permissions`, `role_permissions` and `user_roles`
/// tables. The built-in roles (SUPERADMIN, ADMIN, USER) and the permissions
/// Latch checks are seeded by migration.
pub struct Roles {
    pub(crate) repo: Arc<dyn RoleRepository>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where the reads below are served from, when configured.
    cache: Option<Arc<RoleCache>>,
}

impl Roles {
    /// Every read goes to the store.
    pub fn new(repo: Arc<dyn RoleRepository>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            repo,
            clock,
            cache: None,
        })
    }

    /// Reads are served from `cache` while its listener is subscribed.
    pub fn with_cache(
        repo: Arc<dyn RoleRepository>,
        clock: Arc<dyn Clock>,
        cache: Arc<RoleCache>,
    ) -> Arc<Self> {
        Arc::new(Self {
            repo,
            clock,
            cache: Some(cache),
        })
    }

    /// The `authz:changed` of a change of `scope`, as the outbox row the
    /// repository writes in the change's own transaction (and only when
    /// something changed): the outbox worker delivers it, so a committed
    /// change is never left unannounced, even with the bus down.
    pub(crate) fn authz_changed(&self, scope: AuthzScope) -> Result<NewOutboxMessage> {
        Event::new(self.clock.now(), EventPayload::AuthzChanged { scope }).to_outbox()
    }

    /// The roles the user holds, each with its permissions; empty for a user
    /// without roles (or one this service has never heard of).
    pub async fn user_roles(&self, user: UserId) -> Result<Vec<RoleWithPermissions>> {
        Ok(self.held(user).await?.to_vec())
    }

    /// Every permission granted through any of the user's roles, sorted and
    /// without duplicates.
    pub async fn user_permissions(&self, user: UserId) -> Result<Vec<String>> {
        let mut permissions: Vec<String> = self
            .held(user)
            .await?
            .iter()
            .flat_map(|r| r.permissions.iter().cloned())
            .collect();
        sort_dedup(&mut permissions);
        Ok(permissions)
    }

    /// Whether the user holds `permission`, and if not, why.
    pub async fn check(&self, user: UserId, permission: &str) -> Result<Decision> {
        let allowed = self.has_permission(user, permission).await?;
        Ok(Decision {
            allowed,
            reason: (!allowed).then(|| format!("no role of the user grants {permission}")),
        })
    }

    /// Whether the user holds the SUPERADMIN role: only such a user may hand
    /// SUPERADMIN out or take it away.
    pub async fn is_superadmin(&self, user: UserId) -> Result<bool> {
        Ok(self
            .held(user)
            .await?
            .iter()
            .any(|r| r.role.name == builtin::SUPERADMIN))
    }

    async fn role_named(&self, name: &str) -> Result<Role> {
        self.repo
            .find_role(name)
            .await?
            .ok_or_else(|| Error::not_found("role"))
    }
}

#[async_trait]
impl RoleDirectory for Roles {
    async fn role_names(&self, user: UserId) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .held(user)
            .await?
            .iter()
            .map(|r| r.role.name.clone())
            .collect();
        sort_dedup(&mut names);
        Ok(names)
    }

    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        Ok(self
            .held(user)
            .await?
            .iter()
            .any(|r| r.permissions.iter().any(|p| p == permission)))
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        let role = self.role_named(role).await?;
        let event = self.authz_changed(AuthzScope::User(user))?;
        let assigned = self
            .repo
            .assign(user, role.id, self.clock.now(), &[event])
            .await?;
        // Own writes show here at once, not when the event comes back.
        self.forget(user);
        Ok(assigned)
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        let role = self.role_named(role).await?;
        let event = self.authz_changed(AuthzScope::User(user))?;
        let unassigned = self.repo.unassign(user, role.id, &[event]).await?;
        self.forget(user);
        Ok(unassigned)
    }
}

/// A deleted user's part (identity's DeleteUser, through its outbox):
/// every role assignment goes. Idempotent.
#[async_trait]
impl UserDataEraser for Roles {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        let event = self.authz_changed(AuthzScope::User(user))?;
        let erased = self.repo.unassign_all(user, &[event]).await?;
        self.forget(user);
        Ok(erased)
    }
}

fn sort_dedup(names: &mut Vec<String>) {
    names.sort();
    names.dedup();
}

#[cfg(test)]
mod tests;
