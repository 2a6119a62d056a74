//! CreateRole, UpdateRole, DeleteRole, GrantPermission, RevokePermission.

use latch_domain::{
    Error, Reason, Result, RoleId,
    events::AuthzScope,
    model::{Permission, Role, RoleDeletion, RoleUpdate, builtin},
};

use super::{Actor, already_exists, as_set};
use crate::{RoleWithPermissions, Roles};

impl Roles {
    /// Creates a custom role granting `permissions` (each existing).
    /// Errors: `INVALID_ARGUMENT` (a built-in role's name in another case),
    /// `ALREADY_EXISTS`, `NOT_FOUND` (a permission), `ACCESS_DENIED`.
    pub async fn create_role(
        &self,
        actor: Actor,
        name: String,
        description: Option<String>,
        permissions: Vec<String>,
    ) -> Result<RoleWithPermissions> {
        // ADMIN itself is ALREADY_EXISTS below; "admin" would pass for it.
        if let Some(taken) = builtin::ALL
            .iter()
            .find(|b| b.eq_ignore_ascii_case(&name) && **b != name)
        {
            return Err(Error::invalid_field(
                "name",
                format!("is reserved: the built-in role {taken} has that name"),
            ));
        }
        let permissions = as_set(permissions);
        self.existing_permissions(&permissions).await?;
        if let Some(bounds) = self.bounds(actor).await? {
            for name in &permissions {
                bounds.may_grant(name)?;
            }
        }
        let role = Role {
            id: RoleId::new(),
            name,
            description,
            builtin: false,
            created_at: self.clock.now(),
        };
        let scope = AuthzScope::Role(role.name.clone());
        self.repo
            .create_role(&role, &permissions, &[self.authz_changed(scope.clone())?])
            .await
            .map_err(|err| already_exists(err, &role.name))?;
        self.forget_scope(&scope);
        Ok(RoleWithPermissions { role, permissions })
    }

    /// Changes a role's description and/or replaces its permission set.
    /// Errors: `NOT_FOUND` (role or permission), `ACCESS_DENIED`,
    /// `FAILED_PRECONDITION` (`BUILTIN_PROTECTED`: a built-in grant would
    /// go).
    pub async fn update_role(
        &self,
        actor: Actor,
        name: &str,
        mut update: RoleUpdate,
    ) -> Result<RoleWithPermissions> {
        let role = self.existing_role(name).await?;
        let bounds = self.bounds(actor).await?;
        if let Some(bounds) = &bounds {
            bounds.may_change(&role)?;
        }
        if let Some(wanted) = update.permissions.take() {
            let wanted = as_set(wanted);
            self.existing_permissions(&wanted).await?;
            let current = self.repo.permissions_of_role(role.id).await?;
            let removed: Vec<String> = current
                .iter()
                .filter(|p| !wanted.contains(p))
                .cloned()
                .collect();
            if let Some(bounds) = &bounds {
                for added in wanted.iter().filter(|p| !current.contains(p)) {
                    bounds.may_grant(added)?;
                }
                for name in &removed {
                    bounds.may_revoke(name)?;
                }
            }
            for gone in self.repo.find_permissions(&removed).await? {
                keep_builtin_grant(&role, &gone)?;
            }
            update.permissions = Some(wanted);
        }
        let scope = AuthzScope::Role(role.name.clone());
        let event = self.authz_changed(scope.clone())?;
        if !self
            .repo
            .update_role(role.id, &update, self.clock.now(), &[event])
            .await?
        {
            return Err(Error::new(
                Reason::NotFound,
                format!("role {name} does not exist"),
            ));
        }
        self.forget_scope(&scope);
        let role = self.existing_role(name).await?;
        let permissions = self.repo.permissions_of_role(role.id).await?;
        Ok(RoleWithPermissions { role, permissions })
    }

    /// Deletes a custom role. A role users hold is refused unless `force`,
    /// which takes it from them. Errors: `NOT_FOUND`, `ACCESS_DENIED`,
    /// `FAILED_PRECONDITION` (`BUILTIN_PROTECTED`, `ROLE_IN_USE`).
    pub async fn delete_role(&self, actor: Actor, name: &str, force: bool) -> Result<()> {
        let role = self.existing_role(name).await?;
        if let Some(bounds) = self.bounds(actor).await? {
            let grants = self.repo.permissions_of_role(role.id).await?;
            bounds.may_hand_out(&role.name, &grants)?;
        }
        if role.builtin {
            return Err(Error::new(
                Reason::BuiltinProtected,
                format!("{name} is a built-in role and cannot be deleted"),
            ));
        }
        let scope = AuthzScope::Role(role.name);
        let event = self.authz_changed(scope.clone())?;
        match self.repo.delete_role(role.id, force, &[event]).await? {
            RoleDeletion::Deleted { unassigned } => {
                tracing::info!(role = %name, unassigned, "role deleted");
                self.forget_scope(&scope);
                Ok(())
            }
            RoleDeletion::InUse { holders } => Err(Error::new(
                Reason::RoleInUse,
                format!(
                    "role {name} is held by {holders} user(s); delete it with force to unassign it from them"
                ),
            )),
            RoleDeletion::NotFound => Err(Error::new(
                Reason::NotFound,
                format!("role {name} does not exist"),
            )),
        }
    }

    /// Adds `permission` to the role; false when it already granted it.
    /// Errors: `NOT_FOUND` (role or permission), `ACCESS_DENIED`.
    pub async fn grant_permission(
        &self,
        actor: Actor,
        role: &str,
        permission: &str,
    ) -> Result<bool> {
        let role = self.existing_role(role).await?;
        self.existing_permission(permission).await?;
        if let Some(bounds) = self.bounds(actor).await? {
            bounds.may_change(&role)?;
            bounds.may_grant(permission)?;
        }
        let scope = AuthzScope::Role(role.name);
        let event = self.authz_changed(scope.clone())?;
        let granted = self.repo.grant(role.id, permission, &[event]).await?;
        if granted {
            self.forget_scope(&scope);
        }
        Ok(granted)
    }

    /// Removes `permission` from the role; false when it did not grant it.
    /// Errors: `NOT_FOUND` (role or permission), `ACCESS_DENIED`,
    /// `FAILED_PRECONDITION` (`BUILTIN_PROTECTED`).
    pub async fn revoke_permission(
        &self,
        actor: Actor,
        role: &str,
        permission: &str,
    ) -> Result<bool> {
        let role = self.existing_role(role).await?;
        let permission = self.existing_permission(permission).await?;
        if let Some(bounds) = self.bounds(actor).await? {
            bounds.may_change(&role)?;
            bounds.may_revoke(&permission.name)?;
        }
        keep_builtin_grant(&role, &permission)?;
        let scope = AuthzScope::Role(role.name);
        let event = self.authz_changed(scope.clone())?;
        let revoked = self
            .repo
            .revoke(role.id, &permission.name, &[event])
            .await?;
        if revoked {
            self.forget_scope(&scope);
        }
        Ok(revoked)
    }
}

/// `BUILTIN_PROTECTED` when `role` may never lose `permission`.
fn keep_builtin_grant(role: &Role, permission: &Permission) -> Result<()> {
    if role.must_keep(permission) {
        return Err(Error::new(
            Reason::BuiltinProtected,
            format!(
                "{} is a built-in grant of {} and cannot be revoked",
                permission.name, role.name
            ),
        ));
    }
    Ok(())
}
