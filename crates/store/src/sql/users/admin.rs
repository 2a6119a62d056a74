//! `users` behind [`UserAdminRepository`]: listing for administrators,
//! status changes with their follow-up, and the tombstone of a deleted
//! user (kept until the retention ends, then purged).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    model::{StatusChange, Tombstoning, User, UserQuery, UserStatus},
    ports::{NewOutboxMessage, UserAdminRepository},
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, LikeExpr},
};

use super::{SqlUsers, to_user};
use crate::sql::{
    db_err,
    entity::{
        auth_providers, login_history, passkey_credentials, password_reset_tokens, recovery_codes,
        users,
    },
    outbox,
};

/// The email a tombstone keeps: unique (its id), never deliverable
/// (`.invalid`, RFC 2606), and not an address anyone can sign up with.
fn placeholder_email(id: UserId) -> String {
    format!("deleted-{}@deleted.invalid", id.0.simple())
}

/// `prefix` as a LIKE pattern that matches it literally, escaped with `\`.
fn prefix_pattern(prefix: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('\\')
}

fn matching(query: &UserQuery) -> Condition {
    let mut condition = Condition::all().add(users::Column::DeletedAt.is_null());
    if let Some(status) = query.status {
        condition = condition.add(users::Column::Status.eq(status.as_str()));
    }
    if let Some(prefix) = query.email_prefix.as_deref().filter(|p| !p.is_empty()) {
        condition = condition.add(users::Column::Email.like(prefix_pattern(prefix)));
    }
    if let Some(from) = query.created_from {
        condition = condition.add(users::Column::CreatedAt.gte(from));
    }
    if let Some(before) = query.created_before {
        condition = condition.add(users::Column::CreatedAt.lt(before));
    }
    if let Some(after) = query.after {
        // Keyset paging: strictly after the cursor in the listing order,
        // so a page never repeats or skips a user that did not change.
        condition = condition.add(
            Condition::any()
                .add(users::Column::CreatedAt.lt(after.created_at))
                .add(
                    Condition::all()
                        .add(users::Column::CreatedAt.eq(after.created_at))
                        .add(users::Column::Id.lt(after.id.0)),
                ),
        );
    }
    condition
}

/// Clears what identity keeps about `id` beside the `users` row.
async fn delete_dependents(txn: &DatabaseTransaction, id: UserId) -> Result<()> {
    login_history::Entity::delete_many()
        .filter(login_history::Column::UserId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    password_reset_tokens::Entity::delete_many()
        .filter(password_reset_tokens::Column::UserId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    // Linked identities and passkeys: the tombstone keeps no way to sign in.
    auth_providers::Entity::delete_many()
        .filter(auth_providers::Column::UserId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    passkey_credentials::Entity::delete_many()
        .filter(passkey_credentials::Column::UserId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The tombstone's columns: deleted at `at`, deactivated, nothing personal.
fn tombstone_columns(id: UserId, at: DateTime<Utc>) -> Vec<(users::Column, Expr)> {
    let none_time: Option<DateTime<Utc>> = None;
    let none_text: Option<String> = None;
    vec![
        (users::Column::DeletedAt, Expr::value(at)),
        (users::Column::UpdatedAt, Expr::value(at)),
        (
            users::Column::Status,
            Expr::value(UserStatus::Deactivated.as_str()),
        ),
        (users::Column::Email, Expr::value(placeholder_email(id))),
        (users::Column::EmailVerified, Expr::value(false)),
        (users::Column::EmailVerifiedAt, Expr::value(none_time)),
        (users::Column::Phone, Expr::value(none_text.clone())),
        (users::Column::PhoneVerified, Expr::value(false)),
        (users::Column::PhoneVerifiedAt, Expr::value(none_time)),
        (users::Column::PasswordHash, Expr::value(none_text)),
        (
            users::Column::TotpSecretEncrypted,
            Expr::value(Option::<Vec<u8>>::None),
        ),
        (users::Column::TotpEnabled, Expr::value(false)),
        (
            users::Column::TotpRecoveryCodes,
            Expr::value(Option::<serde_json::Value>::None),
        ),
        (
            users::Column::TotpLastStep,
            Expr::value(Option::<i64>::None),
        ),
        (users::Column::FailedLoginCount, Expr::value(0)),
        (users::Column::LockedUntil, Expr::value(none_time)),
    ]
}

#[async_trait]
impl UserAdminRepository for SqlUsers {
    async fn list(&self, query: &UserQuery) -> Result<Vec<User>> {
        users::Entity::find()
            .filter(matching(query))
            .order_by_desc(users::Column::CreatedAt)
            .order_by_desc(users::Column::Id)
            .limit(query.limit)
            .all(self.db.connection())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_user)
            .collect()
    }

    async fn change_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
    ) -> Result<StatusChange> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // One conditional UPDATE: never a tombstone, never a sign-up still
        // running (its saga activates it), and only a real change.
        let changed = users::Entity::update_many()
            .col_expr(users::Column::Status, Expr::value(status.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::DeletedAt.is_null())
            .filter(users::Column::Status.ne(UserStatus::Pending.as_str()))
            .filter(users::Column::Status.ne(status.as_str()))
            .exec(&txn)
            .await
            .map_err(db_err)?
            .rows_affected
            > 0;
        if changed {
            outbox::write(&txn, follow_up).await?;
            txn.commit().await.map_err(db_err)?;
            self.db.outbox_written();
            return Ok(StatusChange::Changed);
        }
        drop(txn);
        let current = users::Entity::find_by_id(id.0)
            .filter(users::Column::DeletedAt.is_null())
            .one(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(match current {
            None => StatusChange::NotFound,
            Some(row) if row.status == UserStatus::Pending.as_str() => StatusChange::Pending,
            Some(_) => StatusChange::Unchanged,
        })
    }

    async fn tombstone(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        follow_up: &[NewOutboxMessage],
        on_marked: &[NewOutboxMessage],
    ) -> Result<Tombstoning> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The conditional UPDATE first: it takes the write lock at once
        // (SQLite cannot upgrade a reading transaction when another one
        // writes), and of racing deletions exactly one marks the user.
        let mut update = users::Entity::update_many()
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::DeletedAt.is_null());
        for (column, value) in tombstone_columns(id, at) {
            update = update.col_expr(column, value);
        }
        let marked = update.exec(&txn).await.map_err(db_err)?.rows_affected > 0;
        let outcome = if marked {
            delete_dependents(&txn, id).await?;
            // `user:deleted` only with the mark: a run again announces
            // nothing new.
            outbox::write(&txn, on_marked).await?;
            Tombstoning::Marked
        } else {
            let row = users::Entity::find_by_id(id.0)
                .one(&txn)
                .await
                .map_err(db_err)?;
            match row.and_then(|row| row.deleted_at) {
                Some(deleted_at) => Tombstoning::AlreadyDeleted(deleted_at),
                // No such user: nothing to write (the transaction rolls back).
                None => return Ok(Tombstoning::NotFound),
            }
        };
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(outcome)
    }

    async fn deleted_before(&self, before: DateTime<Utc>, limit: u64) -> Result<Vec<UserId>> {
        let ids = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::DeletedAt.lt(before))
            .order_by_asc(users::Column::DeletedAt)
            .limit(limit)
            .into_tuple::<uuid::Uuid>()
            .all(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn purge(&self, id: UserId) -> Result<bool> {
        // Whatever a racing sign-in wrote for the tombstone since (a
        // history row) goes with it (ON DELETE CASCADE).
        let result = users::Entity::delete_many()
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::DeletedAt.is_not_null())
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected > 0)
    }
}
