//! `password_reset_tokens` behind [`PasswordResetRepository`]: the token
//! rows, and the password change a redeemed token makes, in one
//! transaction with the mail that follows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latch_domain::{
    Result, UserId,
    model::PasswordResetToken,
    ports::{NewOutboxMessage, PasswordResetRepository},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait, TransactionTrait, sea_query::Expr,
};

use super::{
    db_err,
    entity::{password_reset_tokens as resets, users},
    error::corrupt,
    outbox,
};
use crate::Database;

/// Identity's password-reset tokens on the SQL database.
#[derive(Debug, Clone)]
pub struct SqlPasswordResets {
    db: Database,
}

impl SqlPasswordResets {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_token(row: resets::Model) -> Result<PasswordResetToken> {
    Ok(PasswordResetToken {
        id: row.id,
        user_id: UserId(row.user_id),
        token_hash: row
            .token_hash
            .try_into()
            .map_err(|_| corrupt("password reset token hash"))?,
        created_at: row.created_at,
        expires_at: row.expires_at,
        used_at: row.used_at,
    })
}

fn to_row(token: &PasswordResetToken) -> resets::ActiveModel {
    resets::ActiveModel {
        id: Set(token.id),
        user_id: Set(token.user_id.0),
        token_hash: Set(token.token_hash.to_vec()),
        expires_at: Set(token.expires_at),
        used_at: Set(token.used_at),
        created_at: Set(token.created_at),
    }
}

/// Deletes the user's unused tokens (but `keep`), so that only the newest
/// one works, and any that ended before `at`.
async fn void_others(
    conn: &impl ConnectionTrait,
    user: UserId,
    keep: uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    resets::Entity::delete_many()
        .filter(resets::Column::UserId.eq(user.0))
        .filter(resets::Column::Id.ne(keep))
        .filter(
            Condition::any()
                .add(resets::Column::UsedAt.is_null())
                .add(resets::Column::ExpiresAt.lte(at)),
        )
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl PasswordResetRepository for SqlPasswordResets {
    async fn issue(
        &self,
        token: &PasswordResetToken,
        follow_up: &[NewOutboxMessage],
    ) -> Result<()> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        void_others(&txn, token.user_id, token.id, token.created_at).await?;
        // An unknown user fails on the foreign key: NOT_FOUND from `db_err`.
        resets::Entity::insert(to_row(token))
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(())
    }

    async fn find_by_hash(&self, hash: &[u8; 32]) -> Result<Option<PasswordResetToken>> {
        resets::Entity::find()
            .filter(resets::Column::TokenHash.eq(hash.to_vec()))
            .one(self.db.connection())
            .await
            .map_err(db_err)?
            .map(to_token)
            .transpose()
    }

    async fn redeem(
        &self,
        token: &PasswordResetToken,
        at: DateTime<Utc>,
        password_hash: &str,
        follow_up: &[NewOutboxMessage],
    ) -> Result<bool> {
        let txn = self.db.connection().begin().await.map_err(db_err)?;
        // The conditional UPDATE is the race's referee: a concurrent redeem
        // waits on the row and then finds it used.
        let spent = resets::Entity::update_many()
            .col_expr(resets::Column::UsedAt, Expr::value(at))
            .filter(resets::Column::Id.eq(token.id))
            .filter(resets::Column::UsedAt.is_null())
            .filter(resets::Column::ExpiresAt.gt(at))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if spent.rows_affected == 0 {
            return Ok(false);
        }
        let changed = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(at))
            .filter(users::Column::Id.eq(token.user_id.0))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if changed.rows_affected == 0 {
            return Ok(false);
        }
        void_others(&txn, token.user_id, token.id, at).await?;
        outbox::write(&txn, follow_up).await?;
        txn.commit().await.map_err(db_err)?;
        self.db.outbox_written();
        Ok(true)
    }

    async fn delete_expired(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        // A bounded batch through `idx_password_reset_tokens_expires_at`;
        // no lock clause: replicas cleaning at once wait on each other's
        // row locks, then find those rows gone.
        let batch = resets::Entity::find()
            .select_only()
            .column(resets::Column::Id)
            .filter(resets::Column::ExpiresAt.lt(before))
            .limit(limit)
            .into_query();
        let deleted = resets::Entity::delete_many()
            .filter(resets::Column::Id.in_subquery(batch))
            .exec(self.db.connection())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
