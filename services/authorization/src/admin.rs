//! Role and permission administration: the flows behind CreateRole,
//! UpdateRole, DeleteRole, ListRoles, CreatePermission, DeletePermission,
//! ListPermissions, GrantPermission and RevokePermission, and the rules an
//! administrator's AssignRole and UnassignRole obey.
//!
//! The auth layer already required `roles.write` (or `roles.read`) of a
//! user caller; what depends on the data is decided here, with the
//! [`Actor`]: who is not a SUPERADMIN cannot escalate ([`bounds`]), and
//! nobody removes what Latch itself relies on (built-in roles, built-in
//! permissions, the built-in grants of the built-in roles). Each write is
//! one store transaction that also writes its `authz:changed` to the
//! outbox, for the worker to deliver.

mod assignment;
mod bounds;
mod listing;
mod permission_changes;
mod role_changes;

use latch_domain::{Error, Reason, Result, model::Permission, model::Role};

pub use bounds::Actor;
pub use listing::Page;

use crate::Roles;

impl Roles {
    /// The role named `name`, or `NOT_FOUND` naming it.
    async fn existing_role(&self, name: &str) -> Result<Role> {
        self.repo
            .find_role(name)
            .await?
            .ok_or_else(|| Error::new(Reason::NotFound, format!("role {name} does not exist")))
    }

    /// The permissions named (sorted, each once), or `NOT_FOUND` naming
    /// the first that does not exist.
    async fn existing_permissions(&self, names: &[String]) -> Result<Vec<Permission>> {
        let found = self.repo.find_permissions(names).await?;
        if let Some(missing) = names
            .iter()
            .find(|name| !found.iter().any(|p| &p.name == *name))
        {
            return Err(Error::new(
                Reason::NotFound,
                format!("permission {missing} does not exist"),
            ));
        }
        Ok(found)
    }

    async fn existing_permission(&self, name: &str) -> Result<Permission> {
        let mut found = self.existing_permissions(&[name.to_owned()]).await?;
        found
            .pop()
            .ok_or_else(|| Error::internal_msg("a found permission went missing"))
    }
}

/// A duplicate name, said plainly.
fn already_exists(err: Error, name: &str) -> Error {
    if err.is(Reason::AlreadyExists) {
        Error::new(Reason::AlreadyExists, format!("{name} already exists"))
    } else {
        err
    }
}

/// `names` sorted, each once: a set of permissions as stored.
fn as_set(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests;
