//! The administration writes of [`super::SqlRoles`], each one transaction:
//! it completes or leaves no trace, and its outbox rows are written in it
//! when it changed something.
//!
//! Deletions decide under a lock on the row they delete. The first
//! statement writes, so SQLite takes its write lock at once (a transaction
//! that read first cannot upgrade while another writes); on PostgreSQL the
//! `FOR UPDATE` that follows conflicts with the key-share lock a foreign-key
//! check takes, so no assignment or grant of the row commits between what
//! the deletion counts and what it deletes.

use latch_domain::{
    Result, RoleId,
    model::{Permission, Role, RoleDeletion, RoleUpdate},
    ports::{FollowUp, NewOutboxMessage},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait, TryInsertResult, sea_query::Expr,
};

use super::commit;
use crate::{
    Database,
    sql::{
        db_err,
        entity::{permissions, role_permissions, roles, user_roles},
    },
};

pub(super) async fn create_role(
    db: &Database,
    role: &Role,
    granted: &[String],
    follow_up: &[NewOutboxMessage],
) -> Result<()> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    roles::Entity::insert(roles::ActiveModel {
        id: Set(role.id.0),
        name: Set(role.name.clone()),
        description: Set(role.description.clone()),
        builtin: Set(role.builtin),
        created_at: Set(role.created_at),
        updated_at: Set(role.created_at),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_err)?;
    insert_grants(&txn, &[role.id], granted).await?;
    commit(db, txn, true, follow_up).await
}

pub(super) async fn update_role(
    db: &Database,
    role: RoleId,
    update: &RoleUpdate,
    at: chrono::DateTime<chrono::Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let mut statement = roles::Entity::update_many()
        .col_expr(roles::Column::UpdatedAt, Expr::value(at))
        .filter(roles::Column::Id.eq(role.0));
    if let Some(description) = &update.description {
        statement =
            statement.col_expr(roles::Column::Description, Expr::value(description.clone()));
    }
    if statement.exec(&txn).await.map_err(db_err)?.rows_affected == 0 {
        return Ok(false);
    }
    if let Some(granted) = &update.permissions {
        role_permissions::Entity::delete_many()
            .filter(role_permissions::Column::RoleId.eq(role.0))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        insert_grants(&txn, &[role], granted).await?;
    }
    commit(db, txn, true, follow_up).await?;
    Ok(true)
}

pub(super) async fn delete_role(
    db: &Database,
    role: RoleId,
    force: bool,
    follow_up: &[NewOutboxMessage],
) -> Result<RoleDeletion> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let custom = roles::Entity::update_many()
        .col_expr(
            roles::Column::UpdatedAt,
            Expr::col(roles::Column::UpdatedAt),
        )
        .filter(roles::Column::Id.eq(role.0))
        .filter(roles::Column::Builtin.eq(false))
        .exec(&txn)
        .await
        .map_err(db_err)?
        .rows_affected
        > 0;
    if !custom {
        return Ok(RoleDeletion::NotFound);
    }
    roles::Entity::find_by_id(role.0)
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(db_err)?;
    let holders = user_roles::Entity::find()
        .filter(user_roles::Column::RoleId.eq(role.0))
        .count(&txn)
        .await
        .map_err(db_err)?;
    if holders > 0 && !force {
        return Ok(RoleDeletion::InUse { holders });
    }
    // Its grants and assignments go with it (ON DELETE CASCADE).
    roles::Entity::delete_by_id(role.0)
        .exec(&txn)
        .await
        .map_err(db_err)?;
    commit(db, txn, true, follow_up).await?;
    Ok(RoleDeletion::Deleted {
        unassigned: holders,
    })
}

pub(super) async fn create_permission(
    db: &Database,
    permission: &Permission,
    grant_to: &[RoleId],
    follow_up: &[NewOutboxMessage],
) -> Result<()> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    permissions::Entity::insert(permissions::ActiveModel {
        name: Set(permission.name.clone()),
        description: Set(permission.description.clone()),
        builtin: Set(permission.builtin),
        created_at: Set(permission.created_at),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_err)?;
    insert_grants(&txn, grant_to, std::slice::from_ref(&permission.name)).await?;
    commit(db, txn, true, follow_up).await
}

pub(super) async fn delete_permission(
    db: &Database,
    name: &str,
    follow_up: FollowUp<'_, str>,
) -> Result<Option<Vec<String>>> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let custom = permissions::Entity::update_many()
        .col_expr(
            permissions::Column::Description,
            Expr::col(permissions::Column::Description),
        )
        .filter(permissions::Column::Name.eq(name))
        .filter(permissions::Column::Builtin.eq(false))
        .exec(&txn)
        .await
        .map_err(db_err)?
        .rows_affected
        > 0;
    if !custom {
        return Ok(None);
    }
    permissions::Entity::find_by_id(name.to_owned())
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(db_err)?;
    let granting = role_permissions::Entity::find()
        .select_only()
        .column(role_permissions::Column::RoleId)
        .filter(role_permissions::Column::Permission.eq(name))
        .into_query();
    let roles: Vec<String> = roles::Entity::find()
        .select_only()
        .column(roles::Column::Name)
        .filter(roles::Column::Id.in_subquery(granting))
        .order_by_asc(roles::Column::Name)
        .into_tuple()
        .all(&txn)
        .await
        .map_err(db_err)?;
    // Every grant of it goes with it (ON DELETE CASCADE).
    permissions::Entity::delete_by_id(name.to_owned())
        .exec(&txn)
        .await
        .map_err(db_err)?;
    let mut messages = Vec::new();
    for role in &roles {
        messages.extend(follow_up(role)?);
    }
    commit(db, txn, true, &messages).await?;
    Ok(Some(roles))
}

/// Insert-if-absent: false when the role already grants the permission.
/// `NOT_FOUND` (the foreign keys) when either does not exist.
pub(super) async fn grant(
    db: &Database,
    role: RoleId,
    permission: &str,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let row = role_permissions::ActiveModel {
        role_id: Set(role.0),
        permission: Set(permission.to_owned()),
    };
    let result = role_permissions::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await
        .map_err(db_err)?;
    let granted = matches!(result, TryInsertResult::Inserted(n) if n > 0);
    commit(db, txn, granted, follow_up).await?;
    Ok(granted)
}

pub(super) async fn revoke(
    db: &Database,
    role: RoleId,
    permission: &str,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let removed = role_permissions::Entity::delete_many()
        .filter(role_permissions::Column::RoleId.eq(role.0))
        .filter(role_permissions::Column::Permission.eq(permission))
        .exec(&txn)
        .await
        .map_err(db_err)?
        .rows_affected;
    commit(db, txn, removed > 0, follow_up).await?;
    Ok(removed > 0)
}

/// Grants each of `granted` to each of `roles`; a grant already there is
/// kept. `NOT_FOUND` (the foreign keys) for an unknown role or permission.
async fn insert_grants(
    txn: &DatabaseTransaction,
    roles: &[RoleId],
    granted: &[String],
) -> Result<()> {
    let rows: Vec<role_permissions::ActiveModel> = roles
        .iter()
        .flat_map(|role| {
            granted
                .iter()
                .map(|permission| role_permissions::ActiveModel {
                    role_id: Set(role.0),
                    permission: Set(permission.clone()),
                })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    role_permissions::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}
