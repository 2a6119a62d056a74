//! `roles`, `role_permissions` and `user_roles` behind [`RoleRepository`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{Result, RoleId, UserId, model::Role, ports::RoleRepository};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    TryInsertResult,
};

use super::{
    db_err,
    entity::{role_permissions, roles, user_roles},
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
}
