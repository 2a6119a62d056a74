//! `roles`, `permissions`, `role_permissions` and `user_roles` behind
//! [`RoleRepository`]; the administration writes are in [`admin`].

mod admin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, RoleId, UserId,
    model::{Permission, Role, RoleDeletion, RoleUpdate},
    ports::RoleRepository,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    TryInsertResult,
};

use super::{
    db_err,
    entity::{permissions, role_permissions, roles, user_roles},
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

    /// Insert-if-absent: a repeated or racing assignment returns false, not
    /// an error. `NOT_FOUND` when the role does not exist.
    async fn assign(&self, user: UserId, role: RoleId, at: DateTime<Utc>) -> Result<bool> {
        let row = user_roles::ActiveModel {
            user_id: Set(user.0),
            role_id: Set(role.0),
            assigned_at: Set(at),
        };
        let result = user_roles::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
    }

    async fn unassign(&self, user: UserId, role: RoleId) -> Result<bool> {
        let result = user_roles::Entity::delete_many()
            .filter(user_roles::Column::UserId.eq(user.0))
            .filter(user_roles::Column::RoleId.eq(role.0))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }

    async fn unassign_all(&self, user: UserId) -> Result<u64> {
        let result = user_roles::Entity::delete_many()
            .filter(user_roles::Column::UserId.eq(user.0))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
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

    async fn create_role(&self, role: &Role, permissions: &[String]) -> Result<()> {
        admin::create_role(&self.db, role, permissions).await
    }

    async fn update_role(
        &self,
        role: RoleId,
        update: &RoleUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        admin::update_role(&self.db, role, update, at).await
    }

    async fn delete_role(&self, role: RoleId, force: bool) -> Result<RoleDeletion> {
        admin::delete_role(&self.db, role, force).await
    }

    async fn grant(&self, role: RoleId, permission: &str) -> Result<bool> {
        let row = role_permissions::ActiveModel {
            role_id: Set(role.0),
            permission: Set(permission.to_owned()),
        };
        let result = role_permissions::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
    }

    async fn revoke(&self, role: RoleId, permission: &str) -> Result<bool> {
        let result = role_permissions::Entity::delete_many()
            .filter(role_permissions::Column::RoleId.eq(role.0))
            .filter(role_permissions::Column::Permission.eq(permission))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
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

    async fn create_permission(&self, permission: &Permission, grant_to: &[RoleId]) -> Result<()> {
        admin::create_permission(&self.db, permission, grant_to).await
    }

    async fn delete_permission(&self, name: &str) -> Result<Option<Vec<String>>> {
        admin::delete_permission(&self.db, name).await
    }
}
