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
        self.repo
            .create_permission(&permission, &[superadmin.id])
            .await
            .map_err(|err| already_exists(err, &permission.name))?;
        self.publish_authz_changed(AuthzScope::Role(superadmin.name))
            .await;
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
        let Some(granting) = self.repo.delete_permission(name).await? else {
            return Err(Error::new(
                Reason::NotFound,
                format!("permission {name} does not exist"),
            ));
        };
        for role in granting {
            self.publish_authz_changed(AuthzScope::Role(role)).await;
        }
        Ok(())
    }
}
