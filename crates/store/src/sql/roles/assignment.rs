//! The role assignments of [`super::SqlRoles`]: each one statement and,
//! when it changed something, its outbox rows, in one transaction.

use chrono::{DateTime, Utc};
use latch_domain::{Result, RoleId, UserId, ports::NewOutboxMessage};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, TryInsertResult,
};

use super::commit;
use crate::{
    Database,
    sql::{db_err, entity::user_roles},
};

/// Insert-if-absent: a repeated or racing assignment returns false, not
/// an error. `NOT_FOUND` (the foreign key) when the role does not exist.
pub(super) async fn assign(
    db: &Database,
    user: UserId,
    role: RoleId,
    at: DateTime<Utc>,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let row = user_roles::ActiveModel {
        user_id: Set(user.0),
        role_id: Set(role.0),
        assigned_at: Set(at),
    };
    let result = user_roles::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await
        .map_err(db_err)?;
    let assigned = matches!(result, TryInsertResult::Inserted(n) if n > 0);
    commit(db, txn, assigned, follow_up).await?;
    Ok(assigned)
}

pub(super) async fn unassign(
    db: &Database,
    user: UserId,
    role: RoleId,
    follow_up: &[NewOutboxMessage],
) -> Result<bool> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let removed = user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user.0))
        .filter(user_roles::Column::RoleId.eq(role.0))
        .exec(&txn)
        .await
        .map_err(db_err)?
        .rows_affected;
    commit(db, txn, removed > 0, follow_up).await?;
    Ok(removed > 0)
}

pub(super) async fn unassign_all(
    db: &Database,
    user: UserId,
    follow_up: &[NewOutboxMessage],
) -> Result<u64> {
    let txn = db.connection().begin().await.map_err(db_err)?;
    let removed = user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user.0))
        .exec(&txn)
        .await
        .map_err(db_err)?
        .rows_affected;
    commit(db, txn, removed > 0, follow_up).await?;
    Ok(removed)
}
