//! CreatePermission and DeletePermission.

use latch_domain::{
    Error, Reason, Result,
    events::AuthzScope,
    model::{Permission, builtin},
};

use super::already_exists;
use crate::Roles;

impl Roles {
    /// Creates a custom permission, granted at once to SUPERADMIN (which
    /// holds every permission). Errors: `ALREADY_EXISTS`.
    pub async fn create_permission(
        &self,
        name: String,
        description: Option<String>,
    ) -> Result<Permission> {
        let superadmin = self.existing_role(builtin::SUPERADMIN).await?;
        let permission = Permission {
            name,
            description,
            builtin: false,
            created_at: self.clock.now(),
        };
        let scope = AuthzScope::Role(superadmin.name);
        let event = self.authz_changed(scope.clone())?;
        self.repo
            .create_permission(&permission, &[superadmin.id], &[event])
            .await
            .map_err(|err| already_exists(err, &permission.name))?;
        self.forget_scope(&scope);
        Ok(permission)
    }

    /// Deletes a custom permission and every grant of it. Errors:
    /// `NOT_FOUND`, `FAILED_PRECONDITION` (`BUILTIN_PROTECTED`).
    pub async fn delete_permission(&self, name: &str) -> Result<()> {
        let permission = self.existing_permission(name).await?;
        if permission.builtin {
            return Err(Error::new(
                Reason::BuiltinProtected,
                format!("{name} is a built-in permission and cannot be deleted"),
            ));
        }
        // One event per role that granted it: its holders lost it.
        let announce = |role: &str| {
            self.authz_changed(AuthzScope::Role(role.to_owned()))
                .map(|event| vec![event])
        };
        let Some(granting) = self.repo.delete_permission(name, &announce).await? else {
            return Err(Error::new(
                Reason::NotFound,
                format!("permission {name} does not exist"),
            ));
        };
        for role in granting {
            self.forget_scope(&AuthzScope::Role(role));
        }
        Ok(())
    }
}
