//! Role and permission queries and role assignment.

use std::sync::Arc;

use async_trait::async_trait;
use latch_domain::{
    Clock, Error, Result, UserId,
    model::{Role, builtin},
    ports::{RoleDirectory, RoleRepository, UserDataEraser},
};

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
    repo: Arc<dyn RoleRepository>,
    clock: Arc<dyn Clock>,
}

impl Roles {
    pub fn new(repo: Arc<dyn RoleRepository>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self { repo, clock })
    }

    /// The roles the user holds, each with its permissions; empty for a user
    /// without roles (or one this service has never heard of).
    pub async fn user_roles(&self, user: UserId) -> Result<Vec<RoleWithPermissions>> {
        let mut roles = self.repo.roles_of_user(user).await?;
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(roles.len());
        for role in roles {
            let mut permissions = self.repo.permissions_of_role(role.id).await?;
            sort_dedup(&mut permissions);
            out.push(RoleWithPermissions { role, permissions });
        }
        Ok(out)
    }

    /// Every permission granted through any of the user's roles, sorted and
    /// without duplicates.
    pub async fn user_permissions(&self, user: UserId) -> Result<Vec<String>> {
        let mut permissions = self.repo.permissions_of_user(user).await?;
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
            .repo
            .roles_of_user(user)
            .await?
            .iter()
            .any(|r| r.name == builtin::SUPERADMIN))
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
            .repo
            .roles_of_user(user)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        sort_dedup(&mut names);
        Ok(names)
    }

    /// One query: the permissions of the user's roles, joined in the store.
    async fn has_permission(&self, user: UserId, permission: &str) -> Result<bool> {
        Ok(self
            .repo
            .permissions_of_user(user)
            .await?
            .iter()
            .any(|p| p == permission))
    }

    async fn assign(&self, user: UserId, role: &str) -> Result<bool> {
        let role = self.role_named(role).await?;
        self.repo.assign(user, role.id, self.clock.now()).await
    }

    async fn unassign(&self, user: UserId, role: &str) -> Result<bool> {
        let role = self.role_named(role).await?;
        self.repo.unassign(user, role.id).await
    }
}

/// A deleted user's part (identity's DeleteUser, through its outbox):
/// every role assignment goes. Idempotent.
#[async_trait]
impl UserDataEraser for Roles {
    async fn erase_user(&self, user: UserId) -> Result<u64> {
        self.repo.unassign_all(user).await
    }
}

fn sort_dedup(names: &mut Vec<String>) {
    names.sort();
    names.dedup();
}

#[cfg(test)]
mod tests;
