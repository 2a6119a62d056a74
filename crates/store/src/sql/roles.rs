//! `roles`, `permissions`, `role_permissions` and `user_roles` behind
//! [`RoleRepository`]; the assignments are in [`assignment`], the
//! administration writes in [`admin`]. Every write commits its outbox rows
//! (its `authz:changed`) with it, and only when it changed something.

mod admin;
mod assignment;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, RoleId, UserId,
    model::{Permission, Role, RoleDeletion, RoleUpdate},
    ports::{FollowUp, NewOutboxMessage, RoleRepository},
};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::{
    db_err,
    entity::{permissions, role_permissions, roles, user_roles},
    outbox,
};
use crate::Database;

/// Roles and their assignment on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlRoles {
    db: Database,
}

impl SqlRoles {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Commits `txn`, with `follow_up` when the write `changed` something,
/// and then wakes this process's outbox worker for the rows.
async fn commit(
    db: &Database,
    txn: DatabaseTransaction,
    changed: bool,
    follow_up: &[NewOutboxMessage],
) -> Result<()> {
    let written = changed && !follow_up.is_empty();
    if written {
        outbox::write(&txn, follow_up).await?;
    }
    txn.commit().await.map_err(db_err)?;
    if written {
        db.outbox_written();
    }
    Ok(())
}

fn to_role(row: roles::Model) -> Role {
    Role {
        id: RoleId(row.id),
        name: row.name,
        description: row.description,
        builtin: row.builtin,
        created_at: row.created_at,
    }
}

fn to_permission(row: permissions::Model) -> Permission {
    Permission {
        name: row.name,
        description: row.description,
        builtin: row.builtin,
        created_at: row.created_at,
    }
}

#[async_trait]
impl RoleRepository for SqlRoles {
    /// By name.
    async fn list_roles(&self) -> Result<Vec<Role>> {
        let rows = roles::Entity::find()
            .order_by_asc(roles::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_role).collect())
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        let row = roles::Entity::find()
            .filter(roles::Column::Name.eq(name))
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(row.map(to_role))
    }

    /// By name.
    async fn roles_of_user(&self, user: UserId) -> Result<Vec<Role>> {
        let held = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::RoleId)
            .filter(user_roles::Column::UserId.eq(user.0))
            .into_query();
        let rows = roles::Entity::find()
            .filter(roles::Column::Id.in_subquery(held))
            .order_by_asc(roles::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_role).collect())
    }

    /// Sorted, without duplicates.
    async fn permissions_of_user(&self, user: UserId) -> Result<Vec<String>> {
        let held = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::RoleId)
            .filter(user_roles::Column::UserId.eq(user.0))
            .into_query();
        role_permissions::Entity::find()
            .select_only()
            .column(role_permissions::Column::Permission)
            .distinct()
            .filter(role_permissions::Column::RoleId.in_subquery(held))
            .order_by_asc(role_permissions::Column::Permission)
            .into_tuple::<String>()
            .all(self.db.connection())
            .await
            .map_err(db_err)
    }

    /// Sorted.
    async fn permissions_of_role(&self, role: RoleId) -> Result<Vec<String>> {
        role_permissions::Entity::find()
            .select_only()
            .column(role_permissions::Column::Permission)
            .filter(role_permissions::Column::RoleId.eq(role.0))
            .order_by_asc(role_permissions::Column::Permission)
            .into_tuple::<String>()
            .all(self.db.connection())
            .await
            .map_err(db_err)
    }

    async fn assign(
        &self,
        user: UserId,
        role: RoleId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        assignment::assign(&self.db, user, role, at, follow_up).await
    }

    async fn unassign(
        &self,
        user: UserId,
        role: RoleId,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        assignment::unassign(&self.db, user, role, follow_up).await
    }

    async fn unassign_all(&self, user: UserId, follow_up: &[NewOutboxMessage]) -> Result<u64> {
        assignment::unassign_all(&self.db, user, follow_up).await
    }

    /// By name (the database's collation); keyset after `after`.
    async fn list_roles_after(&self, after: Option<&str>, limit: u64) -> Result<Vec<Role>> {
        let mut query = roles::Entity::find();
        if let Some(after) = after {
            query = query.filter(roles::Column::Name.gt(after));
        }
        let rows = query
            .order_by_asc(roles::Column::Name)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_role).collect())
    }

    async fn grants_of_roles(&self, ids: &[RoleId]) -> Result<Vec<(RoleId, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = role_permissions::Entity::find()
            .filter(role_permissions::Column::RoleId.is_in(ids.iter().map(|id| id.0)))
            .order_by_asc(role_permissions::Column::Permission)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|row| (RoleId(row.role_id), row.permission))
            .collect())
    }

    async fn create_role(
        &self,
        role: &Role,
        permissions: &[String],
        follow_up: &[NewOutboxMessage],
    ) -> Result<()> {
        admin::create_role(&self.db, role, permissions, follow_up).await
    }

    async fn update_role(
        &self,
        role: RoleId,
        update: &RoleUpdate,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        admin::update_role(&self.db, role, update, at, follow_up).await
    }

    async fn delete_role(
        &self,
        role: RoleId,
        force: bool,
        follow_up: &[NewOutboxMessage],
    ) -> Result<RoleDeletion> {
        admin::delete_role(&self.db, role, force, follow_up).await
    }

    async fn grant(
        &self,
        role: RoleId,
        permission: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        admin::grant(&self.db, role, permission, follow_up).await
    }

    async fn revoke(
        &self,
        role: RoleId,
        permission: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        admin::revoke(&self.db, role, permission, follow_up).await
    }

    async fn find_permissions(&self, names: &[String]) -> Result<Vec<Permission>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = permissions::Entity::find()
            .filter(permissions::Column::Name.is_in(names.iter().cloned()))
            .order_by_asc(permissions::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_permission).collect())
    }

    /// By name (the database's collation); keyset after `after`.
    async fn list_permissions_after(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Permission>> {
        let mut query = permissions::Entity::find();
        if let Some(after) = after {
            query = query.filter(permissions::Column::Name.gt(after));
        }
        let rows = query
            .order_by_asc(permissions::Column::Name)
            .limit(limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_permission).collect())
    }

    async fn create_permission(
        &self,
        permission: &Permission,
        grant_to: &[RoleId],
        follow_up: &[NewOutboxMessage],
    ) -> Result<()> {
        admin::create_permission(&self.db, permission, grant_to, follow_up).await
    }

    async fn delete_permission(
        &self,
        name: &str,
        follow_up: FollowUp<'_, str>,
    ) -> Result<Option<Vec<String>>> {
        admin::delete_permission(&self.db, name, follow_up).await
    }
}
